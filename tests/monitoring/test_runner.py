"""MonitorRunner with a real watchdog observer: files are picked up within a second, waiting files
are processed at start, labels join batches, alerts are checked, stop() joins cleanly."""

from __future__ import annotations

import threading
import time

from monitor_helpers import batch_csv, drop, labels_csv, monitored
from tui_mlops.monitoring.alerts import read_alerts
from tui_mlops.monitoring.batches import BatchResult
from tui_mlops.monitoring.labels import LabelsResult
from tui_mlops.monitoring.runner import MonitorRunner, run_monitor
from tui_mlops.monitoring.state import monitor_state
from waiting import wait_for


class Collect:
    def __init__(self):
        self.items, self.cond = [], threading.Condition()

    def __call__(self, item):
        with self.cond:
            self.items.append((time.monotonic(), item))
            self.cond.notify_all()

    def wait(self, n, timeout=10.0):
        return wait_for(lambda: len(self.items) >= n, f"{n} result(s)", timeout)


def test_a_file_is_picked_up_within_a_second(home, tmp_path):
    monitored(home, tmp_path)
    got = Collect()
    runner = MonitorRunner(home, "m", on_result=got)
    runner.start()
    try:
        drop(home, "m", "warm.csv", batch_csv(100, seed=1))   # loads the model once
        got.wait(1)
        landed = time.monotonic()
        drop(home, "m", "b.csv", batch_csv(100, seed=2))
        got.wait(2)
        took = got.items[1][0] - landed
        assert isinstance(got.items[1][1], BatchResult) and got.items[1][1].file == "b.csv"
        assert took < 1.0, f"picked up and processed {took:.2f} s after landing"
        assert runner.drain(5) and runner.errors == []
    finally:
        runner.stop()
    assert runner._worker is None and runner._observer is None


def test_waiting_files_batches_then_labels_and_alerts(home, tmp_path):
    monitored(home, tmp_path, window_rows=100, alerts=["drift_share>0.3"])
    drop(home, "m", "l1.csv", labels_csv(100, seed=1), "labels")       # lands first, joined after b1
    drop(home, "m", "b1.csv", batch_csv(100, seed=1))
    got, alerts = Collect(), Collect()
    with MonitorRunner(home, "m", on_result=got, on_alert=alerts) as runner:
        assert runner.drain(15)
        kinds = [type(r).__name__ for _, r in got.items]
        assert kinds == ["BatchResult", "LabelsResult"]
        lab = got.items[1][1]
        assert isinstance(lab, LabelsResult) and lab.matched == 100
        drop(home, "m", "b2.csv", batch_csv(100, seed=2, shift=0.8))
        got.wait(3)
        alerts.wait(1)
        assert runner.drain(5)
    fired = [a for a in read_alerts(home, "m") if a["type"] == "fired"]
    assert len(fired) == 1 and fired[0]["rule"] == "drift_share>0.3"
    assert alerts.items[0][1][0]["type"] == "fired"
    st = monitor_state(home, "m")
    assert [w["end_seq"] for w in st.windows] == [1, 3] and st.windows[0]["realized"] is not None


def test_run_monitor_once_and_until_stopped(home, tmp_path):
    monitored(home, tmp_path)
    drop(home, "m", "b1.csv", batch_csv(50, seed=1))
    drop(home, "m", "b2.csv", batch_csv(50, seed=2))
    seen = []
    assert run_monitor(home, "m", once=True, on_result=seen.append) == 2
    assert [r.seq for r in seen] == [1, 2]
    assert run_monitor(home, "m", once=True) == 0
    stop = threading.Event()
    results = Collect()
    count = []
    t = threading.Thread(target=lambda: count.append(run_monitor(home, "m", stop=stop, on_result=results)))
    t.start()
    try:
        drop(home, "m", "b3.csv", batch_csv(50, seed=3))
        results.wait(1)
    finally:
        stop.set()
        t.join(10)
    assert not t.is_alive() and count == [1]
    assert len(monitor_state(home, "m").batches) == 3
