"""Real job processes: a command job runs to its end, fails with its exit code, is cancelled
with its whole process group, and outlives the process that submitted it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from job_helpers import end_of, events, gated, of_type, py, wait_for
from tui_mlops.jobs import manager
from tui_mlops.jobs.state import process_alive
from tui_mlops.store.home import read_json

REPO = Path(__file__).resolve().parents[2]


def _status(home, run_id: str) -> str:
    return manager.get_job(home, run_id).status


def test_command_job_runs_to_finished(home):
    run_id = manager.submit(home, "command", {"argv": py("print('hello from the job')")},
                            experiment="exp1", name="hello", params={"a": 1}, tags={"t": "x"})
    job = read_json(home.runs_dir / run_id / "job.json")
    assert job["kind"] == "command" and job["pid"] > 0 and job["pid_started"] > 0
    wait_for(lambda: _status(home, run_id) == "finished", "the job to finish")

    evs = events(home, run_id)
    starts = of_type(evs, "run_start")
    assert len(starts) == 1  # the worker wrote it, and only it
    start = starts[0]
    assert (start["run_id"], start["kind"], start["experiment"], start["name"]) == (run_id, "command", "exp1", "hello")
    assert start["params"] == {"a": 1} and start["tags"] == {"t": "x"}
    assert start["pid"] == job["pid"]
    assert [e["status"] for e in of_type(evs, "status")] == ["queued", "running"]
    assert of_type(evs, "run_end")[-1]["status"] == "finished"
    assert "hello from the job" in manager.job_log(home, run_id)
    info = manager.list_jobs(home)[0]
    assert info.run_id == run_id and info.status == "finished"
    assert info.created <= info.started <= info.ended
    assert manager.list_jobs(home, active_only=True) == []
    assert manager.detect_crashes(home) == []


def test_nonzero_exit_fails_the_job(home):
    run_id = manager.submit(home, "command", {"argv": py("import sys; print('bad input'); sys.exit(3)")})
    wait_for(lambda: _status(home, run_id) == "failed", "the job to fail")
    info = manager.get_job(home, run_id)
    assert info.error == f"command {sys.executable} exited with code 3"
    assert "bad input" in manager.job_log(home, run_id)


def test_missing_program_fails_with_one_line(home, tmp_path):
    run_id = manager.submit(home, "command", {"argv": [str(tmp_path / "no-such-program")]})
    wait_for(lambda: _status(home, run_id) == "failed", "the job to fail")
    error = manager.get_job(home, run_id).error
    assert error.startswith("cannot run ") and "\n" not in error


def test_cancel_running_job_stops_its_process_group(home, tmp_path):
    pid_file = tmp_path / "child.pid"
    # The command ignores nothing, but it has a grandchild of its own: the whole group must go.
    code = ("import os, subprocess, sys, time\n"
            "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
            f"open({str(pid_file)!r} + '.tmp', 'w').write(f'{{os.getpid()}} {{g.pid}}')\n"
            f"os.replace({str(pid_file)!r} + '.tmp', {str(pid_file)!r})\n"
            "time.sleep(120)\n")
    run_id = manager.submit(home, "command", {"argv": py(code)})
    wait_for(pid_file.exists, "the command to start")
    procs = [psutil.Process(int(p)) for p in pid_file.read_text().split()]
    job = manager.get_job(home, run_id)
    assert job.status == "running"
    worker = psutil.Process(job.pid)
    assert all(os.getpgid(p.pid) == job.pid for p in procs)

    assert manager.cancel(home, run_id) == "cancelled"
    for proc in [worker, *procs]:
        wait_for(lambda: not process_alive(proc.pid, proc.create_time()), f"process {proc.pid} to end", 10)
    end = end_of(home, run_id)
    assert end["status"] == "cancelled"
    # A SIGTERM'd worker records its own end: the verdict is in events.jsonl, not in edits.
    assert of_type(events(home, run_id), "run_end")[0]["status"] == "cancelled"
    assert of_type(events(home, run_id, "edits.jsonl"), "run_end") == []
    assert manager.get_job(home, run_id).status == "cancelled"
    assert manager.cancel(home, run_id) == "cancelled"  # twice is harmless
    assert manager.detect_crashes(home) == []


def test_job_outlives_its_submitter_killed(home, tmp_path):
    gate = tmp_path / "gate"
    # The submitter (think: the app) is SIGKILLed right after the submit returns.
    submitter = subprocess.run(
        [sys.executable, "-c",
         "import json, os, signal, sys; from tui_mlops.jobs.manager import submit; "
         "print(submit(sys.argv[1], 'command', {'argv': json.loads(sys.argv[2])}), flush=True); "
         "os.kill(os.getpid(), signal.SIGKILL)",
         str(home.root), json.dumps(gated(gate))],
        cwd=REPO, capture_output=True, text=True, timeout=60)
    assert submitter.returncode == -signal.SIGKILL, submitter.stderr
    run_id = submitter.stdout.strip()
    wait_for(lambda: "waiting for the gate" in manager.job_log(home, run_id), "the job to start")
    assert manager.get_job(home, run_id).status == "running"
    gate.touch()
    wait_for(lambda: manager.get_job(home, run_id).status == "finished", "the job to finish")
    assert manager.job_log(home, run_id)[-1] == "gate open"


def test_cancel_many_stops_a_parents_children_together(home, tmp_path):
    gate = tmp_path / "never"
    kids = [manager.submit(home, "command", {"argv": gated(gate)}, parent_run_id="cafe00000000")
            for _ in range(2)]
    other = manager.submit(home, "command", {"argv": py("print('other')")})
    for run_id in kids:
        wait_for(lambda: "waiting for the gate" in manager.job_log(home, run_id), "the children to start")
    assert sorted(manager.child_jobs(home, "cafe00000000")) == sorted(kids)
    assert manager.cancel_many(home, manager.child_jobs(home, "cafe00000000")) == {k: "cancelled" for k in kids}
    wait_for(lambda: manager.get_job(home, other).status == "finished", "the other job to finish")


def test_command_runs_in_the_submitters_folder(home, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    run_id = manager.submit(home, "command", {"argv": py("import os; open('here.txt', 'w').write(os.getcwd())")})
    wait_for(lambda: manager.get_job(home, run_id).status == "finished", "the job to finish")
    assert (work / "here.txt").read_text() == str(work)
