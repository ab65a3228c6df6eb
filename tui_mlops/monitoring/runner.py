"""Watch a monitor's incoming/ and labels/ folders with a watchdog observer and process each file,
one at a time, in a worker thread; run_monitor is the headless loop behind `monitor run`."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

from tui_mlops.monitoring import log
from tui_mlops.monitoring.spec import as_home, get_monitor, monitor_dir

ALERT_EVERY_S = 30.0


def _check_alerts(home: Any, name: str, on_alert: Callable[[list[dict]], None] | None) -> list[dict]:
    """alerts.check on the fresh state; new alert events go to on_alert."""
    from tui_mlops.monitoring import alerts
    from tui_mlops.monitoring.state import monitor_state

    found = alerts.check(home, name, monitor_state(home, name))
    if found and on_alert is not None:
        on_alert(found)
    return found


def process_path(home: Any, name: str, path: Path, settle_s: float = 0.3) -> Any:
    """A batch (incoming/) or labels file (labels/): its BatchResult / LabelsResult, or None."""
    from tui_mlops.monitoring.batches import process_batch
    from tui_mlops.monitoring.labels import process_labels

    if path.parent.name == "labels":
        return process_labels(home, name, path, settle_s=settle_s)
    return process_batch(home, name, path, settle_s=settle_s)


class MonitorRunner:
    """Processes files landing in a monitor's folders. `on_result(BatchResult | LabelsResult)` and
    `on_alert(list of alert events)` are called from the worker thread: post messages from them."""

    def __init__(self, home: Any, name: str, *, on_result: Callable[[Any], None] | None = None,
                 on_alert: Callable[[list[dict]], None] | None = None, settle_s: float = 0.3) -> None:
        self.home = as_home(home)
        self.name = name
        get_monitor(self.home, name)   # fail now, with a clear message, for an unknown monitor
        self.on_result = on_result
        self.on_alert = on_alert
        self.settle_s = settle_s
        self.folder = monitor_dir(self.home, name)
        self.processed = 0
        self.errors: list[str] = []
        self._queue: list[Path] = []
        self._busy = False
        self._stopping = False
        self._cond = threading.Condition()
        self._observer: Any = None
        self._worker: threading.Thread | None = None
        self._last_alerts = 0.0

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the observer and the worker; files already waiting are queued (oldest first)."""
        from watchdog.observers import Observer

        for sub in ("incoming", "labels"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self._stopping = False
        observer = Observer()
        handler = _Handler(self)
        for sub in ("incoming", "labels"):
            observer.schedule(handler, str(self.folder / sub), recursive=False)
        observer.start()
        self._observer = observer
        self._worker = threading.Thread(target=self._run, name=f"monitor-{self.name}", daemon=True)
        self._worker.start()
        self.scan()

    def scan(self) -> None:
        """Queue every file waiting in incoming/ and labels/ (batches first)."""
        for sub in ("incoming", "labels"):
            for p in log.waiting_files(self.folder / sub):
                self.notice(p)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
            self._observer = None
        if self._worker is not None:
            self._worker.join()
            self._worker = None

    def __enter__(self) -> "MonitorRunner":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def drain(self, timeout: float) -> bool:
        """Wait until no file is queued or being processed (True), or `timeout` s pass (False)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    # -- work -----------------------------------------------------------------------------------
    def notice(self, path: Path) -> None:
        """A file event (observer thread): queue the file once."""
        if not log.wanted(path) or path.parent.name not in ("incoming", "labels"):
            return
        with self._cond:
            if path not in self._queue:
                self._queue.append(path)
                self._cond.notify_all()

    def _next(self) -> Path | None:
        with self._cond:
            while not self._queue and not self._stopping:
                wait = ALERT_EVERY_S - (time.monotonic() - self._last_alerts)
                if wait <= 0:
                    return None
                self._cond.wait(wait)
            if self._stopping:
                return None
            self._busy = True
            # Batches before labels, so labels can join the scores of batches that landed with them.
            batch = next((p for p in self._queue if p.parent.name == "incoming"), self._queue[0])
            self._queue.remove(batch)
            return batch

    def _done(self) -> None:
        with self._cond:
            self._busy = False
            self._cond.notify_all()

    def _alerts(self) -> None:
        self._last_alerts = time.monotonic()
        try:
            _check_alerts(self.home, self.name, self.on_alert)
        except Exception as exc:  # noqa: BLE001 - a failing alert rule must not stop the monitor
            self.errors.append(f"alerts: {exc}")

    def _run(self) -> None:
        while True:
            path = self._next()
            if path is None:
                if self._stopping:
                    return
                self._alerts()   # every ALERT_EVERY_S while idle (no_batch rules)
                continue
            try:
                if path.exists():
                    result = process_path(self.home, self.name, path, self.settle_s)
                    if result is not None:
                        self.processed += 1
                        if self.on_result is not None:
                            self.on_result(result)
                        self._alerts()
            except Exception as exc:  # noqa: BLE001 - one bad file (or callback) must not stop the monitor
                self.errors.append(f"{path.name}: {exc}")
            finally:
                self._done()


class _Handler:
    """Feeds watchdog events to the runner (watchdog is imported only in start)."""

    def __init__(self, runner: MonitorRunner) -> None:
        self.runner = runner

    def dispatch(self, event: Any) -> None:
        if event.is_directory:
            return
        if event.event_type in ("created", "modified", "closed"):
            self.runner.notice(Path(os.fsdecode(event.src_path)))
        elif event.event_type == "moved":
            self.runner.notice(Path(os.fsdecode(event.dest_path)))


def run_monitor(home: Any, name: str, *, stop: threading.Event | None = None, once: bool = False,
                on_result: Callable[[Any], None] | None = None,
                on_alert: Callable[[list[dict]], None] | None = None) -> int:
    """Headless loop: process files as they land until `stop` is set (or, with once=True, process what
    is waiting and return). Returns the number of files processed."""
    home = as_home(home)
    get_monitor(home, name)
    if once:
        folder = monitor_dir(home, name)
        count = 0
        for path in log.waiting_files(folder / "incoming") + log.waiting_files(folder / "labels"):
            result = process_path(home, name, path)
            if result is not None:
                count += 1
                if on_result is not None:
                    on_result(result)
                _check_alerts(home, name, on_alert)  # after each file, as the running monitor does
        if count == 0:
            _check_alerts(home, name, on_alert)  # time-based rules (no batch for T minutes)
        return count
    stop = stop or threading.Event()
    runner = MonitorRunner(home, name, on_result=on_result, on_alert=on_alert)
    runner.start()
    try:
        stop.wait()
    finally:
        runner.stop()
    return runner.processed
