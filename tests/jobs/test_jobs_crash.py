"""Crash detection: a SIGKILLed job (or tracking-API script) is marked crashed once, with its
last log line, its metrics so far kept; a pid reused by another process does not count as alive."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from job_helpers import events, of_type, py, wait_for
from tui_mlops.jobs import manager
from tui_mlops.jobs.state import process_alive
from tui_mlops.store.home import atomic_write_json

REPO = Path(__file__).resolve().parents[2]
TICKS = ("import itertools, time\n"
         "for i in itertools.count():\n"
         "    print(f'tick {i}', flush=True)\n"
         "    time.sleep(0.02)\n")


def test_sigkilled_job_is_marked_crashed_once(home):
    run_id = manager.submit(home, "command", {"argv": py(TICKS)})
    wait_for(lambda: of_type(events(home, run_id), "system"), "a system-metrics event")
    wait_for(lambda: any(l.startswith("tick") for l in manager.job_log(home, run_id)), "output")
    job = manager.get_job(home, run_id)
    assert job.status == "running"
    started = psutil.Process(job.pid).create_time()
    os.killpg(job.pid, signal.SIGKILL)
    wait_for(lambda: not process_alive(job.pid, started), "the worker to die")

    before = manager.get_job(home, run_id)  # seen before any verdict is written
    assert before.status == "crashed"
    assert manager.detect_crashes(home) == [run_id]
    assert manager.detect_crashes(home) == []  # once
    ends = of_type(events(home, run_id, "edits.jsonl"), "run_end")
    assert len(ends) == 1 and ends[0]["status"] == "crashed"
    last = [l for l in manager.job_log(home, run_id) if l.startswith("tick")][-1]
    assert ends[0]["error"] == f"process {job.pid} exited without finishing; last log: {last}"
    info = manager.get_job(home, run_id)
    assert (info.status, info.error) == ("crashed", ends[0]["error"]) == (before.status, before.error)
    assert of_type(events(home, run_id), "run_end") == []

    from tui_mlops.tracking.query import get_run

    run = get_run(home, run_id)  # the store opens and folds cleanly
    assert run.status == "crashed"
    assert run.metric_summary["system/cpu_percent"]["n"] >= 1  # metrics logged so far are kept


def test_killed_script_run_is_marked_crashed(home):
    code = ("import os, signal, sys\n"
            "import tui_mlops as mt\n"
            "run = mt.start_run('scripts', home=sys.argv[1])\n"
            "run.log_metric('loss', 0.5, step=1)\n"
            "run.flush()\n"
            "print(run.run_id, flush=True)\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(home.root)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    run_id = proc.stdout.strip()
    assert manager.detect_crashes(home) == [run_id]
    end = of_type(events(home, run_id, "edits.jsonl"), "run_end")
    assert end[0]["status"] == "crashed" and end[0]["error"].endswith("exited without finishing")
    assert manager.list_jobs(home) == []  # a script run is tracked, but it is not a job
    assert manager.detect_crashes(home) == []


def _fake_job(home, run_id: str, pid: int, pid_started: float) -> None:
    (home.runs_dir / run_id).mkdir()
    atomic_write_json(home.runs_dir / run_id / "job.json", {
        "run_id": run_id, "kind": "command", "payload": {"argv": ["true"]}, "created": time.time(),
        "experiment": "default", "name": None, "parent_run_id": None, "host": None,
        "pid": pid, "pid_started": pid_started})


def test_reused_pid_does_not_count_as_alive(home):
    me = psutil.Process()
    _fake_job(home, "aaaa00000001", me.pid, me.create_time())
    _fake_job(home, "bbbb00000002", me.pid, me.create_time() - 120)  # same pid, other process
    assert process_alive(me.pid, me.create_time())
    assert not process_alive(me.pid, me.create_time() - 120)
    assert manager.get_job(home, "aaaa").status == "queued"
    assert manager.get_job(home, "bbbb").status == "crashed"
    assert manager.detect_crashes(home) == ["bbbb00000002"]
    end = of_type(events(home, "bbbb00000002", "edits.jsonl"), "run_end")[0]
    assert end["error"] == f"process {me.pid} exited without finishing"
