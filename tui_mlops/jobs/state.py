"""A run's lifecycle read straight from its files (job.json, events.jsonl, edits.jsonl), and
whether its process is still alive (pid + create time, so a reused pid does not count).

Only the head and the tail of events.jsonl are read: run_start and the status events come
first, run_end comes last, and a metrics-heavy log may be large. Terminal states never change
(the first run_end wins), so they are cached, in memory and in <home>/jobs/ended.jsonl, and
their files are not read again.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from tui_mlops.store.home import Home

CHUNK = 32 * 1024
# run_start, status queued, status running: a job worker writes these first, before any metric.
HEAD_LINES = 4
# psutil's create time is boot time (wall clock minus uptime) plus the start tick; NTP
# adjustments move it slightly, so compare with some slack. A pid reused within a second of
# the original's start is not a case that happens.
CREATE_TIME_SLACK = 1.0


@dataclass
class RunState:
    run_id: str
    run_dir: Path
    is_job: bool = False
    kind: str | None = None
    experiment: str | None = None
    name: str | None = None
    parent_run_id: str | None = None
    created: float | None = None
    pid: int | None = None
    pid_started: float | None = None
    host: str | None = None
    status: str | None = None  # last queued/running status event
    started: float | None = None
    ended: float | None = None
    end_status: str | None = None
    error: str | None = None
    has_start: bool = False

    @property
    def terminal(self) -> bool:
        return self.end_status is not None


def hostname() -> str:
    return socket.gethostname()


def process_alive(pid: int | None, started: float | None) -> bool:
    """True while the process `pid` that started at `started` (psutil create time) runs."""
    if not pid:
        return False
    import psutil

    try:
        proc = psutil.Process(int(pid))
        if started is not None and abs(proc.create_time() - float(started)) > CREATE_TIME_SLACK:
            return False  # the pid now belongs to another process
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


# Only run_start, status and run_end events say where a run is in its life; the rest (metrics,
# mostly) are skipped with a byte search before any JSON parsing. Both status and run_end
# events have a "status" key; a metric line rarely mentions it (and is then parsed, and ignored).
_WANTED = (b'"run_start"', b'"status"')


def _parse_lines(data: bytes, skip_first: bool) -> list[dict[str, Any]]:
    """The wanted events among the whole lines of `data` (found by byte search, not per line)."""
    begin = data.find(b"\n") + 1 if skip_first else 0  # a tail chunk starts mid-line
    end = data.rfind(b"\n")  # after it: a line still being written (or torn)
    if end < begin:
        return []
    starts: set[int] = set()
    for marker in _WANTED:
        pos = data.find(marker, begin, end)
        while pos != -1:
            line_start = max(begin, data.rfind(b"\n", begin, pos) + 1)
            starts.add(line_start)
            pos = data.find(marker, data.find(b"\n", pos, end + 1), end)
    out = []
    for line_start in sorted(starts):
        try:
            obj = json.loads(data[line_start:data.find(b"\n", line_start, end + 1)])
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def _head_and_tail(path: Path) -> list[dict[str, Any]]:
    """Events of the first few lines (whatever their length: a sweep's run_start holds all
    its trial specs) and of the last CHUNK bytes."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = b""
            for _ in range(HEAD_LINES):
                line = fh.readline()
                if not line.endswith(b"\n"):
                    break  # still being written: a later read gets it whole
                head += line
            # The writer may have appended since the fstat: the head can then run past `size`.
            rest = max(size - len(head), 0)
            if rest <= CHUNK:
                return _parse_lines(head + fh.read(rest), False)
            fh.seek(size - CHUNK)
            tail = fh.read(CHUNK)
    except FileNotFoundError:
        return []
    return _parse_lines(head, False) + _parse_lines(tail, True)


