"""The concurrency limit: slots are flocks, queued jobs wait (and start in submit order), a
queued job can be cancelled, a sweep needs no slot."""

from __future__ import annotations

import os

import pytest

from job_helpers import end_of, gated, py, status_ts, wait_for
from tui_mlops.errors import InputError
from tui_mlops.jobs import manager, slots


def test_queued_jobs_wait_and_start_in_submit_order(home, tmp_path, monkeypatch):
    monkeypatch.setenv("MLOPS_TUI_MAX_JOBS", "1")
    gate = tmp_path / "gate"
    first = manager.submit(home, "command", {"argv": gated(gate)})
    wait_for(lambda: status_ts(home, first, "running"), "the first job to run")
    queued = [manager.submit(home, "command", {"argv": py(f"print('job {i}')")}) for i in range(5)]
    for run_id in queued:
        wait_for(lambda: status_ts(home, run_id, "queued"), "the job to be queued")
    assert slots.busy_slots(home, 1) == [0]
    assert {j.run_id: j.status for j in manager.list_jobs(home, active_only=True)} == {
        first: "running", **{r: "queued" for r in queued}}

    # A queued job cancels at once, and never runs.
    cancelled = queued.pop(2)
    assert manager.cancel(home, cancelled) == "cancelled"
    assert status_ts(home, cancelled, "running") is None
    assert "job 2" not in manager.job_log(home, cancelled)

    gate.touch()
    order = [first, *queued]
    for run_id in order:
        wait_for(lambda: manager.get_job(home, run_id).status == "finished", "the jobs to finish")
    # One at a time, in submit order: each starts running only after the one before ended.
    for before, after in zip(order, order[1:]):
        assert status_ts(home, after, "running") >= end_of(home, before)["ts"]
    assert slots.busy_slots(home, 1) == []
    assert not any(slots.queue_dir(home).glob("*.lock"))


def test_slots_are_exclusive_and_freed(home):
    a = slots.try_acquire(home, 2)
    b = slots.try_acquire(home, 2)
    assert (a.index, b.index) == (0, 1)
    assert slots.try_acquire(home, 2) is None
    assert sorted(slots.busy_slots(home, 2)) == [0, 1]
    a.release()
    c = slots.try_acquire(home, 2)
    assert c.index == 0
    b.release()
    c.release()
    assert slots.busy_slots(home, 2) == []


def test_stale_ticket_of_a_dead_waiter_does_not_block(home):
    # A ticket whose waiter died has no lock on it: the next waiter removes it and goes ahead.
    folder = slots.queue_dir(home)
    folder.mkdir(parents=True)
    stale = folder / f"{1:020d}-deadbeef0000.lock"
    stale.touch()
    slot = slots.acquire(home, 1, created=2.0, run_id="abcdabcdabcd", poll=0.01)
    assert slot is not None and slot.index == 0
    assert not stale.exists()
    slot.release()


def test_max_concurrent_sources(home, monkeypatch):
    assert manager.max_concurrent(home) == 2
    (home.root / "settings.toml").write_text("[jobs]\nmax_concurrent = 3\n")
    assert manager.max_concurrent(home) == 3
    monkeypatch.setenv("MLOPS_TUI_MAX_JOBS", "5")
    assert manager.max_concurrent(home) == 5
    monkeypatch.setenv("MLOPS_TUI_MAX_JOBS", "zero")
    with pytest.raises(InputError) as err:
        manager.max_concurrent(home)
    assert str(err.value) == "environment variable MLOPS_TUI_MAX_JOBS must be a whole number >= 1, got 'zero'"
    monkeypatch.delenv("MLOPS_TUI_MAX_JOBS")
    (home.root / "settings.toml").write_text("[jobs]\nmax_concurrent = 0\n")
    with pytest.raises(InputError, match=r"settings.toml \[jobs\] max_concurrent must be a whole number >= 1, got 0"):
        manager.submit(home, "command", {"argv": py("pass")})
    assert os.listdir(home.runs_dir) == []
