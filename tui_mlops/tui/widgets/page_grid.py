"""A light, read-only grid for one page of rows, drawn with Textual's Line API.

DataTable measures and renders every cell through Rich, ~25 ms per 100-row page; this grid
pads plain strings once per page and builds only the visible lines, so a page costs ~1-2 ms
and the preview stays well under 100 ms a page even on a busy 2-core machine.
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

GAP = 2  # spaces between columns


class Cell(tuple):
    """(text, right-aligned, null) of one formatted value."""

    __slots__ = ()

    def __new__(cls, text: str, right: bool = False, null: bool = False) -> "Cell":
        return super().__new__(cls, (text, right, null))

    @property
    def text(self) -> str:
        return self[0]


class PageGrid(ScrollView, can_focus=True, inherit_bindings=False):
    """Header line, a fixed row-number column, and the page's rows under a row cursor."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "page-grid--header", "page-grid--label", "page-grid--even", "page-grid--cursor",
        "page-grid--null",
    }
    # Component defaults (theme variables only); layout lives in the screen's .tcss.
    DEFAULT_CSS = """
    PageGrid {
        background: $surface;
        color: $foreground;
        & > .page-grid--header { text-style: bold; background: $panel; color: $foreground; }
        & > .page-grid--label { color: $text-muted; }
        & > .page-grid--even { background: $surface-lighten-1 50%; }
        & > .page-grid--null { color: $text-muted; text-style: italic; }
        & > .page-grid--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
        }
        &:focus > .page-grid--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False, id="paged.up", tooltip="Move up a row"),
        Binding("down,j", "cursor_down", "Down", show=False, id="paged.down",
                tooltip="Move down a row"),
        Binding("right", "pan(1)", "Right", show=False, id="paged.right",
                tooltip="Scroll the columns right"),
        Binding("left", "pan(-1)", "Left", show=False, id="paged.left",
                tooltip="Scroll the columns left"),
        Binding("ctrl+home", "page_top", "Top of page", show=False, id="paged.page_top",
                tooltip="Go to the first row of this page"),
        Binding("ctrl+end", "page_bottom", "Bottom of page", show=False, id="paged.page_bottom",
                tooltip="Go to the last row of this page"),
    ]

    cursor_row: reactive[int] = reactive(0, always_update=True, repaint=False)

    class PastEnd(Message):
        """The cursor was moved down from the page's last row (delta +1) or up from its first (-1)."""

        def __init__(self, delta: int) -> None:
            super().__init__()
            self.delta = delta

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.columns: list[str] = []
        self.rows: list[Sequence[Cell]] = []
        self.labels: list[str] = []
        self._widths: list[int] = []
        self._label_width = 0
        self._line_cache: dict[int, Strip] = {}
        self._styles: dict[str, Style] = {}

    # -- data -------------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self.rows)

    def cell_text(self, row: int, column: int) -> str:
        return self.rows[row][column].text

    def _measure_page(self, columns: list[str], rows: Sequence[Sequence[Any]],
                      labels: list[str]) -> Size:
        """Take a new page's cells and column widths; returns the page's virtual size."""
        self.columns, self.rows, self.labels = columns, list(rows), labels
        widths = [cell_len(c) for c in columns]
        for row in rows:
            for i, cell in enumerate(row):
                n = cell_len(cell[0])
                if n > widths[i]:
                    widths[i] = n
        self._widths = widths
        self._label_width = max((cell_len(lab) for lab in labels), default=0)
        self._line_cache.clear()
        return Size(self._label_width + GAP + sum(w + GAP for w in widths), len(rows) + 1)

    def set_page(self, columns: list[str], rows: list[Sequence[Cell]], labels: list[str],
                 cursor_row: int = 0) -> None:
        """Show a new page (all cells already formatted)."""
        self.virtual_size = self._measure_page(columns, rows, labels)
        self.cursor_row = max(0, min(cursor_row, len(rows) - 1))
        self._scroll_cursor_into_view()
        self.refresh()

    # -- drawing ----------------------------------------------------------------------------
    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._line_cache.clear()

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = self.get_component_rich_style(name, partial=True)
        return style

    def _data_strip(self, index: int) -> Strip:
        """The data part of line `index` (-1: the header), unscrolled, cached for the page."""
        strip = self._line_cache.get(index)
        if strip is not None:
            return strip
        null_style = self._style("page-grid--null")
        segments: list[Segment] = []
        if index < 0:
            for name, width in zip(self.columns, self._widths):
                segments.append(Segment(set_cell_size(name, width) + " " * GAP))
        else:
            for (text, right, null), width in zip(self.rows[index], self._widths):
                pad = " " * (width - cell_len(text))
                body = pad + text if right else text + pad
                segments.append(Segment(body, null_style if null else None))
                segments.append(Segment(" " * GAP))
        strip = Strip(segments)
        self._line_cache[index] = strip
        return strip

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        scroll_x, scroll_y = self.scroll_offset
        base = self.rich_style
        label_w = self._label_width + GAP
        if y == 0:  # the header stays put while rows scroll under it
            style = base + self._style("page-grid--header")
            label = Strip([Segment(" " * label_w)])
            data = self._data_strip(-1)
        else:
            index = y - 1 + scroll_y
            if index >= len(self.rows):
                return Strip.blank(width, base)
            style = base
            if index == self.cursor_row:
                style += self._style("page-grid--cursor")
            elif index % 2:
                style += self._style("page-grid--even")
            label_text = self.labels[index].rjust(self._label_width) + " " * GAP
            label = Strip([Segment(label_text, self._style("page-grid--label"))])
            data = self._data_strip(index)
        data_w = max(0, width - label_w)
        data = data.crop_extend(scroll_x, scroll_x + data_w, None)
        line = Strip.join([label, data]).apply_style(style)
        return line.crop_extend(0, width, style)

    # -- cursor -------------------------------------------------------------------------------
    def watch_cursor_row(self, old: int, new: int) -> None:
        self._refresh_row(old)
        self._refresh_row(new)

    def _refresh_row(self, index: int) -> None:
        y = index + 1 - round(self.scroll_offset.y)
        if 0 <= y < self.size.height:
            self.refresh(Region(0, y, self.size.width, 1))

    def _scroll_cursor_into_view(self) -> None:
        visible = max(1, self.scrollable_content_region.height - 1)  # minus the header line
        top = round(self.scroll_offset.y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif self.cursor_row >= top + visible:
            self.scroll_to(y=self.cursor_row - visible + 1, animate=False, immediate=True)

    def move_cursor(self, row: int) -> None:
        self.cursor_row = max(0, min(row, len(self.rows) - 1))
        self._scroll_cursor_into_view()

    def action_cursor_down(self) -> None:
        if self.cursor_row >= len(self.rows) - 1:
            self.post_message(self.PastEnd(+1))
        else:
            self.move_cursor(self.cursor_row + 1)

    def action_cursor_up(self) -> None:
        if self.cursor_row <= 0:
            self.post_message(self.PastEnd(-1))
        else:
            self.move_cursor(self.cursor_row - 1)

    def action_pan(self, direction: int) -> None:
        step = max(4, self.scrollable_content_region.width // 4)
        self.scroll_to(x=self.scroll_offset.x + direction * step, animate=False)

    def action_page_top(self) -> None:
        self.move_cursor(0)

    def action_page_bottom(self) -> None:
        self.move_cursor(len(self.rows) - 1)

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1:
            self.move_cursor(event.y - 1 + round(self.scroll_offset.y))
