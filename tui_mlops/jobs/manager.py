"""Submit, cancel, list and watch background jobs; each job is a detached worker process.

The manager writes only job.json (control) and, for verdicts the worker could not give
itself (killed, crashed), a run_end in edits.jsonl. events.jsonl has one writer: the worker.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from tui_mlops.errors import InputError
from tui_mlops.jobs.state import CACHE, RunState, hostname, process_alive, read_job, tail_lines
from tui_mlops.store.home import Home, atomic_write_json

KINDS = ("train", "sweep", "command")
DEFAULT_MAX_JOBS = 2
MAX_JOBS_ENV = "MLOPS_TUI_MAX_JOBS"
CANCEL_GRACE_S = 5.0
# A job.json without a pid is a submit in progress; after this long its submitter died.
SPAWN_GRACE_S = 30.0


@dataclass(frozen=True)
class JobInfo:
    run_id: str
    kind: str
    status: str  # queued | running | finished | failed | cancelled | crashed
    experiment: str
    name: str | None
    pid: int | None
    created: float | None
    started: float | None
    ended: float | None
    parent_run_id: str | None
    error: str | None = None


def _home(home: Home | str | os.PathLike[str]) -> Home:
    return home if isinstance(home, Home) else Home.open(home)


def max_concurrent(home: Home | str | os.PathLike[str]) -> int:
    """How many jobs may run at once: env MLOPS_TUI_MAX_JOBS, else <home>/settings.toml [jobs], else the
    user config file's jobs_max_concurrent, else 2."""
    raw = os.environ.get(MAX_JOBS_ENV)
    source = f"environment variable {MAX_JOBS_ENV}"
    if raw is None:
        path = _home(home).root / "settings.toml"
        source = f"{path} [jobs] max_concurrent"
        raw = _settings_value(path)
        if raw is None:
            from tui_mlops.settings import configured_max_jobs

            return configured_max_jobs() or DEFAULT_MAX_JOBS  # the user's config file, else 2
    try:
        value = int(str(raw).strip())
    except ValueError:
        value = 0
    if value < 1:
        raise InputError(f"{source} must be a whole number >= 1, got {raw!r}")
    return value


def _settings_value(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: invalid TOML: {exc}") from exc
    jobs = doc.get("jobs")
    return jobs.get("max_concurrent") if isinstance(jobs, dict) else None


def _check_payload(kind: str, payload: dict[str, Any]) -> None:
    if kind not in KINDS:
        raise InputError(f"unknown job kind {kind!r}: use one of {', '.join(KINDS)}")
    if not isinstance(payload, dict):
        raise InputError("a job payload must be a dict")
    if kind == "command":
        argv = payload.get("argv")
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise InputError("a command job needs payload['argv']: a non-empty list of strings")
    if kind == "train" and not isinstance(payload.get("spec"), dict):
        raise InputError("a train job needs payload['spec']: a training spec dict")


def submit(home: Home | str | os.PathLike[str], kind: str, payload: dict[str, Any], *,
           experiment: str = "default", name: str | None = None, params: dict[str, Any] | None = None,
           tags: dict[str, str] | None = None, parent_run_id: str | None = None,
           dataset: str | None = None, model: str | None = None, run_id: str | None = None) -> str:
    """Write job.json and start the detached worker; returns the run id at once."""
    home = _home(home)
    _check_payload(kind, payload)
    max_concurrent(home)  # a bad limit is the user's to fix now, not a failed job later
    from tui_mlops.tracking.events import check_run_id

    run_id = check_run_id(run_id) if run_id else uuid.uuid4().hex[:12]
    if kind == "command" and not payload.get("cwd"):
        # The worker runs in the home folder; a command's relative paths mean the submitter's.
        payload = {**payload, "cwd": os.getcwd()}
    run_dir = home.runs_dir / run_id
    try:
        run_dir.mkdir(mode=0o700)
    except FileExistsError:
        raise InputError(f"run {run_id} already exists") from None
    job: dict[str, Any] = {
        "run_id": run_id, "kind": kind, "payload": payload, "created": time.time(),
        "experiment": experiment, "name": name, "params": params or {}, "tags": tags or {},
        "parent_run_id": parent_run_id, "dataset": dataset, "model": model,
        "host": hostname(), "pid": None, "pid_started": None,
    }
    job_path = run_dir / "job.json"
    atomic_write_json(job_path, job)
    try:
        proc = _spawn(home, run_id, run_dir / "job.log")
    except OSError:
        import shutil

        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    job["pid"] = proc.pid
    job["pid_started"] = _create_time(proc.pid)
    atomic_write_json(job_path, job)
    return run_id


def _spawn(home: Home, run_id: str, log_path: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env["OMP_WAIT_POLICY"] = "passive"  # idle OpenMP threads must not spin on a shared box
    env["MLOPS_TUI_HOME"] = str(home.root)
    env["PYTHONUNBUFFERED"] = "1"  # job.log shows output as it happens (and a crash's last line)
    # The worker must import this very package, also when it is run from a source tree.
    pkg_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_root, env.get("PYTHONPATH")) if p)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tui_mlops.jobs.worker", str(home.root), run_id],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True, close_fds=True, cwd=str(home.root),
        )
    # Reap it when it exits so a long-lived submitter (the app) leaves no zombies behind.
    threading.Thread(target=proc.wait, name=f"reap-{run_id}", daemon=True).start()
    return proc


