"""The Experiments screen (mode 2): the runs table, paged through `search_runs` in a thread worker.

Only one page of runs (PAGE_SIZE) is ever in the grid; sort, filter, experiment and columns are
arguments of the next `search_runs` call, so 30,000 runs cost the same as 300.
"""

from __future__ import annotations

import gc
import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static
from textual.worker import get_current_worker

from tui_mlops.errors import MlopsError
from tui_mlops.tui.screens import ShellScreen
from tui_mlops.tui.screens.experiments_actions import LiveRefresh, RunActions, View
from tui_mlops.tui.screens.experiments_groups import GroupView
from tui_mlops.tui.widgets.run_grid import (
    MARK, RunGrid, auto_columns, grid_columns, run_cells,
)

if TYPE_CHECKING:
    from tui_mlops.store.home import Home

PAGE_SIZE = 100
# The cyclic GC is paused from a page request to the page drawn (as Textual pauses it while
# scrolling): a full collection of the app's heap takes 50-80 ms on a 2-core machine and, when one
# falls inside a sort (the picker's dismissal and the footer's rebuild allocate a lot), it alone
# pushed the key -> page time past 100 ms. It runs just after the page is drawn instead.
GC_PAUSE_MAX_S = 1.0  # the GC comes back after this even if no page is ever drawn
EMPTY_TEXT = """No runs yet.

Start one:
  • press n for the training form (w for a sweep), or
  • mlops-tui train --dataset NAME@VERSION --target COLUMN   in a shell, or
  • from a script:
        import tui_mlops as mt
        with mt.start_run(experiment="demo", params={"lr": 0.1}) as run:
            run.log_metric("loss", 0.5, step=1)

Runs appear here by themselves while they train."""


class RunsShown(Message):
    """A page of runs is on screen; latency_ms from the request (key press) to the grid updated."""

    def __init__(self, offset: int, count: int, total: int, latency_ms: float, reason: str) -> None:
        super().__init__()
        self.offset, self.count, self.total = offset, count, total
        self.latency_ms, self.reason = latency_ms, reason


class _Loaded(Message):
    def __init__(self, request: int, page: Any, params: list[str], metrics: list[str],
                 cells: list, fetch_ms: float) -> None:
        super().__init__()
        self.request, self.page, self.params, self.metrics, self.cells = (
            request, page, params, metrics, cells)
        self.fetch_ms = fetch_ms  # of which search_runs (the store's share of the latency)


class _Failed(Message):
    def __init__(self, request: int, message: str) -> None:
        super().__init__()
        self.request, self.message = request, message


def _bind(key: str, action: str, label: str, name: str, tip: str, show: bool = True,
          **kw: Any) -> Binding:
    return Binding(key, action, label, show=show, id=f"experiments.{name}", tooltip=tip, **kw)


