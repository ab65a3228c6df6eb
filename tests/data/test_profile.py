"""Column profiles: exact statistics on small data, the sketch paths, storage, progress, cancel."""

from __future__ import annotations

import json
import math
import statistics
import threading

import pytest

from tui_mlops.data import profile as P
from tui_mlops.data import versions as V
from tui_mlops.data.ingest import IngestOptions, ingest_file
from tui_mlops.errors import MlopsError
from tui_mlops.store.home import Home

AGES = [23, 35, None, 41, 35, 62, 19, None, 35, 50]
CITIES = ["Berlin", "Paris", "Berlin", None, "Rome", "Berlin", "Paris", "Oslo", "Berlin", "Paris"]
CSV = "age,city,ok,day,score,empty\n" + "".join(
    f"{'' if a is None else a},{'' if c is None else c},{'true' if i % 3 else 'false'},"
    f"2024-01-{i + 1:02d},{i * 1.5},\n"
    for i, (a, c) in enumerate(zip(AGES, CITIES)))


@pytest.fixture
def people(home: Home, write):
    return ingest_file(home, write("people.csv", CSV), IngestOptions(name="people")).version


def _cols(profile: dict) -> dict[str, dict]:
    return {c["name"]: c for c in profile["columns"]}


def test_numeric_column_statistics_are_exact_on_small_data(home: Home, people) -> None:
    prof = P.compute_profile(home, people)
    assert prof["rows"] == 10 and prof["approximate"] is False
    age = _cols(prof)["age"]
    values = [a for a in AGES if a is not None]
    assert age["kind"] == "numeric" and age["type"] == "BIGINT"
    assert age["nulls"] == 2 and age["null_share"] == pytest.approx(0.2)
    assert age["distinct"] == len(set(values))
    assert (age["min"], age["max"]) == (19, 62)
    assert age["mean"] == pytest.approx(statistics.mean(values))
    assert age["std"] == pytest.approx(statistics.stdev(values))
    assert age["quantiles"]["p50"] == pytest.approx(statistics.median(values))
    assert list(age["quantiles"]) == ["p1", "p5", "p25", "p50", "p75", "p95", "p99"]
    assert age["quantiles"]["p1"] <= age["quantiles"]["p25"] <= age["quantiles"]["p99"]
    hist = age["histogram"]
    assert len(hist["edges"]) == len(hist["counts"]) + 1
    assert sum(hist["counts"]) == len(values)
    assert hist["edges"][0] <= 19 and hist["edges"][-1] >= 62
    assert age["top_values"] is None


def test_categorical_boolean_and_temporal_columns(home: Home, people) -> None:
    cols = _cols(P.compute_profile(home, people))
    city = cols["city"]
    assert city["kind"] == "categorical" and city["nulls"] == 1 and city["distinct"] == 4
    assert city["top_values"][:2] == [{"value": "Berlin", "count": 4}, {"value": "Paris", "count": 3}]
    assert (city["min"], city["max"]) == ("Berlin", "Rome")
    assert city["mean"] is None and city["quantiles"] is None and city["histogram"] is None
    ok = cols["ok"]
    assert ok["kind"] == "boolean"
    assert sorted((t["value"], t["count"]) for t in ok["top_values"]) == [("false", 4), ("true", 6)]
    day = cols["day"]
    assert day["kind"] == "temporal" and (day["min"], day["max"]) == ("2024-01-01", "2024-01-10")
    empty = cols["empty"]
    assert empty["nulls"] == 10 and empty["null_share"] == 1.0 and empty["histogram"] is None


def test_profile_is_stored_in_the_sidecar_as_strict_json(home: Home, people) -> None:
    assert P.get_profile(home, people) is None
    prof = P.compute_profile(home, people)
    assert P.get_profile(home, people) == prof
    assert V.sidecar(home, people)["profile"]["rows"] == 10
    json.dumps(prof, allow_nan=False)  # no NaN/inf, no dates or decimals left


