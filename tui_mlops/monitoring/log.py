"""A monitor's event log (events.jsonl, the commit point of every batch and labels file): the lock
writers hold, the keys already recorded, file settling and moving, and the test-only pause hooks."""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from tui_mlops.monitoring.spec import EVENTS_FILE, monitor_dir
from tui_mlops.store.events import append_events, read_events
from tui_mlops.store.home import TMP_PREFIX

BATCH_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq", ".json", ".ndjson", ".jsonl", ".csv.gz", ".tsv.gz")
# Test-only hooks, inert unless set: the process writes PATH.waiting and waits for PATH to exist, right
# after scoring a batch (before its event is appended) or right after the append (before the move).
PAUSE_AFTER_SCORE = "MLOPS_TUI_TEST_PAUSE_AFTER_SCORE"
PAUSE_AFTER_APPEND = "MLOPS_TUI_TEST_PAUSE_AFTER_APPEND"


@dataclass
class _Keys:
    offset: int = 0
    inode: int = 0
    seq: int = 0
    keys: dict[str, int] = field(default_factory=dict)   # key -> seq
    id_ranges: dict[str, tuple[float, float] | None] = field(default_factory=dict)   # scored batch -> ids


_KEYS: dict[str, _Keys] = {}
_KEYS_LOCK = threading.Lock()
_THREAD_LOCKS: dict[str, threading.Lock] = {}


def events_path(home: Any, name: str) -> Path:
    return monitor_dir(home, name) / EVENTS_FILE


def wanted(path: Path) -> bool:
    """A data file a writer has finished naming (no dot/temp prefix, a known suffix)."""
    low = path.name.lower()
    return not path.name.startswith((".", "~", TMP_PREFIX)) and low.endswith(BATCH_SUFFIXES)


def waiting_files(folder: Path) -> list[Path]:
    """Files waiting in a folder, oldest first."""
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        try:
            if wanted(p) and p.is_file():
                found.append((p.stat().st_mtime_ns, p.name, p))
        except OSError:
            continue
    return [p for _, _, p in sorted(found)]


def recorded(home: Any, name: str) -> _Keys:
    """Keys recorded in events.jsonl (read incrementally: only new bytes are parsed)."""
    path = events_path(home, name)
    with _KEYS_LOCK:
        st = _KEYS.setdefault(str(path), _Keys())
        try:
            stat = path.stat()
            size, inode = stat.st_size, stat.st_ino
        except FileNotFoundError:
            size, inode = 0, 0
        if size < st.offset or (st.inode and inode != st.inode):   # the log was replaced (re-created)
            st = _KEYS[str(path)] = _Keys()
        st.inode = inode
        if size > st.offset:
            events, st.offset = read_events(path, st.offset)
            for e in events:
                st.seq = max(st.seq, int(e.get("seq") or 0))
                if e.get("key"):
                    st.keys.setdefault(str(e["key"]), int(e.get("seq") or 0))
                if e.get("type") == "batch" and e.get("scored") and e.get("key"):
                    lo, hi = e.get("id_min"), e.get("id_max")
                    st.id_ranges[str(e["key"])] = (lo, hi) if lo is not None and hi is not None else None
        return st


@contextmanager
def locked(home: Any, name: str) -> Iterator[None]:
    """One writer at a time per monitor, across threads and processes (flock on .lock)."""
    folder = monitor_dir(home, name)
    folder.mkdir(parents=True, exist_ok=True)
    with _KEYS_LOCK:
        tlock = _THREAD_LOCKS.setdefault(str(folder), threading.Lock())
    with tlock:
        fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def append(home: Any, name: str, event: dict[str, Any]) -> int:
    """Append one event under the lock with the next seq; returns the seq."""
    keys = recorded(home, name)
    event["seq"] = keys.seq + 1
    append_events(events_path(home, name), [event])
    recorded(home, name)
    return event["seq"]


def file_key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_claimed(home: Any, name: str, path: Path) -> tuple[bytes, str, int | None] | None:
    """Under the monitor's lock: a landed file's bytes, its key, and the seq of the event that
    already recorded the same bytes (the file is then moved to processed/: counted once); None
    when the file is gone."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    key = file_key(data)
    seen = recorded(home, name).keys.get(key)
    if seen is not None:
        move_to(path, monitor_dir(home, name) / "processed")
    return data, key, seen


def settle(path: Path, settle_s: float = 0.3, deadline_s: float = 10.0) -> bool:
    """Wait until the file's size and mtime stay the same for settle_s (deadline_s at most).
    False when the file is gone."""
    pause = threading.Event()
    start = time.monotonic()
    last, since = None, start
    while True:
        try:
            st = path.stat()
        except FileNotFoundError:
            return False
        sig = (st.st_size, st.st_mtime_ns)
        now = time.monotonic()
        if sig != last:
            last, since = sig, now
        elif now - since >= settle_s or now - start >= deadline_s:
            return True
        pause.wait(min(0.05, settle_s / 3))


def move_to(path: Path, folder: Path) -> Path | None:
    """Rename into `folder` (a free name: -1, -2, ... before the suffixes); None if it is gone."""
    folder.mkdir(parents=True, exist_ok=True)
    base, dot, rest = path.name.partition(".")
    dest, n = folder / path.name, 0
    while dest.exists():
        n += 1
        dest = folder / f"{base}-{n}{dot}{rest}"
    try:
        os.rename(path, dest)
    except FileNotFoundError:
        return None
    return dest


def test_pause(var: str) -> None:
    """The test-only hook (see PAUSE_AFTER_SCORE): inert unless the variable is set."""
    target = os.environ.get(var)
    if not target:
        return
    Path(target + ".waiting").write_text(str(os.getpid()))
    pause = threading.Event()
    while not Path(target).exists():
        pause.wait(0.02)
