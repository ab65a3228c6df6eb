"""monitor_state: windows by rows and by time from merged per-batch summaries (agreeing with drift
on the window's rows), incremental folding, and realised metrics that catch up with late labels."""

from __future__ import annotations

import json

import polars as pl
import pytest

from monitor_helpers import batch_csv, drop, labels_csv, monitored
from tui_mlops.monitoring import state as ST
from tui_mlops.monitoring.batches import process_batch
from tui_mlops.monitoring.labels import process_labels
from tui_mlops.monitoring.state import monitor_state
from tui_mlops.validation.drift_methods import dataset_drift


def land(home, name, seed, rows=200, **kw):
    return process_batch(home, name, drop(home, name, f"b{seed}.csv", batch_csv(rows, seed=seed, **kw)),
                         settle_s=0.05)


def test_windows_by_rows_close_and_the_last_stays_open(home, tmp_path):
    monitored(home, tmp_path, window_rows=400)
    for seed in (1, 2, 3):
        land(home, "m", seed)
    st = monitor_state(home, "m")
    assert [(w["start_seq"], w["end_seq"], w["rows"], w["complete"]) for w in st.windows] == \
        [(1, 2, 400, True), (3, 3, 200, False)]
    assert st.rows == 600 and len(st.batches) == 3 and st.latest["seq"] == 3
    assert "summary" not in st.latest and st.last_batch_ts == st.latest["ts"]
    assert all(len(v) == 2 for v in st.features.values())
    assert st.bands["features"]["x1"]["chunks"] == 10 and st.alerts == []


def test_windows_by_time(home, tmp_path):
    monitored(home, tmp_path, window_time="1d")
    for seed, day in ((1, 0), (2, 0), (3, 1), (4, 3)):
        land(home, "m", seed, rows=20, day=day)
    st = monitor_state(home, "m")
    assert [(w["start_seq"], w["end_seq"], w["complete"]) for w in st.windows] == \
        [(1, 2, True), (3, 3, True), (4, 4, False)]
    assert st.windows[1]["t0"] >= st.windows[0]["t1"]


def test_window_drift_from_summaries_agrees_with_drift_on_the_rows(home, tmp_path):
    """Reference of 1,500 rows: Wasserstein / Jensen-Shannon. Categorical scores are exact from counts;
    numeric ones come from binned values (reference-quantile bins)."""
    monitored(home, tmp_path, rows=1500, window_rows=600)
    texts = [batch_csv(200, seed=s, shift=0.1 * (s - 1)) for s in (1, 2, 3)]
    for i, t in enumerate(texts):
        process_batch(home, "m", drop(home, "m", f"w{i}.csv", t), settle_s=0.05)
    (w,) = monitor_state(home, "m").windows
    ref = json.loads((home.monitors_dir / "m" / "reference.json").read_text())
    rows = pl.concat([pl.read_csv(t.encode()) for t in texts]).with_columns(pl.col("flag").cast(pl.Boolean))
    exact = {c.column: c for c in dataset_drift(ref["profile"], rows, ["x1", "x2", "cat", "flag", "neg"]).columns}
    got = {c["column"]: c for c in w["drift"]["columns"]}
    assert got["x1"]["method"] == "wasserstein" and got["cat"]["method"] == "jensenshannon"
    for col in ("cat", "flag"):
        assert got[col]["score"] == pytest.approx(exact[col].score, abs=1e-9)
    for col in ("x1", "neg"):
        assert got[col]["score"] == pytest.approx(exact[col].score, abs=2e-3), col
    assert got["x2"]["score"] == pytest.approx(exact["x2"].score, abs=1e-9)      # few values: exact bins
    assert {c: got[c]["drifted"] for c in got} == {c: exact[c].drifted for c in exact}
    assert w["null_rates"]["x1"] == pytest.approx(rows["x1"].null_count() / 600)


def test_state_is_cached_and_folded_incrementally(home, tmp_path):
    monitored(home, tmp_path, window_rows=200)
    land(home, "m", 1)
    first = monitor_state(home, "m")
    assert monitor_state(home, "m") is first            # nothing changed: the same object
    fold = ST._FOLDS[str(home.monitors_dir / "m" / "events.jsonl")]
    offset = fold.offset
    land(home, "m", 2)
    second = monitor_state(home, "m")
    assert second is not first and len(second.windows) == 2 and fold.offset > offset
    assert fold.closed[0].events == []                  # a closed window keeps no batch summaries


def test_late_labels_update_a_closed_window(home, tmp_path):
    monitored(home, tmp_path, window_rows=200)
    for seed in (1, 2, 3):
        land(home, "m", seed)
    assert monitor_state(home, "m").windows[0]["realized"] is None
    process_labels(home, "m", drop(home, "m", "l.csv", labels_csv(200, seed=1), "labels"), settle_s=0.05)
    st = monitor_state(home, "m")
    assert st.windows[0]["realized"]["accuracy"] > 0.5 and st.windows[0]["labelled"] == 200
    assert st.windows[1]["realized"] is None and len(st.labels) == 1
    assert st.windows[0]["estimated"]["accuracy"] is not None
