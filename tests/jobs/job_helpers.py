"""Helpers for the job tests: wait for a condition with a deadline, read a run's events, commands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tui_mlops.store.events import read_events
from tui_mlops.store.home import Home
from waiting import wait_for  # noqa: E402 (tests/ is on sys.path through its conftest)





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
