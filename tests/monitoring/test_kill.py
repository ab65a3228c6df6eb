"""SIGKILL of `monitor run` between batches, after scoring a batch and after appending its event:
on restart every batch is counted exactly once (real subprocesses, the documented test-only pause
hooks of tui_mlops.monitoring.log)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from monitor_helpers import batch_csv, drop, monitored
from tui_mlops.monitoring.log import PAUSE_AFTER_APPEND, PAUSE_AFTER_SCORE
from tui_mlops.store.events import read_events
from waiting import wait_for

REPO = Path(__file__).resolve().parents[2]


def events(home):
    return read_events(home.monitors_dir / "m" / "events.jsonl")[0]


def _run(home, *extra, env=None):
    cmd = [sys.executable, "-m", "tui_mlops", "monitor", "run", "m", *extra, "--home", str(home.root)]
    full = {k: v for k, v in os.environ.items() if k != "MLOPS_TUI_HOME"}
    full.update(env or {})
    return subprocess.Popen(cmd, cwd=REPO, env=full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _kill(proc):
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def _restart_once(home):
    """The restart processes what is waiting (in this process: only the kill needs a subprocess)."""
    from tui_mlops.monitoring.runner import run_monitor

    run_monitor(home, "m", once=True)


def _counted_once(home, texts):
    keys = [e["key"] for e in events(home) if e["type"] == "batch"]
    want = sorted(hashlib.sha256(t.encode()).hexdigest() for t in texts)
    assert sorted(keys) == want, "every batch counted exactly once"
    assert not [p for p in (home.monitors_dir / "m" / "incoming").iterdir() if not p.name.startswith(".")]


@pytest.mark.parametrize("hook", [PAUSE_AFTER_SCORE, PAUSE_AFTER_APPEND])
def test_sigkill_mid_batch_then_restart_counts_it_once(home, tmp_path, hook):
    monitored(home, tmp_path)
    gate = tmp_path / "gate"
    text = batch_csv(100, seed=1)
    drop(home, "m", "b1.csv", text)
    proc = _run(home, env={hook: str(gate)})
    try:
        wait_for(lambda: Path(str(gate) + ".waiting").exists(), "the runner to pause mid-batch", 30)
    finally:
        _kill(proc)
    recorded = [e for e in events(home) if e["type"] == "batch"]
    assert len(recorded) == (0 if hook == PAUSE_AFTER_SCORE else 1)
    assert (home.monitors_dir / "m" / "incoming" / "b1.csv").exists()     # killed before the move
    _restart_once(home)
    _counted_once(home, [text])


def test_sigkill_between_batches_then_restart_counts_each_once(home, tmp_path):
    monitored(home, tmp_path)
    texts = [batch_csv(100, seed=s) for s in (1, 2, 3, 4)]
    for i, t in enumerate(texts):
        drop(home, "m", f"b{i}.csv", t)
    proc = _run(home)
    try:
        wait_for(lambda: len(events(home)) >= 2, "two batches recorded", 30)
    finally:
        _kill(proc)
    _restart_once(home)
    _counted_once(home, texts)
