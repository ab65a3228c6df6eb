"""The job process: `python -m tui_mlops.jobs.worker HOME RUN_ID`.

It is the one writer of the run's events.jsonl: run_start, status queued, a concurrency slot,
status running, the work itself (train, sweep or an external command) with system metrics
every 2 s, then run_end. SIGTERM ends it as cancelled; an exception as failed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import traceback
from typing import Any

SYSTEM_INTERVAL_S = 2.0


class JobCancelled(BaseException):
    """Raised in the main thread by the SIGTERM handler (BaseException: no `except Exception`
    in the training code may swallow it)."""


class CommandFailed(Exception):
    pass


# While the main thread is inside the run's own buffering and writing, an exception could drop
# a batch it has taken from the buffer but not written yet: the cancel waits a moment instead.
_CRITICAL_FILES = (os.path.join("tracking", "api.py"), os.path.join("store", "events.py"))
_RETRY_S = 0.02


def _in_critical(frame: Any) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.endswith(_CRITICAL_FILES):
            return True
        frame = frame.f_back
    return False


class _Cancel:
    """SIGTERM before the run exists is only remembered; once armed it raises JobCancelled in
    the main thread, once (later signals during the clean-up are only remembered)."""

    def __init__(self) -> None:
        self.requested = False
        self.armed = False
        self.raised = False

    def handler(self, signum: int, frame: Any) -> None:
        if signum == signal.SIGTERM:
            self.requested = True
        if self.requested and self.armed and not self.raised:
            if _in_critical(frame):
                signal.setitimer(signal.ITIMER_REAL, _RETRY_S)  # SIGALRM brings us back here
                return
            self.raised = True
            raise JobCancelled()

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self.handler)
        signal.signal(signal.SIGALRM, self.handler)

    def arm(self) -> None:
        self.install()  # again: nothing installed since may take the signal from us
        self.armed = True
        if self.requested and not self.raised:
            self.raised = True
            raise JobCancelled()

    def disarm(self) -> None:
        self.armed = False


class _SystemSampler(threading.Thread):
    def __init__(self, run: Any) -> None:
        from tui_mlops.monitoring.system import Sampler

        super().__init__(name="system-metrics", daemon=True)
        self.run_ = run
        self.stop = threading.Event()
        self.sampler = Sampler()
        self.sampler.sample()  # CPU percentages are measured between calls: start the clock now

    def run(self) -> None:
        failed = False
        while not self.run_.ended:
            try:
                self.run_.log_system(self.sampler.sample())
            except Exception as exc:  # metrics are a side show: never fail the job over them
                if not failed and not self.run_.ended:
                    print(f"system metrics: {type(exc).__name__}: {exc}", file=sys.stderr)
                    failed = True
            if self.stop.wait(SYSTEM_INTERVAL_S):
                return


def _one_line(exc: BaseException) -> str:
    from tui_mlops.errors import MlopsError

    if isinstance(exc, (MlopsError, CommandFailed)):
        return str(exc)
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _run_command(payload: dict[str, Any], children: list[subprocess.Popen]) -> None:
    argv = [str(a) for a in payload["argv"]]
    try:
        # stdout/stderr are inherited: they already go to job.log. Same process group as the
        # worker, so a cancel's SIGTERM to the group reaches the command too.
        proc = subprocess.Popen(argv, cwd=payload.get("cwd") or None, stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise CommandFailed(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc
    children.append(proc)
    code = proc.wait()
    if code != 0:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        raise CommandFailed(f"command {argv[0]} {how}")


def _stop_children(children: list[subprocess.Popen]) -> None:
    for proc in children:
        if proc.poll() is not None:
            continue
        proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _cancel_trials(home: Any, run_id: str) -> None:
    """A cancelled sweep takes its queued and running trials with it."""
    from tui_mlops.jobs import manager

    try:
        manager.cancel_many(home, manager.child_jobs(home, run_id))
    except Exception:
        traceback.print_exc()


def _dispatch(run: Any, kind: str, payload: dict[str, Any], children: list[subprocess.Popen]) -> None:
    if kind == "train":
        from tui_mlops.training.runner import run_train

        run_train(run, payload["spec"])
    elif kind == "sweep":
        from tui_mlops.training.sweep import run_sweep

        run_sweep(run, payload)
    elif kind == "command":
        _run_command(payload, children)
    else:
        raise CommandFailed(f"unknown job kind {kind!r}")


def _start(home_root: str, run_id: str, job: dict[str, Any]) -> Any:
    from tui_mlops.tracking.api import start_run

    payload = job.get("payload") or {}
    spec = payload.get("spec") if isinstance(payload.get("spec"), dict) else payload
    return start_run(
        job.get("experiment") or "default", name=job.get("name"), params=job.get("params") or None,
        tags=job.get("tags") or None, home=home_root, kind=job.get("kind") or "command",
        parent_run_id=job.get("parent_run_id"), spec=spec, dataset=job.get("dataset"),
        model=job.get("model"), run_id=run_id,
    )


def run_job(home_root: str, run_id: str, cancel: _Cancel) -> int:
    from tui_mlops.jobs import slots
    from tui_mlops.jobs.manager import max_concurrent
    from tui_mlops.store.home import Home, read_json

    home = Home.open(home_root)
    job = read_json(home.runs_dir / run_id / "job.json")
    kind = job.get("kind") or "command"
    payload = job.get("payload") or {}
    run = _start(home_root, run_id, job)
    sampler = _SystemSampler(run)
    children: list[subprocess.Popen] = []
    slot = None
    status, error = "finished", None
    try:
        try:
            run.set_status("queued")
            run.flush()  # the app shows the state change at once, not on the next flush tick
            cancel.arm()
            if kind != "sweep":  # a sweep only coordinates; its trials take the slots
                slot = slots.acquire(home, lambda: max_concurrent(home),
                                     created=float(job.get("created") or 0.0), run_id=run_id)
            run.set_status("running")
            run.flush()
            sampler.start()
            _dispatch(run, kind, payload, children)
        except JobCancelled:
            status, error = "cancelled", "cancelled by user"
        except Exception as exc:
            traceback.print_exc()
            status, error = "failed", _one_line(exc)
    except JobCancelled:  # arrived while handling another outcome: cancel wins
        status, error = "cancelled", "cancelled by user"
    cancel.disarm()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the clean-up must finish now
    _stop_children(children)
    if kind == "sweep" and status == "cancelled":
        _cancel_trials(home, run_id)
    sampler.stop.set()
    if sampler.is_alive():
        sampler.join(timeout=5)
    if slot is not None:
        slot.release()
    if error and status == "failed":
        print(f"job failed: {error}", file=sys.stderr)
    run.end(status, error)
    return {"finished": 0, "failed": 1}.get(status, 143)


def main(argv: list[str] | None = None) -> int:
    cancel = _Cancel()
    cancel.install()  # first thing: a cancel that comes while we start is not lost
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m tui_mlops.jobs.worker HOME RUN_ID", file=sys.stderr)
        return 2
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    return run_job(args[0], args[1], cancel)


if __name__ == "__main__":
    sys.exit(main())
