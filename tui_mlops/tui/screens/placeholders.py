"""Honest empty states for the screens not built yet: what each will hold, and that it is not built."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from tui_mlops.tui.screens import ShellScreen

# Every mode has its real screen now; a new mode starts here until its screen is built.
PLACEHOLDERS: dict[str, tuple[str, str]] = {}


class PlaceholderScreen(ShellScreen):
    """A mode whose screen is not built yet."""

    AUTO_FOCUS = None

    def __init__(self, mode: str) -> None:
        super().__init__(name=mode, id=f"mode-{mode}")
        self.MODE = mode

    def compose_body(self) -> ComposeResult:
        title, text = PLACEHOLDERS[self.MODE]
        with Vertical(classes="placeholder"):
            yield Static(title, classes="placeholder-title")
            yield Static(text, classes="placeholder-text")
            yield Static("Press 1 for Datasets, ? for every key, q to quit.", classes="placeholder-hint")
