"""Helpers for the job tests: wait for a condition with a deadline, read a run's events, commands."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

from tui_mlops.store.events import read_events
from tui_mlops.store.home import Home

T = TypeVar("T")


def wait_for(cond: Callable[[], T], what: str, timeout: float = 20.0) -> T:
    """Poll `cond` until it returns something truthy; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        tick.wait(0.02)


def events(home: Home, run_id: str, name: str = "events.jsonl") -> list[dict[str, Any]]:
    return read_events(home.runs_dir / run_id / name)[0]


def of_type(evs: list[dict[str, Any]], etype: str) -> list[dict[str, Any]]:
    return [e for e in evs if e.get("type") == etype]


def status_ts(home: Home, run_id: str, status: str) -> float | None:
    for e in of_type(events(home, run_id), "status"):
        if e.get("status") == status:
            return e["ts"]
    return None


def end_of(home: Home, run_id: str) -> dict[str, Any] | None:
    ends = of_type(events(home, run_id), "run_end") + of_type(events(home, run_id, "edits.jsonl"), "run_end")
    return min(ends, key=lambda e: e["ts"]) if ends else None


def py(code: str) -> list[str]:
    """argv of a command job that runs a small Python program."""
    return [sys.executable, "-c", code]


def gated(gate: Path, before: str = "") -> list[str]:
    """A command that prints, then waits until the file `gate` exists (the test opens the gate)."""
    return py(
        "import os, sys, time\n"
        f"{before}\n"
        "print('waiting for the gate', flush=True)\n"
        f"while not os.path.exists({str(gate)!r}):\n"
        "    time.sleep(0.02)\n"
        "print('gate open', flush=True)\n"
    )
