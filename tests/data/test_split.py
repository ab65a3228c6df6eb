"""Splits: sizes, determinism (same seed same rows and ids), stratification, time cut-offs."""

from __future__ import annotations

import collections

import duckdb
import pytest

from tui_mlops.data import versions as V
from tui_mlops.data.ingest import IngestOptions, ingest_file
from tui_mlops.data.split import _fmix32_sql, fmix32, split
from tui_mlops.errors import InputError
from tui_mlops.store.home import Home

N = 200


@pytest.fixture
def data(home: Home, write):
    """id 0..199, label a/b/c in 60/30/10 % shares, day = 2024-01-01 + id, some null notes."""
    lines = ["id,label,day,note"]
    for i in range(N):
        label = "a" if i % 10 < 6 else ("b" if i % 10 < 9 else "c")
        lines.append(f"{i},{label},2024-{1 + i // 28:02d}-{1 + i % 28:02d},{'' if i % 7 == 0 else 'n'}")
    return ingest_file(home, write("data.csv", "\n".join(lines) + "\n"), IngestOptions(name="data")).version


def rows(home: Home, v) -> list[tuple]:
    con = duckdb.connect()
    try:
        return con.execute("SELECT * FROM read_parquet(?)", [str(V.snapshot_path(home, v))]).fetchall()
    finally:
        con.close()


def ids(home: Home, v) -> list[int]:
    return [r[0] for r in rows(home, v)]


def test_random_split_sizes_cover_every_row_once_in_file_order(home: Home, data) -> None:
    parts = split(home, data, ratios=(0.7, 0.15, 0.15), seed=1)
    assert list(parts) == ["train", "valid", "test"]
    sizes = {k: v.rows for k, v in parts.items()}
    assert sizes == {"train": 140, "valid": 30, "test": 30}
    all_ids = [i for p in parts.values() for i in ids(home, p)]
    assert sorted(all_ids) == list(range(N))
    for p in parts.values():
        assert ids(home, p) == sorted(ids(home, p))
    assert ids(home, parts["train"]) != list(range(140))  # actually shuffled


def test_lineage_and_names(home: Home, data) -> None:
    parts = split(home, data, seed=3)
    train = parts["train"]
    assert train.name == "data.train" and train.operation == "split"
    assert train.parent_ref == data.ref
    assert train.params == {"method": "random", "ratios": [0.7, 0.15, 0.15], "seed": 3, "part": "train"}


def test_same_seed_gives_the_same_versions_and_rows_even_in_a_fresh_store(home: Home, data, tmp_path) -> None:
    first = split(home, data, seed=42)
    again = split(home, data, seed=42)
    assert {k: v.version for k, v in first.items()} == {k: v.version for k, v in again.items()}
    other_home = Home.open(tmp_path / "other")
    other_data = ingest_file(other_home, data.source_path, IngestOptions(name="data")).version
    fresh = split(other_home, other_data, seed=42)
    for part in first:
        assert fresh[part].version == first[part].version
        assert rows(other_home, fresh[part]) == rows(home, first[part])


def test_different_seeds_give_different_rows(home: Home, data) -> None:
    a = split(home, data, seed=1)
    b = split(home, data, seed=2)
    assert a["train"].version != b["train"].version
    assert ids(home, a["train"]) != ids(home, b["train"])


def test_stratified_keeps_class_proportions_within_a_row(home: Home, data) -> None:
    parts = split(home, data, method="stratified", stratify="label", ratios=(0.6, 0.2, 0.2), seed=7)
    totals = collections.Counter(r[1] for r in rows(home, data))
    for part, share in (("train", 0.6), ("valid", 0.2), ("test", 0.2)):
        counts = collections.Counter(r[1] for r in rows(home, parts[part]))
        for label, total in totals.items():
            assert abs(counts[label] - total * share) <= 1, (part, label, counts)
    assert parts["train"].params["stratify"] == "label"


