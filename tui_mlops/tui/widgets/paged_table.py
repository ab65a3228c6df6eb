"""A table that shows one page of a huge row set at a time, loading pages in a thread worker.

Only the visible page is ever held, so a 10M-row version scrolls as fast as a 100-row one.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import date, datetime
from typing import Any, Callable, ClassVar, Protocol

from rich.cells import cell_len, set_cell_size
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static
from textual.worker import get_current_worker

from tui_mlops.errors import MlopsError
from tui_mlops.tui.widgets.page_grid import Cell, PageGrid

CELL_WIDTH = 40  # longer strings are cut so one wide column cannot push the rest off screen
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # newlines, tabs...: a cell is one line


class PageLike(Protocol):
    columns: list[str]
    types: list[str]
    rows: list[tuple]
    offset: int
    total: int


Fetch = Callable[[int, int], PageLike]


def format_cell(value: Any) -> Cell:
    """Plain text for a cell (never markup: data may contain '['), one line, at most CELL_WIDTH."""
    if value is None:
        return Cell("null", null=True)
    if isinstance(value, bool):
        return Cell(str(value).lower())
    if isinstance(value, float):
        return Cell(format(value, ".6g"), right=True)
    if isinstance(value, int):
        return Cell(str(value), right=True)
    if isinstance(value, datetime):
        return Cell(value.isoformat(sep=" "))
    if isinstance(value, date):
        return Cell(value.isoformat())
    text = _CONTROL.sub("⏎", str(value)) if _CONTROL.search(str(value)) else str(value)
    if cell_len(text) > CELL_WIDTH:
        text = set_cell_size(text, CELL_WIDTH - 1) + "…"
    return Cell(text)


def page_status(offset: int, count: int, total: int) -> str:
    if total == 0 or count == 0:
        return f"no rows (of {total:,})"
    return f"rows {offset + 1:,}–{offset + count:,} of {total:,}"


class GotoInput(Input):
    """The one-line 'go to row' prompt; escape closes it without leaving the screen."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="paged.goto_close", tooltip="Close the go-to-row prompt"),
    ]

    def action_close(self) -> None:
        paged = self.query_ancestor(PagedTable)
        paged.close_goto()


