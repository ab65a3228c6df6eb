"""The Jobs screen (mode 6): background jobs, newest first, live; the highlighted job's log below.

A thread worker lists the jobs (jobs.manager.list_jobs: cheap, cached per process) once a second
while the screen is visible and whenever the runs watcher reports changes; the table is updated
cell by cell for known jobs and rebuilt only when jobs come or go. The log pane reads only the
bytes job.log gained since the last read.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Log, Static

from tui_mlops.errors import MlopsError
from tui_mlops.store.home import Home
from tui_mlops.tui.messages import RunsChanged
from tui_mlops.tui.screens import KeyedTable, ShellScreen
from tui_mlops.tui.screens.live import TimedRefresh
from tui_mlops.tui.screens.run_detail_panes import (
    ACTIVE, STATUS_CLASSES, STATUS_CSS, duration_text, set_line, status_text, when_text,
)
from tui_mlops.tui.screens.run_history import LogTail

PAGE_SIZE = 500
REFRESH_S = 1.0
COLUMNS = (("run", "run"), ("kind", "kind"), ("status", "status"), ("experiment", "experiment"),
           ("name", "name"), ("started", "started"), ("duration", "duration"), ("pid", "pid"))
NAME_WIDTH = 24


class JobsTable(KeyedTable):
    """The jobs table; statuses are coloured by theme variables (component classes)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = KeyedTable.COMPONENT_CLASSES | STATUS_CLASSES
    DEFAULT_CSS = "JobsTable {\n" + STATUS_CSS + "\n}"


def job_cells(node: Any, job: Any, now: float) -> list[Any]:
    """The table cells of one JobInfo (plain values, except the coloured status)."""
    name = job.name or "-"
    if len(name) > NAME_WIDTH:
        name = name[: NAME_WIDTH - 1] + "…"
    start = job.started or job.created
    end = job.ended if job.status not in ACTIVE else None
    duration = duration_text(job.started, end, now) if job.started else "-"
    if job.status not in ACTIVE and job.started and end is None:
        duration = "-"  # ended without an end time (crashed): a ticking clock would mislead
    # Text, not str: DataTable would read a str as markup, and names are the user's own text.
    return [Text(job.run_id[:8]), Text(job.kind or "-"), status_text(node, job.status),
            Text(job.experiment or "-"), Text(name), Text(when_text(start, now)),
            Text(duration), Text(str(job.pid) if job.pid else "-")]


