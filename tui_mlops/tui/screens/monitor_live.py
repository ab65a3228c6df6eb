"""The Monitor screen's live side: one MonitorRunner per monitor (kept on the app, stopped when it
quits), the messages their callbacks post from the runner thread, and the notifications they raise."""

from __future__ import annotations

import threading
from typing import Any

from textual import work
from textual.message import Message

from tui_mlops.tui.screens.monitor_panes import alert_note, batch_note, get


class BatchRecorded(Message):
    """A runner recorded a batch or labels file (posted from the runner's thread)."""

    def __init__(self, monitor: str, result: Any) -> None:
        super().__init__()
        self.monitor, self.result = monitor, result


class AlertsRaised(Message):
    """A runner's alert check logged new events (fired / resolved / problem)."""

    def __init__(self, monitor: str, events: list[dict]) -> None:
        super().__init__()
        self.monitor, self.events = monitor, events


class MonitorLive:
    """Mixed into MonitorScreen (which provides home, app, selected and request_refresh)."""

    home: Any
    app: Any
    selected: str | None

    def init_live(self) -> None:
        self._seen: dict[str, set] = {}   # monitor -> keys of events already notified
        self._primed: set[str] = set()    # monitors whose alert log was read once (history)
        self._sync_lock = threading.Lock()

    def request_refresh(self) -> None:  # provided by the screen
        raise NotImplementedError

    # -- runners ------------------------------------------------------------------------------
    def runners(self) -> dict[str, Any]:
        """The app's runners by monitor name (the app stops them when it quits)."""
        runners = getattr(self.app, "monitor_runners", None)
        if runners is None:
            runners = {}
            setattr(self.app, "monitor_runners", runners)
        return runners

    @work(thread=True, exit_on_error=False, group="monitor-runners")
    def sync_runners(self, names: list[str]) -> None:
        """Start a runner for each monitor that has none; stop those of removed monitors."""
        with getattr(self.app, "monitor_lock", self._sync_lock):
            self._sync(names)

    def _sync(self, names: list[str]) -> None:
        from tui_mlops.monitoring.runner import MonitorRunner

        runners = self.runners()
        for name in list(runners):
            if name not in names:
                _stop(runners.pop(name, None))
        for name in names:
            if name in runners or getattr(self.app, "_closing", False):
                continue
            runner = MonitorRunner(self.home, name, on_result=_poster(self, BatchRecorded, name),
                                   on_alert=_poster(self, AlertsRaised, name))
            runners[name] = runner
            try:
                runner.start()
            except Exception as exc:  # noqa: BLE001 - one broken monitor must not stop the others
                runners.pop(name, None)
                self.app.notify(f"Monitor {name} not watched: {' '.join(str(exc).split())}",
                                severity="error", markup=False)
                continue
            if getattr(self.app, "_closing", False):  # the app quit while this one started
                _stop(runners.pop(name, None))

    # -- facts from the runners ---------------------------------------------------------------
    def on_batch_recorded(self, event: BatchRecorded) -> None:
        event.stop()
        note = batch_note(event.monitor, event.result)
        seq = get(event.result, "seq")
        if note is not None:
            key = ("problem", seq) if seq is not None else None
            seen = self._seen.setdefault(event.monitor, set())
            if key is None or key not in seen:
                seen.add(key)
                self.app.notify(note[1], severity=note[0], markup=False, timeout=8)
        if event.monitor == self.selected:
            self.request_refresh()

    def on_alerts_raised(self, event: AlertsRaised) -> None:
        event.stop()
        events = event.events if isinstance(event.events, list) else [event.events]
        self.notify_new_alerts(event.monitor, [e for e in events if isinstance(e, dict)], from_log=False)
        if event.monitor == self.selected:
            self.request_refresh()

    def notify_new_alerts(self, monitor: str | None, alerts: list[dict], from_log: bool = True) -> None:
        """Notify fired/resolved events not notified yet; the log found on the first read is history."""
        if monitor is None:
            return
        first = from_log and monitor not in self._primed
        if from_log:
            self._primed.add(monitor)
        seen = self._seen.setdefault(monitor, set())
        for ev in alerts:
            kind = ev.get("type")
            key = ("problem", ev.get("batch_seq")) if kind == "problem" else (
                kind, ev.get("rule"), ev.get("ts"))
            if key in seen:
                continue
            seen.add(key)
            if first or kind not in ("fired", "resolved"):
                continue  # problems are notified from the batch result
            severity, text = alert_note(monitor, ev)
            self.app.notify(text, severity=severity, markup=False, timeout=10)


def _poster(screen: Any, message: type, name: str) -> Any:
    """A runner callback (called on the runner's thread) that posts `message(name, payload)`."""

    def post(payload: Any) -> None:
        screen.post_message(message(name, payload))

    return post


def _stop(runner: Any) -> None:
    if runner is not None:
        try:
            runner.stop()
        except Exception:  # noqa: BLE001 - stopping is best effort
            pass
