"""Append-only JSONL event logs: whole lines, fsync per batch, a torn last line ignored on read."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable


def append_events(path: Path, events: Iterable[dict[str, Any]]) -> int:
    """Append events as whole lines in one write, then fsync. Returns the number written."""
    lines = [json.dumps(e, separators=(",", ":"), sort_keys=True, default=str) for e in events]
    if not lines:
        return 0
    data = ("\n".join(lines) + "\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        # A killed writer may have left a torn line with no newline: start on a fresh line so
        # the torn bytes stay one unreadable line instead of corrupting ours.
        size = os.fstat(fd).st_size
        if size:
            with open(path, "rb") as fh:
                fh.seek(size - 1)
                if fh.read(1) != b"\n":
                    data = b"\n" + data
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return len(lines)


def read_events(path: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Events from byte `offset` on, and the offset after the last whole line read.

    A last line without its newline (a writer still writing, or killed) is left for the next
    read; a whole line that is not valid JSON (a torn line followed by newer writes) is skipped.
    """
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n")
    if end < 0:
        return [], offset
    events: list[dict[str, Any]] = []
    for raw in data[: end + 1].splitlines():
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        if isinstance(obj, dict):
            events.append(obj)
    return events, offset + end + 1
