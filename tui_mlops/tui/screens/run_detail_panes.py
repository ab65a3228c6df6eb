"""Pieces of the run detail screen: the metric charts pane, the system pane, a one-line prompt,
status colours and the text of the header.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, SelectionList, Static

from tui_mlops.formatting import human_number, human_size
from tui_mlops.tui.screens.run_history import SYSTEM_PREFIX
from tui_mlops.tui.widgets.line_chart import LineChart, Series
from tui_mlops.tui.widgets.vim import VimSelectionList

ACTIVE = ("queued", "running")
STATUS_VARS = {"running": "$text-primary", "queued": "$text-warning", "finished": "$text-success",
               "failed": "$text-error", "crashed": "$text-error", "cancelled": "$text-warning"}
# Component classes carrying the status colours (for Rich Text, e.g. table cells).
STATUS_CLASSES = {f"run-status--{s}" for s in STATUS_VARS}
STATUS_CSS = "\n".join(f"& > .run-status--{s} {{ color: {v}; text-style: bold; }}"
                       for s, v in STATUS_VARS.items())


def status_content(status: str | None) -> Content:
    """The status in its theme colour (content markup, for Static widgets)."""
    status = status or "unknown"
    var = STATUS_VARS.get(status)
    return Content.styled(status, f"bold {var}") if var else Content(status)


def status_text(node: Any, status: str | None) -> Text:
    """The status as Rich Text styled by `node`'s `run-status--<status>` component class."""
    status = status or "-"
    if f"run-status--{status}" in getattr(node, "COMPONENT_CLASSES", ()):
        return Text(status, style=node.get_component_rich_style(f"run-status--{status}"))
    return Text(status)


def duration_text(start: float | None, end: float | None, now: float | None = None) -> str:
    """`1h 02m`, `3m 05s`, `12s`; up to now when the run has no end yet."""
    if start is None:
        return "-"
    secs = max(0.0, (end if end is not None else (now or time.time())) - start)
    if secs < 60:
        return f"{secs:.0f}s" if secs >= 10 else f"{secs:.1f}s"
    mins, s = divmod(int(secs), 60)
    if mins < 60:
        return f"{mins}m {s:02d}s"
    hours, m = divmod(mins, 60)
    return f"{hours}h {m:02d}m" if hours < 48 else f"{hours // 24}d {hours % 24}h"


def when_text(ts: float | None, now: float | None = None) -> str:
    """`14:03:11` for today, `2026-11-24 14:03` before; `-` when unknown."""
    if ts is None:
        return "-"
    local = time.localtime(ts)
    if time.strftime("%Y-%m-%d", local) == time.strftime("%Y-%m-%d", time.localtime(now)):
        return time.strftime("%H:%M:%S", local)
    return time.strftime("%Y-%m-%d %H:%M", local)


def short_ref(ref: str | None) -> str | None:
    """`churn@69690a5217636e36` -> `churn@69690a52` (versions are unique by their prefix)."""
    if not ref or "@" not in ref:
        return ref
    name, _, version = ref.rpartition("@")
    return f"{name}@{version[:8]}"


def set_line(widget: Static, content: Content | str) -> None:
    """Update a one-line Static only when its text changes, and without a layout pass."""
    if widget.content != content:
        widget.update(content, layout=False)


def fmt(value: Any) -> str:
    return human_number(value, empty="–")


def problem_text(d: Any, lines: list[str]) -> str | None:
    """What a crashed or failed run shows first: its error and its last log lines."""
    if d.status not in ("crashed", "failed"):
        return None
    text = f"{d.status.upper()}: {getattr(d, 'error', None) or 'no error message recorded'}"
    if lines:
        text += "\nlast log lines:\n" + "\n".join("  " + ln[:200] for ln in lines)
    return text


# Table cells are Text, not str: DataTable reads a str as markup, and these are users' values.
def fill_params(table: Any, d: Any) -> None:
    table.clear()
    for key, value in sorted((d.params or {}).items()):
        table.add_row(Text("param"), Text(key), Text(str(value)))
    for key, value in sorted((d.tags or {}).items()):
        table.add_row(Text("tag"), Text(key), Text(str(value)))


def fill_artifacts(table: Any, d: Any) -> None:
    table.clear()
    for art in getattr(d, "artifacts", None) or []:
        table.add_row(Text(str(art.get("path", ""))), Text(str(art.get("kind", ""))),
                      human_size(art.get("size"), empty="-"), str(art.get("sha256") or "")[:12])
    if table.row_count == 0:
        table.add_row("(no artifacts)", "", "", "")


def fill_stats(table: Any, stats: list[Any]) -> None:
    """The Metrics tab: last, min, max, best and the step of the best value, per metric."""
    row = table.cursor_row
    table.clear()
    for s in stats:
        table.add_row(Text(s.key), fmt(s.last), fmt(s.min), fmt(s.max), fmt(s.best),
                      fmt(_int_if_whole(s.best_step)), fmt(_int_if_whole(s.last_step)), fmt(s.n))
    if not stats:
        table.add_row("(no metrics logged yet)", *[""] * 7)
    table.move_cursor(row=min(row, table.row_count - 1))


def _int_if_whole(x: float) -> float | int:
    return int(x) if float(x).is_integer() else x


