"""The trigger engine behind `mlops-tui watch`: new files in watched folders, monitor alert files and
a schedule start pipeline runs, one at a time; triggers during a run coalesce into ONE follow-up."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from tui_mlops.pipeline.spec import PipelineFileError
from tui_mlops.pipeline.triggers import TriggerSpec, format_duration, load_triggers

TRIGGERS_DIR = "triggers"
DONE_DIR = ".done"
FAILED_DIR = ".failed"
# A file whose writer never closes it is taken anyway once it has been still this long.
WRITER_TIMEOUT_S = 30.0
_PARTIAL_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".download", ".swp", "~")


@dataclass(frozen=True)
class Trigger:
    """Why a run was asked for: source is "folder", "alert", "schedule" or "manual"."""

    source: str
    detail: str
    ts: float = field(default_factory=time.time)
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class WatchEvent:
    """What the watcher reports: kind is "ready", "trigger", "start", "done", "error" or "stopped".

    For "trigger", `queued` says a run is in progress (it joins the one follow-up run); for
    "start" `triggers` are all the triggers this run serves; for "done" `result` is what the run
    callable returned; for "error" (a run that raised, a bad alert file) `message` says what.
    """

    kind: str
    message: str
    trigger: Trigger | None = None
    triggers: tuple[Trigger, ...] = ()
    result: Any = None
    queued: bool = False
    ts: float = field(default_factory=time.time)


def default_run(home: Any, path: Path, *, cancel: threading.Event | None = None) -> Any:
    """The real run: the whole pipeline, cached stages skipped (helper P's run_pipeline)."""
    from tui_mlops.pipeline.run import run_pipeline

    return run_pipeline(home, path, cancel=cancel)


def describe_result(result: Any) -> str:
    """A short status of what a run returned (a PipelineRun, a dict, or anything else)."""
    get = result.get if isinstance(result, dict) else (lambda k, d=None: getattr(result, k, d))
    status, run_id, message = get("status"), get("run_id") or get("id"), get("message")
    if status is None and run_id is None:
        return "finished" if result is None else f"finished: {result}"
    text = f"run {run_id}: {status}" if run_id else str(status)
    stages = get("stages")
    if isinstance(stages, dict) and stages:
        counts: dict[str, int] = {}
        for st in stages.values():
            key = st.get("status") if isinstance(st, dict) else getattr(st, "status", "?")
            counts[str(key)] = counts.get(str(key), 0) + 1
        text += " (" + ", ".join(f"{n} {k}" for k, n in counts.items()) + ")"
    return f"{text}: {message}" if message else text


# -- the watcher ----------------------------------------------------------------------------------
def _root(home: Any) -> Path:
    return Path(home) if isinstance(home, (str, os.PathLike)) else Path(home.root)


def _wanted(name: str) -> bool:
    return not name.startswith((".", "~")) and not name.lower().endswith(_PARTIAL_SUFFIXES)


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def _move_aside(path: Path, folder: Path) -> Path:
    """Move into `folder`, adding -1, -2, ... to the stem when the name is taken."""
    folder.mkdir(parents=True, exist_ok=True)
    dest, n = folder / path.name, 0
    while dest.exists():
        n += 1
        dest = folder / f"{path.stem}-{n}{path.suffix}"
    os.rename(path, dest)
    return dest


@dataclass
class _Pending:
    signature: tuple[int, int] | None = None
    stable_since: float = 0.0
    last_event: float = 0.0
    writing: bool = False  # a write seen and no close-after-write yet (inotify only)
    closed: bool = False


RunFn = Callable[..., Any]


class Watcher:
    """Runs `run(home, pipeline_path, cancel=Event)` when a trigger fires, never two at once.

    Triggers that fire while a run is in progress (or queued) are folded into one follow-up run.
    `on_event(WatchEvent)` is called from the watcher's threads: print or post a message from it.
    """

    def __init__(self, home: Any, pipeline_path: str | os.PathLike[str], *, run: RunFn | None = None,
                 on_event: Callable[[WatchEvent], None] | None = None, spec: TriggerSpec | None = None,
                 settle_s: float | None = None) -> None:
        self.home = home
        self.pipeline_path = Path(pipeline_path).resolve()
        spec = spec if spec is not None else load_triggers(self.pipeline_path)
        self.spec = replace(spec, settle_s=settle_s) if settle_s is not None else spec
        self.triggers_dir = _root(home) / TRIGGERS_DIR
        self.runs = 0
        self._run_fn = run or default_run
        self._on_event = on_event
        self._cond = threading.Condition()
        self._queue: list[Trigger] = []
        self._running = False
        self._stopping = True
        self._files: dict[Path, _Pending] = {}
        self._alerts: set[Path] = set()
        self._next_due: float | None = None
        self._cancel = threading.Event()
        self._observer: Any = None
        self._threads: list[threading.Thread] = []
        self._close_events = False

    # -- life cycle
    def start(self) -> None:
        from watchdog.observers import Observer

        if self.spec.empty:
            raise PipelineFileError(f"{self.pipeline_path.name}: no triggers: add a [triggers] table with "
                                   "watch = [\"data/incoming\"], on_alert = true or every = \"6h\"")
        observer = Observer()
        self._close_events = type(observer).__name__ == "InotifyObserver"
        for folder in self.spec.watch:
            if folder.exists() and not folder.is_dir():
                raise PipelineFileError(f"{self.pipeline_path.name}: [triggers] watch: {folder} is not a folder")
            folder.mkdir(parents=True, exist_ok=True)
            observer.schedule(_Handler(self), str(folder), recursive=False)
        if self.spec.on_alert:
            self.triggers_dir.mkdir(parents=True, exist_ok=True)
            observer.schedule(_Handler(self), str(self.triggers_dir), recursive=False)
        with self._cond:
            self._stopping = False
            self._cancel.clear()
            if self.spec.every_s:
                self._next_due = time.monotonic() + self.spec.every_s
        observer.start()
        self._observer = observer
        self._threads = [threading.Thread(target=self._tick_loop, name="watch-triggers", daemon=True),
                         threading.Thread(target=self._run_loop, name="watch-runner", daemon=True)]
        for t in self._threads:
            t.start()
        if self.spec.on_alert:
            # Alert files written while no watcher ran are still waiting: they trigger now.
            with self._cond:
                self._alerts.update(p for p in self.triggers_dir.glob("*.json") if _wanted(p.name))
                self._cond.notify_all()
        self._emit(WatchEvent("ready", self.describe()))

    def stop(self, timeout: float | None = None) -> bool:
        """Stop watching; a run in progress is asked to cancel. False if it is still running after
        `timeout` seconds (its thread is a daemon and dies with the process)."""
        with self._cond:
            if self._stopping and not self._threads:
                return True
            self._stopping = True
            self._cancel.set()
            self._cond.notify_all()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
            self._observer = None
        for t in self._threads:
            t.join(timeout)
        alive = any(t.is_alive() for t in self._threads)
        self._threads = []
        self._emit(WatchEvent("stopped", "stopped watching" + (" (a run is still finishing)" if alive else "")))
        return not alive

    def __enter__(self) -> "Watcher":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no run is going, none is queued and no file is settling; False on timeout."""
        with self._cond:
            return self._cond.wait_for(
                lambda: not (self._queue or self._running or self._files or self._alerts), timeout)

    @property
    def running(self) -> bool:
        with self._cond:
            return self._running

    def describe(self) -> str:
        parts = []
        if self.spec.watch:
            parts.append("new files in " + ", ".join(_short(f) for f in self.spec.watch))
        if self.spec.on_alert:
            parts.append(f"monitor alerts in {self.triggers_dir}")
        if self.spec.every_s:
            nxt = time.strftime("%H:%M:%S", time.localtime(time.time() + self.spec.every_s))
            parts.append(f"every {format_duration(self.spec.every_s)} (next at {nxt})")
        return f"watching {_short(self.pipeline_path)}: " + "; ".join(parts)

    # -- triggers
    def trigger(self, trigger: Trigger) -> None:
        """Ask for a run (also the way the app's "run now" and tests fire one)."""
        with self._cond:
            if self._stopping:
                return
            if self._running and self._queue:
                how = "joins the queued follow-up run"
            elif self._running:
                how = "queued one follow-up run (a run is in progress)"
            else:
                how = "run"
            queued = self._running
            self._queue.append(trigger)
            self._emit(WatchEvent("trigger", f"trigger: {trigger.source} {trigger.detail} -> {how}",
                                  trigger=trigger, queued=queued))
            self._cond.notify_all()

    def notice(self, path: Path, *, wrote: bool = False, closed: bool = False) -> None:
        """A filesystem event (from the observer thread): restart the file's settle clock."""
        if not _wanted(path.name):
            return
        with self._cond:
            if self.spec.on_alert and path.parent == self.triggers_dir:
                if path.suffix == ".json":
                    self._alerts.add(path)
                    self._cond.notify_all()
                return
            if path.parent not in self.spec.watch:
                return
            item = self._files.setdefault(path, _Pending())
            item.last_event = time.monotonic()
            if wrote and self._close_events:
                item.writing = True
            if closed:
                item.writing, item.closed = False, True
            self._cond.notify_all()

    def _settled(self, now: float) -> list[Path]:
        """All pending files once every one of them has settled (one trigger for a batch of
        files dropped together); [] while any is still being written."""
        for path, item in list(self._files.items()):
            sig = _signature(path)
            if sig is None or not path.is_file():
                del self._files[path]  # gone again (a temp file, moved away)
                continue
            if sig != item.signature:
                item.signature, item.stable_since = sig, now
            still = now - max(item.stable_since, item.last_event)
            unsure = item.writing or (sig[0] == 0 and not item.closed)
            if still < self.spec.settle_s or (unsure and still < WRITER_TIMEOUT_S):
                return []
        ready = sorted(self._files)
        self._files.clear()
        return ready

    def _tick_loop(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
                now = time.monotonic()
                alerts = sorted(self._alerts)
                ready = self._settled(now) if self._files else []
                due = self._next_due is not None and now >= self._next_due
                if due:
                    every = self.spec.every_s or 1.0
                    while self._next_due <= now:  # type: ignore[operator]
                        self._next_due += every  # type: ignore[operator]
                if not (alerts or ready or due):
                    waits = [self.spec.settle_s / 5] if self._files else []
                    if self._next_due is not None:
                        waits.append(max(0.0, self._next_due - now))
                    self._cond.wait(min(waits) if waits else None)
                    continue
                # Queued under the lock, so wait_idle never sees the files gone and no run queued.
                if ready:
                    folders = sorted({_short(p.parent) for p in ready})
                    more = f" (+{len(ready) - 5} more)" if len(ready) > 5 else ""
                    names = ", ".join(p.name for p in ready[:5]) + more
                    self.trigger(Trigger("folder", f"{', '.join(folders)}: {names}", files=tuple(map(str, ready))))
                if due:
                    self.trigger(Trigger("schedule", f"every {format_duration(self.spec.every_s or 0)}"))
            taken = [t for t in map(self._consume_alert, alerts) if t is not None]
            with self._cond:
                # All at once: alert files found together (say, at start) make one run.
                for t in taken:
                    self.trigger(t)
                self._alerts.difference_update(alerts)
                self._cond.notify_all()

    def _consume_alert(self, path: Path) -> Trigger | None:
        """Move an alert trigger file to .done/ and say what it asks for (None: not ours to run)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except FileNotFoundError:
            return None  # another watcher took it first
        except (OSError, ValueError) as exc:
            try:
                _move_aside(path, self.triggers_dir / FAILED_DIR)
            except OSError:
                return None
            self._emit(WatchEvent("error", f"{path}: not a trigger file ({exc}); moved to {FAILED_DIR}/"))
            return None
        try:
            dest = _move_aside(path, self.triggers_dir / DONE_DIR)
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._emit(WatchEvent("error", f"{path}: cannot move to {DONE_DIR}/: {exc}"))
            return None
        who = " ".join(str(x) for x in (data.get("monitor"), data.get("rule")) if x)
        detail = f"{who}: {data.get('message')}" if data.get("message") else (who or path.name)
        return Trigger("alert", detail, ts=float(data.get("ts") or time.time()), files=(str(dest),))

    # -- runs
    def _run_loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                batch, self._queue = tuple(self._queue), []
                self._running = True
                why = "; ".join(f"{t.source} {t.detail}" for t in batch[:3]) + (
                    f" (+{len(batch) - 3} more)" if len(batch) > 3 else "")
                self._emit(WatchEvent("start", f"run started for {why}", triggers=batch))
            started = time.monotonic()
            try:
                result = self._run_fn(self.home, self.pipeline_path, cancel=self._cancel)
                took = time.monotonic() - started
                event = WatchEvent("done", f"run finished in {took:.1f} s: {describe_result(result)}", triggers=batch,
                                   result=result)
            except Exception as exc:  # noqa: BLE001 - a failed run is reported; watching goes on
                took = time.monotonic() - started
                text = str(exc) or type(exc).__name__
                event = WatchEvent("error", f"run failed after {took:.1f} s: {text}", triggers=batch)
            self._emit(event)
            with self._cond:
                self.runs += 1
                self._running = False
                self._cond.notify_all()

    def _emit(self, event: WatchEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:  # noqa: BLE001 - a faulty callback must not stop the watcher
            pass


def _short(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class _Handler:
    """Feeds watchdog events to the watcher (kept free of watchdog imports until start)."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher

    def dispatch(self, event: Any) -> None:
        if event.is_directory:
            return
        kind = event.event_type
        if kind in ("created", "modified", "closed"):
            self.watcher.notice(Path(os.fsdecode(event.src_path)), wrote=kind == "modified",
                                closed=kind == "closed")
        elif kind == "moved":
            # A rename into place (x.part -> x.csv, an atomic write) finishes a file.
            self.watcher.notice(Path(os.fsdecode(event.dest_path)))
