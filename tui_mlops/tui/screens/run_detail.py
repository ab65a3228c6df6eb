"""One run: header, live metric charts, params, metric summary, system charts, artifacts, spec, log.

Facts come from two places, both read in thread workers: `tracking.query.get_run` (the catalog's
folded view: status, params, tags, note, artifacts) and the run's own files, read from where the
last read stopped (`RunHistory` for metric histories, `LogTail` for job.log). While the run is
active a 0.5 s timer (paused while the screen is hidden) reads the new bytes and redraws the
visible tab, so charts update at most twice a second however fast points arrive.
"""

from __future__ import annotations

import json
import time
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Log, Static, TabbedContent, TabPane

from tui_mlops.errors import MlopsError
from tui_mlops.store.home import Home
from tui_mlops.tui.messages import RunsChanged
from tui_mlops.tui.screens import KeyedTable, ShellScreen
from tui_mlops.tui.screens.run_detail_actions import RunActionDone, RunActions
from tui_mlops.tui.screens.run_detail_panes import (
    ACTIVE, ChartsPane, SystemPane, duration_text, fill_artifacts, fill_params, fill_stats,
    problem_text, set_line, short_ref, status_content, when_text,
)
from tui_mlops.tui.screens.run_history import LogTail, RunHistory, last_lines, metric_direction
from tui_mlops.tui.settings_apply import refresh_seconds

TICK_S = 0.5  # live redraws at most 2 Hz without settings; with them 1/refresh_hz
DETAIL_EVERY_S = 5.0  # re-read the folded run this often while it is active (status, artifacts)
LOG_LINES = 1000

# (tab pane id, key, title, selector of the widget to focus when the tab is shown). Keys the
# focused tables and lists use themselves (j k g G enter space) are not available here.
TABS: tuple[tuple[str, str, str, str], ...] = (
    ("tab-charts", "c", "Charts", "#charts SelectionList"),
    ("tab-params", "p", "Params", "#params-table"),
    ("tab-metrics", "m", "Metrics", "#metrics-table"),
    ("tab-system", "s", "System", "#run-tabs Tabs"),
    ("tab-artifacts", "a", "Artifacts", "#artifacts-table"),
    ("tab-spec", "S", "Spec", "#spec-scroll"),
    ("tab-log", "l", "Log", "#run-log"),
)