class ExperimentsScreen(LiveRefresh, RunActions, ShellScreen):
    """Mode 2: every run, one page at a time; keys to filter, sort, group, choose columns, train."""

    MODE = "experiments"
    CSS_PATH = "experiments.tcss"
    AUTO_FOCUS = "#runs-grid"
    BINDINGS: ClassVar[list[BindingType]] = [
        _bind("slash", "filter", "Filter", "filter",
              "Filter runs with a query, e.g. metrics.`valid/auc` > 0.9 and params.seed in (1, 2)"),
        _bind("o", "sort", "Sort", "sort", "Sort by any attribute, param or metric"),
        _bind("O", "reverse", "Reverse", "reverse", "Flip the sort direction", show=False),
        _bind("g", "group", "Group", "group",
              "Group runs by a param: count, mean, std and best of a metric"),
        _bind("e", "columns", "Columns", "columns", "Choose the param and metric columns"),
        _bind("E", "experiment", "Experiment", "experiment", "Show all experiments or one"),
        _bind("n", "train", "Train", "train", "Start a training run (form)"),
        _bind("w", "sweep", "Sweep", "sweep", "Start a parameter sweep (form)"),
        _bind("R", "rerun", "Rerun", "rerun", "Run the highlighted run again with the same spec",
              show=False),
        _bind("space", "mark", "Mark", "mark", "Mark or unmark the highlighted run (for Compare)"),
        _bind("c", "compare", "Compare", "compare", "Compare the marked runs (the Compare screen, 3)",
              show=False),
        _bind("m", "register", "Register", "register",
              "Register the highlighted run's model as a new version of a named model"),
        _bind("enter", "open", "Open", "open", "Open the highlighted run", show=False),
        _bind("r", "reload", "Reload", "reload", "Read the runs again", show=False),
        _bind("pagedown", "page(1)", "Next page", "page_next", "Show the next page of runs",
              show=False),
        _bind("pageup", "page(-1)", "Previous page", "page_previous",
              "Show the previous page of runs", show=False),
        _bind("home", "first_page", "First page", "first", "Show the first page of runs",
              show=False),
        _bind("end", "last_page", "Last page", "last", "Show the last page of runs", show=False),
        _bind("escape", "escape", "Back", "escape",
              "Close the grouped view, or clear the filter", show=False),
    ]

    def __init__(self, home: Home) -> None:
        super().__init__(id="mode-experiments")
        self.home = home
        self.view = View()
        self.good_query: str | None = None  # the last query search_runs accepted
        self.page_offset = 0
        self.page: Any = None               # the RunPage on screen
        self.shown_params: list[str] = []
        self.shown_metrics: list[str] = []
        self.row_ids: list[str] = []
        self.last_latency_ms: float | None = None
        self.last_fetch_ms: float | None = None  # the search_runs part of it
        self.shown_count = 0  # pages shown so far (benches and tests wait on it)
        self.painted_count = 0  # ... and drawn on screen (at `painted_at`, perf_counter)
        self.painted_at = 0.0
        self._request = 0
        self._pending: tuple[int, float, str, str | None, int | None] = (0, 0.0, "", None, None)
        self._last_refresh = 0.0
        self._refresh_timer: Any = None
        self._dirty = False
        self._hide_filter = False
        self._shown_request = 0  # the request whose page is on screen
        # One search at a time: under key repeat the superseded requests skip theirs.
        self._fetch_lock = threading.Lock()
        self._gc_paused = False  # this screen disabled the GC until the next page is drawn
        self._gc_timer: Any = None

    # -- layout ------------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        with Vertical(id="runs-body"):
            yield Input(id="runs-filter", compact=True,
                        placeholder="query: metrics.`valid/auc` > 0.9 and params.num_leaves in (31, 63)"
                                    "  (enter applies, escape clears)")
            yield Static("Runs: loading …", id="runs-title", classes="section-title", markup=False)
            yield RunGrid(id="runs-grid")
            yield GroupView(self.home, id="runs-groups")
        yield Static(EMPTY_TEXT, id="runs-empty", markup=False)

    def on_mount(self) -> None:
        if getattr(self.app, "marked_runs", None) is None:
            self.app.marked_runs = set()  # type: ignore[attr-defined]
        self.load("open")  # the empty state and the grouped view start hidden (.tcss)

    @property
    def grid(self) -> RunGrid:
        return self.query_one("#runs-grid", RunGrid)

    @property
    def marked(self) -> set[str]:
        marks = getattr(self.app, "marked_runs", None)
        if marks is None:
            marks = self.app.marked_runs = set()  # type: ignore[attr-defined]
        return marks

    @property
    def title_text(self) -> str:
        return str(self.query_one("#runs-title", Static).content)

    # -- loading -----------------------------------------------------------------------------
    def load(self, reason: str, offset: int | None = None, cursor_row: int | None = None,
             keep_run: str | None = None) -> None:
        """Ask for a page (the current one unless `offset`); the newest request wins."""
        self._request += 1
        target = self.page_offset if offset is None else max(0, offset)
        self._pending = (self._request, time.perf_counter(), reason, keep_run, cursor_row)
        self._pause_gc()
        self._fetch(self._request, self.view, target)

    def _pause_gc(self) -> None:
        """Disable the cyclic GC until the requested page is drawn (or GC_PAUSE_MAX_S passes)."""
        if self._gc_paused or not gc.isenabled():
            return
        gc.disable()
        self._gc_paused = True
        self._gc_timer = self.set_timer(GC_PAUSE_MAX_S, self._resume_gc, name="runs-gc-pause")

    def _resume_gc(self) -> None:
        if self._gc_timer is not None:
            self._gc_timer.stop()
            self._gc_timer = None
        if self._gc_paused:
            self._gc_paused = False
            gc.enable()

    def on_unmount(self) -> None:
        self._resume_gc()

    @work(thread=True, exclusive=True, group="runs-page", exit_on_error=False)
    def _fetch(self, request: int, view: View, offset: int) -> None:
        worker = get_current_worker()
        with self._fetch_lock:
            if not worker.is_cancelled:
                self._fetch_locked(worker, request, view, offset)

    def _fetch_locked(self, worker: Any, request: int, view: View, offset: int) -> None:
        try:
            from tui_mlops.tracking.query import search_runs

            started = time.perf_counter()
            page = search_runs(self.home, view.query, order_by=view.order_by,
                               descending=view.descending, experiment=view.experiment,
                               offset=offset, limit=PAGE_SIZE)
            if not page.rows and page.total and offset > 0:
                # The page ran off the end (runs removed, a narrower filter): show the last one.
                last = (page.total - 1) // PAGE_SIZE * PAGE_SIZE
                page = search_runs(self.home, view.query, order_by=view.order_by,
                                   descending=view.descending, experiment=view.experiment,
                                   offset=last, limit=PAGE_SIZE)
        except ImportError:
            self.post_message(_Failed(request, "run tracking is not available in this build"))
            return
        except MlopsError as exc:
            self.post_message(_Failed(request, str(exc)))
            return
        except Exception as exc:  # noqa: BLE001 - a damaged catalog must not take the app down
            self.post_message(_Failed(request, f"cannot read runs: {' '.join(str(exc).split())}"))
            return
        if worker.is_cancelled:
            return
        params, metrics = (list(view.params or ()), list(view.metrics or ()))
        if view.params is None or view.metrics is None:
            auto_p, auto_m = auto_columns(page.rows, page.param_keys, page.metric_keys)
            params = auto_p if view.params is None else params
            metrics = auto_m if view.metrics is None else metrics
        # The sort key is always visible, so the order on screen can be read.
        kind, _, key = view.order_by.partition(".")
        if kind == "params" and key and key not in params:
            params.append(key)
        elif kind == "metrics" and key and (key not in metrics or view.metrics is None):
            if key in metrics:
                metrics.remove(key)  # default columns: the sort metric leads
            metrics.insert(0, key)
        fetch_ms = (time.perf_counter() - started) * 1000
        cells = run_cells(page.rows, params, metrics, page.best)
        if not worker.is_cancelled:
            self.post_message(_Loaded(request, page, params, metrics, cells, fetch_ms))

    @on(_Loaded)
    def _show(self, event: _Loaded) -> None:
        request, started, reason, keep_run, cursor_row = self._pending
        if event.request != request:
            return  # superseded by a newer request
        self._shown_request = request
        page = event.page
        self.page, self.page_offset = page, page.offset
        self.good_query = self.view.query
        self.shown_params, self.shown_metrics = event.params, event.metrics
        self.row_ids = [r.run_id for r in page.rows]
        empty = page.total == 0 and not self.view.query and not self.view.experiment
        self.query_one("#runs-empty").display = empty
        self.query_one("#runs-body").display = not empty
        if keep_run in self.row_ids:
            cursor = self.row_ids.index(keep_run)
        else:
            cursor = cursor_row if cursor_row is not None else 0
        self.grid.set_page(grid_columns(event.params, event.metrics), event.cells,
                           self._labels(), cursor_row=min(cursor, max(0, len(self.row_ids) - 1)))
        self._update_title()
        self.last_latency_ms = (time.perf_counter() - started) * 1000
        self.last_fetch_ms = event.fetch_ms
        self.shown_count += 1
        self._last_refresh = time.monotonic()
        self.call_after_refresh(self._painted)
        self.check_expected()
        self.post_message(RunsShown(page.offset, len(page.rows), page.total,
                                    self.last_latency_ms, reason))

    def _painted(self) -> None:
        # The page has been drawn: benches time key press -> `painted_at`.
        self.painted_at = time.perf_counter()
        self.painted_count += 1
        if self._shown_request == self._pending[0]:
            self._resume_gc()  # the newest page is on screen: collect now, not inside the next one
        if self._hide_filter:
            self._hide_filter = False
            box = self.query_one("#runs-filter", Input)
            if box.has_focus:
                self.grid.focus()
            box.remove_class("-shown")

    @on(_Failed)
    def _failed(self, event: _Failed) -> None:
        if event.request != self._pending[0]:
            return
        self._shown_request = event.request  # nothing in flight any more
        self._resume_gc()
        self.notify(event.message, severity="error", markup=False)
        if self.view.query != self.good_query:
            # A bad query leaves the table as it was; the text comes back in the box to be fixed.
            self.view = replace(self.view, query=self.good_query)
            self._hide_filter = False
            box = self.query_one("#runs-filter", Input)
            box.add_class("-shown")
            box.focus()
        if self.page is None:
            self.query_one("#runs-title", Static).update(f"Runs: {event.message}")

    def _labels(self) -> list[str]:
        if not self.page:
            return []
        width = len(f"{self.page_offset + len(self.row_ids):,}")
        marks = self.marked
        return [f"{MARK if rid in marks else ' '} {self.page_offset + i + 1:>{width},}"
                for i, rid in enumerate(self.row_ids)]

    def _update_title(self) -> None:
        page, view = self.page, self.view
        parts = []
        if page.total:
            parts.append(f"Runs {page.offset + 1:,}–{page.offset + len(page.rows):,} of {page.total:,}")
        else:
            parts.append("No runs match" if view.query else "No runs")
        parts.append(f"exp {view.experiment}" if view.experiment else "all experiments")
        arrow = "↓" if view.descending else "↑"
        parts.append(f"sort {view.order_by.replace('start_ts', 'started')} {arrow}")
        if view.query:
            parts.append(f"filter {view.query}")
        marked = len(self.marked)
        if marked:
            parts.append(f"{marked} marked")
        # One fixed line: skip a layout pass of the whole screen.
        self.query_one("#runs-title", Static).update(" · ".join(parts), layout=False)

    def highlighted_run(self) -> str | None:
        if not self.row_ids:
            return None
        return self.row_ids[min(self.grid.cursor_row, len(self.row_ids) - 1)]

    def _reload_keep(self, reason: str = "refresh") -> None:
        self.load(reason, keep_run=self.highlighted_run(), cursor_row=self.grid.cursor_row)

    # -- paging --------------------------------------------------------------------------------
    def _total(self) -> int:
        return self.page.total if self.page is not None else 0

    def action_page(self, step: int) -> None:
        target = self.page_offset + step * PAGE_SIZE
        if 0 <= target < max(1, self._total()):
            self.load("page", offset=target)

    def action_first_page(self) -> None:
        self.load("page", offset=0)

    def action_last_page(self) -> None:
        total = self._total()
        last = max(0, (total - 1) // PAGE_SIZE * PAGE_SIZE)
        self.load("page", offset=last, cursor_row=max(0, total - last - 1))

    @on(RunGrid.PastEnd)
    def _past_end(self, event: RunGrid.PastEnd) -> None:
        # Moving past a page's edge continues on the neighbouring page, as in one long table.
        event.stop()
        if event.delta > 0 and self.page_offset + PAGE_SIZE < self._total():
            self.load("page", offset=self.page_offset + PAGE_SIZE, cursor_row=0)
        elif event.delta < 0 and self.page_offset > 0:
            self.load("page", offset=self.page_offset - PAGE_SIZE, cursor_row=PAGE_SIZE - 1)

    # -- filter ----------------------------------------------------------------------------------
    def action_filter(self) -> None:
        box = self.query_one("#runs-filter", Input)
        box.add_class("-shown")
        box.value = self.view.query or ""
        box.focus()

    @on(Input.Submitted, "#runs-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.apply_query(event.value)
        # The title line shows the query; `/` brings the box back with it to edit. The box
        # hides and the grid takes the focus once the new page is drawn: their restyling and
        # layout would otherwise delay the page.
        self._hide_filter = True

    def apply_query(self, text: str) -> None:
        query = " ".join(text.split()) or None
        self.view = replace(self.view, query=query)
        self.load("filter", offset=0)
        if self.query_one(GroupView).display:
            self.query_one(GroupView).show(query=query, experiment=self.view.experiment)

    def action_escape(self) -> None:
        groups = self.query_one(GroupView)
        box = self.query_one("#runs-filter", Input)
        if groups.display:
            groups.display = False
            self.grid.display = True
            self.grid.focus()
        elif box.has_focus or self.view.query:
            box.value = ""
            box.remove_class("-shown")
            if self.view.query:
                self.apply_query("")
            self.grid.focus()
