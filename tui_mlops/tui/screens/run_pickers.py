"""Pickers of the Experiments screen: a key (sort, group), the columns, the experiment.

Each is a small modal with a filter box that keeps the focus (type to narrow the list; up/down
move in it; enter picks), so hundreds of param and metric names stay quick to reach by keyboard.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, SelectionList, Static
from textual.widgets.option_list import Option

from tui_mlops.errors import MlopsError

if TYPE_CHECKING:
    from tui_mlops.store.home import Home

# (sort key, label, natural direction: True = descending)
ATTRIBUTES: tuple[tuple[str, str, bool], ...] = (
    ("start_ts", "started (newest first)", True),
    ("end_ts", "ended", True),
    ("duration", "duration (longest first)", True),
    ("name", "name", False),
    ("status", "status", False),
    ("experiment", "experiment", False),
    ("model", "model", False),
    ("dataset", "dataset", False),
    ("run_id", "run id", False),
)
AUTO = "*auto*"  # what ColumnsPicker returns (as the only item) for "the default columns"


def _nav(prefix: str) -> list[BindingType]:
    # Priority: the filter box keeps the focus, and these keys move the list under it.
    return [
        Binding("up", "move(-1)", "Up", show=False, priority=True, id=f"{prefix}.up",
                tooltip="Move up the list"),
        Binding("down", "move(1)", "Down", show=False, priority=True, id=f"{prefix}.down",
                tooltip="Move down the list"),
        Binding("pageup", "move(-10)", "Page up", show=False, priority=True,
                id=f"{prefix}.page_up", tooltip="Move up ten entries"),
        Binding("pagedown", "move(10)", "Page down", show=False, priority=True,
                id=f"{prefix}.page_down", tooltip="Move down ten entries"),
        Binding("escape", "cancel", "Cancel", id=f"{prefix}.cancel",
                tooltip="Close without changing anything"),
    ]


def matches(needle: str, label: str) -> bool:
    """Every space-separated part of `needle` occurs in `label` (case-insensitive)."""
    low = label.lower()
    return all(part in low for part in needle.lower().split())


class KeyPicker(ModalScreen[Any], inherit_bindings=False):
    """Pick one of `options` ((label, value) pairs); dismisses with the value or None."""

    CSS_PATH = "experiments.tcss"
    AUTO_FOCUS = "#picker-filter"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "pick", "Pick", priority=True, id="picker.pick",
                tooltip="Choose the highlighted entry"),
        *_nav("picker"),
    ]
    HINT = "type to narrow · ↑↓ move · enter picks · escape cancels"

    def __init__(self, title: str, options: list[tuple[str, Any]], current: Any = None) -> None:
        super().__init__()
        self.title_text = title
        self.options = list(options)
        self.current = current
        self.shown: list[tuple[str, Any]] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="picker-box"):
            yield Static(self.title_text, classes="picker-title", markup=False)
            yield Input(placeholder="filter", compact=True, id="picker-filter")
            yield OptionList(id="picker-list")
            yield Static(self.extra_line(), id="picker-extra", markup=False)
            yield Static(self.HINT, classes="picker-hint", markup=False)

    def extra_line(self) -> str:
        return ""

    def on_mount(self) -> None:
        self.query_one("#picker-extra").display = bool(self.extra_line())
        self.refill("")
        values = [v for _label, v in self.shown]
        if self.current in values:
            self.query_one(OptionList).highlighted = values.index(self.current)

    @property
    def option_list(self) -> OptionList:
        return self.query_one("#picker-list", OptionList)

    def refill(self, needle: str) -> None:
        self.shown = [(label, v) for label, v in self.options if matches(needle, label)]
        ol = self.option_list
        ol.clear_options()
        ol.add_options([Option(label) for label, _v in self.shown])
        if self.shown:
            ol.highlighted = 0

    @on(Input.Changed, "#picker-filter")
    def _filter(self, event: Input.Changed) -> None:
        self.refill(event.value)

    @on(OptionList.OptionSelected)
    def _clicked(self, event: OptionList.OptionSelected) -> None:
        self.action_pick()

    def action_move(self, step: int) -> None:
        ol = self.option_list
        if not self.shown:
            return
        now = ol.highlighted if ol.highlighted is not None else 0
        ol.highlighted = max(0, min(len(self.shown) - 1, now + step))

    def highlighted_value(self) -> Any:
        index = self.option_list.highlighted
        if index is None or not (0 <= index < len(self.shown)):
            return None
        return self.shown[index][1]

    def action_pick(self) -> None:
        value = self.highlighted_value()
        if value is None:
            self.notify("Nothing matches the filter.", severity="warning")
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class SortPicker(KeyPicker):
    """Dismisses with (sort key, descending) or None. Metrics sort best first unless reversed."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "flip", "Reverse", priority=True, id="picker.flip",
                tooltip="Sort the other way round (lowest first for a higher-is-better metric)"),
    ]
    HINT = "type to narrow · ↑↓ move · enter sorts · ctrl+r reverses · escape cancels"

    def __init__(self, params: list[str], metrics: list[str], current: str | None = None) -> None:
        options: list[tuple[str, Any]] = [(label, key) for key, label, _d in ATTRIBUTES]
        options += [(f"metric  {m}", f"metrics.{m}") for m in metrics]
        options += [(f"param   {p}", f"params.{p}") for p in params]
        super().__init__("Sort runs by", options, current)
        self.reversed = False

    def extra_line(self) -> str:
        return ("order: " + ("reversed (worst/oldest first)" if self.reversed
                             else "natural (best metric / newest first)"))

    def action_flip(self) -> None:
        self.reversed = not self.reversed
        self.query_one("#picker-extra", Static).update(self.extra_line())

    def action_pick(self) -> None:
        key = self.highlighted_value()
        if key is None:
            self.notify("Nothing matches the filter.", severity="warning")
            return
        self.dismiss((key, natural_descending(key) != self.reversed))


