"""CLI handlers for background jobs: `jobs list/cancel/logs`, `devices`, and following a run to its end."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable

from tui_mlops.errors import InputError

PROG = "mlops-tui"
TERMINAL = ("finished", "failed", "cancelled", "crashed")
POLL_S = 0.2
CRASH_CHECK_S = 2.0


def add_parsers(sub: Any, common: list[argparse.ArgumentParser], home_opt: argparse.ArgumentParser) -> None:
    from tui_mlops.cli import _pos_int

    jobs = sub.add_parser("jobs", parents=[home_opt], help="list, cancel and read the logs of background jobs",
                          description="Background jobs: training runs and sweeps in their own processes.")
    js = jobs.add_subparsers(dest="action", metavar="ACTION", required=True)
    J = "tui_mlops.cli_jobs"
    p = js.add_parser("list", parents=common, help="queued and running jobs (--all: every job)")
    p.add_argument("--all", action="store_true", help="also the jobs that ended")
    p.set_defaults(handler=f"{J}:cmd_list")
    p = js.add_parser("cancel", parents=common, help="stop a queued or running job (SIGTERM, then SIGKILL)")
    p.add_argument("run", metavar="ID", help="run id (or a unique prefix of 4+ characters)")
    p.set_defaults(handler=f"{J}:cmd_cancel")
    p = js.add_parser("logs", parents=common, help="a job's output (stdout and stderr)")
    p.add_argument("run", metavar="ID")
    p.add_argument("--tail", type=_pos_int, default=50, metavar="N", help="last N lines (default 50)")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new lines until the job ends")
    p.set_defaults(handler=f"{J}:cmd_logs")

    p = sub.add_parser("devices", parents=common, help="which devices LightGBM can train on (OpenCL, NVIDIA)")
    p.set_defaults(handler=f"{J}:cmd_devices")


# -- run references and following -----------------------------------------------------------------
def resolve_run_id(home: Any, ref: str) -> str:
    """The full run id for an id or a unique prefix of >= 4 characters, from the run folders."""
    from tui_mlops.tracking.events import resolve_run_dir

    return resolve_run_dir(home, ref).name


class RunFollower:
    """Reads a run's new events (events.jsonl) and its verdict (a run_end in either log)."""

    def __init__(self, home: Any, run_id: str) -> None:
        self.dir: Path = home.runs_dir / run_id
        self.offsets = {"events.jsonl": 0, "edits.jsonl": 0}
        self.end: dict[str, Any] | None = None

    def poll(self) -> list[dict[str, Any]]:
        from tui_mlops.store.events import read_events

        out: list[dict[str, Any]] = []
        for name in self.offsets:
            events, self.offsets[name] = read_events(self.dir / name, self.offsets[name])
            for e in events:
                if e.get("type") == "run_end":
                    self.end = self.end or e
                elif name == "events.jsonl":
                    out.append(e)
        return out


def follow_run(home: Any, run_id: str, on_events: Callable[[list[dict[str, Any]]], None],
               *, poll_s: float = POLL_S) -> dict[str, Any]:
    """Feed a run's events to `on_events` until it ends; returns its run_end event.

    A job whose process died never writes run_end: detect_crashes (every few seconds) writes
    the verdict to edits.jsonl, so the loop always ends.
    """
    from tui_mlops.jobs.manager import detect_crashes

    follower = RunFollower(home, run_id)
    last_check = time.monotonic()
    while True:
        events = follower.poll()
        if events:
            on_events(events)
        if follower.end is not None:
            return follower.end
        if time.monotonic() - last_check >= CRASH_CHECK_S:
            detect_crashes(home)
            last_check = time.monotonic()
            continue
        time.sleep(poll_s)


def as_dict(obj: Any) -> dict[str, Any]:
    import dataclasses

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, dict):
        return dict(obj)
    return dict(vars(obj))


def run_summary(home: Any, run_id: str, end: dict[str, Any]) -> dict[str, Any]:
    """What `--wait` reports: status, error, final metrics, artifacts (and trials for a sweep)."""
    from tui_mlops.tracking.query import get_run

    d = get_run(home, run_id)
    status = d.status if d.status in TERMINAL else end.get("status")
    start, stop = d.start_ts, d.end_ts
    summary: dict[str, Any] = {
        "run_id": d.run_id, "status": status, "error": d.error or end.get("error"),
        "experiment": d.experiment, "name": d.name, "kind": d.kind, "model": d.model, "dataset": d.dataset,
        "device": d.device,
        "duration_s": (stop - start) if start is not None and stop is not None else None,
        "params": d.params, "metrics": {k: v for k, v in d.metrics.items() if not k.startswith("system/")},
        "artifacts": list(d.artifacts or []),
    }
    if d.children:
        summary["trials"] = [_trial(home, c) for c in d.children]
    return summary