class PagedTable(Vertical):
    """Shows rows `offset .. offset + page_size` of a row set fetched page by page."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("pagedown", "next_page", "Next", id="paged.next_page",
                tooltip="Show the next page of rows"),
        Binding("pageup", "prev_page", "Prev", show=False, id="paged.prev_page",
                tooltip="Show the previous page of rows"),
        Binding("home,g", "first_page", "First", show=False, id="paged.first_page",
                tooltip="Show the first page of rows"),
        Binding("end,G", "last_page", "Last", show=False, id="paged.last_page",
                tooltip="Show the last page of rows"),
        Binding("ctrl+g,number_sign", "goto", "Go to row", key_display="#", id="paged.goto",
                tooltip="Jump to a row number"),
    ]

    class PageShown(Message):
        """A page is on screen (latency_ms: from the key press to the rows being in the table)."""

        def __init__(self, offset: int, count: int, total: int, latency_ms: float) -> None:
            super().__init__()
            self.offset = offset
            self.count = count
            self.total = total
            self.latency_ms = latency_ms

    class _Loaded(Message):
        def __init__(self, page: PageLike, cells: list[list[Cell]], request: int,
                     cursor_row: int) -> None:
            super().__init__()
            self.page = page
            self.cells = cells
            self.request = request
            self.cursor_row = cursor_row

    class _Failed(Message):
        def __init__(self, message: str, request: int) -> None:
            super().__init__()
            self.message = message
            self.request = request

    def __init__(self, fetch: Fetch, total: int, *, page_size: int = 100,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._fetch = fetch
        self.total = max(0, int(total))
        self.page_size = max(1, int(page_size))
        self.page_offset = 0  # offset of the page on screen
        self._target = 0  # offset of the newest page asked for (may still be loading)
        self._request = 0  # counts requests, so a stale answer is never shown
        self._requested_at = 0.0
        # One fetch at a time: under key repeat the queued, superseded requests skip their fetch.
        self._fetch_lock = threading.Lock()
        self.last_latency_ms: float | None = None

    def compose(self) -> ComposeResult:
        yield PageGrid(id="page-grid")
        yield GotoInput(placeholder="go to row (1-based), enter to jump, escape to close",
                        id="page-goto", type="integer")
        yield Static("loading…", id="page-status", markup=False)

    def on_mount(self) -> None:
        self.query_one(GotoInput).display = False
        self.load(0)

    @property
    def grid(self) -> PageGrid:
        return self.query_one(PageGrid)

    @property
    def status_text(self) -> str:
        return str(self.query_one("#page-status", Static).content)

    # -- navigation -------------------------------------------------------------------------
    def _last_offset(self) -> int:
        if self.total <= 0:
            return 0
        return (self.total - 1) // self.page_size * self.page_size

    def load(self, offset: int, cursor_row: int = 0) -> None:
        """Ask for the page at `offset`; the newest request wins."""
        offset = max(0, min(int(offset), self._last_offset()))
        self._target = offset
        self._request += 1
        self._requested_at = time.perf_counter()
        self._load_page(offset, self._request, cursor_row)

    def action_next_page(self) -> None:
        if self._target + self.page_size < self.total:
            self.load(self._target + self.page_size)

    def action_prev_page(self) -> None:
        if self._target > 0:
            self.load(self._target - self.page_size)

    @on(PageGrid.PastEnd)
    def _past_end(self, event: PageGrid.PastEnd) -> None:
        # Moving past a page's edge continues on the neighbouring page, as in one long table.
        event.stop()
        if event.delta > 0 and self._target + self.page_size < self.total:
            self.load(self._target + self.page_size, cursor_row=0)
        elif event.delta < 0 and self._target > 0:
            self.load(self._target - self.page_size, cursor_row=self.page_size - 1)

    def action_first_page(self) -> None:
        self.load(0)

    def action_last_page(self) -> None:
        last = self._last_offset()
        self.load(last, cursor_row=max(0, self.total - last - 1))

    def go_to_row(self, row: int) -> None:
        """Show the page holding 1-based row `row`, with the cursor on it."""
        row = max(1, min(row, max(1, self.total)))
        offset = (row - 1) // self.page_size * self.page_size
        self.load(offset, cursor_row=row - 1 - offset)

    def action_goto(self) -> None:
        goto = self.query_one(GotoInput)
        goto.value = ""
        goto.display = True
        goto.focus()

    def close_goto(self) -> None:
        goto = self.query_one(GotoInput)
        goto.display = False
        self.grid.focus()

    @on(Input.Submitted, "#page-goto")
    def _goto_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip().replace(",", "").replace("_", "")
        if not text.isdigit() or int(text) < 1:
            self.notify(f"go to row: {event.value!r} is not a row number (1–{self.total:,})",
                        severity="error", markup=False)
            return
        self.close_goto()
        self.go_to_row(int(text))

    # -- loading ----------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="paged-table", exit_on_error=False)
    def _load_page(self, offset: int, request: int, cursor_row: int) -> None:
        worker = get_current_worker()
        with self._fetch_lock:
            if worker.is_cancelled:
                return  # a newer request superseded this one while it waited
            try:
                page = self._fetch(offset, self.page_size)
            except MlopsError as exc:
                self.post_message(self._Failed(str(exc), request))
                return
            except Exception as exc:  # noqa: BLE001 - shown to the user, never a crash
                self.post_message(self._Failed(f"cannot read rows: {exc}", request))
                return
            # Formatting is plain Python: done here, off the UI thread.
            cells = [[format_cell(v) for v in row] for row in page.rows]
        if not worker.is_cancelled:
            self.post_message(self._Loaded(page, cells, request, cursor_row))

    @on(_Loaded)
    def _show_page(self, event: _Loaded) -> None:
        event.stop()
        if event.request != self._request:
            return
        page = event.page
        self.page_offset = self._target = page.offset
        self.total = page.total
        self.grid.set_page(list(page.columns), event.cells,
                           [f"{page.offset + i + 1:,}" for i in range(len(page.rows))],
                           cursor_row=event.cursor_row)
        pages = max(1, -(-page.total // self.page_size))
        self.query_one("#page-status", Static).update(
            f"{page_status(page.offset, len(page.rows), page.total)}  ·  "
            f"page {page.offset // self.page_size + 1:,} of {pages:,}",
            layout=False,  # one fixed line: skip a layout pass of the whole screen
        )
        latency = (time.perf_counter() - self._requested_at) * 1000
        self.last_latency_ms = latency
        self.post_message(self.PageShown(page.offset, len(page.rows), page.total, latency))

    @on(_Failed)
    def _show_failure(self, event: _Failed) -> None:
        event.stop()
        if event.request != self._request:
            return
        self.query_one("#page-status", Static).update(f"error: {event.message}")
        self.notify(event.message, severity="error", markup=False)
