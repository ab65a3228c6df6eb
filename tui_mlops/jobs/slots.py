"""Concurrency slots for jobs: `flock` on `<home>/jobs/slots/<n>.lock`, handed out in submit order.

A lock held by a process is released by the kernel when it dies, so a killed job never leaks
its slot. Waiters take a ticket (`<home>/jobs/queue/<created>-<run_id>.lock`, also flocked) and
only the oldest live ticket may take a free slot, so queued jobs start in the order submitted.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path
from typing import Callable

from tui_mlops.store.home import Home


def slots_dir(home: Home) -> Path:
    return home.root / "jobs" / "slots"


def queue_dir(home: Home) -> Path:
    return home.root / "jobs" / "queue"


def _open_locked(path: Path) -> int | None:
    """An fd holding an exclusive flock on `path`, or None when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


class Slot:
    """A held slot (or ticket); `release()` or process exit frees it."""

    def __init__(self, index: int, fd: int, path: Path) -> None:
        self.index = index
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the only fd on the open file drops the flock

    @property
    def held(self) -> bool:
        return self._fd is not None


def try_acquire(home: Home, limit: int) -> Slot | None:
    """Take the first free slot among 0..limit-1, without waiting."""
    folder = slots_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(max(1, limit)):
        path = folder / f"{index}.lock"
        fd = _open_locked(path)
        if fd is not None:
            return Slot(index, fd, path)
    return None


def busy_slots(home: Home, limit: int) -> list[int]:
    """Slots held by some process now (a probe: the answer may change at once)."""
    busy = []
    folder = slots_dir(home)
    for index in range(max(1, limit)):
        path = folder / f"{index}.lock"
        if not path.exists():
            continue
        fd = _open_locked(path)
        if fd is None:
            busy.append(index)
        else:
            os.close(fd)
    return busy


def take_ticket(home: Home, created: float, run_id: str) -> Slot:
    """A queue ticket, locked before it gets its visible name so no one sees it unlocked."""
    folder = queue_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{int(created * 1e6):020d}-{run_id}.lock"
    tmp = folder / f".tmp-{os.getpid()}-{run_id}"
    fd = _open_locked(tmp)
    assert fd is not None  # a fresh private name
    os.replace(tmp, final)  # the flock belongs to the inode, so it survives the rename
    return Slot(-1, fd, final)


def _first_in_line(home: Home, ticket: Slot) -> bool:
    """True when no older ticket belongs to a live waiter; stale tickets (lock free) are removed."""
    for path in sorted(queue_dir(home).glob("*.lock")):
        if path.name >= ticket.path.name:
            return True
        try:
            fd = _open_locked(path)
        except FileNotFoundError:
            continue
        if fd is None:
            return False  # an older waiter is alive
        try:
            path.unlink(missing_ok=True)  # its waiter died (or just got its slot and left)
        finally:
            os.close(fd)
    return True


def acquire(home: Home, limit: int | Callable[[], int], *, created: float, run_id: str,
            poll: float = 0.2, stop: threading.Event | None = None) -> Slot | None:
    """Wait for a slot in submit order. Each wait is bounded by `poll` seconds; the limit is
    re-read every few seconds so raising it lets queued jobs start. None if `stop` is set."""
    get_limit = limit if callable(limit) else (lambda: limit)
    current = get_limit()
    slot = try_acquire(home, current) if not _older_waiters(home, created) else None
    if slot is not None:
        return slot
    ticket = take_ticket(home, created, run_id)
    waker = stop or threading.Event()
    last_read = time.monotonic()
    try:
        while True:
            if _first_in_line(home, ticket):
                slot = try_acquire(home, current)
                if slot is not None:
                    return slot
            if waker.wait(poll):
                return None
            if time.monotonic() - last_read > 2.0:
                current, last_read = get_limit(), time.monotonic()
    finally:
        ticket.path.unlink(missing_ok=True)
        ticket.release()


def _older_waiters(home: Home, created: float) -> bool:
    folder = queue_dir(home)
    if not folder.is_dir():
        return False
    mine = f"{int(created * 1e6):020d}"
    return any(p.name < mine for p in folder.glob("*.lock"))