def _trial(home: Any, run_id: str) -> dict[str, Any]:
    from tui_mlops.tracking.query import get_run

    t = get_run(home, run_id)
    return {"run_id": t.run_id, "status": t.status, "params": t.params,
            "metrics": {k: v for k, v in t.metrics.items() if not k.startswith(("system/", "train/"))}}


# -- handlers -----------------------------------------------------------------------------------
def _when(value: Any) -> str:
    from datetime import datetime

    from tui_mlops.cli_format import human_time

    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M:%S")
    return human_time(value, seconds=True) if isinstance(value, str) else ""


def duration_text(start: Any, end: Any) -> str:
    if not isinstance(start, (int, float)):
        return ""
    secs = max(0.0, (end if isinstance(end, (int, float)) else time.time()) - start)
    if secs < 60:
        return f"{secs:.1f}s"
    if secs < 3600:
        return f"{int(secs // 60)}m{int(secs % 60):02d}s"
    return f"{int(secs // 3600)}h{int(secs % 3600 // 60):02d}m"


def cmd_list(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.cli_format import print_json, table
    from tui_mlops.jobs import manager

    manager.detect_crashes(home)
    jobs = manager.list_jobs(home, active_only=not args.all)
    if args.json:
        print_json([as_dict(j) for j in jobs])
        return 0
    if not jobs:
        print("no queued or running jobs" + ("" if args.all else f" (`{PROG} jobs list --all` shows ended ones)"))
        return 0
    rows = [[j.run_id, j.kind, j.status, j.experiment, j.name or "", str(j.pid or ""), _when(j.started or j.created),
             duration_text(j.started, j.ended)] for j in jobs]
    print(table(["run", "kind", "status", "experiment", "name", "pid", "started", "time"], rows))
    return 0


def cmd_cancel(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.cli_format import print_json
    from tui_mlops.jobs import manager

    run_id = resolve_run_id(home, args.run)
    status = manager.cancel(home, run_id)
    if args.json:
        print_json({"run_id": run_id, "status": status})
    else:
        print(f"run {run_id}: {status}")
    return 0


def _tail_lines(path: Path, n: int) -> tuple[list[str], int]:
    """The last n whole lines of a file and the byte offset after them."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], 0
    end = data.rfind(b"\n") + 1
    lines = data[:end].decode("utf-8", "replace").splitlines()
    return lines[-n:], end


def cmd_logs(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.cli_format import print_json
    from tui_mlops.jobs import manager

    run_id = resolve_run_id(home, args.run)
    if not args.follow:
        lines = manager.job_log(home, run_id, tail=args.tail)
        if args.json:
            print_json({"run_id": run_id, "lines": lines})
        else:
            for line in lines:
                print(line)
        return 0
    if args.json:
        raise InputError("--follow prints lines as they come: it does not combine with --json")
    path = home.runs_dir / run_id / "job.log"
    lines, offset = _tail_lines(path, args.tail)
    for line in lines:
        print(line)
    sys.stdout.flush()
    follower = RunFollower(home, run_id)
    last_check = time.monotonic()
    while True:
        follower.poll()
        ended = follower.end is not None
        offset = _print_new(path, offset)
        if ended:
            # The process is gone: print the rest, including a last line without its newline.
            _print_new(path, offset, final=True)
            print(f"-- run {run_id} {follower.end.get('status')} --", file=sys.stderr)
            return 0
        if time.monotonic() - last_check >= CRASH_CHECK_S:
            manager.detect_crashes(home)
            last_check = time.monotonic()
            continue
        time.sleep(POLL_S)


def _print_new(path: Path, offset: int, final: bool = False) -> int:
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return offset
    end = len(data) if final else data.rfind(b"\n") + 1
    if end:
        sys.stdout.write(data[:end].decode("utf-8", "replace"))
        if final and not data.endswith(b"\n"):
            sys.stdout.write("\n")
        sys.stdout.flush()
    return offset + end


def cmd_devices(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.cli_format import key_values, print_json
    from tui_mlops.training.devices import detect

    info = detect()
    if args.json:
        print_json(as_dict(info))
        return 0
    print(key_values([
        ("OpenCL platforms", ", ".join(info.opencl_platforms) or "none"),
        ("NVIDIA GPUs", ", ".join(info.nvidia_gpus) or "none"),
        ("GPU training", "usable (--device gpu)" if info.gpu_usable else "not available"),
    ]))
    print()
    print(info.message)
    return 0
