"""The worker's cancel logic in-process: a SIGTERM before the run exists is remembered, and a
cancel never interrupts the run's own buffering and writing (events would be lost)."""

from __future__ import annotations

import signal
import sys

import pytest

from job_helpers import end_of, py, wait_for
from tui_mlops.jobs import manager, worker
from tui_mlops.tracking.api import start_run


def test_signal_before_arming_is_remembered_then_raised():
    cancel = worker._Cancel()
    cancel.handler(signal.SIGTERM, sys._getframe())  # not armed: only remembered
    assert cancel.requested
    with pytest.raises(worker.JobCancelled):
        cancel.arm()
    cancel.handler(signal.SIGTERM, sys._getframe())  # raised once; later ones only remembered


def test_cancel_waits_while_the_run_is_writing(home):
    class Probe:
        critical = None

        def __float__(self) -> float:
            Probe.critical = worker._in_critical(sys._getframe())
            return 1.0

    run = start_run(home=home, kind="command")
    try:
        run.log_system({"x": Probe()})  # float() of the value is called from inside api.py
        assert Probe.critical is True
        assert worker._in_critical(sys._getframe()) is False
    finally:
        run.end()


def test_cancel_right_after_submit(home):
    run_id = manager.submit(home, "command", {"argv": py("print('should not run')")})
    assert manager.cancel(home, run_id) == "cancelled"
    assert end_of(home, run_id)["status"] == "cancelled"
    wait_for(lambda: manager.list_jobs(home, active_only=True) == [], "no active jobs")
    assert "should not run" not in "\n".join(manager.job_log(home, run_id))
