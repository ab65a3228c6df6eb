"""Folding run logs into the catalog: idempotent, incremental by offsets, torn lines, removals,
pending runs, edits, and the same result as a fold from scratch."""

from __future__ import annotations

import json
import math
import os
import shutil

import tui_mlops as mt
from tui_mlops.store.catalog import SCHEMA_VERSION, open_catalog
from tui_mlops.store.events import append_events
from tui_mlops.store.home import Home
from tui_mlops.store.runs_catalog import fold_runs
from tui_mlops.tracking.query import get_run, metric_history, search_runs

TABLES = ("runs", "params", "tags", "metrics", "metric_summary", "artifacts", "runs_pending")


def dump(home: Home) -> dict[str, list]:
    def same(row: tuple) -> tuple:  # NaN != NaN: compare it as text
        return tuple("nan" if isinstance(v, float) and math.isnan(v) else v for v in row)

    with open_catalog(home) as cat:
        return {t: sorted((same(r) for r in cat.con.execute(f"SELECT * FROM {t}").fetchall()), key=repr)
                for t in TABLES}


def count_points(home: Home, run_id: str) -> int:
    with open_catalog(home) as cat:
        return cat.con.execute("SELECT count(*) FROM metrics WHERE run_id = ?", [run_id]).fetchone()[0]


