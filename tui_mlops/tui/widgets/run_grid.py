"""The runs grid: PageGrid with a style per cell (run status colours, best metric values).

Cells are formatted off the UI thread (`run_cells`) into `RunCell`s; the grid only pads and draws
the visible lines, so a 100-row page of runs costs a few milliseconds like the data preview.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Any, ClassVar, Iterable, Sequence

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from textual.strip import Strip

from tui_mlops.tui.widgets.page_grid import GAP, PageGrid

# The run's identity and status first, then the metric and param columns (so they are on screen
# at 80 columns), then the rest of the run's facts.
HEAD_COLUMNS: tuple[str, ...] = ("run", "name", "status")
TAIL_COLUMNS: tuple[str, ...] = ("experiment", "model", "dataset", "started", "duration")
STATUSES = ("running", "queued", "finished", "failed", "cancelled", "crashed")
AUTO_PARAMS = 3   # default columns: this many of the most common params of the visible runs
AUTO_METRICS = 3  # ... and of their metrics
TEXT_WIDTH = 24   # long names are cut so the metric columns stay on screen
NAME_WIDTH = 20
BEST_MARK = "★"
MARK = "●"  # shown left of a marked run's row number


class RunCell(tuple):
    """(text, right-aligned, null, style) of one formatted value; style names a component class."""

    __slots__ = ()

    def __new__(cls, text: str, right: bool = False, null: bool = False,
                style: str | None = None) -> "RunCell":
        return super().__new__(cls, (text, right, null, style))

    @property
    def text(self) -> str:
        return self[0]

    @property
    def style(self) -> str | None:
        return self[3]


# -- formatting (plain Python: runs in the page worker) -------------------------------------------
def fmt_number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return format(value, ".5g")
    return str(value)


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    return f"{hours // 24}d{hours % 24:02d}h"


def fmt_started(ts: float | None, now: float | None = None) -> str:
    """Local `HH:MM:SS` for today, else `MM-DD HH:MM` (older years with the year)."""
    if not ts:
        return "-"
    lt = time.localtime(ts)
    today = time.localtime(now if now is not None else time.time())
    if lt[:3] == today[:3]:
        return time.strftime("%H:%M:%S", lt)
    if lt.tm_year == today.tm_year:
        return time.strftime("%m-%d %H:%M", lt)
    return time.strftime("%Y-%m-%d", lt)


def short_text(text: Any, width: int = TEXT_WIDTH) -> str:
    s = " ".join(str(text).split()) if text is not None else "-"
    if cell_len(s) > width:
        s = set_cell_size(s, width - 1) + "…"
    return s or "-"


def short_dataset(ref: str | None) -> str:
    if not ref:
        return "-"
    name, _, version = ref.partition("@")
    return short_text(f"{name}@{version[:8]}" if version else name)


def duration_of(row: Any, now: float) -> float | None:
    if not row.start_ts:
        return None
    if row.end_ts:
        return row.end_ts - row.start_ts
    return now - row.start_ts if row.status == "running" else None


def column_keys(params: Sequence[str], metrics: Sequence[str]) -> list[str]:
    """The qualified keys of the extra columns, params first: `params.X`, `metrics.Y`."""
    return [f"params.{p}" for p in params] + [f"metrics.{m}" for m in metrics]


def auto_columns(rows: Iterable[Any], param_keys: Sequence[str], metric_keys: Sequence[str],
                 n_params: int = AUTO_PARAMS, n_metrics: int = AUTO_METRICS,
                 ) -> tuple[list[str], list[str]]:
    """The most common params and metrics of `rows` (ties in the page's key order); system/* left out."""
    pc: Counter[str] = Counter()
    mc: Counter[str] = Counter()
    for row in rows:
        pc.update(row.params.keys())
        mc.update(k for k in row.metrics if not k.startswith("system/"))
    p_order = {k: i for i, k in enumerate(param_keys)}
    m_order = {k: i for i, k in enumerate(metric_keys)}
    params = sorted(pc, key=lambda k: (-pc[k], p_order.get(k, len(p_order)), k))[:n_params]
    metrics = sorted(mc, key=lambda k: (-mc[k], _metric_rank(k), m_order.get(k, len(m_order)), k))
    return params, metrics[:n_metrics]


def _metric_rank(key: str) -> int:
    """Held-out metrics say most about a run; training-set ones least."""
    low = key.lower()
    if low.startswith(("valid", "val/", "val_", "test", "eval", "holdout")):
        return 0
    return 2 if low.startswith("train") else 1


def grid_columns(params: Sequence[str], metrics: Sequence[str]) -> list[str]:
    """The column titles for `run_cells` rows."""
    return [*HEAD_COLUMNS, *metrics, *params, *TAIL_COLUMNS]


def run_cells(rows: Sequence[Any], params: Sequence[str], metrics: Sequence[str],
              best: dict[str, tuple[float, str]], now: float | None = None) -> list[list[RunCell]]:
    """Formatted cells of a page of RunRows, in `grid_columns(params, metrics)` order."""
    now = time.time() if now is None else now
    out: list[list[RunCell]] = []
    for row in rows:
        status = row.status or "-"
        cells = [
            RunCell(row.run_id[:8]),
            RunCell(short_text(row.name, NAME_WIDTH) if row.name else "-", null=not row.name),
            RunCell(status, style=f"run-grid--{status}" if status in STATUSES else None),
        ]
        for key in metrics:
            value = row.metrics.get(key)
            if value is None:
                cells.append(RunCell("-", right=True, null=True))
                continue
            top = best.get(key)
            is_best = top is not None and (top[1] == row.run_id or _same(top[0], value))
            text = fmt_number(value)
            cells.append(RunCell(f"{BEST_MARK}{text}" if is_best else text, right=True,
                                 style="run-grid--best" if is_best else None))
        for key in params:
            value = row.params.get(key)
            cells.append(RunCell("-" if value is None else short_text(value, 16),
                                 right=_numeric_text(value), null=value is None))
        cells += [
            RunCell(short_text(row.experiment)),
            RunCell(short_text(row.model) if row.model else "-", null=not row.model),
            RunCell(short_dataset(row.dataset), null=not row.dataset),
            RunCell(fmt_started(row.start_ts, now)),
            RunCell(fmt_duration(duration_of(row, now)), right=True),
        ]
        out.append(cells)
    return out


def _same(a: float, b: float) -> bool:
    try:
        return a == b or math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)
    except TypeError:
        return False