class JobsScreen(TimedRefresh, ShellScreen):
    """Mode 6. Keys: `x` cancel, `R` re-run, `enter` open the run, `a` active only / all."""

    MODE = "jobs"
    CSS_PATH = "jobs.tcss"
    AUTO_FOCUS = "#jobs-table"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "cancel_job", "Cancel", id="jobs.cancel",
                tooltip="Stop the highlighted job (asks first)"),
        Binding("R", "rerun", "Re-run", id="jobs.rerun",
                tooltip="Run the highlighted job again as a new run (same spec)"),
        Binding("P", "pipelines", "Pipelines", id="jobs.pipelines",
                tooltip="Pipeline runs: their DAG, stage states and logs, cancel, re-run, watcher"),
        Binding("a", "toggle_active", "Active/all", id="jobs.toggle_active",
                tooltip="Show only queued and running jobs, or every job"),
        Binding("r", "reload", "Reload", show=False, id="jobs.reload",
                tooltip="List the jobs again now"),
        Binding("right_square_bracket", "page(1)", "Next page", show=False, id="jobs.page_next",
                tooltip="Show the next page of jobs"),
        Binding("left_square_bracket", "page(-1)", "Previous page", show=False,
                id="jobs.page_previous", tooltip="Show the previous page of jobs"),
    ]

    class _Listed(Message):
        def __init__(self, jobs: list[Any], log_run: str | None, log_lines: list[str] | None,
                   error: str | None = None) -> None:
            super().__init__()
            self.jobs = jobs
            self.log_run = log_run
            self.log_lines = log_lines
            self.error = error

    class _Done(Message):
        def __init__(self, note: str, severity: str = "information") -> None:
            super().__init__()
            self.note = note
            self.severity = severity

    def __init__(self, home: Home) -> None:
        super().__init__(id="mode-jobs")
        self.home = home
        self.jobs: list[Any] = []
        self.active_only = False
        self.page = 0
        self.loaded = False
        self._shown_keys: list[str] = []
        self._listing = False
        self._list_again = False
        self._log_run: str | None = None
        self._log_tail: LogTail | None = None
        self._keys_state: tuple[bool, bool] | None = None
        self.list_count = 0  # listings shown so far (tests wait on it)

    # -- layout -------------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        with Vertical(id="jobs-body"):
            yield Static("Jobs", id="jobs-title", classes="section-title", markup=False)
            yield JobsTable(id="jobs-table")
            yield Static("Log", id="jobs-log-title", classes="section-title", markup=False)
            yield Log(max_lines=1000, id="jobs-log")
        yield Static("Loading jobs …", id="jobs-empty", markup=False)

    def on_mount(self) -> None:
        table = self.query_one(JobsTable)
        for label, key in COLUMNS:
            table.add_column(label, key=key)
        self.query_one("#jobs-body").display = False
        self.start_refresh(REFRESH_S)

    def on_runs_changed(self, _message: RunsChanged) -> None:
        self.reload()

    # -- loading ------------------------------------------------------------------------------
    def reload(self) -> None:
        """List the jobs (and read the highlighted job's new log lines) in a thread."""
        if not self.live:
            return  # hidden: the resume lists them again
        if self._listing:
            self._list_again = True
            return
        self._listing = True
        self._list(self.active_only, self._log_run, self._log_tail)

    @work(thread=True, group="jobs-list", exit_on_error=False)
    def _list(self, active_only: bool, log_run: str | None, log_tail: LogTail | None) -> None:
        from tui_mlops.jobs.manager import list_jobs

        lines = None
        try:
            jobs = list_jobs(self.home, active_only=active_only)
            if log_tail is not None:
                lines = log_tail.read_new()
        except (MlopsError, OSError) as exc:
            self.post_message(self._Listed([], log_run, None, str(exc)))
            return
        self.post_message(self._Listed(jobs, log_run, lines))

    @on(_Listed)
    def _listed(self, event: _Listed) -> None:
        self._listing = False
        if event.error:
            self.notify(event.error, severity="error", markup=False)
        else:
            self.jobs = event.jobs
            self.loaded = True
            self.list_count += 1
            self._show()
            if event.log_run == self._log_run and event.log_lines:
                self.query_one("#jobs-log", Log).write_lines(event.log_lines)
        if self._list_again:
            self._list_again = False
            self.reload()

    # -- rendering ----------------------------------------------------------------------------
    def _show(self) -> None:
        body, empty = self.query_one("#jobs-body"), self.query_one("#jobs-empty", Static)
        if not self.jobs:
            body.display = False
            empty.display = True
            which = "No queued or running jobs" if self.active_only else "No jobs yet"
            empty.update(f"{which}.\n\nStart a training with n on the Experiments screen (2) or "
                         "`mlops-tui train …`; it runs here as a background job."
                         + ("\nPress a to show every job." if self.active_only else ""))
            self._select(None)
            return
        body.display = True
        empty.display = False
        pages = max(1, -(-len(self.jobs) // PAGE_SIZE))
        self.page = min(max(self.page, 0), pages - 1)
        start = self.page * PAGE_SIZE
        page = self.jobs[start:start + PAGE_SIZE]
        table = self.query_one(JobsTable)
        keys = [j.run_id for j in page]
        now = time.time()
        with self.app.batch_update():
            if keys == self._shown_keys:
                # The same jobs in the same order: update only the cells that changed.
                for job in page:
                    for (_label, col), value in zip(COLUMNS, job_cells(table, job, now)):
                        if str(table.get_cell(job.run_id, col)) != str(value) or col == "status":
                            table.update_cell(job.run_id, col, value, update_width=True)
            else:
                current = self.selected_run()
                table.clear()
                for job in page:
                    table.add_row(*job_cells(table, job, now), key=job.run_id)
                self._shown_keys = keys
                if current in keys:
                    table.move_cursor(row=keys.index(current))
        active = sum(1 for j in self.jobs if j.status in ACTIVE)
        title = (f"Jobs: {active} active" + ("" if self.active_only else f", {len(self.jobs):,} in all")
                 + " · newest first · a: " + ("show all" if self.active_only else "active only"))
        if pages > 1:
            title += f" · rows {start + 1:,}-{start + len(page):,} · [ ] pages"
        set_line(self.query_one("#jobs-title", Static), title)
        if self.focused is None:
            table.focus()
        self._select(self.selected_run())

    def selected_run(self) -> str | None:
        table = self.query_one(JobsTable)
        if table.row_count == 0:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def selected_job(self) -> Any:
        run = self.selected_run()
        return next((j for j in self.jobs if j.run_id == run), None)

    def _select(self, run_id: str | None) -> None:
        """Point the log pane at `run_id` (a new tail, read on the next refresh)."""
        job = next((j for j in self.jobs if j.run_id == run_id), None)
        title = "Log"
        if job is not None:
            title = f"Log of {job.run_id[:8]} ({job.name or job.kind}), live"
            if job.error and job.status not in ACTIVE:
                title = f"{job.status}: {job.error}"
        set_line(self.query_one("#jobs-log-title", Static), title)
        self.query_one("#jobs-log-title").set_class(
            job is not None and job.status in ("crashed", "failed"), "-problem")
        self._refresh_keys(job)
        if run_id == self._log_run:
            return
        self._log_run = run_id
        self._log_tail = LogTail(self.home.runs_dir / run_id / "job.log") if run_id else None
        self.query_one("#jobs-log", Log).clear()
        if run_id is not None:
            self.reload()

    def _refresh_keys(self, job: Any) -> None:
        """Refresh the footer only when cancel/re-run availability changed (it rebuilds itself)."""
        state = (job is not None, job is not None and job.status in ACTIVE)
        if state != self._keys_state:
            self._keys_state = state
            self.refresh_bindings()

    @on(KeyedTable.RowHighlighted, "#jobs-table")
    def _highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        if event.cursor_row == event.data_table.cursor_row:
            self._select(event.row_key.value)

    @on(KeyedTable.RowSelected, "#jobs-table")
    def _open(self, event: KeyedTable.RowSelected) -> None:
        from tui_mlops.tui.screens.run_detail import RunDetailScreen

        self.app.push_screen(RunDetailScreen(self.home, event.row_key.value, mode=self.MODE))

    # -- actions ------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_job":
            job = self.selected_job() if self.is_mounted else None
            return job is not None and job.status in ACTIVE
        if action == "rerun":
            return self.is_mounted and self.selected_job() is not None
        return True

    def action_toggle_active(self) -> None:
        self.active_only = not self.active_only
        self.page = 0
        self.notify("Showing active jobs only" if self.active_only else "Showing every job",
                    timeout=1.5)
        self.reload()

    def action_reload(self) -> None:
        self.reload()

    def action_pipelines(self) -> None:
        from tui_mlops.tui.screens.pipelines import PipelinesScreen

        self.app.push_screen(PipelinesScreen(self.home))

    def action_page(self, step: int) -> None:
        self.page += step
        self._show()

    def action_cancel_job(self) -> None:
        from tui_mlops.tui.screens.confirm import ConfirmScreen

        job = self.selected_job()
        if job is None or job.status not in ACTIVE:
            return
        self.app.push_screen(
            ConfirmScreen(f"Cancel job {job.run_id[:8]} ({job.name or job.kind}, {job.status})?",
                          "It gets SIGTERM, then SIGKILL after 5 s; what it logged so far is kept."),
            lambda yes: self._cancel(job.run_id) if yes else None)

    @work(thread=True, group="jobs-cancel", exit_on_error=False)
    def _cancel(self, run_id: str) -> None:
        from tui_mlops.jobs.manager import cancel

        try:
            status = cancel(self.home, run_id)
        except MlopsError as exc:
            self.post_message(self._Done(str(exc), "error"))
            return
        self.post_message(self._Done(f"Job {run_id[:8]}: {status}"))

    def action_rerun(self) -> None:
        job = self.selected_job()
        if job is not None:
            self._rerun(job.run_id)

    @work(thread=True, group="jobs-rerun", exit_on_error=False)
    def _rerun(self, run_id: str) -> None:
        try:
            from tui_mlops.training.train import rerun

            new_id = rerun(self.home, run_id)
        except ImportError:
            self.post_message(self._Done("Re-running is not available in this build.", "warning"))
            return
        except MlopsError as exc:
            self.post_message(self._Done(str(exc), "error"))
            return
        self.post_message(self._Done(f"Re-run of {run_id[:8]} started as {new_id[:8]}"))

    @on(_Done)
    def _done(self, event: _Done) -> None:
        self.notify(event.note, severity=event.severity, markup=False)  # type: ignore[arg-type]
        self.reload()

    def status_of(self, run_id: str) -> str | None:
        """The status shown for `run_id` (for tests and the palette)."""
        job = next((j for j in self.jobs if j.run_id == run_id), None)
        return job.status if job is not None else None

    def row_texts(self) -> list[list[str]]:
        """The table's rows as plain text, top to bottom."""
        table = self.query_one(JobsTable)
        return [[str(c) for c in table.get_row_at(r)] for r in range(table.row_count)]