def _create_time(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def resolve_run(home: Home, run_ref: str) -> Path:
    """The run folder for a run id or a unique prefix of >= 4 characters."""
    from tui_mlops.tracking.events import resolve_run_dir

    return resolve_run_dir(home, run_ref)


def _job_state(home: Home, run_ref: str) -> RunState:
    run_dir = resolve_run(home, run_ref)
    st = CACHE.read(run_dir)
    if st is None or not st.is_job:
        raise InputError(f"run {run_dir.name} is not a job")
    return st


def _local(st: RunState) -> bool:
    return not st.host or st.host == hostname()


def _alive(st: RunState) -> bool:
    if st.pid is None:
        return st.is_job and time.time() - (st.created or 0.0) < SPAWN_GRACE_S
    return process_alive(st.pid, st.pid_started)


def _status(st: RunState) -> str:
    if st.terminal:
        return str(st.end_status)
    if not _local(st) or _alive(st):
        return st.status or "queued"
    return "crashed"


def _info(st: RunState) -> JobInfo:
    status = _status(st)
    error = st.error
    if status == "crashed" and not st.terminal:
        error = _crash_error(st)  # what detect_crashes will record, shown before it has
    return JobInfo(run_id=st.run_id, kind=st.kind or "command", status=status,
                   experiment=st.experiment or "default", name=st.name, pid=st.pid,
                   created=st.created, started=st.started, ended=st.ended,
                   parent_run_id=st.parent_run_id, error=error)


def list_jobs(home: Home | str | os.PathLike[str], active_only: bool = False) -> list[JobInfo]:
    """Jobs, newest first, with their status from events and process liveness."""
    jobs = []
    for st in CACHE.scan(_home(home)):
        if not st.is_job:
            continue
        info = _info(st)
        if active_only and info.status not in ("queued", "running"):
            continue
        jobs.append(info)
    jobs.sort(key=lambda j: (j.created or 0.0, j.run_id), reverse=True)
    return jobs


def child_jobs(home: Home | str | os.PathLike[str], parent_run_id: str) -> list[str]:
    """Ids of the jobs submitted with this parent (a sweep's trials); reads only job.json files."""
    home = _home(home)
    try:
        names = os.listdir(home.runs_dir)
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        job = read_job(home.runs_dir / name / "job.json")
        if job is not None and job.get("parent_run_id") == parent_run_id:
            found.append(name)
    return found


def get_job(home: Home | str | os.PathLike[str], run_ref: str) -> JobInfo:
    return _info(_job_state(_home(home), run_ref))


@contextmanager
def _watch_lock(home: Home) -> Iterator[None]:
    """Serialises verdicts across processes (app, CLI), so each is written once."""
    path = home.root / "jobs" / "watch.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write_end(home: Home, run_id: str, status: str, error: str | None) -> None:
    from tui_mlops.tracking.api import attach_run

    attach_run(home, run_id).end(status, error)


def _last_log_line(run_dir: Path) -> str:
    lines = tail_lines(run_dir / "job.log", 5)
    for line in reversed(lines):
        if line.strip():
            return line.strip()[:300]
    return ""


def _crash_error(st: RunState) -> str:
    last = _last_log_line(st.run_dir) if st.is_job else ""
    who = f"process {st.pid}" if st.pid else "the job process"
    return f"{who} exited without finishing" + (f"; last log: {last}" if last else "")


def detect_crashes(home: Home | str | os.PathLike[str]) -> list[str]:
    """Mark runs whose process is gone without a run_end as crashed (once); returns their ids.

    Covers jobs and tracking-API runs started on this host. Cheap when nothing changed:
    finished runs are cached, live ones cost a head/tail read and a /proc lookup.
    """
    home = _home(home)
    crashed = []
    for st in CACHE.scan(home):
        if st.terminal or not _local(st) or (st.pid is None and not st.is_job) or _alive(st):
            continue
        with _watch_lock(home):
            fresh = CACHE.read(st.run_dir)  # it may have ended between the scan and now
            if fresh is None or fresh.terminal or _alive(fresh):
                continue
            _write_end(home, fresh.run_id, "crashed", _crash_error(fresh))
            CACHE.read(fresh.run_dir)
        crashed.append(st.run_id)
    return crashed


def _signal_group(pid: int, sig: int) -> None:
    try:
        if os.getpgid(pid) == pid:  # the worker leads its own session and group
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_gone(st: RunState, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while process_alive(st.pid, st.pid_started):
        if time.monotonic() >= deadline:
            return False
        pause.wait(0.05)  # polling a foreign process: there is nothing to block on
    return True


def cancel(home: Home | str | os.PathLike[str], run_ref: str) -> str:
    """Stop a queued or running job: SIGTERM to its process group, SIGKILL after 5 s.
    Returns the run's final status (a job that already ended keeps its own)."""
    home = _home(home)
    st = _job_state(home, run_ref)
    if not st.terminal and not _local(st):
        raise InputError(f"job {st.run_id} runs on host {st.host}: cancel it there")
    return cancel_many(home, [st.run_id])[st.run_id]


def cancel_many(home: Home | str | os.PathLike[str], run_ids: list[str]) -> dict[str, str]:
    """Cancel several jobs at once (a sweep's trials): all are signalled, then all waited for."""
    home = _home(home)
    states = [s for s in (CACHE.read(home.runs_dir / r) for r in run_ids) if s is not None]
    signalled: list[RunState] = []
    for i, st in enumerate(states):
        if st.terminal or not _local(st):
            continue
        if st.pid is None:
            st = states[i] = _await_pid(st)
        if st.pid is not None and process_alive(st.pid, st.pid_started):
            _signal_group(st.pid, signal.SIGTERM)
            signalled.append(st)
    deadline = time.monotonic() + CANCEL_GRACE_S
    killed = {st.run_id for st in signalled if not _wait_gone(st, deadline - time.monotonic())}
    for st in signalled:
        if st.run_id in killed:
            _signal_group(st.pid, signal.SIGKILL)
            _wait_gone(st, 5.0)
        # Children that ignored SIGTERM (a command's own subprocesses) go with their group.
        try:
            os.killpg(st.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    result: dict[str, str] = {}
    with _watch_lock(home):
        for st in states:
            fresh = CACHE.read(st.run_dir) or st
            if not fresh.terminal and (_local(fresh) and not _alive(fresh)):
                error = "killed after it ignored SIGTERM for 5 s" if st.run_id in killed else "cancelled by user"
                _write_end(home, st.run_id, "cancelled", error)
                fresh = CACHE.read(st.run_dir) or fresh
            result[st.run_id] = str(fresh.end_status or _status(fresh))
    return result


def _await_pid(st: RunState) -> RunState:
    """A job being submitted right now has no pid yet; give its submitter a moment."""
    deadline = time.monotonic() + 2.0
    pause = threading.Event()
    while st.pid is None and time.monotonic() < deadline:
        pause.wait(0.05)
        st = CACHE.read(st.run_dir) or st
    return st


def job_log(home: Home | str | os.PathLike[str], run_ref: str, tail: int = 50) -> list[str]:
    """The last `tail` lines of the job's output (stdout and stderr together)."""
    run_dir = resolve_run(_home(home), run_ref)
    return tail_lines(run_dir / "job.log", tail)
