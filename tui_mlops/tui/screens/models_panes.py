"""Pieces of the Models screen: the cells of its three tables, the validation progress line and the
report viewer."""

from __future__ import annotations

from typing import Any, Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown, ProgressBar, Static

from tui_mlops.formatting import human_number
from tui_mlops.tui.screens.run_detail_panes import short_ref, when_text

MODEL_COLUMNS = (("name", "model"), ("versions", "versions"), ("aliases", "aliases"))
# The gate verdict comes early: it decides what may be promoted, and wide tables scroll.
VERSION_COLUMNS = (("version", "version"), ("aliases", "aliases"), ("gates", "gates"), ("run", "run"),
                   ("dataset", "dataset"), ("created", "created"), ("user", "user"))
HISTORY_COLUMNS = (("when", "when"), ("who", "who"), ("alias", "alias"), ("move", "from → to"),
                   ("reason", "reason"), ("forced", "forced"))
# Metrics shown first when a model has them (the rest follow alphabetically), at most MAX_METRICS.
PREFERRED = ("auc", "logloss", "accuracy", "f1", "f1_macro", "rmse", "mae", "r2", "l2", "l1")
MAX_METRICS = 3
NOT_VALIDATED = "not validated"
EMPTY_TEXT = ("No registered models yet: press m on a run in Experiments (2), or "
              "mlops-tui models register RUN --name NAME")


def alias_text(aliases: dict[str, int] | Iterable[str]) -> str:
    """`production v3, staging v4` from a summary's dict; `production, staging` from a tuple."""
    if isinstance(aliases, dict):
        return ", ".join(f"{a} v{v}" for a, v in sorted(aliases.items(), key=lambda kv: kv[0]))
    return ", ".join(sorted(aliases))


def model_cells(summary: Any) -> list[Text]:
    return [Text(summary.name), Text(str(summary.versions)),
            Text(alias_text(summary.aliases or {}) or "-")]


def metric_keys(versions: list[Any]) -> list[str]:
    """Up to MAX_METRICS metric keys of these versions, the familiar ones first."""
    keys: set[str] = set()
    for v in versions:
        keys.update(k for k in (v.metrics or {}) if not k.startswith("system/"))

    def rank(key: str) -> tuple[int, str]:
        short = key.rsplit("/", 1)[-1]
        return (PREFERRED.index(short) if short in PREFERRED else len(PREFERRED), key)

    return sorted(keys, key=rank)[:MAX_METRICS]


def metric_label(key: str) -> str:
    return key.removeprefix("valid/")


def gate_state(version: Any) -> str:
    """`passed`, `failed` or `not validated` (from the version's latest gate results)."""
    gates = getattr(version, "gates", None)
    if not gates or gates.get("passed") is None:
        return NOT_VALIDATED
    return "passed" if gates.get("passed") else "failed"


def gate_text(version: Any) -> Text:
    state = gate_state(version)
    style = {"passed": "bold green", "failed": "bold red"}.get(state, "dim")
    return Text(state, style=style)


def version_cells(version: Any, metrics: list[str]) -> list[Text]:
    values = version.metrics or {}
    cells = [Text(f"v{version.version}"), Text(alias_text(version.aliases) or "-"),
             gate_text(version), Text(version.run_id[:8]), Text(short_ref(version.dataset) or "-"),
             Text(when_text(version.created)), Text(version.user or "-")]
    cells += [Text(human_number(values[k]) if values.get(k) is not None else "-") for k in metrics]
    return cells


def _v(version: int | None) -> str:
    return f"v{version}" if version is not None else "-"


def move_text(move: Any) -> str:
    if move.version is None:
        return f"{_v(move.previous)} → removed"
    return f"{_v(move.previous)} → {_v(move.version)}"


def history_cells(move: Any) -> list[Text]:
    return [Text(when_text(move.ts)), Text(move.user or "-"), Text(move.alias),
            Text(move_text(move)), Text(move.reason or "-"),
            Text("forced", style="bold red") if move.forced else Text("")]


