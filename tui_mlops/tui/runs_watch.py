"""The app's runs watcher: run files change -> fold them into the catalog -> tell the screens.

A watchdog observer on <home>/runs (recursive) notes which runs' events, edits or job files
changed; a daemon thread waits ~0.3 s for a burst to settle, folds the new facts in (opening the
catalog read-write folds them), and calls `on_change(run_ids)`. Every ~5 s it also asks
jobs.manager.detect_crashes for jobs whose process is gone. No Textual here: the app passes a
callback that posts RunsChanged.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable

from tui_mlops.store.home import Home

DEBOUNCE_S = 0.3
CRASH_CHECK_S = 5.0
# Files whose change is a new fact about the run (job.log and artifacts are not: an artifact
# comes with an event, and the log is read by whoever shows it).
FACT_FILES = {"events.jsonl", "edits.jsonl", "job.json"}


class RunsWatcher:
    """`start()` / `stop()`; `on_change(frozenset(run_ids) | None)` runs on the watcher thread."""

    def __init__(self, home: Home, on_change: Callable[[frozenset[str] | None], None], *,
                 on_error: Callable[[str], None] | None = None, debounce: float = DEBOUNCE_S,
                 crash_every: float = CRASH_CHECK_S) -> None:
        self.home = home
        self.on_change = on_change
        self.on_error = on_error
        self.debounce = debounce
        self.crash_every = crash_every
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._observer: Any = None
        self._thread: threading.Thread | None = None
        self._last_error = ""
        self.folds = 0  # how many folds ran (for tests and the bench)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self.home.runs_dir.mkdir(parents=True, exist_ok=True)
        try:
            from watchdog.observers import Observer

            observer = Observer()
            runs = str(self.home.runs_dir)
            observer.schedule(_RunEvents(runs, self._noted), runs, recursive=True)
            observer.daemon = True
            observer.start()
            self._observer = observer
        except Exception as exc:  # no inotify slots, say: fall back to the periodic check
            self._observer = None
            self._error(f"run files are not watched ({' '.join(str(exc).split())}); "
                        f"checking every {self.crash_every:g} s instead")
        self._thread = threading.Thread(target=self._loop, name="runs-watcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._observer is not None:
            try:
                self._observer.stop()
            except Exception:
                pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def poke(self, run_id: str | None = None) -> None:
        """Fold soon, as if `run_id`'s files had changed (None: any run)."""
        self._noted(run_id)

    # -- internals ----------------------------------------------------------------------------
    def _noted(self, run_id: str | None) -> None:
        with self._lock:
            self._pending.add(run_id or "")
        self._wake.set()

    def _loop(self) -> None:
        next_check = 0.0  # check for crashes at once: jobs may have died while the app was closed
        while not self._stop.is_set():
            self._wake.wait(max(0.0, next_check - time.monotonic()))
            if self._stop.is_set():
                return
            if self._wake.is_set():
                # A write comes as several file events: let the burst settle, then fold once.
                self._stop.wait(self.debounce)
                self._wake.clear()
            with self._lock:
                pending, self._pending = self._pending, set()
            crashed: list[str] = []
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + self.crash_every
                crashed = self._detect_crashes()
                if self._observer is None:
                    pending.add("")  # not watching: report every check as a possible change
            if not pending and not crashed:
                continue
            self._fold()
            ids = None if "" in pending else frozenset(pending | set(crashed))
            if self._stop.is_set():
                return
            self.on_change(ids)

    def _detect_crashes(self) -> list[str]:
        try:
            from tui_mlops.jobs.manager import detect_crashes

            return list(detect_crashes(self.home))
        except ImportError:
            return []
        except Exception as exc:  # noqa: BLE001 - a failed check is reported, never fatal
            self._error(f"crash check failed: {' '.join(str(exc).split())}")
            return []

    def _fold(self) -> None:
        from tui_mlops.store.catalog import open_catalog

        try:
            with open_catalog(self.home):
                pass  # a read-write open folds every new run fact in
            self.folds += 1
        except Exception as exc:  # noqa: BLE001 - the screens read the files themselves meanwhile
            self._error(f"catalog not updated: {' '.join(str(exc).split())}")

    def _error(self, message: str) -> None:
        # The same problem every few seconds would bury the screen in notifications.
        if self.on_error is not None and message != self._last_error:
            self._last_error = message
            self.on_error(message)


class _RunEvents:
    """A watchdog handler (duck-typed: watchdog only calls `dispatch`) for run fact files."""

    def __init__(self, runs_dir: str, noted: Callable[[str | None], None]) -> None:
        self.runs_dir = runs_dir
        self.noted = noted

    def dispatch(self, event: Any) -> None:
        is_dir = bool(getattr(event, "is_directory", False))
        for path in (getattr(event, "src_path", ""), getattr(event, "dest_path", "")):
            run_id = run_of(os.fsdecode(path or ""), self.runs_dir, is_dir)
            if run_id is not None:
                self.noted(run_id)
                return


def run_of(path: str, runs_dir: str, is_directory: bool = False) -> str | None:
    """The run id a changed path under `runs_dir` tells about, or None when it tells nothing."""
    if not path:
        return None
    rel = os.path.relpath(path, runs_dir)
    if rel.startswith(".."):
        return None
    parts = rel.split(os.sep)
    if not parts[0] or parts[0].startswith("."):
        return None  # runs/ itself, or a home-level file such as .edits-touched
    if len(parts) == 1:
        return parts[0] if is_directory else None  # a new run folder
    if len(parts) == 2 and parts[1] in FACT_FILES:
        return parts[0]
    return None
