"""Ingest of good input: every format, type overrides, odd column names, dedupe, progress, cancel."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pytest

from ingest_helpers import assert_nothing_left, make_big_csv, stray_files
from tui_mlops.data import versions as V
from tui_mlops.data.ingest import (
    IngestCancelled, IngestOptions, detect_format, ingest_file, ingest_path,
)
from tui_mlops.errors import InputError
from tui_mlops.store.catalog import open_catalog
from tui_mlops.store.events import read_events

ROWS = [(1, "a", 0.5), (2, "b", 1.5), (3, "c", None)]
CSV = "id,name,score\n1,a,0.5\n2,b,1.5\n3,c,\n"
JSON_ROWS = '{"id": 1, "name": "a", "score": 0.5}', '{"id": 2, "name": "b", "score": 1.5}', \
    '{"id": 3, "name": "c", "score": null}'
SOURCES = {
    "t.csv": CSV,
    "t.tsv": CSV.replace(",", "\t"),
    "t.csv.gz": CSV,
    "t.tsv.gz": CSV.replace(",", "\t"),
    "t.txt": CSV.replace(",", ";"),
    "t.json": "[\n" + ",\n".join(JSON_ROWS) + "\n]\n",
    "t.json.gz": "[" + ",".join(JSON_ROWS) + "]",
    "t.ndjson": "\n".join(JSON_ROWS) + "\n",
    "t.jsonl": "\n".join(JSON_ROWS),
}


def snapshot_rows(home, v) -> list[tuple]:
    con = duckdb.connect()
    try:
        return con.execute("SELECT * FROM read_parquet(?) ORDER BY 1", [str(V.snapshot_path(home, v))]).fetchall()
    finally:
        con.close()


def make_parquet(path: Path, select: str) -> Path:
    con = duckdb.connect()
    con.execute(f"COPY ({select}) TO ? (FORMAT parquet)", [str(path)])
    con.close()
    return path


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory) -> Path:
    return make_big_csv(tmp_path_factory.mktemp("big") / "big.csv", 1_200_000)


@pytest.mark.parametrize("filename", sorted(SOURCES))
def test_every_text_format_is_read_with_inferred_types(home, write, filename):
    res = ingest_file(home, write(filename, SOURCES[filename]))
    v = res.version
    assert res.created and v.name == "t" and v.rows == 3
    assert [(c.name, c.type) for c in v.columns] == [("id", "BIGINT"), ("name", "VARCHAR"), ("score", "DOUBLE")]
    assert snapshot_rows(home, v) == ROWS
    assert V.resolve(home, "t") == v
    assert V.check_store(home) == []


def test_parquet_is_read_and_detect_format_knows_suffixes(home, tmp_path):
    src = make_parquet(tmp_path / "p.parquet", "SELECT * FROM (VALUES (1, 'a', 0.5), (2, 'b', 1.5), "
                                                "(3, 'c', NULL)) t(id, name, score)")
    v = ingest_file(home, src).version
    assert v.rows == 3 and snapshot_rows(home, v) == ROWS
    assert detect_format(Path("x.TSV.gz")) == ("tsv", True)
    assert detect_format(Path("x.pq")) == ("parquet", False)


@pytest.mark.parametrize("filename", ["t.csv", "t.tsv.gz", "t.json", "t.ndjson", "t.parquet"])
def test_type_override_applies_to_every_format(home, write, tmp_path, filename):
    if filename.endswith(".parquet"):
        src = make_parquet(tmp_path / filename, "SELECT * FROM (VALUES (1, 'a', 0.5), (2, 'b', 1.5), "
                                                "(3, 'c', NULL)) t(id, name, score)")
    else:
        src = write(filename, SOURCES[filename])
    v = ingest_file(home, src, IngestOptions(types={"id": "varchar", "score": "DECIMAL(6, 2)"})).version
    types = {c.name: c.type for c in v.columns}
    assert types["id"] == "VARCHAR" and types["score"] == "DECIMAL(6,2)"
    assert [r[0] for r in snapshot_rows(home, v)] == ["1", "2", "3"]


def test_type_override_lets_a_mixed_column_through(home, write):
    body = "".join(f"{i},x\n" for i in range(30000)) + "n/a,y\n"
    src = write("mixed.csv", "a,b\n" + body)
    with pytest.raises(InputError):
        ingest_file(home, src)
    v = ingest_file(home, src, IngestOptions(types={"a": "VARCHAR"})).version
    assert v.rows == 30001 and v.columns[0].type == "VARCHAR"


def test_type_override_errors_name_the_column(home, write):
    src = write("t.csv", CSV)
    with pytest.raises(InputError, match=r"t\.csv: --type names no such column 'nope' \(columns: 'id', 'name'"):
        ingest_file(home, src, IngestOptions(types={"nope": "VARCHAR"}))
    with pytest.raises(InputError, match=r"unknown type 'VARCHAR; DROP' for column 'id'"):
        ingest_file(home, src, IngestOptions(types={"id": "VARCHAR; DROP"}))
    with pytest.raises(InputError, match=r"line 2, column 'name': value 'a' is not a valid BIGINT \(your --type"):
        ingest_file(home, src, IngestOptions(types={"name": "BIGINT"}))
    assert_nothing_left(home)


ODD = ['x"; DROP TABLE dataset_versions; --', "sp ace", "ünï €", "select", "a,b", "it's"]


def _csv_header(names: list[str]) -> str:
    return ",".join('"' + n.replace('"', '""') + '"' for n in names)


def test_odd_column_names_round_trip_and_the_catalog_survives(home, write, tmp_path):
    first = ingest_file(home, write("plain.csv", CSV)).version
    src = write("odd.csv", _csv_header(ODD) + "\n1,2,3,4,5,6\n7,8,9,10,11,12\n")
    v = ingest_file(home, src, IngestOptions(types={ODD[0]: "VARCHAR"})).version
    assert [c.name for c in v.columns] == ODD
    assert v.columns[0].type == "VARCHAR"
    con = duckdb.connect()
    names = [r[0] for r in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(V.snapshot_path(home, v))]).fetchall()]
    assert names == ODD
    # The same names from JSON keys and Parquet columns.
    src_json = write("odd.json", "[" + ", ".join(
        "{" + ", ".join(f'"{n.replace(chr(34), chr(92) + chr(34))}": {i}' for i, n in enumerate(ODD)) + "}"
        for _ in range(2)) + "]")
    vj = ingest_file(home, src_json, IngestOptions(types={ODD[0]: "VARCHAR"})).version
    assert [c.name for c in vj.columns] == ODD
    pq = make_parquet(tmp_path / "odd.parquet", f"SELECT * FROM read_parquet('{V.snapshot_path(home, v)}')")
    vp = ingest_file(home, pq, IngestOptions(types={ODD[1]: "VARCHAR"})).version
    assert [c.name for c in vp.columns] == ODD
    # The catalog table is intact and holds all four versions.
    with open_catalog(home) as cat:
        assert cat.con.execute("SELECT count(*) FROM dataset_versions").fetchone()[0] == 4
    assert V.resolve(home, "plain") == first
    assert V.check_store(home) == []


def test_same_bytes_same_version_and_a_changed_file_a_new_one(home, write):
    src = write("sales.csv", CSV)
    a = ingest_file(home, src)
    again = ingest_file(home, src)
    assert a.created and not again.created and again.version == a.version
    src.write_text(CSV + "4,d,2.5\n")
    b = ingest_file(home, src)
    assert b.created and b.version.version != a.version.version and b.version.rows == 4
    assert [v.version for v in V.list_versions(home, "sales")] == [b.version.version, a.version.version]
    events, _ = read_events(home.activity_log)
    assert [e["event"] for e in events] == ["registered", "registered"]


def test_ingest_path_reads_a_folder_and_rejects_bad_names(home, write, tmp_path):
    write("one.csv", CSV)
    write("two.ndjson", SOURCES["t.ndjson"])
    write("notes.md", "# not data")
    results = ingest_path(home, tmp_path / "files")
    assert sorted(r.version.name for r in results) == ["one", "two"]
    with pytest.raises(InputError, match=r"invalid dataset name '\.\./\.\./etc'"):
        ingest_file(home, tmp_path / "files" / "one.csv", IngestOptions(name="../../etc"))
    assert not (home.root.parent / "etc").exists()


def test_missing_file_and_folder(home, tmp_path):
    with pytest.raises(InputError, match=r"^.*nope\.csv: no such file$"):
        ingest_file(home, tmp_path / "nope.csv")
    with pytest.raises(InputError, match="not a regular file"):
        ingest_file(home, tmp_path)
    assert_nothing_left(home)


def test_progress_reports_fractions_up_to_one(home, big_csv):
    seen: list[float] = []
    v = ingest_file(home, big_csv, progress=seen.append).version
    assert v.rows == 1_200_000
    assert seen and seen[-1] == 1.0
    assert all(0.0 <= f <= 1.0 for f in seen) and seen == sorted(seen)
    assert any(f < 1.0 for f in seen), "no progress was reported while DuckDB was reading"
    # The same bytes again: found by the hash, the read is interrupted, nothing new is made.
    again = ingest_file(home, big_csv)
    assert not again.created and again.version == v
    assert len(V.list_versions(home, "big")) == 1


def test_cancel_mid_read_stops_and_leaves_nothing(home, big_csv):
    cancel = threading.Event()
    seen: list[float] = []

    def progress(f: float) -> None:
        seen.append(f)
        cancel.set()

    with pytest.raises(IngestCancelled, match=r"big\.csv: ingest cancelled"):
        ingest_file(home, big_csv, progress=progress, cancel=cancel)
    assert seen and seen[0] < 1.0  # cancelled while DuckDB was still reading
    assert_nothing_left(home)


def test_cancel_before_start_and_from_another_thread(home, big_csv):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(IngestCancelled):
        ingest_file(home, big_csv, cancel=cancel)
    cancel.clear()
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            ingest_file(home, big_csv, cancel=cancel)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    t = threading.Thread(target=run)
    t.start()
    # Cancel as soon as DuckDB has started writing the temp snapshot.
    while not outcome and not list(home.datasets_dir.glob(".tmp-*")):
        threading.Event().wait(0.001)
    cancel.set()
    t.join(60)
    assert len(outcome) == 1 and isinstance(outcome[0], IngestCancelled), outcome
    assert stray_files(home) == []
    assert_nothing_left(home)
