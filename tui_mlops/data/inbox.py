"""The inbox: files dropped into <home>/inbox/ are registered once they settle, then moved aside.

Registered files go to inbox/.done/, rejected ones to inbox/.failed/ (with a "rejected" event in
the activity log). InboxWatcher uses a watchdog observer; process_inbox_once is the synchronous
form for the CLI and tests.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from tui_mlops.data.ingest import IngestCancelled, ingest_file
from tui_mlops.data.versions import log_activity
from tui_mlops.store.home import TMP_PREFIX, Home
from tui_mlops.store.records import DatasetVersion

SETTLE_S = 0.5
# A file whose writer never closes it is taken anyway once it has been still this long.
WRITER_TIMEOUT_S = 30.0
# process_inbox_once gives up on files that are still changing after this long.
ONCE_TIMEOUT_S = 60.0
DONE_DIR = ".done"
FAILED_DIR = ".failed"
_PARTIAL_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".download", ".swp", "~")


@dataclass(frozen=True)
class InboxEvent:
    """The outcome for one inbox file; `path` is where it was dropped."""

    path: str
    ok: bool
    message: str
    version: DatasetVersion | None


def wanted(home: Home, path: Path) -> bool:
    """A file directly in the inbox that is not hidden, a temp or a partial download."""
    name = path.name
    return (path.parent == home.inbox_dir and not name.startswith((".", "~", TMP_PREFIX))
            and not name.lower().endswith(_PARTIAL_SUFFIXES))


def inbox_files(home: Home) -> list[Path]:
    if not home.inbox_dir.is_dir():
        return []
    return sorted(p for p in home.inbox_dir.iterdir() if wanted(home, p) and p.is_file() and not p.is_symlink())


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def _move_aside(path: Path, folder: Path) -> Path:
    """Move into `folder`, adding -1, -2, ... before the suffixes when the name is taken."""
    folder.mkdir(mode=0o700, exist_ok=True)
    base, dot, rest = path.name.partition(".")
    dest, n = folder / path.name, 0
    while dest.exists():
        n += 1
        dest = folder / f"{base}-{n}{dot}{rest}"
    os.rename(path, dest)
    return dest


def process_file(home: Home, path: Path, cancel: threading.Event | None = None) -> InboxEvent:
    """Register one settled inbox file and move it to .done/ (or .failed/ with the reason).

    A cancelled ingest (the watcher stopping) leaves the file where it is, for the next run.
    """
    try:
        result = ingest_file(home, path, cancel=cancel)
    except IngestCancelled as exc:
        return InboxEvent(str(path), False, str(exc), None)
    except Exception as exc:  # noqa: BLE001 - any failure rejects the file; the watcher lives on
        message = str(exc) if str(exc) else type(exc).__name__
        if not path.exists():
            # Another process (a second app, `mlops-tui inbox`) took the file first: not a rejection.
            return InboxEvent(str(path), False, f"{path}: taken by another process", None)
        try:
            moved = _move_aside(path, home.inbox_dir / FAILED_DIR)
        except OSError:
            moved = None
        log_activity(home, "rejected", file=str(path), moved_to=str(moved) if moved else None,
                     message=message)
        return InboxEvent(str(path), False, message, None)
    try:
        _move_aside(path, home.inbox_dir / DONE_DIR)
    except OSError:
        pass  # registered all the same; a file that cannot move stays (and re-registers as a no-op)
    v = result.version
    verb = "registered" if result.created else "already registered as"
    return InboxEvent(str(path), True, f"{path.name}: {verb} {v.name}@{v.short} ({v.rows} rows)", v)


def process_inbox_once(home: Home, *, settle_s: float = SETTLE_S) -> list[InboxEvent]:
    """Register every file in the inbox now. Files modified within `settle_s` are first watched
    until their size and mtime hold still that long (files still changing after a minute are
    left for the next run)."""
    home.ensure()
    pending = {p: _signature(p) for p in inbox_files(home)}
    results: list[InboxEvent] = []
    deadline = time.monotonic() + ONCE_TIMEOUT_S
    tick = threading.Event()
    first = True
    while pending:
        now = time.time()
        for path, sig in sorted(pending.items()):
            new = _signature(path)
            if new is None:
                del pending[path]
            elif new == sig and (not first or now - new[1] / 1e9 >= settle_s):
                results.append(process_file(home, path))
                del pending[path]
            else:
                pending[path] = new
        if not pending or time.monotonic() > deadline:
            break
        first = False
        tick.wait(settle_s)
    return results


@dataclass
class _Pending:
    signature: tuple[int, int] | None = None
    stable_since: float = 0.0
    last_event: float = 0.0
    writing: bool = False  # a write was seen and no close-after-write yet (inotify only)
    closed: bool = False   # a writer closed it (inotify only)


class InboxWatcher:
    """Registers files dropped into the inbox, from a watchdog observer plus one worker thread.

    `on_result(InboxEvent)` is called from the worker thread, once per file: post a message to
    the UI from it, do not touch widgets.
    """

    def __init__(self, home: Home, on_result: Callable[[InboxEvent], None], *,
                 settle_s: float = SETTLE_S) -> None:
        self.home = home
        self.on_result = on_result
        self.settle_s = settle_s
        self._pending: dict[Path, _Pending] = {}
        self._cond = threading.Condition()
        self._stopping = False
        self._observer: Any = None
        self._worker: threading.Thread | None = None
        self._close_events = False
        self._cancel = threading.Event()  # set by stop(): a running ingest gives up

    def start(self) -> None:
        from watchdog.observers import Observer

        self.home.ensure()
        self._stopping = False
        self._cancel.clear()
        observer = Observer()
        # inotify reports close-after-write, so a file whose writer pauses is not taken early.
        self._close_events = type(observer).__name__ == "InotifyObserver"
        observer.schedule(_Handler(self), str(self.home.inbox_dir), recursive=False)
        observer.start()
        self._observer = observer
        self._worker = threading.Thread(target=self._run, name="inbox-worker", daemon=True)
        self._worker.start()
        self.scan_existing()

    def scan_existing(self) -> None:
        """Queue files that were in the inbox before the observer started."""
        for path in inbox_files(self.home):
            self.notice(path)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cancel.set()
            self._cond.notify_all()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
            self._observer = None
        if self._worker is not None:
            self._worker.join()
            self._worker = None

    def __enter__(self) -> "InboxWatcher":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def notice(self, path: Path, *, wrote: bool = False, closed: bool = False) -> None:
        """An event for `path` (from the observer thread): (re)start its settle clock."""
        if not wanted(self.home, path):
            return
        with self._cond:
            item = self._pending.setdefault(path, _Pending())
            item.last_event = time.monotonic()
            if wrote and self._close_events:
                item.writing = True
            if closed:
                item.writing, item.closed = False, True
            self._cond.notify_all()

    def _ready(self, now: float) -> list[Path]:
        ready = []
        for path, item in list(self._pending.items()):
            sig = _signature(path)
            if sig is None or not path.is_file():
                del self._pending[path]  # gone (moved away, deleted) or not a file
                continue
            if sig != item.signature:
                item.signature, item.stable_since = sig, now
            still = now - max(item.stable_since, item.last_event)
            # An empty file is most likely one whose writer has not written yet.
            unsure = item.writing or (sig[0] == 0 and not item.closed)
            if still >= self.settle_s and (not unsure or still >= WRITER_TIMEOUT_S):
                ready.append(path)
                del self._pending[path]
        return ready

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                ready = self._ready(time.monotonic())
                if not ready:
                    # Re-check a few times per settle period while files are pending.
                    self._cond.wait(self.settle_s / 5)
                    continue
            for path in ready:
                if self._cancel.is_set():
                    return
                event = process_file(self.home, path, self._cancel)
                if not event.ok and path.exists():
                    return  # stopped mid-ingest: the file stays in the inbox for the next start
                try:
                    self.on_result(event)
                except Exception:  # noqa: BLE001 - a faulty callback must not stop the inbox
                    pass


class _Handler:
    """Feeds watchdog events to the watcher (kept free of watchdog imports until start)."""

    def __init__(self, watcher: InboxWatcher) -> None:
        self.watcher = watcher

    def dispatch(self, event: Any) -> None:
        if event.is_directory:
            return
        kind = event.event_type
        if kind == "modified":
            self.watcher.notice(Path(os.fsdecode(event.src_path)), wrote=True)
        elif kind == "created":
            # Not a write by itself: a file moved in from another folder shows up only as this.
            self.watcher.notice(Path(os.fsdecode(event.src_path)))
        elif kind == "closed":
            self.watcher.notice(Path(os.fsdecode(event.src_path)), closed=True)
        elif kind == "moved":
            # A rename into place (x.part -> x.csv) finishes a file: it needs no close event.
            self.watcher.notice(Path(os.fsdecode(event.dest_path)))
