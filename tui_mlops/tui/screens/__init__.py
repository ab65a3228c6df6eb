"""Screens of the app, and the shell pieces they share: the mode bar, a base screen, a keyed table."""

from __future__ import annotations

import os
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Footer

from tui_mlops.formatting import human_size as _human_size, human_time

# (mode name, key, label), in key order. The app's MODES and the mode bar are built from this.
MODES: tuple[tuple[str, str, str], ...] = (
    ("datasets", "1", "Datasets"),
    ("experiments", "2", "Experiments"),
    ("compare", "3", "Compare"),
    ("models", "4", "Models"),
    ("monitor", "5", "Monitor"),
    ("jobs", "6", "Jobs"),
)


def human_size(n: int | float | None) -> str:
    return _human_size(n, empty="-")


def short_time(iso: str | None) -> str:
    """`2026-11-26T14:03:11.123Z` -> `2026-11-26 15:03` in local time (as stored if unparsable)."""
    return human_time(iso, empty="-")


def short_home(path: Path | str, width: int) -> str:
    """The home path with `~` for the user's home, cut from the left to fit `width` cells."""
    text = str(path)
    user = os.path.expanduser("~")
    if user not in ("", "/") and (text == user or text.startswith(user + os.sep)):
        text = "~" + text[len(user):]
    if width <= 1:
        return ""
    if len(text) > width:
        text = "…" + text[-(width - 1):]
    return text


class ModeBar(Widget):
    """One line: the mode tabs with their number keys (current one highlighted) and the home path."""

    def __init__(self, mode: str) -> None:
        super().__init__(classes="mode-bar")
        self.mode = mode

    def render(self) -> Text:
        width = self.size.width
        tabs = Text(no_wrap=True, overflow="crop")
        # Narrow terminals drop the app name first; the keys and labels always stay.
        full = sum(len(label) + len(key) + 2 for _, key, label in MODES)
        if width >= full + 40:
            tabs.append(" mlops-tui ", style="bold")
        for mode, key, label in MODES:
            tabs.append(" ")
            tabs.append(f"{key} {label}", style="reverse bold" if mode == self.mode else "")
        home = getattr(self.app, "home", None)
        room = width - tabs.cell_len - 2
        if home is not None and room >= 6:
            path = short_home(getattr(home, "root", home), room)
            tabs.append(" " * (width - tabs.cell_len - len(path) - 1))
            tabs.append(path, style="dim")
        return tabs


class KeyedTable(DataTable, inherit_bindings=False):
    """A row-cursor DataTable whose bindings all carry ids (so users can remap them)."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Open", id="table.open",
                tooltip="Open the highlighted row"),
        Binding("up,k", "cursor_up", "Up", show=False, id="table.up", tooltip="Move up a row"),
        Binding("down,j", "cursor_down", "Down", show=False, id="table.down", tooltip="Move down a row"),
        Binding("left", "cursor_left", "Left", show=False, id="table.left", tooltip="Scroll left"),
        Binding("right", "cursor_right", "Right", show=False, id="table.right", tooltip="Scroll right"),
        Binding("pageup", "page_up", "Page up", show=False, id="table.page_up",
                tooltip="Move up one screenful"),
        Binding("pagedown", "page_down", "Page down", show=False, id="table.page_down",
                tooltip="Move down one screenful"),
        Binding("home,g", "scroll_top", "First row", show=False, id="table.first",
                tooltip="Go to the first row"),
        Binding("end,G", "scroll_bottom", "Last row", show=False, id="table.last",
                tooltip="Go to the last row"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)


class ShellScreen(Screen, inherit_bindings=False):
    """A top-level screen: the mode bar, the body from `compose_body`, the footer."""

    MODE = "datasets"
    BINDINGS = [
        Binding("tab", "app.focus_next", "Next pane", show=False, id="screen.focus_next",
                tooltip="Move focus to the next pane"),
        Binding("shift+tab", "app.focus_previous", "Previous pane", show=False,
                id="screen.focus_previous", tooltip="Move focus to the previous pane"),
    ]

    def compose(self) -> ComposeResult:
        yield ModeBar(self.MODE)
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()
