"""Monitors are watched from the app's start, whichever screen shows: one MonitorRunner per monitor
records batches as they land and its facts reach the Monitor screen, or a notification before
that screen was ever opened."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from tui_mlops.errors import MlopsError


class MonitorFact(Message, bubble=False):
    """A runner recorded a file ("batch") or logged alert events ("alerts"); posted from its thread."""

    def __init__(self, kind: str, monitor: str, payload: Any) -> None:
        super().__init__()
        self.kind, self.monitor, self.payload = kind, monitor, payload


def start_runners(app: Any) -> None:
    """Start a runner for every monitor of the home (called from a thread worker at start)."""
    from tui_mlops.monitoring.runner import MonitorRunner
    from tui_mlops.monitoring.spec import list_monitors

    try:
        names = [m.name for m in list_monitors(app.home)]
    except MlopsError as exc:
        app.notify(f"Monitors not watched: {exc}", severity="error", markup=False)
        return
    with app.monitor_lock:
        for name in names:
            if name in app.monitor_runners or app._closing:
                continue
            runner = MonitorRunner(app.home, name, on_result=_poster(app, "batch", name),
                                   on_alert=_poster(app, "alerts", name))
            app.monitor_runners[name] = runner
            try:
                runner.start()
            except Exception as exc:  # noqa: BLE001 - one broken monitor must not stop the others
                app.monitor_runners.pop(name, None)
                app.notify(f"Monitor {name} not watched: {' '.join(str(exc).split())}",
                           severity="error", markup=False)


def _poster(app: Any, kind: str, name: str) -> Any:
    def post(payload: Any) -> None:
        app.post_message(MonitorFact(kind, name, payload))

    return post


def deliver(app: Any, fact: MonitorFact) -> None:
    """To the Monitor screen once it exists (it notifies and redraws), else as a notification."""
    from tui_mlops.tui.screens.monitor_live import AlertsRaised, BatchRecorded
    from tui_mlops.tui.screens.monitor_panes import alert_note, batch_note

    screen = getattr(app, "monitor_screen", None)
    if screen is not None and screen.is_attached:
        message = BatchRecorded if fact.kind == "batch" else AlertsRaised
        screen.post_message(message(fact.monitor, fact.payload))
        return
    if fact.kind == "batch":
        note = batch_note(fact.monitor, fact.payload)
        if note is not None:
            app.notify(note[1], severity=note[0], markup=False, timeout=8)
        return
    events = fact.payload if isinstance(fact.payload, list) else [fact.payload]
    for ev in events:
        if isinstance(ev, dict) and ev.get("type") in ("fired", "resolved"):
            severity, text = alert_note(fact.monitor, ev)
            app.notify(text, severity=severity, markup=False, timeout=10)  # type: ignore[arg-type]