def test_migration_two_creates_the_runs_tables(home: Home) -> None:
    assert SCHEMA_VERSION >= 2
    with open_catalog(home) as cat:
        tables = {r[0] for r in cat.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert set(TABLES) <= tables


def test_folding_twice_changes_nothing(home: Home) -> None:
    with mt.start_run("e", params={"a": 1}, tags={"t": "x"}, home=home) as run:
        for i in range(50):
            run.log_metrics({"loss": 1 / (i + 1), "auc": i / 50}, step=i)
        run.log_artifact_bytes("a.txt", b"abc")
    mt.attach_run(home, run.run_id).note("n")
    first = dump(home)
    with open_catalog(home) as cat:
        assert fold_runs(cat) == 0 and cat.fold() == 0
    assert dump(home) == first
    assert len(first["metrics"]) == 100


def test_only_new_bytes_are_folded_after_more_is_appended(home: Home) -> None:
    run = mt.start_run(home=home)
    for i in range(10):
        run.log_metric("x", i, step=i)
    run.flush()
    assert count_points(home, run.run_id) == 10
    with open_catalog(home) as cat:
        offset = cat.con.execute("SELECT events_offset FROM runs WHERE run_id = ?", [run.run_id]).fetchone()[0]
    assert offset == (run.dir / "events.jsonl").stat().st_size
    for i in range(10, 15):
        run.log_metric("x", i, step=i)
    run.end()
    assert count_points(home, run.run_id) == 15
    d = get_run(home, run.run_id)
    assert d.metric_summary["x"] == {"last": 14.0, "min": 0.0, "max": 14.0, "last_step": 14, "n": 15}
    assert metric_history(home, run.run_id, "x")[0] == [float(i) for i in range(15)]


def test_torn_last_line_is_left_for_later_and_a_dead_torn_line_is_skipped(home: Home) -> None:
    run = mt.start_run(home=home)
    run.log_metric("x", 1.0, step=1)
    run.flush()
    path = run.dir / "events.jsonl"
    line = json.dumps({"seq": 3, "ts": 1.0, "type": "metric", "key": "x", "value": 2.0, "step": 2})
    with open(path, "ab") as fh:
        fh.write(line[:20].encode())  # a writer caught mid-line
    assert count_points(home, run.run_id) == 1
    with open(path, "ab") as fh:
        fh.write(line[20:].encode() + b"\n")  # ...finishes it
    assert count_points(home, run.run_id) == 2
    with open(path, "ab") as fh:
        fh.write(b'{"seq": 4, "ts": 1.0, "type": "met')  # a writer killed mid-line
    append_events(path, [{"seq": 5, "ts": 2.0, "type": "metric", "key": "x", "value": 3.0, "step": 3}])
    assert count_points(home, run.run_id) == 3
    assert metric_history(home, run.run_id, "x") == ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    run.end()
    assert get_run(home, run.run_id).status == "finished"


def test_removed_run_folder_is_unindexed(home: Home) -> None:
    runs = []
    for _ in range(3):
        with mt.start_run(home=home, params={"p": 1}) as run:
            run.log_metric("x", 1)
            runs.append(run)
    assert search_runs(home).total == 3
    shutil.rmtree(runs[1].dir)
    page = search_runs(home)
    assert page.total == 2 and runs[1].run_id not in {r.run_id for r in page.rows}
    with open_catalog(home) as cat:
        for table in ("runs", "params", "metrics", "metric_summary"):
            n = cat.con.execute(f"SELECT count(*) FROM {table} WHERE run_id = ?", [runs[1].run_id]).fetchone()[0]
            assert n == 0, table


def test_folder_without_run_start_waits_until_the_run_starts(home: Home) -> None:
    folder = home.runs_dir / "abcdef123456"
    folder.mkdir()
    (folder / "job.json").write_text("{}")
    assert search_runs(home).total == 0
    with open_catalog(home) as cat:
        assert cat.con.execute("SELECT run_id FROM runs_pending").fetchall() == [("abcdef123456",)]
    # The job starts later; the folder itself (runs/ mtime) does not change again.
    with mt.start_run(home=home, run_id="abcdef123456", kind="train") as run:
        run.set_status("queued")
        run.set_status("running")
    d = get_run(home, "abcdef")
    assert (d.status, d.kind) == ("finished", "train")
    with open_catalog(home) as cat:
        assert cat.con.execute("SELECT count(*) FROM runs_pending").fetchone()[0] == 0


def test_status_follows_live_events_until_the_end(home: Home) -> None:
    run = mt.start_run(home=home, kind="train")
    run.set_status("queued")
    run.flush()
    assert get_run(home, run.run_id).status == "queued"
    run.set_status("running")
    run.flush()
    assert get_run(home, run.run_id).status == "running"
    run.end("cancelled", "stopped by user")
    d = get_run(home, run.run_id)
    assert (d.status, d.error) == ("cancelled", "stopped by user")


def test_crash_verdict_keeps_all_metrics_the_process_wrote(home: Home) -> None:
    run = mt.start_run(home=home)
    run.log_metric("x", 1, step=1)
    run.flush()
    assert get_run(home, run.run_id).status == "running"
    run.log_metric("x", 2, step=2)
    run.flush()  # written before the process "died", but not folded yet
    mt.attach_run(home, run.run_id).end("crashed", "process exited without finishing")
    d = get_run(home, run.run_id)
    assert d.status == "crashed" and d.metric_summary["x"]["n"] == 2


def test_incremental_folds_equal_one_fold_from_scratch(home: Home, tmp_path) -> None:
    run = mt.start_run(home=home, params={"a": 1})
    for i in range(3000):
        run.log_metrics({"loss": 1.0 / (i + 1), "acc": (i % 7) / 7}, step=i if i % 10 else None)
        if i % 700 == 0:
            run.flush()
            dump(home)  # fold part of it
    run.log_metric("loss", float("nan"), step=5000)
    run.end()
    mt.attach_run(home, run.run_id).set_tags({"t": "v"})
    incremental = dump(home)
    other = Home.open(tmp_path / "copy")
    shutil.copytree(run.dir, other.runs_dir / run.run_id)
    scratch = dump(other)
    assert incremental == scratch
    assert len(incremental["metrics"]) == 6001
    summary = {r[1]: r for r in incremental["metric_summary"]}
    assert summary["loss"][3:7] == (1.0 / 3000, 1.0, 5000, 3001)  # min/max skip NaN; last_step; n


def test_edits_are_found_without_stat_ing_every_run(home: Home) -> None:
    runs = []
    for _ in range(3):
        with mt.start_run(home=home) as run:
            runs.append(run)
    assert search_runs(home).total == 3
    # A hand-made edit that is not listed in .edits-touched is not seen (no stat of every file)...
    append_events(runs[0].dir / "edits.jsonl", [{"seq": 1, "ts": 1.0, "type": "note", "text": "hidden"}])
    assert get_run(home, runs[0].run_id).note is None
    # ...the edits writer lists the run, and the fold reads that edits file from its offset.
    mt.attach_run(home, runs[0].run_id).note("seen")
    assert get_run(home, runs[0].run_id).note == "seen"
    assert os.path.getsize(home.runs_dir / ".edits-touched") == len(runs[0].run_id) + 1


def test_a_catalog_from_before_runs_is_migrated_on_first_query(home: Home) -> None:
    import duckdb

    from tui_mlops.store.catalog import MIGRATIONS

    con = duckdb.connect(str(home.catalog_path))
    con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for statement in MIGRATIONS[0]:
        con.execute(statement)
    con.execute("INSERT INTO schema_version VALUES (1)")
    con.close()
    with mt.start_run(home=home, params={"a": 1}) as run:
        run.log_metric("x", 1.0)
    assert [r.run_id for r in search_runs(home).rows] == [run.run_id]
    with open_catalog(home) as cat:
        assert cat.schema_version() == SCHEMA_VERSION


def test_a_run_made_in_the_same_mtime_tick_is_not_missed(home: Home) -> None:
    import time

    from tui_mlops.store.runs_catalog import _trusted

    now = time.time_ns()
    assert _trusted(now) == -1 and _trusted(now - 5 * 10**9 + 1) == now - 5 * 10**9 + 1
    tick = now + 3 * 10**9  # one mtime for both folders, as a coarse clock gives
    mt.start_run(home=home).end()
    os.utime(home.runs_dir, ns=(tick, tick))
    assert search_runs(home).total == 1
    mt.start_run(home=home).end()
    os.utime(home.runs_dir, ns=(tick, tick))
    assert search_runs(home).total == 2
