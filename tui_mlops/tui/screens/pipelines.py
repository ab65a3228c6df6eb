"""The Pipelines screen (pushed from Jobs with P): pipeline runs live, the selected run's DAG and
stages with their states, a stage's log, cancel, re-run from a stage, and the trigger watcher.

A thread worker reads the run records (<home>/pipelines/*/runs/*.json, rewritten atomically on each
stage change) once a second while the screen is shown; tables are updated cell by cell.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Log, Static

from tui_mlops.errors import MlopsError
from tui_mlops.store.home import Home
from tui_mlops.tui.screens import KeyedTable, ShellScreen
from tui_mlops.tui.screens.live import TimedRefresh
from tui_mlops.tui.screens.pipelines_panes import (
    STATE_CLASSES, STATE_CSS, CliRun, SpecCache, all_runs, dag_content, interrupt_run, run_cells,
    stage_cells, stage_order, start_cli_run,
)
from tui_mlops.tui.screens.run_detail_panes import set_line
from tui_mlops.tui.screens.run_history import LogTail

REFRESH_S = 1.0
PAGE_SIZE = 500
RUN_COLUMNS = ("pipeline", "run", "status", "started", "took", "ok/cached/failed")
STAGE_COLUMNS = ("stage", "kind", "status", "took", "message")


class StateTable(KeyedTable):
    """A table whose state cells are coloured by theme variables (component classes)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = KeyedTable.COMPONENT_CLASSES | STATE_CLASSES
    DEFAULT_CSS = "StateTable {\n" + STATE_CSS + "\n}"


class DagView(Static):
    """The selected run's DAG, each stage box coloured by its state."""

    COMPONENT_CLASSES: ClassVar[set[str]] = STATE_CLASSES
    DEFAULT_CSS = "DagView {\n" + STATE_CSS + "\n}"