class ChartsPane(Horizontal):
    """A metric list (space picks one or several) and a chart overlaying the picked ones."""

    class PickChanged(Message):
        """The set of picked metrics changed."""

    def __init__(self, *, system: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.system = system
        self.keys: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="metric-side"):
            yield Static("space picks", classes="metric-hint")
            yield VimSelectionList[str](classes="metric-list")
        yield LineChart("no metrics logged yet", classes="metric-chart")

    @property
    def picker(self) -> SelectionList[str]:
        return self.query_one(SelectionList)

    @property
    def chart(self) -> LineChart:
        return self.query_one(LineChart)

    def picked(self) -> list[str]:
        return [k for k in self.keys if k in set(self.picker.selected)]

    def set_keys(self, keys: list[str]) -> None:
        """Add newly logged keys to the list; the first key (a validation one if any) is picked."""
        new = [k for k in keys if k not in self.keys]
        if not new:
            return
        first_ever = not self.keys
        self.keys = self.keys + new
        picker = self.picker
        for key in new:
            label = key[len(SYSTEM_PREFIX):] if self.system else key
            picker.add_option((label, key, False))
        if first_ever:
            picker.select(default_pick(self.keys))
        self.chart.empty_text = "pick a metric with space"

    def show(self, series: Series, log_y: bool) -> None:
        if not self.keys:
            self.chart.clear("no metrics logged yet")
        else:
            self.chart.plot(series, log_y)

    @on(SelectionList.SelectedChanged)
    def _picked(self, event: SelectionList.SelectedChanged) -> None:
        event.stop()
        self.post_message(self.PickChanged())


# Curves worth seeing first: LightGBM's per-round validation metrics, then a sweep's best-so-far.
PREFERRED_FIRST = ("valid/auc", "valid/binary_logloss", "valid/multi_logloss", "valid/l2",
                   "valid/rmse", "valid/loss", "loss")


def default_pick(keys: list[str]) -> str:
    """The metric shown first: a per-round validation curve when there is one."""
    for key in PREFERRED_FIRST:
        if key in keys:
            return key
    for prefix in ("best/", "valid", "val", "test"):
        for key in keys:
            if key.startswith(prefix):
                return key
    return keys[0]


# (title, keys overlaid) of the System tab's charts; GPU ones only where the run logged them.
SYSTEM_CHARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("CPU %", ("system/cpu_percent",)),
    ("RAM MB", ("system/ram_mb", "system/proc_rss_mb")),
    ("GPU %", ("system/gpu_util",)),
    ("GPU memory MB", ("system/gpu_mem_mb",)),
)
NO_GPU_NOTE = ("No GPU metrics: the machine that ran this had no NVIDIA GPU with NVML "
               "(CPU and RAM only).")


class SystemPane(Vertical):
    """CPU and RAM charts side by side; GPU charts under them, or a note when there is no GPU."""

    def compose(self) -> ComposeResult:
        yield Static("", classes="system-note")
        with Horizontal(classes="system-row"):
            for title, _keys in SYSTEM_CHARTS[:2]:
                yield LineChart(f"{title}: no samples yet", title=title, x_label="seconds since start",
                                classes="system-chart")
        with Horizontal(classes="system-row system-gpu"):
            for title, _keys in SYSTEM_CHARTS[2:]:
                yield LineChart(f"{title}: no samples yet", title=title, x_label="seconds since start",
                                classes="system-chart")

    def keys_needed(self) -> list[str]:
        return [k for _title, keys in SYSTEM_CHARTS for k in keys]

    def show(self, series: Series, log_y: bool) -> None:
        has_gpu = any(k.startswith("system/gpu") for k in series)
        self.query_one(".system-gpu").display = has_gpu
        note = self.query_one(".system-note", Static)
        if not series:
            note.update("No system samples yet (jobs log CPU, RAM and GPU every 2 s).")
        else:
            n = max(len(ys) for _xs, ys in series.values())
            note.update(f"{n} samples · x = seconds since start"
                        + ("" if has_gpu else "  ·  " + NO_GPU_NOTE))
        for chart, (_title, keys) in zip(self.query(LineChart), SYSTEM_CHARTS):
            chart.plot({k.removeprefix(SYSTEM_PREFIX): series[k] for k in keys if k in series}, log_y)


class TextPrompt(ModalScreen[str | None], inherit_bindings=False):
    """One line of input; enter submits (after `check` passes), escape cancels."""

    AUTO_FOCUS = "Input"
    DEFAULT_CSS = """
    TextPrompt { align: center middle; background: $background 60%; }
    TextPrompt #prompt-box { width: 72; max-width: 95%; height: auto; border: round $accent;
                             background: $surface; padding: 0 1; }
    TextPrompt #prompt-title { text-style: bold; color: $accent; }
    TextPrompt #prompt-error { color: $text-error; height: auto; }
    TextPrompt #prompt-hint { color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="prompt.cancel", tooltip="Close without saving"),
    ]

    def __init__(self, title: str, *, value: str = "", placeholder: str = "",
                 check: Callable[[str], str | None] | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.placeholder = placeholder
        self.check = check

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box"):
            yield Static(self.title_text, id="prompt-title", markup=False)
            yield Input(self.value, placeholder=self.placeholder, id="prompt-input")
            yield Static("", id="prompt-error", markup=False)
            yield Static("enter saves · escape cancels", id="prompt-hint")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        problem = self.check(event.value) if self.check else None
        if problem:
            self.query_one("#prompt-error", Static).update(problem)
            return
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


def parse_tag(text: str) -> tuple[str, str]:
    """`team=risk` -> ("team", "risk"); ValueError with a one-line reason otherwise."""
    key, eq, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if not eq or not key:
        raise ValueError(f"expected key=value, got {text.strip()!r}")
    return key, value


def tag_problem(text: str) -> str | None:
    try:
        parse_tag(text)
    except ValueError as exc:
        return str(exc)
    return None
