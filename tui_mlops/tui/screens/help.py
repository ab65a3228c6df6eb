"""The `?` overlay: every key binding active on the screen below it, generated from the bindings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from tui_mlops.tui.screens import KeyedTable

if TYPE_CHECKING:
    from textual.app import App
    from textual.screen import Screen


def binding_rows(app: App, screen: Screen) -> list[tuple[str, str, str, str]]:
    """(key, what it does, tooltip, where) for each active binding of `screen`, app keys last."""
    rows: list[tuple[str, str, str, str]] = []
    for key, active in screen.active_bindings.items():
        b = active.binding
        if b.action in ("help_quit", "app.help_quit"):
            continue  # ctrl+c only explains how to quit; listing it would mislead
        where = _where(app, screen, active.node)
        what = b.description or b.action.replace("_", " ")
        state = "" if active.enabled else " (unavailable now)"
        rows.append((app.get_key_display(b.with_key(key)), what + state, b.tooltip or "", where))
    # The screen's and widgets' keys first (what this view offers), then the app-wide ones.
    rows.sort(key=lambda r: r[3] == "everywhere")
    return rows


def _where(app: App, screen: Screen, node: object) -> str:
    if node is app:
        return "everywhere"
    if node is screen:
        return "this screen"
    ident = getattr(node, "id", None)
    return ident.replace("-", " ") if ident else type(node).__name__


class HelpScreen(ModalScreen[None], inherit_bindings=False):
    """Lists the rows `binding_rows` produced for the screen it covers."""

    AUTO_FOCUS = "#help-table"
    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss", "Close help", id="help.close",
                tooltip="Close this list and go back"),
    ]

    def __init__(self, rows: list[tuple[str, str, str, str]], title: str) -> None:
        super().__init__()
        self.rows = rows
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static(f"Keys — {self.title_text}", id="help-title")
            yield KeyedTable(id="help-table")
            yield Static("escape, ? or q closes · tab moves between panes · rebind keys by id",
                         id="help-hint")

    def on_mount(self) -> None:
        table = self.query_one(KeyedTable)
        table.add_columns("key", "action", "details", "from")
        for row in self.rows:
            table.add_row(*row)