class PipelinesScreen(TimedRefresh, ShellScreen):
    """Keys: `enter` a stage's log, `x` cancel, `R` re-run from the stage, `w` watcher on/off."""

    MODE = "jobs"
    AUTO_FOCUS = "#pipe-runs"
    CSS_PATH = "pipelines.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="pipelines.back", tooltip="Back to the Jobs screen"),
        Binding("x", "cancel_run", "Cancel", id="pipelines.cancel",
                tooltip="Cancel the selected running pipeline run (asks first)"),
        Binding("R", "rerun_from", "Re-run from stage", id="pipelines.rerun_from",
                tooltip="Run the highlighted stage and everything after it again (a new run)"),
        Binding("w", "toggle_watcher", "Watcher", id="pipelines.watcher",
                tooltip="Start or stop the trigger watcher of the selected run's pipeline file"),
        Binding("r", "reload", "Reload", show=False, id="pipelines.reload",
                tooltip="Read the pipeline runs again now"),
    ]

    class _Loaded(Message):
        def __init__(self, runs: list[Any], spec: Any, spec_error: str | None, log_key: Any,
                     log_lines: list[str] | None, error: str | None = None) -> None:
            super().__init__()
            self.runs, self.spec, self.spec_error = runs, spec, spec_error
            self.log_key, self.log_lines, self.error = log_key, log_lines, error

    class _Done(Message):
        def __init__(self, note: str, severity: str = "information", watcher: Any = None) -> None:
            super().__init__()
            self.note, self.severity, self.watcher = note, severity, watcher

    def __init__(self, home: Home) -> None:
        super().__init__(id="pipelines")
        self.home = home
        self.runs: list[Any] = []
        self.spec: Any = None
        self.spec_error: str | None = None
        self.loaded = False
        self.load_count = 0  # listings shown so far (tests wait on it)
        self._specs = SpecCache()
        self._loading = False
        self._load_again = False
        self._shown_runs: list[str] = []
        self._shown_stages: tuple[str | None, list[str]] = (None, [])
        self._log_key: tuple[str, str] | None = None  # (run id, stage)
        self._log_tail: LogTail | None = None
        self._keys_state: Any = None

    # -- layout -------------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        with Vertical(id="pipe-body"):
            yield Static("Pipeline runs", id="pipe-title", classes="section-title", markup=False)
            yield StateTable(id="pipe-runs")
            yield Static("Stages", id="pipe-run-title", classes="section-title", markup=False)
            with Horizontal(id="pipe-middle"):
                with VerticalScroll(id="pipe-dag-box"):
                    yield DagView("", id="pipe-dag", markup=False)
                yield StateTable(id="pipe-stages")
            yield Static("Log: enter on a stage shows its log", id="pipe-log-title",
                         classes="section-title", markup=False)
            yield Log(max_lines=2000, id="pipe-log")

    def on_mount(self) -> None:
        for table_id, columns in (("#pipe-runs", RUN_COLUMNS), ("#pipe-stages", STAGE_COLUMNS)):
            table = self.query_one(table_id, StateTable)
            for label in columns:
                table.add_column(label, key=label)
        self.start_refresh(REFRESH_S)

    def action_back(self) -> None:
        self.app.pop_screen()

    # -- loading ------------------------------------------------------------------------------
    def reload(self) -> None:
        if not self.live:
            return
        if self._loading:
            self._load_again = True  # one read at a time; the next starts when it ends
            return
        self._loading = True
        run = self.selected_run()
        self._load(run.file if run is not None else None, self._log_key, self._log_tail)

    @work(thread=True, group="pipelines-load", exit_on_error=False)
    def _load(self, file: str | None, log_key: Any, tail: LogTail | None) -> None:
        spec, spec_error, lines = None, None, None
        try:
            runs = all_runs(self.home)
            if file is not None:
                spec, spec_error = self._specs.get(file)
            if tail is not None:
                lines = tail.read_new()
        except (MlopsError, OSError) as exc:
            self.post_message(self._Loaded([], None, None, log_key, None, str(exc)))
            return
        self.post_message(self._Loaded(runs, spec, spec_error, log_key, lines))

    @on(_Loaded)
    def _loaded(self, event: _Loaded) -> None:
        self._loading = False
        if event.error:
            self.notify(event.error, severity="error", markup=False)
        else:
            self.runs = event.runs[:PAGE_SIZE]
            self.spec, self.spec_error = event.spec, event.spec_error
            self.loaded = True
            self.load_count += 1
            self._show()
            if event.log_key == self._log_key and event.log_lines:
                self.query_one("#pipe-log", Log).write_lines(event.log_lines)
        if self._load_again:
            self._load_again = False
            self.reload()

    # -- rendering ----------------------------------------------------------------------------
    def _show(self) -> None:
        table = self.query_one("#pipe-runs", StateTable)
        now = time.time()
        keys = [r.run_id for r in self.runs]
        with self.app.batch_update():
            if keys == self._shown_runs:
                for run in self.runs:
                    for col, value in zip(RUN_COLUMNS, run_cells(table, run, now)):
                        if str(table.get_cell(run.run_id, col)) != str(value) or col == "status":
                            table.update_cell(run.run_id, col, value, update_width=True)
            else:
                current = self.selected_run_id()
                table.clear()
                for run in self.runs:
                    table.add_row(*run_cells(table, run, now), key=run.run_id)
                self._shown_runs = keys
                if current in keys:
                    table.move_cursor(row=keys.index(current))
            self._show_run(self.selected_run(), now)
        running = sum(1 for r in self.runs if r.status == "running")
        watched = sorted(Path(p).name for p in self._watchers())
        title = (f"Pipeline runs: {len(self.runs)}, {running} running · newest first"
                 + (f" · watcher on: {', '.join(watched)}" if watched else " · w: start the watcher"))
        if not self.runs:
            title = ("No pipeline runs yet: `mlops-tui pipeline run --file mlops.toml` records them under "
                     f"{self.home.root / 'pipelines'}")
        set_line(self.query_one("#pipe-title", Static), title)
        self._refresh_keys()

    def _show_run(self, run: Any, now: float) -> None:
        stages = self.query_one("#pipe-stages", StateTable)
        dag = self.query_one("#pipe-dag", DagView)
        if run is None:
            stages.clear()
            self._shown_stages = (None, [])
            dag.update("")
            set_line(self.query_one("#pipe-run-title", Static), "Stages")
            return
        spec = self.spec if self.spec is not None and str(self.spec.path) == str(Path(run.file)) else None
        names = stage_order(run, spec)
        if self._shown_stages == (run.run_id, names):
            for rec in run.stages.values():
                for col, value in zip(STAGE_COLUMNS, stage_cells(stages, rec, now)):
                    if str(stages.get_cell(rec.name, col)) != str(value) or col == "status":
                        stages.update_cell(rec.name, col, value, update_width=True)
        else:
            current = self.selected_stage()
            stages.clear()
            for name in names:
                stages.add_row(*stage_cells(stages, run.stages[name], now), key=name)
            self._shown_stages = (run.run_id, names)
            if current in names:
                stages.move_cursor(row=names.index(current))
        dag.update(dag_content(dag, run, spec, self.spec_error if spec is None else None))
        head = f"Run {run.run_id} of {run.pipeline}: {run.status}"
        if run.message:
            head += f" · {run.message}"
        set_line(self.query_one("#pipe-run-title", Static), head)

    def selected_run_id(self) -> str | None:
        table = self.query_one("#pipe-runs", StateTable)
        if table.row_count == 0:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def selected_run(self) -> Any:
        run_id = self.selected_run_id()
        return next((r for r in self.runs if r.run_id == run_id), None)

    def selected_stage(self) -> str | None:
        table = self.query_one("#pipe-stages", StateTable)
        if table.row_count == 0:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def _refresh_keys(self) -> None:
        run = self.selected_run()
        state = (run is not None and run.status == "running", run is not None and self.selected_stage() is not None)
        if state != self._keys_state:
            self._keys_state = state
            self.refresh_bindings()

    @on(KeyedTable.RowHighlighted, "#pipe-runs")
    def _run_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        if event.cursor_row == event.data_table.cursor_row and self.runs:
            self._show_run(self.selected_run(), time.time())
            self._refresh_keys()
            self.reload()  # the DAG needs this run's pipeline file

    @on(KeyedTable.RowSelected, "#pipe-runs")
    def _run_selected(self, _event: KeyedTable.RowSelected) -> None:
        self.query_one("#pipe-stages", StateTable).focus()

    @on(KeyedTable.RowSelected, "#pipe-stages")
    def _stage_selected(self, event: KeyedTable.RowSelected) -> None:
        run = self.selected_run()
        if run is not None:
            self.show_log(run, str(event.row_key.value))

    def show_log(self, run: Any, stage: str) -> None:
        """Tail `stage`'s log of `run` in the log pane (read on each refresh)."""
        from tui_mlops.pipeline.records import runs_dir

        rec = run.stages.get(stage)
        path = Path(rec.log) if rec is not None and rec.log else runs_dir(self.home, run.pipeline) / run.run_id / f"{stage}.log"
        self._log_key = (run.run_id, stage)
        self._log_tail = LogTail(path)
        self.query_one("#pipe-log", Log).clear()
        note = " (cached: no new log)" if rec is not None and rec.status == "cached" else ", live"
        set_line(self.query_one("#pipe-log-title", Static), f"Log of {stage} in run {run.run_id}{note}")
        self.reload()

    def log_text(self) -> str:
        return "\n".join(str(line) for line in self.query_one("#pipe-log", Log).lines)

    # -- actions ------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.is_mounted:
            return True
        run = self.selected_run()
        if action == "cancel_run":
            return run is not None and run.status == "running"
        if action == "rerun_from":
            return run is not None and self.selected_stage() is not None
        if action == "toggle_watcher":
            return run is not None
        return True

    def action_reload(self) -> None:
        self.reload()

    def action_cancel_run(self) -> None:
        from tui_mlops.tui.screens.confirm import ConfirmScreen

        run = self.selected_run()
        if run is None or run.status != "running":
            return
        self.app.push_screen(
            ConfirmScreen(f"Cancel pipeline run {run.run_id} of {run.pipeline}?",
                          "Running stages are stopped and the rest are not run; finished stages stay cached."),
            lambda yes: self._cancel(run) if yes else None)

    @work(thread=True, group="pipelines-cancel", exit_on_error=False)
    def _cancel(self, run: Any) -> None:
        note = interrupt_run(run)
        self.post_message(self._Done(note, "information" if note.startswith("Cancelling") else "warning"))

    def action_rerun_from(self) -> None:
        run, stage = self.selected_run(), self.selected_stage()
        if run is not None and stage is not None:
            self._rerun(run.pipeline, run.file, stage)

    @work(thread=True, group="pipelines-rerun", exit_on_error=False)
    def _rerun(self, pipeline: str, file: str, stage: str) -> None:
        from tui_mlops.pipeline.records import active_run

        busy = active_run(self.home, pipeline)
        if busy is not None:
            self.post_message(self._Done(f"Pipeline {pipeline} is running (run {busy.run_id}): "
                                         "cancel it first or wait", "warning"))
            return
        if not Path(file).is_file():
            self.post_message(self._Done(f"{file}: the pipeline file is gone", "error"))
            return
        try:
            proc, log = start_cli_run(self.home, pipeline, file, "--from", stage)
        except OSError as exc:
            self.post_message(self._Done(f"cannot start the pipeline: {exc}", "error"))
            return
        self.post_message(self._Done(f"Re-running {pipeline} from {stage} (pid {proc.pid}; output in {log})"))

    # -- the watcher --------------------------------------------------------------------------
    def _watchers(self) -> dict[str, Any]:
        """The app's watchers by pipeline file (they outlive this screen; the app stops them)."""
        watchers = getattr(self.app, "pipeline_watchers", None)
        if watchers is None:
            watchers = {}
            self.app.pipeline_watchers = watchers  # type: ignore[attr-defined]
        return watchers

    def watcher_for(self, file: str) -> Any:
        return self._watchers().get(str(Path(file).resolve()))

    def action_toggle_watcher(self) -> None:
        run = self.selected_run()
        if run is None:
            return
        key = str(Path(run.file).resolve())
        watchers = self._watchers()
        watcher = watchers.pop(key, None)
        self._toggle_watcher(key, run.pipeline, watcher)

    @work(thread=True, group="pipelines-watcher", exit_on_error=False)
    def _toggle_watcher(self, key: str, pipeline: str, watcher: Any) -> None:
        if watcher is not None:
            done = watcher.stop(30.0)
            self.post_message(self._Done(f"Stopped watching {Path(key).name}"
                                         + ("" if done else " (a run is still finishing)")))
            return
        from tui_mlops.pipeline.watch import Watcher

        app = self.app

        def on_event(event: Any) -> None:
            if event.kind in ("start", "done", "error"):
                app.notify(event.message, title=f"Watcher {pipeline}", markup=False,
                           severity="error" if event.kind == "error" else "information")
                self.post_message(self._Done(""))  # refresh now, if still shown

        try:
            new = Watcher(self.home, key, run=CliRun(pipeline), on_event=on_event)
            new.start()
        except (MlopsError, OSError) as exc:
            self.post_message(self._Done(f"Watcher not started: {exc}", "error"))
            return
        self.post_message(self._Done(new.describe(), watcher=new))

    @on(_Done)
    def _done(self, event: _Done) -> None:
        if event.watcher is not None:
            self._watchers()[str(event.watcher.pipeline_path)] = event.watcher
        if event.note:
            self.notify(event.note, severity=event.severity, markup=False)  # type: ignore[arg-type]
        self.reload()

    def row_texts(self) -> list[list[str]]:
        table = self.query_one("#pipe-runs", StateTable)
        return [[str(c) for c in table.get_row_at(r)] for r in range(table.row_count)]

    def stage_texts(self) -> list[list[str]]:
        table = self.query_one("#pipe-stages", StateTable)
        return [[str(c) for c in table.get_row_at(r)] for r in range(table.row_count)]

    def dag_plain(self) -> str:
        content = self.query_one("#pipe-dag", DagView).content
        return content.plain if isinstance(content, Text) else str(content)