def test_small_integer_ranges_get_one_bin_per_value(home: Home, write) -> None:
    v = ingest_file(home, write("dice.csv", "n\n1\n2\n2\n3\n3\n3\n6\n")).version
    hist = _cols(P.compute_profile(home, v))["n"]["histogram"]
    assert hist["edges"] == [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5]
    assert hist["counts"] == [1, 2, 3, 0, 0, 1]


def test_constant_and_wide_float_columns_have_sound_bins(home: Home, write) -> None:
    rows = "".join(f"7,{i / 10}\n" for i in range(101))
    v = ingest_file(home, write("c.csv", "k,x\n" + rows)).version
    cols = _cols(P.compute_profile(home, v))
    assert cols["k"]["histogram"]["counts"] == [101]
    x = cols["x"]["histogram"]
    assert len(x["counts"]) == P.HIST_BINS and sum(x["counts"]) == 101
    assert x["edges"][0] == 0.0 and x["edges"][-1] == pytest.approx(10.0)
    assert x["counts"][-1] >= 1  # the maximum falls in the last bin, not past it


def test_sketch_paths_for_big_data_and_high_cardinality(home: Home, people, monkeypatch) -> None:
    # Force the approximate (big data) statistics and the top-k candidate path on small data.
    monkeypatch.setattr(P, "EXACT_ROWS", 0)
    monkeypatch.setattr(P, "LOW_CARDINALITY", 1)
    prof = P.compute_profile(home, people)
    assert prof["approximate"] is True
    cols = _cols(prof)
    assert cols["city"]["top_values"][0] == {"value": "Berlin", "count": 4}
    assert abs(cols["age"]["distinct"] - 6) <= 1
    assert 30 <= cols["age"]["quantiles"]["p50"] <= 41


def test_progress_reaches_one_in_order(home: Home, people) -> None:
    seen: list[float] = []
    P.compute_profile(home, people, progress=seen.append)
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert seen == sorted(seen)


def test_cancel_stops_the_profile_and_stores_nothing(home: Home, people) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(MlopsError, match="profile cancelled"):
        P.compute_profile(home, people, cancel=cancel)
    assert P.get_profile(home, people) is None


@pytest.mark.parametrize("dtype,kind", [
    ("BIGINT", "numeric"), ("DECIMAL(10,2)", "numeric"), ("DOUBLE", "numeric"), ("BOOLEAN", "boolean"),
    ("DATE", "temporal"), ("TIMESTAMP WITH TIME ZONE", "temporal"), ("VARCHAR", "categorical"),
    ("BIGINT[]", "categorical"), ("STRUCT(a INTEGER)", "categorical"), ("INTERVAL", "categorical"),
])
def test_column_kind(dtype: str, kind: str) -> None:
    assert P.column_kind(dtype) == kind


def test_nan_and_infinity_do_not_break_the_profile(home: Home, write) -> None:
    v = ingest_file(home, write("f.csv", "x\n1.0\ninf\nnan\n2.0\n"), IngestOptions(types={"x": "DOUBLE"})).version
    x = _cols(P.compute_profile(home, v))["x"]
    json.dumps(x, allow_nan=False)
    assert x["histogram"] is None or all(math.isfinite(e) for e in x["histogram"]["edges"])


def test_odd_column_names_are_quoted(home: Home, write) -> None:
    v = ingest_file(home, write("odd.csv", '"we""ird col","select",file_row_number\n1,a,3\n2,b,4\n')).version
    cols = _cols(P.compute_profile(home, v))
    assert cols['we"ird col']["max"] == 2 and cols["select"]["distinct"] == 2
    assert cols["file_row_number"]["mean"] == 3.5


def test_cancel_between_passes_stops_before_the_next_one(home: Home, people) -> None:
    cancel = threading.Event()
    seen: list[float] = []

    def progress(f: float) -> None:
        seen.append(f)
        if f >= 1 / 3:
            cancel.set()

    with pytest.raises(MlopsError, match="profile cancelled"):
        P.compute_profile(home, people, progress=progress, cancel=cancel)
    assert max(seen) < 2 / 3 and P.get_profile(home, people) is None
