"""The add-dataset form: path (with completion), optional name and type overrides, live progress.

The ingest runs in a thread worker; escape or ctrl+c while it runs sets its cancel Event, which
interrupts DuckDB and leaves no partial version behind.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Input, ProgressBar, Static

from tui_mlops.errors import InputError, MlopsError
from tui_mlops.tui.messages import IngestFinished, IngestProgressed

if TYPE_CHECKING:
    from tui_mlops.store.home import Home


def parse_types(text: str) -> dict[str, str]:
    """`"age=INTEGER, price=DECIMAL(10,2)"` -> {"age": "INTEGER", "price": "DECIMAL(10,2)"}."""
    out: dict[str, str] = {}
    depth, start, parts = 0, 0, []
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    for part in (p.strip() for p in parts):
        if not part:
            continue
        col, eq, typ = part.rpartition("=")
        if not eq or not col.strip() or not typ.strip():
            raise InputError(f"type overrides: expected COLUMN=TYPE, got {part!r}")
        out[col.strip()] = typ.strip()
    return out


def _complete(value: str) -> str | None:
    expanded = os.path.expanduser(value)
    folder, prefix = os.path.split(expanded)
    try:
        entries = sorted(os.scandir(folder or "."), key=lambda e: e.name)
    except OSError:
        return None
    for entry in entries:
        if not entry.name.startswith(prefix) or entry.name == prefix:
            continue
        if entry.name.startswith(".") and not prefix.startswith("."):
            continue
        rest = entry.name[len(prefix):]
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        return value + rest + (os.sep if is_dir else "")
    return None


class PathSuggester(Suggester):
    """Suggests the first file or folder that completes the typed path (right arrow accepts)."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        # A folder listing can be slow on network drives: keep it off the event loop.
        return await asyncio.to_thread(_complete, value)


class AddDatasetScreen(ModalScreen[list], inherit_bindings=False):
    """Register a file or a folder of files; dismisses with the IngestResult list, or None."""

    AUTO_FOCUS = "#add-path"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel / close", id="add.cancel",
                tooltip="Cancel the running ingest, or close the form"),
        Binding("ctrl+c", "cancel_ingest", "Cancel ingest", show=False, priority=True,
                id="add.cancel_ingest", tooltip="Stop the running ingest (nothing is added)"),
        Binding("tab", "app.focus_next", "Next field", show=False, id="add.next_field",
                tooltip="Move to the next field"),
        Binding("shift+tab", "app.focus_previous", "Previous field", show=False,
                id="add.previous_field", tooltip="Move to the previous field"),
    ]

    def __init__(self, home: Home, path: str = "") -> None:
        super().__init__()
        self.home = home
        self.initial_path = path
        self.cancel_event: threading.Event | None = None

    @property
    def running(self) -> bool:
        return self.cancel_event is not None

    def compose(self) -> ComposeResult:
        with Vertical(id="add-box"):
            yield Static("Add a dataset", id="add-title")
            yield Input(self.initial_path, id="add-path", suggester=PathSuggester(),
                        placeholder="file or folder: CSV, TSV, Parquet, JSON, NDJSON, .csv.gz")
            yield Input(id="add-name", placeholder="name (optional; default: from the file name)")
            yield Input(id="add-types", placeholder="types (optional): col=TYPE, col2=TYPE")
            yield ProgressBar(total=1.0, show_eta=False, id="add-progress")
            yield Static("enter registers · → completes the path · escape closes",
                         id="add-status", markup=False)

    @on(Input.Submitted)
    def submit(self) -> None:
        if self.running:
            return
        raw = self.query_one("#add-path", Input).value.strip()
        name = self.query_one("#add-name", Input).value.strip() or None
        try:
            if not raw:
                raise InputError("give the path of a file or folder to register")
            types = parse_types(self.query_one("#add-types", Input).value)
        except MlopsError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        from tui_mlops.data.ingest import IngestOptions

        path = Path(os.path.expanduser(raw))
        self.cancel_event = threading.Event()
        bar = self.query_one(ProgressBar)
        bar.update(progress=0)
        self.add_class("-running")
        self.refresh_bindings()
        self._status(f"Registering {path.name or path} … (escape cancels)")
        self.ingest(path, IngestOptions(name=name, types=types), self.cancel_event)

    @work(thread=True, exclusive=True, exit_on_error=False, group="ingest")
    def ingest(self, path: Path, options: Any, cancel: threading.Event) -> None:
        from tui_mlops.data.ingest import ingest_path

        def progress(fraction: float) -> None:
            self.post_message(IngestProgressed(fraction))

        try:
            results = ingest_path(self.home, path, options, progress=progress, cancel=cancel)
        except MlopsError as exc:
            self.post_message(IngestFinished(None, str(exc), cancelled=cancel.is_set()))
        except Exception as exc:  # an unexpected failure still ends as one readable line
            text = " ".join(str(exc).split()) or type(exc).__name__
            self.post_message(IngestFinished(None, f"{path}: {text}", cancelled=cancel.is_set()))
        else:
            self.post_message(IngestFinished(results))

    def on_ingest_progressed(self, message: IngestProgressed) -> None:
        self.query_one(ProgressBar).update(progress=message.fraction)

    def on_ingest_finished(self, message: IngestFinished) -> None:
        self.cancel_event = None
        self.remove_class("-running")
        self.refresh_bindings()
        if message.results is not None:
            self.dismiss(message.results)
            return
        if message.cancelled:
            self.notify("Ingest cancelled; nothing was added.", severity="warning")
            self._status("Cancelled. enter registers again · escape closes")
        else:
            self.notify(message.error or "ingest failed", severity="error", markup=False)
            self._status("Failed (see the notification). Fix the path and press enter · escape closes")
        self.query_one("#add-path", Input).focus()

    def _status(self, text: str) -> None:
        self.query_one("#add-status", Static).update(text)

    def action_cancel(self) -> None:
        if self.running:
            self.action_cancel_ingest()
        else:
            self.dismiss(None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # ctrl+c cancels only while an ingest runs; otherwise it falls through to copy.
        if action == "cancel_ingest":
            return self.running
        return True

    def action_cancel_ingest(self) -> None:
        if self.cancel_event is not None:
            self.cancel_event.set()
            self._status("Cancelling …")

    def on_unmount(self) -> None:
        # Closing the app mid-ingest must not leave the worker thread running on.
        if self.cancel_event is not None:
            self.cancel_event.set()