class InfoTable(KeyedTable):
    """A table whose rows only inform (enter opens nothing)."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Select", show=False, id="run.info_select",
                tooltip="Select the highlighted row"),
    ]


class RunDetailScreen(RunActions, ShellScreen):
    """One run, pushed from the Experiments or Jobs screen (enter)."""

    CSS_PATH = "run_detail.tcss"
    AUTO_FOCUS = "#charts SelectionList"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="run.back", tooltip="Back to the previous screen"),
        *(Binding(key, f"show_tab('{pane}')", title, show=False, id=f"run.tab_{title.lower()}",
                  tooltip=f"Show the {title} tab") for pane, key, title, _ in TABS),
        Binding("L", "toggle_log_scale", "Log scale", id="run.log_scale",
                tooltip="Switch the charts' y axis between linear and log scale"),
        Binding("t", "tag", "Tag", id="run.tag", tooltip="Add or change a tag (key=value)"),
        Binding("N", "note", "Note", id="run.note", tooltip="Write the run's note"),
        Binding("R", "rerun", "Re-run", id="run.rerun",
                tooltip="Train again with the same spec and seed (a new run)"),
        Binding("x", "cancel_run", "Cancel", id="run.cancel",
                tooltip="Stop this running or queued job (asks first)"),
        Binding("V", "validation_report", "Validation", id="run.validation",
                tooltip="Show the run's latest validation report (mlops-tui validate writes them)"),
    ]

    class _DetailLoaded(Message):
        def __init__(self, detail: Any, crash_lines: list[str]) -> None:
            super().__init__()
            self.detail = detail
            self.crash_lines = crash_lines

    class _DetailFailed(Message):
        def __init__(self, message: str) -> None:
            super().__init__()
            self.message = message

    class _Read(Message):
        def __init__(self, keys: list[str], view: dict[str, Any], log_lines: list[str] | None,
                     device: str | None) -> None:
            super().__init__()
            self.keys = keys
            self.view = view
            self.log_lines = log_lines
            self.device = device

    def __init__(self, home: Home, run_id: str, *, mode: str | None = None) -> None:
        super().__init__()
        self.home = home
        self.run_ref = run_id
        self.run_id = run_id  # the full id once get_run resolved a prefix
        self.mode_name = mode
        self.detail: Any = None
        self.history: RunHistory | None = None
        self.log_tail: LogTail | None = None
        self.log_y = False
        self.device: str | None = None
        self._reading = False
        self._read_again = False
        self._detail_loading = False
        self._detail_again = False
        self._detail_at = 0.0
        self._final_read = False
        self._timer: Any = None
        self._keys_state: tuple[bool, bool] | None = None
        self._shown: tuple[Any, ...] | None = None
        self._last_failure: str | None = None

    # -- layout -------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        self.MODE = self.mode_name or getattr(self.app, "current_mode", None) or "experiments"
        yield from super().compose()

    def compose_body(self) -> ComposeResult:
        yield Static(f"run {self.run_ref} …", id="run-title")
        yield Static("loading the run …", id="run-meta")
        yield Static("", id="run-problem")
        with TabbedContent(id="run-tabs"):
            with TabPane("Charts c", id="tab-charts"):
                yield ChartsPane(id="charts")
            with TabPane("Params p", id="tab-params"):
                yield InfoTable(id="params-table")
                yield Static("", id="run-note", markup=False)
            with TabPane("Metrics m", id="tab-metrics"):
                yield InfoTable(id="metrics-table")
            with TabPane("System s", id="tab-system"):
                yield SystemPane(id="system")
            with TabPane("Artifacts a", id="tab-artifacts"):
                yield InfoTable(id="artifacts-table")
            with TabPane("Spec S", id="tab-spec"):
                with VerticalScroll(id="spec-scroll"):
                    yield Static("", id="spec-text", markup=False)
            with TabPane("Log l", id="tab-log"):
                yield Log(max_lines=LOG_LINES, id="run-log")

    def on_mount(self) -> None:
        self.query_one("#run-problem").display = False
        self.query_one("#params-table", KeyedTable).add_columns("", "key", "value")
        self.query_one("#metrics-table", KeyedTable).add_columns(
            "metric", "last", "min", "max", "best", "best step", "last step", "points")
        self.query_one("#artifacts-table", KeyedTable).add_columns("path", "kind", "size", "sha256")
        self._timer = self.set_interval(refresh_seconds(self.app, TICK_S), self._tick)
        self.load_detail()

    def on_screen_suspend(self) -> None:
        if self._timer is not None:
            self._timer.pause()

    def on_screen_resume(self) -> None:
        if self._timer is not None and not self._final_read:
            self._timer.resume()
        self.request_read()

    # -- the folded run -----------------------------------------------------------------------
    def load_detail(self) -> None:
        if self._detail_loading:
            self._detail_again = True  # the read in flight may predate what changed
            return
        self._detail_loading = True
        self._detail_at = time.monotonic()
        self._fetch_detail()

    @work(thread=True, exclusive=True, group="run-detail", exit_on_error=False)
    def _fetch_detail(self) -> None:
        from tui_mlops.tracking.query import get_run

        try:
            detail = get_run(self.home, self.run_ref)
        except MlopsError as exc:
            self.post_message(self._DetailFailed(str(exc)))
            return
        except Exception as exc:  # noqa: BLE001 - shown to the user, never a crash
            self.post_message(self._DetailFailed(f"cannot read run {self.run_ref}: {exc}"))
            return
        lines: list[str] = []
        if getattr(detail, "status", None) in ("crashed", "failed"):
            lines = last_lines(self.home.runs_dir / detail.run_id / "job.log", 5)
        self.post_message(self._DetailLoaded(detail, lines))

    def _detail_finished(self) -> None:
        self._detail_loading = False
        if self._detail_again:
            self._detail_again = False
            self.load_detail()

    @on(_DetailFailed)
    def _detail_failed(self, event: _DetailFailed) -> None:
        self._detail_finished()
        if self.detail is None:
            set_line(self.query_one("#run-meta", Static), Content(f"error: {event.message}"))
        # A refresh that failed (the catalog busy, say) keeps what is shown; say each problem once.
        if event.message != self._last_failure:
            self._last_failure = event.message
            self.notify(event.message, severity="error", markup=False)

    @on(_DetailLoaded)
    def _detail_loaded(self, event: _DetailLoaded) -> None:
        self._detail_finished()
        d = event.detail
        first = self.detail is None
        self.detail = d
        if first or self.history is None:
            self.run_id = d.run_id
            run_dir = self.home.runs_dir / d.run_id
            self.history = RunHistory(run_dir)
            self.log_tail = LogTail(run_dir / "job.log", max_lines=LOG_LINES)
        self._last_failure = None
        self._show_header()
        self._show_problem(d, event.crash_lines)
        # A live run is re-read every second or so: rebuild only the parts that changed.
        shown = (d.params, d.tags, getattr(d, "note", None), getattr(d, "artifacts", None),
                 getattr(d, "spec", None))
        if shown != self._shown:
            self._shown = shown
            self._show_params(d)
            fill_artifacts(self.query_one("#artifacts-table", KeyedTable), d)
            spec = getattr(d, "spec", None)
            self.query_one("#spec-text", Static).update(
                json.dumps(spec, indent=2, sort_keys=True, default=str) if spec
                else "This run has no spec: it was logged by a script, not trained from a spec.")
        self._refresh_keys()
        if d.status not in ACTIVE and self._timer is not None and not self._final_read:
            self._final_read = True  # one last read of the files, then the timer stops
            self.request_read()
        elif first:
            self.request_read()

    def _show_header(self) -> None:
        d = self.detail
        if d is None:
            return
        took = duration_text(d.start_ts, d.end_ts if d.status not in ACTIVE else None)
        title = Content.assemble(
            ("run ", "dim"), (d.run_id[:8], "bold"), "  ", d.name or "-", "  ",
            status_content(d.status), (f" {took}" if d.start_ts else "", "dim"),
            ("  experiment ", "dim"), d.experiment or "-", ("  kind ", "dim"), d.kind or "-")
        children = list(getattr(d, "children", None) or [])
        device = getattr(d, "device", None) or self.device
        parts = [("model", d.model), ("data", short_ref(d.dataset)), ("device", device),
                 ("started", when_text(d.start_ts)),
                 ("parent", d.parent_run_id[:8] if d.parent_run_id else None),
                 ("children", f"{len(children)}" if children else None)]
        meta = " · ".join(f"{k} {v}" for k, v in parts if v)
        # One fixed line each: no layout pass for the twice-a-second duration update.
        set_line(self.query_one("#run-title", Static), title)
        set_line(self.query_one("#run-meta", Static), Content(meta))

    def _refresh_keys(self) -> None:
        """Refresh the footer only when a key's availability changed (it rebuilds itself)."""
        try:
            tab = self.query_one(TabbedContent).active
        except Exception:  # noqa: BLE001 - before compose finished
            return
        state = (self.detail is not None and self.detail.status in ACTIVE,
                 tab in ("tab-charts", "tab-system"))
        if state != self._keys_state:
            self._keys_state = state
            self.refresh_bindings()

    def _show_problem(self, d: Any, lines: list[str]) -> None:
        banner = self.query_one("#run-problem", Static)
        text = problem_text(d, lines)
        banner.display = text is not None
        if text is not None:
            banner.update(Content(text))

    def _show_params(self, d: Any) -> None:
        fill_params(self.query_one("#params-table", KeyedTable), d)
        note = getattr(d, "note", None)
        self.query_one("#run-note", Static).update(
            f"note: {note}" if note else "no note (N writes one)  ·  t adds a tag")

    # -- live files ---------------------------------------------------------------------------
    def _tick(self) -> None:
        if not self.is_current:
            return
        if self.detail is None:
            # Not readable yet (a job still starting, the catalog busy): try again each second.
            if time.monotonic() - self._detail_at >= 1.0:
                self.load_detail()
        elif self.detail.status in ACTIVE:
            if time.monotonic() - self._detail_at >= DETAIL_EVERY_S:
                self.load_detail()
            self._show_header()  # the running duration
        self.request_read()

    def request_read(self) -> None:
        """Read the run's new bytes and redraw the visible tab (one read at a time)."""
        if self.history is None:
            return
        if self._reading:
            self._read_again = True
            return
        self._reading = True
        tabs = self.query_one(TabbedContent)
        charts = self.query_one(ChartsPane)
        wanted = {"tab-charts": charts.picked(),
                  "tab-system": self.query_one(SystemPane).keys_needed()}.get(tabs.active, [])
        self._read(self.history, self.log_tail, tabs.active, wanted)

    @work(thread=True, group="run-read", exit_on_error=False)
    def _read(self, history: RunHistory, log_tail: LogTail | None, tab: str,
              keys: list[str]) -> None:
        try:
            history.read_new()
            lines = log_tail.read_new() if log_tail is not None else None
        except OSError as exc:
            self.post_message(RunActionDone(f"cannot read run files: {exc}", "error"))
            lines = None
        view: dict[str, Any] = {}
        if tab in ("tab-charts", "tab-system"):
            view["series"] = history.snapshot(keys)
        elif tab == "tab-metrics":
            view["stats"] = history.stats(metric_direction)
        keys_now = history.keys() if tab != "tab-system" else history.keys(system=True)
        self.post_message(self._Read(keys_now, view, lines, history.device))

    @on(_Read)
    def _read_done(self, event: _Read) -> None:
        self._reading = False
        if event.device and event.device != self.device:
            self.device = event.device
            self._show_header()
        if event.log_lines:
            self.query_one("#run-log", Log).write_lines(event.log_lines)
        tab = self.query_one(TabbedContent).active
        if tab == "tab-charts":
            charts = self.query_one(ChartsPane)
            charts.set_keys(event.keys)
            if "series" in event.view and set(event.view["series"]) == set(charts.picked()):
                charts.show(event.view["series"], self.log_y)
            else:
                self._read_again = True  # the pick changed while reading: read it again
        elif tab == "tab-system" and "series" in event.view:
            self.query_one(SystemPane).show(event.view["series"], self.log_y)
        elif tab == "tab-metrics" and "stats" in event.view:
            fill_stats(self.query_one("#metrics-table", KeyedTable), event.view["stats"])
        if self._read_again:
            self._read_again = False
            self.request_read()
        elif self._final_read and self._timer is not None:
            self._timer.pause()  # the run has ended and its files are read: nothing more to come

    @on(ChartsPane.PickChanged)
    def _pick_changed(self, event: ChartsPane.PickChanged) -> None:
        event.stop()
        self.request_read()

    def on_runs_changed(self, message: RunsChanged) -> None:
        if not message.concerns(self.run_id) or not self.is_current:
            return
        if time.monotonic() - self._detail_at >= 1.0:
            self.load_detail()
        if self._timer is not None and self._final_read:
            return
        self.request_read()

    # -- tabs ---------------------------------------------------------------------------------
    def action_show_tab(self, pane: str) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = pane
        focus = next(sel for pid, _, _, sel in TABS if pid == pane)
        self.query_one(focus).focus()

    @on(TabbedContent.TabActivated, "#run-tabs")
    def _tab_activated(self, _event: TabbedContent.TabActivated) -> None:
        self.request_read()
        self._refresh_keys()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_run":
            return self.detail is not None and self.detail.status in ACTIVE
        if action == "toggle_log_scale":
            try:
                return self.query_one(TabbedContent).active in ("tab-charts", "tab-system")
            except Exception:  # noqa: BLE001 - before compose finished
                return False
        return True

    # -- actions ------------------------------------------------------------------------------
    def action_back(self) -> None:
        self.dismiss()
