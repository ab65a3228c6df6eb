"""The tracking API for scripts and jobs: `start_run(...)` returns a Run that logs events to its own
file (no catalog, no lock), and `attach_run(home, id)` records later edits next to it.

Events are buffered in memory and appended (one write + fsync) when 1000 are waiting or the oldest
is 0.5 s old, by a daemon flusher every 0.5 s, and on end. All methods are thread-safe.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import json
import math
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tui_mlops.errors import InputError, StoreError
from tui_mlops.store.events import append_events, read_events
from tui_mlops.store.home import Home, fsync_dir, temp_path_for
from tui_mlops.tracking.events import (
    ARTIFACT_KINDS, ARTIFACTS_DIR, DEVICES, EDITS_FILE, END_STATUSES, EVENTS_FILE, KINDS, LIVE_STATUSES,
    check_run_id, clean_params, clean_tags, edits_touched_path, new_run_id, one_line, resolve_run_dir,
)

FLUSH_EVERY = 1000
FLUSH_AGE_S = 0.5


def _home(home: Home | str | os.PathLike[str] | None) -> Home:
    if isinstance(home, Home):
        home.ensure()
        return home
    from tui_mlops.config import resolve_home

    return Home.open(resolve_home(home))


def _number(key: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"metric {key!r}: value {value!r} is not a number") from None


def _step(step: Any) -> int | None:
    if step is None:
        return None
    try:
        return int(step)
    except (TypeError, ValueError):
        raise InputError(f"metric step {step!r} is not an integer") from None


def _artifact_name(name: str) -> str:
    parts = str(name).replace("\\", "/").split("/")
    if not name or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        raise InputError(f"invalid artifact name {name!r}: use a relative path without '..' or hidden parts")
    return "/".join(parts)


class _Flusher:
    """One daemon thread per process that flushes every open run's buffer every 0.5 s."""

    def __init__(self) -> None:
        # Strong references: a run nobody ended still gets flushed, and ended at exit.
        self._runs: set[Run] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, run: Run) -> None:
        with self._lock:
            self._runs.add(run)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="mlops-tui-flusher", daemon=True)
                self._thread.start()

    def discard(self, run: Run) -> None:
        with self._lock:
            self._runs.discard(run)

    def open_runs(self) -> list[Run]:
        with self._lock:
            return list(self._runs)

    def _loop(self) -> None:
        while True:
            time.sleep(FLUSH_AGE_S)  # a timer, not synchronisation: flushing is idempotent
            for run in self.open_runs():
                try:
                    run.flush()
                except Exception:  # noqa: BLE001 - kept buffered; the next flush retries and raises
                    pass


_FLUSHER = _Flusher()


