"""`mlops-tui jobs list/cancel/logs`, `runs rm` of a live job, and `devices`, against real job processes."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable


from cli_helpers import REPO, Cli, cli_env
from waiting import wait_for  # noqa: E402 (tests/ is on sys.path through its conftest)

from tui_mlops.jobs import manager  # noqa: E402

SLEEPER = "import time; print('sleeper started', flush=True); time.sleep(120)"




def _log_has(home: Path, run_id: str, text: str) -> Callable[[], bool]:
    path = home / "runs" / run_id / "job.log"
    return lambda: path.exists() and text in path.read_text(errors="replace")


def _submit(cli: Cli, code: str, name: str) -> str:
    from tui_mlops.store.home import Home

    return manager.submit(Home.open(cli.home), "command", {"argv": [sys.executable, "-c", code]},
                          experiment="jobs", name=name)


def test_list_logs_rm_refused_then_cancel(cli: Cli) -> None:
    rid = _submit(cli, SLEEPER, "sleeper")
    try:
        wait_for(_log_has(cli.home, rid, "sleeper started"), "the job to start")
        active = {j["run_id"]: j for j in cli.json("jobs", "list")}
        assert active[rid]["status"] == "running" and active[rid]["kind"] == "command"
        assert active[rid]["name"] == "sleeper" and active[rid]["pid"]
        listed = cli.ok("jobs", "list").out.splitlines()
        assert listed[0].split()[:3] == ["run", "kind", "status"]
        assert any(line.startswith(rid) and "running" in line for line in listed[1:])

        logs = cli.json("jobs", "logs", rid[:6])
        assert logs["run_id"] == rid and "sleeper started" in logs["lines"]
        assert "sleeper started" in cli.ok("jobs", "logs", rid, "--tail", "1").out

        refused = cli("runs", "rm", rid, "--yes")
        assert refused.rc == 2 and f"jobs cancel {rid}" in refused.err
        assert (cli.home / "runs" / rid).is_dir()

        t0 = time.monotonic()
        assert cli.json("jobs", "cancel", rid) == {"run_id": rid, "status": "cancelled"}
        assert time.monotonic() - t0 < 10
    finally:
        manager.cancel(cli.home, rid)
    assert rid not in {j["run_id"] for j in cli.json("jobs", "list")}
    ended = {j["run_id"]: j for j in cli.json("jobs", "list", "--all")}
    assert ended[rid]["status"] == "cancelled"
    assert cli.ok("jobs", "cancel", rid).out.strip() == f"run {rid}: cancelled"  # already over: said, not an error
    assert cli.json("runs", "show", rid)["status"] == "cancelled"
    assert cli.json("runs", "rm", rid, "--yes")["removed"] == [rid]
    assert "no queued or running jobs" in cli.ok("jobs", "list").out


def test_logs_follow_until_the_job_ends(cli: Cli, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    code = ("import os, time\nprint('first line', flush=True)\n"
            f"while not os.path.exists({str(gate)!r}): time.sleep(0.02)\nprint('last line', flush=True)\n")
    rid = _submit(cli, code, "follower")
    cmd = [sys.executable, "-m", "tui_mlops", "--home", str(cli.home), "jobs", "logs", rid, "--follow"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    try:
        seen = ""
        deadline = time.monotonic() + 30
        while "first line" not in seen:
            assert time.monotonic() < deadline, f"no first line from --follow: {seen!r}"
            ready, _, _ = select.select([proc.stdout], [], [], 0.5)
            if ready:
                seen += proc.stdout.readline()
        assert proc.poll() is None  # still following: the job has not ended
        gate.write_text("go")
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "last line" in out and f"-- run {rid} finished --" in err
    follow_json = cli("jobs", "logs", rid, "--follow", "--json")
    assert follow_json.rc == 2 and "--json" in follow_json.err


def test_killed_job_is_listed_as_crashed(cli: Cli) -> None:
    rid = _submit(cli, SLEEPER, "victim")
    wait_for(_log_has(cli.home, rid, "sleeper started"), "the job to start")
    pid = next(j for j in cli.json("jobs", "list") if j["run_id"] == rid)["pid"]
    os.killpg(pid, signal.SIGKILL)  # the worker and its command, as a kill -9 of the group would
    wait_for(lambda: not _alive(pid), "the killed worker to be gone")
    jobs = {j["run_id"]: j for j in cli.json("jobs", "list", "--all")}
    assert jobs[rid]["status"] == "crashed" and "exited without finishing" in jobs[rid]["error"]
    shown = cli.json("runs", "show", rid)
    assert shown["status"] == "crashed" and "sleeper started" in shown["error"]


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_job_errors(cli: Cli) -> None:
    from tui_mlops.store.home import Home
    from tui_mlops.tracking.api import start_run

    with start_run("scripts", home=Home.open(cli.home)) as run:
        run.log_metric("loss", 0.5)
    not_job = cli("jobs", "cancel", run.run_id)
    assert not_job.rc == 2 and "not a job" in not_job.err
    missing = cli("jobs", "cancel", "abcd1234")
    assert missing.rc == 2 and "abcd1234" in missing.err and missing.err.startswith("mlops-tui: error:")
    short = cli("jobs", "logs", "ab")
    assert short.rc == 2 and "at least 4" in short.err


def test_devices(cli: Cli) -> None:
    info = cli.json("devices")
    assert {"opencl_platforms", "nvidia_gpus", "gpu_usable", "message"} <= set(info)
    assert isinstance(info["gpu_usable"], bool) and info["message"]
    text = cli.ok("devices").out
    assert "OpenCL platforms" in text and info["message"].splitlines()[0] in text
