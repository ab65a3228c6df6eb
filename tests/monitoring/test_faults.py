"""Faults and bad input: each is reported on its batch (event problems and status) while the monitor
keeps running, and nothing recorded is lost. SIGKILL tests: test_kill.py."""

from __future__ import annotations

import os
import threading

import pytest

from monitor_helpers import batch_csv, drop, labels_csv, monitored
from tui_mlops.monitoring.runner import MonitorRunner
from tui_mlops.store.events import read_events
from waiting import wait_for

def events(home):
    return read_events(home.monitors_dir / "m" / "events.jsonl")[0]


def _replace_x1(text: str, rows: list[int], value: str) -> str:
    lines = text.splitlines()
    for r in rows:
        cells = lines[r + 1].split(",")
        cells[1] = value
        lines[r + 1] = ",".join(cells)
    return "\n".join(lines) + "\n"


def test_bad_batches_are_reported_and_the_monitor_keeps_going(home, tmp_path):
    monitored(home, tmp_path)
    results: dict[str, object] = {}
    lock = threading.Lock()

    def on_result(r):
        with lock:
            results[r.file] = r

    dup_ids = batch_csv(50, seed=7).splitlines()
    bad = {
        "missing.csv": batch_csv(80, seed=1, drop=("x2",)),
        "extra.csv": batch_csv(80, seed=2, extra={"color": "red"}),
        "types.csv": _replace_x1(batch_csv(80, seed=3), [3, 9, 30], "abc"),
        "nulls.csv": _replace_x1(batch_csv(80, seed=4), list(range(80)), ""),
        "zero.csv": batch_csv(0, seed=5),
        "corrupt.parquet": b"PAR1" + os.urandom(300),
        "dups.csv": "\n".join(dup_ids + dup_ids[1:4]) + "\n",
    }
    with MonitorRunner(home, "m", on_result=on_result, settle_s=0.1) as runner:
        for name, text in bad.items():
            drop(home, "m", name, text)
        wait_for(lambda: len(results) == len(bad), "a result per bad batch", 20)
        drop(home, "m", "good.csv", batch_csv(80, seed=8))
        drop(home, "m", "unseen.csv", labels_csv(5, seed=99), "labels")
        wait_for(lambda: len(results) == len(bad) + 2, "the good batch and the labels", 20)
        assert runner.drain(5) and runner.errors == []
    r = results
    assert r["missing.csv"].status == "problems" and r["missing.csv"].problems == [
        "missing.csv: column 'x2' is missing: no drift for it, scored as missing"]
    assert "x2" not in {c["column"] for c in r["missing.csv"].drift["columns"]} and r["missing.csv"].prediction
    assert r["extra.csv"].problems == ["extra.csv: extra column 'color' is not a model input: ignored"]
    assert r["types.csv"].problems == ["types.csv: column 'x1': 3 value(s) are not numbers ('abc'): treated as missing"]
    assert r["types.csv"].null_rates["x1"] == pytest.approx((5 + 3) / 80)   # 5 empty (every 17th) + 3 bad
    assert r["nulls.csv"].problems == ["nulls.csv: column 'x1' is null in every row: no drift for it"]
    assert "x1" not in {c["column"] for c in r["nulls.csv"].drift["columns"]}
    assert r["zero.csv"].status == "empty" and r["zero.csv"].rows == 0 and r["zero.csv"].drift is None
    assert r["corrupt.parquet"].status == "failed" and r["corrupt.parquet"].problems[0].startswith("corrupt.parquet")
    assert r["dups.csv"].status == "problems" and "has 3 duplicate id(s) (700000, 700001, 700002)" in \
        r["dups.csv"].problems[0]
    assert r["good.csv"].status == "ok" and r["unseen.csv"].unmatched == 5
    assert "5 id(s) were never seen in a batch" in r["unseen.csv"].problems[0]
    folder = home.monitors_dir / "m"
    assert (folder / "failed" / "corrupt.parquet").exists() and not any((folder / "incoming").iterdir())
    evs = events(home)
    assert len(evs) == len(bad) + 2 and len({e["key"] for e in evs}) == len(evs)
    assert [e["seq"] for e in evs] == list(range(1, len(evs) + 1))


def test_a_half_written_file_is_read_once_it_settles(home, tmp_path):
    """A writer that writes straight into incoming/ in pieces (0.1 s apart) is read once, whole."""
    monitored(home, tmp_path)
    text = batch_csv(500, seed=1).encode()
    got = []
    with MonitorRunner(home, "m", on_result=got.append) as runner:
        target = home.monitors_dir / "m" / "incoming" / "slow.csv"
        pause = threading.Event()
        with open(target, "wb") as fh:
            for i in range(5):
                fh.write(text[i * len(text) // 5:(i + 1) * len(text) // 5])
                fh.flush()
                pause.wait(0.1)   # the slow writer being simulated, not synchronisation
        wait_for(lambda: got, "the batch", 15)
        assert runner.drain(5)
    assert [(r.status, r.rows) for r in got] == [("ok", 500)]