def test_time_split_by_cutoffs(home: Home, data) -> None:
    parts = split(home, data, method="time", time_column="day", cutoffs=["2024-03-01", "2024-05-01"])
    days = {k: [r[2] for r in rows(home, v)] for k, v in parts.items()}
    assert max(days["train"]).isoformat() < "2024-03-01" <= min(days["valid"]).isoformat()
    assert max(days["valid"]).isoformat() < "2024-05-01" <= min(days["test"]).isoformat()
    assert sum(len(d) for d in days.values()) == N
    assert parts["train"].params["cutoffs"] == ["2024-03-01", "2024-05-01"]
    two = split(home, data, method="time", time_column="day", cutoffs=["2024-04-01"])
    assert list(two) == ["train", "test"]


def test_time_split_by_ratio_follows_time_order(home: Home, data) -> None:
    parts = split(home, data, method="time", time_column="day", ratios=(0.5, 0.25, 0.25))
    days = {k: [r[2] for r in rows(home, v)] for k, v in parts.items()}
    assert [len(d) for d in days.values()] == [100, 50, 50]
    assert max(days["train"]) <= min(days["valid"]) and max(days["valid"]) <= min(days["test"])


def test_zero_ratio_parts_are_left_out(home: Home, data) -> None:
    parts = split(home, data, ratios=(0.8, 0.0, 0.2))
    assert list(parts) == ["train", "test"] and parts["test"].rows == 40
    assert list(split(home, data, ratios=(0.8, 0.2))) == ["train", "test"]


@pytest.mark.parametrize("kwargs,message", [
    ({"ratios": (0.7, 0.2, 0.2)}, "ratios must sum to 1"),
    ({"ratios": (1.2, -0.1, -0.1)}, "non-negative"),
    ({"ratios": (0.0, 0.5, 0.5)}, "train ratio must be above 0"),
    ({"method": "alphabetical"}, "unknown split method"),
    ({"seed": "x"}, "seed must be a whole number"),
    ({"method": "stratified"}, "give the stratify column"),
    ({"method": "stratified", "stratify": "lable"}, "unknown stratify column 'lable'"),
    ({"method": "time", "time_column": "label"}, "it must be a date, timestamp or number"),
    ({"method": "time", "time_column": "day", "cutoffs": ["2024-13-45"]}, "2024-13-45"),
    ({"method": "time", "time_column": "day", "cutoffs": ["2030-01-01"]}, "the test part would be empty"),
    ({"method": "time", "time_column": "day", "cutoffs": ["a", "b", "c"]}, "one cut-off"),
    ({"ratios": (0.999, 0.0005, 0.0005)}, "the valid part would be empty"),
])
def test_bad_split_requests(home: Home, data, kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", "\\(")):
        split(home, data, **kwargs)
    assert [d.name for d in V.list_datasets(home)] == ["data"]


def test_ratios_within_rounding_of_one_are_accepted(home: Home, data) -> None:
    assert split(home, data, ratios=(0.7, 0.2, 0.1 + 1e-10))["train"].rows == 140


def test_a_time_column_with_missing_values_is_refused(home: Home, write) -> None:
    v = ingest_file(home, write("t.csv", "t,x\n1,a\n,b\n3,c\n4,d\n")).version
    with pytest.raises(InputError, match="time column 't' has 1 missing values"):
        split(home, v, method="time", time_column="t", ratios=(0.5, 0.25, 0.25))


def test_the_sql_hash_is_murmur3_fmix32() -> None:
    con = duckdb.connect()
    try:
        for x in (0, 1, 123456789, 2**32 - 1):
            got = con.execute(_fmix32_sql("SELECT 0 AS k, CAST(? AS UBIGINT) AS h", "k"), [x]).fetchone()[1]
            assert got == fmix32(x)
    finally:
        con.close()
    assert fmix32(123456789) == 3126909082  # murmur3's finaliser; must never change