def natural_descending(key: str) -> bool:
    """Best first for metrics (per metric_direction), newest first for times, A-Z otherwise."""
    if key.startswith("metrics."):
        from tui_mlops.tracking.query import metric_direction

        return metric_direction(key.split(".", 1)[1]) == "max"
    return next((d for k, _label, d in ATTRIBUTES if k == key), False)


class ExperimentPicker(KeyPicker):
    """All experiments or one; dismisses with "" (all), a name, or None. Names load in a worker."""

    def __init__(self, home: Home, current: str | None) -> None:
        super().__init__("Show runs of", [("all experiments", "")], current or "")
        self.home = home

    def on_mount(self) -> None:
        super().on_mount()
        self._load()

    @work(thread=True, exclusive=True, group="picker-experiments", exit_on_error=False)
    def _load(self) -> None:
        try:
            from tui_mlops.tracking.query import list_experiments

            found = list_experiments(self.home)
        except (ImportError, MlopsError) as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", markup=False)
            return
        self.app.call_from_thread(self._loaded, found)

    def _loaded(self, found: list[tuple[str, int]]) -> None:
        total = sum(n for _name, n in found)
        self.options = [(f"all experiments ({total:,} runs)", "")]
        self.options += [(f"{name} ({n:,})", name) for name, n in found]
        self.refill(self.query_one("#picker-filter", Input).value)
        values = [v for _label, v in self.shown]
        if self.current in values:
            self.option_list.highlighted = values.index(self.current)


class ColumnsPicker(ModalScreen[Any], inherit_bindings=False):
    """Tick params and metrics to show; dismisses with the chosen keys, [AUTO], or None."""

    CSS_PATH = "experiments.tcss"
    AUTO_FOCUS = "#picker-filter"
    BINDINGS: ClassVar[list[BindingType]] = [
        # A typed space ticks too (see _filter): the filter box takes printable keys first.
        Binding("ctrl+t", "toggle", "Tick", priority=True, id="columns.toggle",
                tooltip="Show or hide the highlighted column (space does the same)"),
        Binding("enter", "apply", "Apply", priority=True, id="columns.apply",
                tooltip="Show the ticked columns"),
        Binding("ctrl+r", "auto", "Defaults", priority=True, id="columns.auto",
                tooltip="Back to the default columns (the most common of the visible runs)"),
        *_nav("columns"),
    ]

    def __init__(self, params: list[str], metrics: list[str], chosen: list[str]) -> None:
        super().__init__()
        self.keys = [f"metrics.{m}" for m in metrics] + [f"params.{p}" for p in params]
        # Keys shown now but absent from the page's lists (a column kept after a filter) stay.
        self.keys += [k for k in chosen if k not in self.keys]
        self.order = list(chosen)  # the order columns were ticked in is the order they show in
        self.shown: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="picker-box"):
            yield Static("Columns: tick params and metrics", classes="picker-title")
            yield Input(placeholder="filter", compact=True, id="picker-filter")
            yield SelectionList[str](id="columns-list")
            yield Static("type to narrow · ↑↓ move · space ticks · enter applies · "
                         "ctrl+r defaults · escape cancels", classes="picker-hint", markup=False)

    def on_mount(self) -> None:
        self.refill("")

    @property
    def selection(self) -> SelectionList[str]:
        return self.query_one("#columns-list", SelectionList)

    def refill(self, needle: str) -> None:
        sl = self.selection
        was = self.shown[sl.highlighted] if self.shown and sl.highlighted is not None else None
        self.shown = [k for k in self.keys if matches(needle, k)]
        sl.clear_options()
        sl.add_options([(k, k, k in self.order) for k in self.shown])
        if self.shown:
            sl.highlighted = self.shown.index(was) if was in self.shown else 0

    @on(Input.Changed, "#picker-filter")
    def _filter(self, event: Input.Changed) -> None:
        if " " in event.value:
            # Names hold no spaces: a space typed in the filter ticks the highlighted entry.
            self.action_toggle()
            event.input.value = event.value.replace(" ", "")
            return
        self.refill(event.value)

    @on(SelectionList.SelectedChanged)
    def _sync(self) -> None:
        # The visible entries' ticks are the truth; the order of ticking is kept for the columns.
        selected = set(self.selection.selected)
        for key in self.shown:
            if key in selected and key not in self.order:
                self.order.append(key)
            elif key not in selected and key in self.order:
                self.order.remove(key)

    def action_toggle(self) -> None:
        sl = self.selection
        if sl.highlighted is not None and self.shown:
            sl.toggle(sl.get_option_at_index(sl.highlighted))
            self._sync()

    def action_move(self, step: int) -> None:
        sl = self.selection
        if self.shown:
            now = sl.highlighted if sl.highlighted is not None else 0
            sl.highlighted = max(0, min(len(self.shown) - 1, now + step))

    def action_apply(self) -> None:
        self._sync()
        self.dismiss(list(self.order))

    def action_auto(self) -> None:
        self.dismiss([AUTO])

    def action_cancel(self) -> None:
        self.dismiss(None)