def read_job(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as fh:
            obj = json.loads(fh.read())
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def read_state(run_dir: Path) -> RunState | None:
    """The run's state from its files; None when the folder holds no run (yet)."""
    job = read_job(run_dir / "job.json")
    events = _head_and_tail(run_dir / "events.jsonl")
    if job is None and not events:
        return None
    st = RunState(run_id=run_dir.name, run_dir=run_dir, is_job=job is not None)
    if job is not None:
        st.kind, st.experiment, st.name = job.get("kind"), job.get("experiment"), job.get("name")
        st.parent_run_id, st.created = job.get("parent_run_id"), job.get("created")
        st.pid, st.pid_started, st.host = job.get("pid"), job.get("pid_started"), job.get("host")
    ends: list[dict[str, Any]] = []
    for ev in events:
        etype = ev.get("type")
        if etype == "run_start" and not st.has_start:
            st.has_start = True
            # The process that writes the log is the one to watch (for jobs: the worker).
            for key in ("kind", "experiment", "name", "parent_run_id", "pid", "pid_started", "host"):
                if ev.get(key) is not None:
                    setattr(st, key, ev[key])
            if st.created is None:
                st.created = ev.get("ts")
        elif etype == "status":
            st.status = ev.get("status")
            if st.status == "running" and st.started is None:
                st.started = ev.get("ts")
        elif etype == "run_end":
            ends.append(ev)
    ends.extend(ev for ev in _head_and_tail(run_dir / "edits.jsonl") if ev.get("type") == "run_end")
    if ends:
        first = min(ends, key=lambda e: e.get("ts") or 0.0)
        st.end_status, st.error, st.ended = first.get("status"), first.get("error"), first.get("ts")
    return st


ENDED_FILE = "ended.jsonl"
_FIELDS = [f.name for f in fields(RunState) if f.name != "run_dir"]


class StateCache:
    """Terminal run states, so a scan re-reads only runs that may still change. They are also
    kept in <home>/jobs/ended.jsonl, so a fresh process (the CLI) need not read 30k run logs."""

    def __init__(self) -> None:
        self._terminal: dict[str, dict[str, RunState]] = {}
        self._lines: dict[str, int] = {}  # lines in ended.jsonl (removed runs' lines included)
        self._lock = threading.Lock()

    def _known(self, home: Home) -> dict[str, RunState]:
        with self._lock:
            known = self._terminal.get(str(home.root))
        if known is None:
            known = self._load(home)
            with self._lock:
                known = self._terminal.setdefault(str(home.root), known)
        return known

    def scan(self, home: Home) -> list[RunState]:
        """States of every run under <home>/runs (removed runs dropped from the cache)."""
        try:
            names = [n for n in os.listdir(home.runs_dir) if not n.startswith(".")]
        except FileNotFoundError:
            return []
        known = self._known(home)
        with self._lock:
            for gone in set(known) - set(names):
                del known[gone]
            compact = self._lines.get(str(home.root), 0) > 2 * len(known) + 1000
        if compact:
            self._rewrite(home, known)
        states, ended = [], []
        for name in names:
            st = known.get(name)
            if st is None:
                st = read_state(home.runs_dir / name)
                if st is not None and st.terminal:
                    ended.append(st)
            if st is not None:
                states.append(st)
        self._remember(home, ended)
        return states

    def read(self, run_dir: Path) -> RunState | None:
        st = read_state(run_dir)
        if st is not None and st.terminal:
            home = Home(run_dir.parent.parent)
            if st.run_id not in self._known(home):
                self._remember(home, [st])
        return st

    def _remember(self, home: Home, ended: list[RunState]) -> None:
        if not ended:
            return
        known = self._known(home)
        with self._lock:
            for st in ended:
                known[st.run_id] = st
        lines = _lines_of(ended)
        with self._lock:
            self._lines[str(home.root)] = self._lines.get(str(home.root), 0) + len(ended)
        try:
            path = home.root / "jobs" / ENDED_FILE
            path.parent.mkdir(parents=True, exist_ok=True)
            # One O_APPEND write per batch: concurrent processes never interleave within a line.
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, lines)
            finally:
                os.close(fd)
        except OSError:
            pass  # only a cache: the run logs stay the truth

    def _rewrite(self, home: Home, known: dict[str, RunState]) -> None:
        """Drop the lines of removed runs (a concurrent append may be lost: it is re-learnt)."""
        from tui_mlops.store.home import atomic_write_bytes

        with self._lock:
            states = list(known.values())
            self._lines[str(home.root)] = len(states)
        try:
            atomic_write_bytes(home.root / "jobs" / ENDED_FILE, _lines_of(states))
        except OSError:
            pass

    def _load(self, home: Home) -> dict[str, RunState]:
        from tui_mlops.store.events import read_events

        known: dict[str, RunState] = {}
        objs = read_events(home.root / "jobs" / ENDED_FILE)[0]
        with self._lock:
            self._lines[str(home.root)] = len(objs)
        for obj in objs:
            try:
                st = RunState(run_dir=home.runs_dir / str(obj["run_id"]), **{k: obj.get(k) for k in _FIELDS})
            except (KeyError, TypeError):
                continue
            if st.terminal:
                known[st.run_id] = st
        return known


def _lines_of(states: list[RunState]) -> bytes:
    return b"".join(json.dumps({k: getattr(st, k) for k in _FIELDS}, separators=(",", ":")).encode() + b"\n"
                    for st in states)


CACHE = StateCache()


def tail_lines(path: Path, count: int) -> list[str]:
    """The last `count` lines of a text file, read from its end."""
    if count <= 0:
        return []
    start = 0
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            block = 8192
            while True:
                start = max(0, size - block)
                fh.seek(start)
                data = fh.read(size - start)
                if start == 0 or data.count(b"\n") > count:
                    break
                block *= 4
    except FileNotFoundError:
        return []
    lines = data.decode("utf-8", errors="replace").splitlines()
    if start > 0:
        lines = lines[1:]  # the first piece is a partial line
    return lines[-count:]
