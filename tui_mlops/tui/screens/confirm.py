"""A yes/no modal for destructive actions; dismisses with True only on an explicit yes."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class ConfirmScreen(ModalScreen[bool], inherit_bindings=False):
    """Ask one question; `y` confirms, `n` or escape declines."""

    AUTO_FOCUS = None
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes", tooltip="Confirm and go ahead"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no", tooltip="Decline and go back"),
    ]

    def __init__(self, question: str, detail: str = "") -> None:
        super().__init__()
        self.question = question
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Static(self.question, id="confirm-question", markup=False)
            if self.detail:
                yield Static(self.detail, id="confirm-detail", markup=False)
            yield Static("y = yes   n / escape = no", id="confirm-hint")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
