"""The Compare screen (mode 3): the runs marked on the Experiments screen side by side.

`tracking.compare.compare_runs` builds the comparison in a thread worker (the first time, started
as the screen is made, so it runs while the screen mounts); only the visible pane is filled, the
others when first shown; the curves (compare_curves.py) are read once the comparison is drawn.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from dataclasses import replace
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Static, TabbedContent, TabPane, Tabs

from tui_mlops.errors import MlopsError
from tui_mlops.store.home import Home
from tui_mlops.tui.messages import RunsChanged
from tui_mlops.tui.screens import ShellScreen
from tui_mlops.tui.screens.compare_curves import CurvesPane
from tui_mlops.tui.screens.compare_panes import (
    CompareTable, datasets_line, evaluation_note, evaluation_rows, importance_rows, metric_rows, param_rows,
    run_header,
)
from tui_mlops.tui.screens.run_detail_panes import ACTIVE, set_line

NO_BASELINE = "*none*"
EMPTY_TEXT = """No runs marked for comparison.

  • press 2 for the Experiments screen,
  • move to a run and press space to mark it (mark as many as you like, across experiments),
  • then press 3 (or c) to compare them here.

Marked runs show ● in the Experiments table."""

# (pane id, key, title, selector of the widget that takes the focus)
PANES: tuple[tuple[str, str, str, str], ...] = (
    ("cmp-tab-metrics", "m", "Metrics", "#cmp-metrics"),
    ("cmp-tab-params", "p", "Params", "#cmp-params"),
    ("cmp-tab-curves", "c", "Curves", "#cmp-curve-keys"),
    ("cmp-tab-importance", "i", "Importance", "#cmp-importance"),
    ("cmp-tab-evaluation", "e", "Evaluation", "#cmp-evaluation"),
)


class CompareShown(Message):
    """A comparison is on screen (its active pane filled and drawn); latency from the request."""

    def __init__(self, count: int, latency_ms: float, compare_ms: float) -> None:
        super().__init__()
        self.count, self.latency_ms, self.compare_ms = count, latency_ms, compare_ms


class _Loaded(Message):
    def __init__(self, request: int, cmp: Any, compare_ms: float) -> None:
        super().__init__()
        self.request, self.cmp, self.compare_ms = request, cmp, compare_ms


class _Failed(Message):
    def __init__(self, request: int, message: str) -> None:
        super().__init__()
        self.request, self.message = request, message


def _timed_compare(home: Home, refs: list[str], baseline: str | None) -> tuple[Any, float]:
    """compare_runs and how long it took (ms); in a thread worker."""
    from tui_mlops.tracking.compare import compare_runs

    started = time.perf_counter()
    cmp = compare_runs(home, refs, baseline=baseline)
    return cmp, (time.perf_counter() - started) * 1000


def _bind(key: str, action: str, label: str, name: str, tip: str, show: bool = True) -> Binding:
    return Binding(key, action, label, show=show, id=f"compare.{name}", tooltip=tip)


class CompareScreen(ShellScreen):
    """Mode 3. Panes on tab / shift+tab (or m p c i e); `b` baseline, `d` differences only,
    `l` log scale, `escape` back to Experiments."""

    MODE = "compare"
    CSS_PATH = "compare.tcss"
    AUTO_FOCUS = "#cmp-metrics"
    BINDINGS: ClassVar[list[BindingType]] = [
        _bind("escape", "back", "Back", "back", "Back to the Experiments screen"),
        _bind("tab", "next_pane(1)", "Next pane", "next_pane", "Show the next pane", show=False),
        _bind("shift+tab", "next_pane(-1)", "Previous pane", "previous_pane",
              "Show the previous pane", show=False),
        *(_bind(key, f"show_pane('{pane}')", title, f"pane_{title.lower()}",
                f"Show the {title} pane", show=False) for pane, key, title, _sel in PANES),
        _bind("b", "baseline", "Baseline", "baseline",
              "Pick the baseline run: the other columns show deltas against it"),
        _bind("d", "toggle_diff", "Diff only", "diff_only",
              "Params: show only the rows that differ between runs, or every row"),
        _bind("l", "toggle_log", "Log scale", "log_scale",
              "Curves: switch the y axis between linear and log scale"),
        _bind("r", "reload", "Reload", "reload", "Read the marked runs again", show=False),
    ]

    def __init__(self, home: Home) -> None:
        super().__init__(id="mode-compare")
        self.home = home
        self.cmp: Any = None
        self.refs: tuple[str, ...] = ()       # the marked runs the comparison (being) loaded is of
        self.baseline_id: str | None = None
        self.diff_only = True
        self.error: str | None = None
        self.last_latency_ms: float | None = None
        self.last_compare_ms: float | None = None
        self.shown_count = 0  # comparisons drawn (tests and the bench wait on it) ...
        self.shown_at = 0.0   # ... the last at this perf_counter
        self._request = 0
        self._started = 0.0
        self._in_flight: tuple[str, ...] | None = None  # the refs being compared now
        self._filled: set[str] = set()  # panes filled for the comparison on screen
        self.curves_pane = CurvesPane(home, id="cmp-curves-pane")
        # The screen is made when 3 is first pressed: start comparing the marked runs now, so the
        # work (mostly in DuckDB, off the GIL) overlaps mounting the screen's widgets. A plain
        # thread: a worker's thread would start only once this key's handler returns (~0.1 s).
        self._prefetch: tuple[tuple[str, ...], Future] | None = None
        marks = self._marks()
        if marks:
            future: Future = Future()
            self._prefetch = (marks, future)
            threading.Thread(target=self._run_into, args=(future, list(marks)), name="compare-prefetch",
                             daemon=True).start()

    def _run_into(self, future: Future, refs: list[str]) -> None:
        try:
            future.set_result(_timed_compare(self.home, refs, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the load that takes the result
            future.set_exception(exc)

    def _marks(self) -> tuple[str, ...]:
        return tuple(sorted(getattr(self.app, "marked_runs", None) or ()))

    # -- layout -------------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        yield Static("Compare: loading …", id="cmp-title", markup=False)
        yield Static("", id="cmp-data", markup=False)
        yield Static("", id="cmp-error", markup=False)
        with TabbedContent(id="cmp-tabs"):
            with TabPane("Metrics m", id="cmp-tab-metrics"):
                yield CompareTable(id="cmp-metrics")
            with TabPane("Params p", id="cmp-tab-params"):
                yield Static("", id="cmp-params-note", classes="cmp-note", markup=False)
                yield CompareTable(id="cmp-params")
            with TabPane("Curves c", id="cmp-tab-curves"):
                yield self.curves_pane
            with TabPane("Importance i", id="cmp-tab-importance"):
                yield Static("feature importance: each run's gain as a share of its total "
                             "(top features of all runs)", classes="cmp-note", markup=False)
                yield CompareTable(id="cmp-importance")
            with TabPane("Evaluation e", id="cmp-tab-evaluation"):
                yield Static("", id="cmp-eval-note", classes="cmp-note", markup=False)
                yield CompareTable(id="cmp-evaluation")
        yield Static(EMPTY_TEXT, id="cmp-empty", markup=False)

    def on_mount(self) -> None:
        # Focus moves between panes with tab (each pane's table or list), not to the tab bar.
        self.query_one("#cmp-tabs Tabs", Tabs).can_focus = False
        self.query_one("#cmp-error").display = False
        self._show_state()

    def on_screen_resume(self) -> None:
        marks = self._marks()
        if marks and marks == self._in_flight:
            return  # being compared already (Textual resumes a new mode's screen twice)
        live = self.cmp is not None and any(r.status in ACTIVE for r in self.cmp.runs)
        if marks != self.refs or live or (self.cmp is None and self.error is None and marks):
            self.load(marks)

    # -- loading ------------------------------------------------------------------------------
    def load(self, refs: tuple[str, ...]) -> None:
        self.refs = refs
        self._request += 1
        self._started = time.perf_counter()
        prefetch, self._prefetch = self._prefetch, None
        if not refs:
            self.cmp, self.error, self._in_flight = None, None, None
            self._show_state()
            return
        self._in_flight = refs
        set_line(self.query_one("#cmp-title", Static), f"Compare: loading {len(refs)} runs …")
        baseline = self.baseline_id if self.baseline_id in refs else None
        # The comparison started as the screen was made serves if it is of these runs.
        future = prefetch[1] if prefetch is not None and prefetch[0] == refs and baseline is None else None
        self._compare(self._request, list(refs), baseline, future)

    @work(thread=True, exclusive=True, group="compare-load", exit_on_error=False)
    def _compare(self, request: int, refs: list[str], baseline: str | None, future: Future | None) -> None:
        try:
            cmp, took_ms = future.result() if future is not None else _timed_compare(self.home, refs, baseline)
        except ImportError:
            self.post_message(_Failed(request, "run comparison is not available in this build"))
            return
        except MlopsError as exc:
            self.post_message(_Failed(request, str(exc)))
            return
        except Exception as exc:  # noqa: BLE001 - shown to the user, never a crash
            self.post_message(_Failed(request, f"cannot compare runs: {' '.join(str(exc).split())}"))
            return
        self.post_message(_Loaded(request, cmp, took_ms))

    @on(_Failed)
    def _failed(self, event: _Failed) -> None:
        if event.request != self._request:
            return
        self._in_flight = None
        self.error = event.message
        self.cmp = None
        self.notify(event.message, severity="error", markup=False)
        self._show_state()

    @on(_Loaded)
    def _loaded(self, event: _Loaded) -> None:
        if event.request != self._request:
            return
        cmp = event.cmp
        self._in_flight = None
        self.error = None
        self.cmp = cmp
        self.baseline_id = cmp.runs[cmp.baseline].run_id if cmp.baseline is not None else None
        self.last_compare_ms = event.compare_ms
        self._filled.clear()
        self._show_state()
        self._fill_active()
        self.call_after_refresh(self._painted, event.request, len(cmp.runs), event.compare_ms)

    def _painted(self, request: int, count: int, compare_ms: float) -> None:
        self.shown_at = time.perf_counter()
        self.last_latency_ms = (self.shown_at - self._started) * 1000
        self.shown_count += 1
        self.post_message(CompareShown(count, self.last_latency_ms, compare_ms))
        if request == self._request and self.cmp is not None:
            # Curves only now: reading them must not hold up the first paint.
            self.curves_pane.show_comparison(self.cmp)

    # -- what is shown ------------------------------------------------------------------------
    def _show_state(self) -> None:
        cmp, refs = self.cmp, self.refs
        self.refresh_bindings()  # b, d, l and the pane keys work only on a comparison
        empty = not refs
        self.query_one("#cmp-empty").display = empty
        self.query_one("#cmp-tabs").display = cmp is not None
        self.query_one("#cmp-data").display = cmp is not None
        error = self.query_one("#cmp-error", Static)
        error.display = self.error is not None
        if self.error is not None:
            error.update(f"error: {self.error}")
        title = self.query_one("#cmp-title", Static)
        if empty:
            set_line(title, "Compare: no runs marked")
        elif cmp is None:
            set_line(title, f"Compare: {len(refs)} marked runs, not compared"
                     if self.error else f"Compare: loading {len(refs)} runs …")
        else:
            set_line(title, self._title_text())
            text, differs = datasets_line(cmp)
            warnings = [w for w in (cmp.warnings or []) if w]
            if warnings and not differs:
                text += "  ⚠ " + warnings[0]
            data = self.query_one("#cmp-data", Static)
            data.set_class(differs or bool(warnings), "-warning")
            set_line(data, text)

    def _title_text(self) -> str:
        cmp = self.cmp
        parts = [f"Compare {len(cmp.runs)} run{'s' if len(cmp.runs) != 1 else ''}"]
        if cmp.task:
            parts.append(f"task {cmp.task}")
        if cmp.baseline is not None:
            base = cmp.runs[cmp.baseline]
            parts.append(f"baseline ◆{base.run_id[:8]} {base.name or ''}".rstrip())
        else:
            parts.append("no baseline (b picks one)")
        return " · ".join(parts)

    def _active(self) -> str:
        return self.query_one("#cmp-tabs", TabbedContent).active

    def _fill_active(self) -> None:
        """Fill the visible pane for the comparison on screen (others wait until shown)."""
        cmp = self.cmp
        pane = self._active()
        if cmp is None or pane in self._filled:
            return
        self._filled.add(pane)
        headers = [run_header(r, i == cmp.baseline) for i, r in enumerate(cmp.runs)]
        if pane == "cmp-tab-metrics":
            table = self.query_one("#cmp-metrics", CompareTable)
            from tui_mlops.tracking.compare import deltas

            rows = metric_rows(cmp, table.styles_for_cells(), deltas)
            table.fill("metric", headers, rows or [("(no metrics logged)", [])])
        elif pane == "cmp-tab-params":
            table = self.query_one("#cmp-params", CompareTable)
            rows = param_rows(cmp, table.styles_for_cells(), self.diff_only)
            total = len(cmp.params)
            differ = sum(1 for p in cmp.params if p.differs)
            note = (f"{differ} of {total} params differ · d shows "
                    + ("every param" if self.diff_only else "only those that differ"))
            set_line(self.query_one("#cmp-params-note", Static), note)
            empty = "(every param is the same)" if self.diff_only and total else "(no params)"
            table.fill("param", headers, rows or [(empty, [])])
        elif pane == "cmp-tab-importance":
            table = self.query_one("#cmp-importance", CompareTable)
            rows = importance_rows(cmp, table.styles_for_cells())
            table.fill("feature", headers, rows or [("(no feature importance recorded)", [])])
        elif pane == "cmp-tab-evaluation":
            table = self.query_one("#cmp-evaluation", CompareTable)
            rows = evaluation_rows(cmp, table.styles_for_cells())
            set_line(self.query_one("#cmp-eval-note", Static), evaluation_note(cmp))
            table.fill("", headers, rows or [("(no evaluation recorded)", [])])
        elif pane == "cmp-tab-curves":
            self.curves_pane.plot()

    # -- panes --------------------------------------------------------------------------------
    @on(TabbedContent.TabActivated, "#cmp-tabs")
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        event.stop()
        self.curves_pane.active = self._active() == "cmp-tab-curves"
        self._fill_active()

    def action_show_pane(self, pane: str) -> None:
        if self.cmp is None:
            return
        self.query_one("#cmp-tabs", TabbedContent).active = pane
        self.curves_pane.active = pane == "cmp-tab-curves"
        self._fill_active()
        focus = next(sel for pid, _k, _t, sel in PANES if pid == pane)
        self.query_one(focus).focus()

    def action_next_pane(self, step: int) -> None:
        if self.cmp is None:
            return
        ids = [pid for pid, _k, _t, _s in PANES]
        now = ids.index(self._active()) if self._active() in ids else 0
        self.action_show_pane(ids[(now + step) % len(ids)])

    # -- actions ------------------------------------------------------------------------------
    async def action_back(self) -> None:
        await self.app.switch_mode("experiments")

    def action_reload(self) -> None:
        self.load(tuple(sorted(getattr(self.app, "marked_runs", None) or ())))

    def action_toggle_diff(self) -> None:
        self.diff_only = not self.diff_only
        self._filled.discard("cmp-tab-params")
        self._fill_active()
        self.notify("Params: only those that differ" if self.diff_only else "Params: every param",
                    timeout=2)

    def action_toggle_log(self) -> None:
        pane = self.curves_pane
        pane.log_y = not pane.log_y
        pane.plot()
        if self._active() != "cmp-tab-curves":
            self.notify(f"Curves: {'log' if pane.log_y else 'linear'} y axis", timeout=2)

    def action_baseline(self) -> None:
        cmp = self.cmp
        if cmp is None:
            self.notify("Nothing to compare yet.", severity="warning")
            return
        from tui_mlops.tui.screens.run_pickers import KeyPicker

        options = [("(no baseline)", NO_BASELINE)] + [
            (f"{r.run_id[:8]}  {r.name or '-'}  {r.experiment or ''}", r.run_id) for r in cmp.runs]
        current = self.baseline_id or NO_BASELINE
        self.app.push_screen(KeyPicker("Baseline run (the others show deltas against it)",
                                       options, current), self._baseline_picked)

    def _baseline_picked(self, value: Any) -> None:
        if value is None or self.cmp is None:
            return
        ids = [r.run_id for r in self.cmp.runs]
        index = ids.index(value) if value in ids else None
        self.baseline_id = ids[index] if index is not None else None
        self.cmp = replace(self.cmp, baseline=index)
        self._filled.clear()
        self._show_state()
        self._fill_active()

    def on_runs_changed(self, message: RunsChanged) -> None:
        if self.cmp is None or not self.is_current:
            return
        if any(message.concerns(r.run_id) for r in self.cmp.runs):
            self.load(self.refs)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("baseline", "toggle_diff", "toggle_log", "next_pane", "show_pane"):
            return self.cmp is not None
        return True