class Run:
    """A run being logged by this process. Use as a context manager, or call end() yourself."""

    def __init__(self, home: Home, run_id: str, experiment: str, name: str) -> None:
        self.home = home
        self.run_id = run_id
        self.experiment = experiment
        self.name = name
        self.dir = home.runs_dir / run_id
        self._path = self.dir / EVENTS_FILE
        self._lock = threading.Lock()         # guards the buffer and seq
        self._flush_lock = threading.Lock()   # keeps batches in seq order on disk
        self._buf: list[dict[str, Any]] = []
        self._oldest = 0.0
        self._seq = 0
        self._ended = False
        self.status = "running"

    def __repr__(self) -> str:
        return f"Run({self.run_id!r}, experiment={self.experiment!r}, name={self.name!r})"

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc_type is None:
            self.end("finished")
        elif issubclass(exc_type, KeyboardInterrupt):
            self.end("cancelled", "interrupted")
        elif issubclass(exc_type, SystemExit) and getattr(exc, "code", None) in (0, None):
            self.end("finished")
        else:
            self.end("failed", _error_line(exc_type, exc))
        return False

    # -- buffer ------------------------------------------------------------------------------
    def _add(self, event: dict[str, Any]) -> None:
        now = time.time()
        with self._lock:
            if self._ended:
                raise InputError(f"run {self.run_id} has ended; start a new run to log more")
            self._seq += 1
            event["seq"] = self._seq
            event["ts"] = now
            if not self._buf:
                self._oldest = now
            self._buf.append(event)
            due = len(self._buf) >= FLUSH_EVERY or now - self._oldest >= FLUSH_AGE_S
        if due:
            self.flush()

    def flush(self) -> None:
        """Write buffered events now (one append + fsync)."""
        with self._flush_lock:
            with self._lock:
                batch, self._buf = self._buf, []
            if not batch:
                return
            try:
                append_events(self._path, batch)
            except OSError as exc:
                with self._lock:
                    self._buf[:0] = batch  # keep them for the next try
                raise StoreError(f"cannot write run log {self._path}: {exc.strerror or exc}") from exc

    # -- metrics, params, tags ---------------------------------------------------------------
    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        self._add({"type": "metric", "key": str(key), "value": _number(key, value), "step": _step(step)})

    def log_metrics(self, values: dict[str, float], step: int | None = None) -> None:
        vals = {str(k): _number(k, v) for k, v in values.items()}
        if vals:
            self._add({"type": "metrics", "values": vals, "step": _step(step)})

    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: dict[str, Any]) -> None:
        if params:
            self._add({"type": "params", "params": clean_params(params)})

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: dict[str, Any]) -> None:
        if tags:
            self._add({"type": "tags", "tags": clean_tags(tags)})

    def note(self, text: str) -> None:
        self._add({"type": "note", "text": str(text)})

    def set_status(self, status: str) -> None:
        if status not in LIVE_STATUSES:
            raise InputError(f"invalid run status {status!r}: use one of {', '.join(LIVE_STATUSES)}")
        self._add({"type": "status", "status": status})
        self.status = status

    def log_system(self, values: dict[str, Any]) -> None:
        vals = {}
        for k, v in values.items():
            try:
                f = float(v)
            except (TypeError, ValueError):
                continue
            if math.isfinite(f):
                vals[str(k)] = f
        if vals:
            self._add({"type": "system", "values": vals})

    def log_device(self, device: str, detail: str = "") -> None:
        if device not in DEVICES:
            raise InputError(f"invalid device {device!r}: use one of {', '.join(DEVICES)}")
        self._add({"type": "device", "device": device, "detail": str(detail)})

    # -- artifacts ---------------------------------------------------------------------------
    def log_artifact(self, path: str | os.PathLike[str], name: str | None = None, kind: str = "file") -> str:
        """Copy a file into the run's artifacts folder; returns its path relative to the run dir."""
        src = Path(path)
        if not src.is_file():
            raise InputError(f"cannot log artifact {src}: not a file")
        rel, target = self._artifact_target(name or src.name, kind)
        tmp = temp_path_for(target)
        h, size = hashlib.sha256(), 0
        try:
            with open(src, "rb") as fin, open(tmp, "wb") as fout:
                while block := fin.read(1 << 20):
                    h.update(block)
                    size += len(block)
                    fout.write(block)
                fout.flush()
                os.fsync(fout.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(target.parent)
        self._add({"type": "artifact", "path": rel, "sha256": h.hexdigest(), "size": size, "kind": kind})
        return rel

    def log_artifact_bytes(self, name: str, data: bytes, kind: str = "file") -> str:
        from tui_mlops.store.home import atomic_write_bytes

        rel, target = self._artifact_target(name, kind)
        atomic_write_bytes(target, bytes(data))
        self._add({"type": "artifact", "path": rel, "sha256": hashlib.sha256(data).hexdigest(),
                   "size": len(data), "kind": kind})
        return rel

    def log_artifact_json(self, name: str, obj: Any, kind: str = "file") -> str:
        data = (json.dumps(obj, indent=1, sort_keys=True, default=str) + "\n").encode()
        return self.log_artifact_bytes(name, data, kind)

    def _artifact_target(self, name: str, kind: str) -> tuple[str, Path]:
        if kind not in ARTIFACT_KINDS:
            raise InputError(f"invalid artifact kind {kind!r}: use one of {', '.join(ARTIFACT_KINDS)}")
        name = _artifact_name(name)
        target = self.dir / ARTIFACTS_DIR / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return f"{ARTIFACTS_DIR}/{name}", target

    # -- end ---------------------------------------------------------------------------------
    def end(self, status: str = "finished", error: str | None = None) -> None:
        """Write run_end and flush; later calls do nothing."""
        if status not in END_STATUSES:
            raise InputError(f"invalid end status {status!r}: use one of {', '.join(END_STATUSES)}")
        event = {"type": "run_end", "status": status, "error": None if error is None else one_line(error)}
        now = time.time()
        with self._lock:
            if self._ended:
                return
            # run_end is the last event: appended and the run closed under one lock.
            self._seq += 1
            event["seq"], event["ts"] = self._seq, now
            self._buf.append(event)
            self._ended = True
        self.status = status
        _FLUSHER.discard(self)
        self.flush()

    @property
    def ended(self) -> bool:
        return self._ended


def _error_line(exc_type: Any, exc: BaseException | None) -> str:
    text = one_line(str(exc)) if exc is not None else ""
    return f"{exc_type.__name__}: {text}" if text else exc_type.__name__


def start_run(experiment: str = "default", *, name: str | None = None, params: dict[str, Any] | None = None,
              tags: dict[str, Any] | None = None, home: Home | str | os.PathLike[str] | None = None,
              kind: str = "script", parent_run_id: str | None = None, spec: dict[str, Any] | None = None,
              dataset: str | None = None, model: str | None = None, run_id: str | None = None) -> Run:
    """Start a run: creates runs/<id>/ and writes run_start at once (the app shows it live)."""
    import psutil

    h = _home(home)
    experiment = one_line(experiment or "default", 200)
    if kind not in KINDS:
        raise InputError(f"invalid run kind {kind!r}: use one of {', '.join(KINDS)}")
    run_id = check_run_id(run_id) if run_id else new_run_id()
    if parent_run_id is not None:
        check_run_id(parent_run_id)
    folder = h.runs_dir / run_id
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    events = folder / EVENTS_FILE
    if events.exists() and events.stat().st_size > 0:
        raise InputError(f"run {run_id} already exists in {h.runs_dir}")
    name = one_line(name, 200) if name else f"{experiment}-{run_id[:6]}"
    run = Run(h, run_id, experiment, name)
    run._add({
        "type": "run_start", "run_id": run_id, "experiment": experiment, "name": name, "kind": kind,
        "parent_run_id": parent_run_id, "params": clean_params(params), "tags": clean_tags(tags),
        "spec": spec, "dataset": dataset, "model": model, "pid": os.getpid(),
        "pid_started": psutil.Process().create_time(), "host": socket.gethostname(),
    })
    run.flush()
    _FLUSHER.add(run)
    return run


@atexit.register
def _end_open_runs() -> None:
    """A script that exits without end(): finished, or failed with the uncaught exception."""
    exc = getattr(sys, "last_value", None)
    for run in _FLUSHER.open_runs():
        try:
            if exc is not None:
                run.end("failed", _error_line(type(exc), exc))
            else:
                run.end("finished")
        except Exception:  # noqa: BLE001 - exiting anyway; nothing better to do
            pass


class EditsWriter:
    """Later edits of a run (tags, note, verdicts) by the app, CLI or jobs, in edits.jsonl."""

    def __init__(self, home: Home, folder: Path) -> None:
        self.home = home
        self.dir = folder
        self.run_id = folder.name
        self.path = folder / EDITS_FILE

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: dict[str, Any]) -> None:
        if tags:
            self._append([{"type": "tags", "tags": clean_tags(tags)}])

    def note(self, text: str) -> None:
        self._append([{"type": "note", "text": str(text)}])

    def end(self, status: str, error: str | None = None) -> None:
        if status not in END_STATUSES:
            raise InputError(f"invalid end status {status!r}: use one of {', '.join(END_STATUSES)}")
        self._append([{"type": "run_end", "status": status, "error": None if error is None else one_line(error)}])

    def _append(self, events: list[dict[str, Any]]) -> None:
        try:
            # flock so concurrent editors (app, CLI, crash watcher) never share a seq.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                existing, _ = read_events(self.path)
                seq = max((int(e.get("seq") or 0) for e in existing), default=0)
                now = time.time()
                for e in events:
                    seq += 1
                    e["seq"], e["ts"] = seq, now
                append_events(self.path, events)
            finally:
                os.close(fd)  # releases the lock
            touched = os.open(edits_touched_path(self.home), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(touched, (self.run_id + "\n").encode())
                os.fsync(touched)
            finally:
                os.close(touched)
        except OSError as exc:
            raise StoreError(f"cannot write run edits {self.path}: {exc.strerror or exc}") from exc


def attach_run(home: Home | str | os.PathLike[str] | None, run_id: str) -> EditsWriter:
    """An edits writer for an existing run (id or unique prefix of >= 4 characters)."""
    h = _home(home)
    return EditsWriter(h, resolve_run_dir(h, run_id))
