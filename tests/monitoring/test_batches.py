"""process_batch: the event (commit point), scores for the labels join, drift of shifted inputs,
the batch's own predictions, per-column method overrides, exactly-once by content key."""

from __future__ import annotations

import hashlib
import json

import polars as pl
import pytest

from monitor_helpers import batch_csv, drop, monitored
from tui_mlops.monitoring.batches import process_batch
from tui_mlops.store.events import read_events

EVENT_KEYS = {"type", "seq", "key", "file", "ts", "status", "rows", "time_min", "time_max", "problems", "drift",
              "prediction", "prediction_label", "multivariate", "estimated", "null_rates", "new_category_rates",
              "scored", "summary", "id_min", "id_max"}


def events(home, name="m"):
    return read_events(home.monitors_dir / name / "events.jsonl")[0]


@pytest.fixture
def mon(home, tmp_path):
    monitored(home, tmp_path)
    return home


def test_a_batch_is_recorded_scored_and_moved(mon):
    home = mon
    text = batch_csv(300, seed=1)
    path = drop(home, "m", "b1.csv", text)
    r = process_batch(home, "m", path, settle_s=0.05)
    assert r.status == "ok" and r.problems == [] and r.rows == 300 and r.seq == 1
    assert r.key == hashlib.sha256(text.encode()).hexdigest()
    (ev,) = events(home)
    assert set(ev) == EVENT_KEYS and ev["key"] == r.key and ev["file"] == "b1.csv"
    assert not path.exists() and (home.monitors_dir / "m" / "processed" / "b1.csv").exists()
    assert {c["column"] for c in r.drift["columns"]} == {"x1", "x2", "cat", "flag", "neg"}
    assert r.drift["share"] < 0.5 and not r.drift["drifted"]
    assert r.prediction["column"] == "score" and r.prediction_label["column"] == "prediction"
    assert set(r.estimated) >= {"accuracy", "auc", "rows"} and r.estimated["rows"] == 300
    assert r.multivariate is not None and r.multivariate > 0
    assert r.null_rates["x1"] == pytest.approx(18 / 300)       # every 17th x1 is empty
    assert r.time_min < r.time_max                              # from the ts column
    scores = pl.read_parquet(home.monitors_dir / "m" / "scores" / f"{r.key}.parquet")
    assert scores.columns[:3] == ["id", "prediction", "score"] and scores.height == 300
    assert scores["id"].to_list()[:2] == [100_000, 100_001]
    assert (ev["id_min"], ev["id_max"]) == (100_000, 100_299)
    summ = ev["summary"]["columns"]
    assert sum(summ["x1"]["counts"]) + summ["x1"]["nulls"] == 300
    assert dict(zip(summ["cat"]["values"], summ["cat"]["counts"])).keys() == {"a", "b", "c", "d"}
    assert sum(ev["summary"]["prediction"]["score"]["counts"]) == 300


def test_shifted_inputs_drift_and_the_score_follows(mon):
    home = mon
    r = process_batch(home, "m", drop(home, "m", "b.csv", batch_csv(300, seed=2, shift=0.5)), settle_s=0.05)
    cols = {c["column"]: c for c in r.drift["columns"]}
    assert cols["x1"]["method"] == "ks" and cols["x1"]["drifted"]       # reference of 600 rows: tests
    assert cols["neg"]["drifted"] and not cols["cat"]["drifted"]
    assert cols["cat"]["method"] == "chisquare" and cols["flag"]["method"] == "z"
    assert r.prediction["drifted"]


def test_the_same_bytes_twice_count_once(mon):
    home = mon
    text = batch_csv(100, seed=3)
    first = process_batch(home, "m", drop(home, "m", "a.csv", text), settle_s=0.05)
    again = process_batch(home, "m", drop(home, "m", "a-copy.csv", text), settle_s=0.05)
    assert again.status == "duplicate" and again.seq == first.seq and "counted once" in again.problems[0]
    assert len(events(home)) == 1
    assert not (home.monitors_dir / "m" / "incoming" / "a-copy.csv").exists()


def test_a_scored_batch_keeps_its_own_predictions(mon):
    """A file from `predict --monitor` carries prediction/score: the monitor does not score again."""
    home = mon
    rows = batch_csv(200, seed=4).splitlines()
    lines = [rows[0] + ",prediction,score"] + [r + f",1,{0.9 if i % 2 else 0.95}" for i, r in enumerate(rows[1:])]
    r = process_batch(home, "m", drop(home, "m", "scored.csv", "\n".join(lines) + "\n"), settle_s=0.05)
    assert r.status == "ok"
    scores = pl.read_parquet(home.monitors_dir / "m" / "scores" / f"{r.key}.parquet")
    assert set(scores["score"].to_list()) == {0.9, 0.95} and set(scores["prediction"].to_list()) == {1}
    assert r.prediction["drifted"] and r.prediction_label["drifted"]


def test_parquet_batches_and_method_overrides(home, tmp_path):
    monitored(home, tmp_path, methods={"x1": "psi", "cat": "jensenshannon"}, thresholds={"x1": 5.0})
    frame = pl.read_csv(batch_csv(300, seed=5, shift=0.3).encode())
    path = home.monitors_dir / "m" / "incoming" / "b.parquet"
    frame.write_parquet(path)
    r = process_batch(home, "m", path, settle_s=0.05)
    cols = {c["column"]: c for c in r.drift["columns"]}
    assert cols["x1"]["method"] == "psi" and cols["x1"]["threshold"] == 5.0 and not cols["x1"]["drifted"]
    assert cols["cat"]["method"] == "jensenshannon" and cols["neg"]["method"] == "ks"
    ev = events(home)[0]
    assert json.dumps(ev)   # every field is plain JSON