def alias_problem(text: str) -> str | None:
    """Why `text` is not an alias name (None when it is one)."""
    from tui_mlops.errors import InputError
    from tui_mlops.registry.models import check_alias

    try:
        check_alias(text.strip())
    except InputError as exc:
        return str(exc)
    return None


def required(what: str):
    """A TextPrompt check: the text must not be blank."""
    return lambda text: None if text.strip() else f"{what} cannot be empty"


class ValidationLine(Horizontal):
    """The running validation: what it does now and a progress bar (escape or x cancels)."""

    DEFAULT_CSS = """
    ValidationLine { height: 1; display: none; padding: 0 1; background: $boost; }
    ValidationLine.-running { display: block; }
    ValidationLine #validation-label { width: 1fr; height: 1; color: $text-accent; }
    ValidationLine ProgressBar { width: auto; height: 1; margin-left: 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="validation-label", markup=False)
        yield ProgressBar(total=1, show_eta=False, id="validation-progress")

    def start(self, label: str) -> None:
        self.add_class("-running")
        self.query_one(ProgressBar).update(total=1, progress=0)
        self.label = label
        self.query_one("#validation-label", Static).update(f"{label}: loading … (x cancels)")

    def advance(self, done: int, total: int, what: str) -> None:
        bar = self.query_one(ProgressBar)
        bar.update(total=max(1, total), progress=min(done, max(1, total)))
        step = f": {what}" if what else f": {done}/{total}"
        self.query_one("#validation-label", Static).update(
            f"{getattr(self, 'label', 'validating')}{step} (x cancels)")

    def note(self, text: str) -> None:
        self.query_one("#validation-label", Static).update(text)

    def stop(self) -> None:
        self.remove_class("-running")

    @property
    def text(self) -> str:
        return str(self.query_one("#validation-label", Static).content)

    @property
    def fraction(self) -> float:
        bar = self.query_one(ProgressBar)
        return (bar.progress / bar.total) if bar.total else 0.0


class ReportScreen(ModalScreen[None], inherit_bindings=False):
    """A validation report's Markdown, scrollable; escape or q closes it."""

    AUTO_FOCUS = "#report-scroll"
    DEFAULT_CSS = """
    ReportScreen { align: center middle; background: $background 60%; }
    ReportScreen #report-box { width: 95%; max-width: 130; height: 92%; border: round $accent;
                               background: $surface; }
    ReportScreen #report-title { height: 1; padding: 0 1; text-style: bold; color: $accent; }
    ReportScreen #report-scroll { height: 1fr; }
    ReportScreen #report-hint { height: 1; padding: 0 1; color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape,q", "close", "Close", id="report.close", tooltip="Close the report"),
        Binding("up,k", "scroll('up')", "Up", show=False, id="report.up", tooltip="Scroll up"),
        Binding("down,j", "scroll('down')", "Down", show=False, id="report.down",
                tooltip="Scroll down"),
        Binding("pageup", "scroll('page_up')", "Page up", show=False, id="report.page_up",
                tooltip="Scroll up one screenful"),
        Binding("pagedown,space", "scroll('page_down')", "Page down", show=False,
                id="report.page_down", tooltip="Scroll down one screenful"),
    ]

    def __init__(self, title: str, markdown: str) -> None:
        super().__init__()
        self.title_text = title
        self.markdown = markdown

    def compose(self) -> ComposeResult:
        with Vertical(id="report-box"):
            yield Static(self.title_text, id="report-title", markup=False)
            with VerticalScroll(id="report-scroll"):
                yield Markdown(self.markdown, id="report-markdown")
            yield Static("escape closes · arrows / pgup / pgdn scroll", id="report-hint")

    def action_scroll(self, how: str) -> None:
        scroll = self.query_one("#report-scroll", VerticalScroll)
        getattr(scroll, f"scroll_{how}")(animate=False)

    def action_close(self) -> None:
        self.dismiss(None)