def _numeric_text(value: Any) -> bool:
    if value is None:
        return False
    try:
        float(str(value))
    except ValueError:
        return False
    return True


class RunGrid(PageGrid):
    """A PageGrid whose cells may carry a style (a component class) and whose labels can change."""

    COMPONENT_CLASSES: ClassVar[set[str]] = PageGrid.COMPONENT_CLASSES | {
        "run-grid--best", "run-grid--marked", *(f"run-grid--{s}" for s in STATUSES)}
    DEFAULT_CSS = """
    RunGrid {
        & > .run-grid--best { color: $text-success; text-style: bold; }
        & > .run-grid--marked { color: $text-accent; text-style: bold; }
        & > .run-grid--running { color: $text-primary; text-style: bold; }
        & > .run-grid--queued { color: $text-warning; }
        & > .run-grid--finished { color: $text-success; }
        & > .run-grid--failed { color: $text-error; text-style: bold; }
        & > .run-grid--cancelled { color: $text-muted; }
        & > .run-grid--crashed { color: $text-error; text-style: bold reverse; }
    }
    """

    _base_style: Any = None  # the widget's rich style, cached between style updates

    def cell_style(self, row: int, column: int) -> str | None:
        """The component class of one cell (None: plain), for tests and tools."""
        cell = self.rows[row][column]
        return cell[3] if len(cell) > 3 else None

    def set_label(self, index: int, text: str) -> None:
        """Change one row's label (the mark) without rebuilding the page."""
        if 0 <= index < len(self.labels):
            self.labels[index] = text
            self._refresh_row(index)

    def _data_strip(self, index: int) -> Strip:
        strip = self._line_cache.get(index)
        if strip is not None:
            return strip
        if index < 0:
            return super()._data_strip(index)
        null_style = self._style("page-grid--null")
        segments: list[Segment] = []
        for cell, width in zip(self.rows[index], self._widths):
            text, right, null = cell[0], cell[1], cell[2]
            style_name = cell[3] if len(cell) > 3 else None
            pad = " " * (width - cell_len(text))
            body = pad + text if right else text + pad
            style = self._style(style_name) if style_name else (null_style if null else None)
            segments.append(Segment(body, style))
            segments.append(Segment(" " * GAP))
        strip = Strip(segments)
        self._line_cache[index] = strip
        return strip

    def set_page(self, columns: list[str], rows: list[Sequence[Any]], labels: list[str],
                 cursor_row: int = 0) -> None:
        """Show a new page; a page of the same shape skips the screen's layout pass."""
        size = self._measure_page(columns, rows, labels)
        old, view = self.virtual_size, self.scrollable_content_region.size
        same_shape = (size.height == old.height
                      and (size.width > view.width) == (old.width > view.width))
        if same_shape and old.width:
            # A sort or a filter of the same page size: only the scroll range changes, which
            # needs no layout of the whole screen (the costly part of a refresh).
            self.set_reactive(PageGrid.virtual_size, size)
            self._scroll_update(size)
        else:
            self.virtual_size = size
        self.cursor_row = max(0, min(cursor_row, len(rows) - 1))
        self._scroll_cursor_into_view()
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._base_style = None

    def render_line(self, y: int) -> Strip:
        # As PageGrid's, with fewer intermediate Strips (each costs several caches to build).
        width = self.scrollable_content_region.width
        scroll_x, scroll_y = self.scroll_offset
        base = self._base_style
        if base is None:
            base = self._base_style = self.rich_style
        label_w = self._label_width + GAP
        if y == 0:
            style = base + self._style("page-grid--header")
            head = [Segment(" " * label_w)]
            data = self._data_strip(-1)
        else:
            index = y - 1 + round(scroll_y)
            if index >= len(self.rows):
                return Strip.blank(width, base)
            style = base
            if index == self.cursor_row:
                style += self._style("page-grid--cursor")
            elif index % 2:
                style += self._style("page-grid--even")
            text = self.labels[index].rjust(self._label_width) + " " * GAP
            label_style = self._style("page-grid--label")
            if text.startswith(MARK):
                head = [Segment(MARK, self._style("run-grid--marked")), Segment(text[1:], label_style)]
            else:
                head = [Segment(text, label_style)]
            data = self._data_strip(index)
        data_w = max(0, width - label_w)
        body = data.crop_extend(round(scroll_x), round(scroll_x) + data_w, None)
        line = Strip(Segment.apply_style([*head, *body], style), label_w + data_w)
        return line if label_w + data_w == width else line.crop_extend(0, width, style)
