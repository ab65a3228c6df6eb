"""The run detail screen's actions: tag, note, re-run and cancel, each writing through a
service in a thread worker and re-reading the run when done."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from textual import work
from textual.message import Message

from tui_mlops.errors import MlopsError
from tui_mlops.tui.screens.run_detail_panes import TextPrompt, parse_tag, tag_problem


class RunActionDone(Message, bubble=False):
    """An action's worker finished: a note to show, and a run to open (a re-run) if any."""

    def __init__(self, note: str, severity: str = "information", open_run: str | None = None,
                 status: str | None = None) -> None:
        super().__init__()
        self.note = note
        self.severity = severity
        self.open_run = open_run
        self.status = status  # the run's status as the action left it (a cancel's final status)


class ReportReady(Message, bubble=False):
    """A validation report read for the run, to show."""

    def __init__(self, title: str, markdown: str) -> None:
        super().__init__()
        self.title, self.markdown = title, markdown


class RunActions:
    """Mixed into RunDetailScreen: needs `home`, `run_id`, `detail`, `log_y`, `MODE`,
    `load_detail()` and `request_read()`."""

    home: Any
    run_id: str
    detail: Any
    log_y: bool
    MODE: str

    def action_toggle_log_scale(self) -> None:
        self.log_y = not self.log_y
        hint = "space picks" + (" · log y" if self.log_y else "")
        self.query_one("#charts .metric-hint").update(hint)
        self.notify("log scale" if self.log_y else "linear scale", timeout=1.5)
        self.request_read()  # the charts redraw with the new scale even without new points

    def action_tag(self) -> None:
        self.app.push_screen(
            TextPrompt(f"Tag run {self.run_id[:8]} (key=value)", placeholder="team=risk",
                       check=tag_problem), self._tag_entered)

    def _tag_entered(self, text: str | None) -> None:
        if text is not None:
            key, value = parse_tag(text)
            self._write_edit("tags", {key: value})

    def action_note(self) -> None:
        note = (getattr(self.detail, "note", None) or "") if self.detail is not None else ""
        self.app.push_screen(TextPrompt(f"Note for run {self.run_id[:8]}", value=note,
                                        placeholder="what this run tried"), self._note_entered)

    def _note_entered(self, text: str | None) -> None:
        if text is not None:
            self._write_edit("note", text.strip())

    @work(thread=True, group="run-edit", exit_on_error=False)
    def _write_edit(self, what: str, value: Any) -> None:
        from tui_mlops.tracking.api import attach_run

        try:
            edits = attach_run(self.home, self.run_id)
            if what == "tags":
                edits.set_tags(value)
                note = "Tagged " + ", ".join(f"{k}={v}" for k, v in value.items())
            else:
                edits.note(value)
                note = "Note saved"
        except MlopsError as exc:
            self.post_message(RunActionDone(str(exc), "error"))
            return
        self.post_message(RunActionDone(note))

    def action_rerun(self) -> None:
        self._rerun()

    @work(thread=True, group="run-rerun", exit_on_error=False)
    def _rerun(self) -> None:
        try:
            from tui_mlops.training.train import rerun

            new_id = rerun(self.home, self.run_id)
        except ImportError:
            self.post_message(RunActionDone("Re-running is not available in this build.", "warning"))
            return
        except MlopsError as exc:
            self.post_message(RunActionDone(str(exc), "error"))
            return
        self.post_message(RunActionDone(f"Re-run of {self.run_id[:8]} started as {new_id[:8]}",
                                     open_run=new_id))

    def action_cancel_run(self) -> None:
        from tui_mlops.tui.screens.confirm import ConfirmScreen

        d = self.detail
        if d is None:
            return
        self.app.push_screen(
            ConfirmScreen(f"Cancel run {d.run_id[:8]} ({d.name or d.kind})?",
                          "The job gets SIGTERM, then SIGKILL after 5 s; its metrics so far are kept."),
            lambda yes: self._cancel(d.run_id) if yes else None)

    @work(thread=True, group="run-cancel", exit_on_error=False)
    def _cancel(self, run_id: str) -> None:
        from tui_mlops.jobs.manager import cancel

        try:
            status = cancel(self.home, run_id)
        except MlopsError as exc:
            self.post_message(RunActionDone(str(exc), "error"))
            return
        self.post_message(RunActionDone(f"Run {run_id[:8]}: {status}", status=status))

    def action_validation_report(self) -> None:
        self._load_validation_report(self.run_id)

    @work(thread=True, exclusive=True, group="run-report", exit_on_error=False)
    def _load_validation_report(self, run_id: str) -> None:
        from tui_mlops.tui.screens.models_actions import report_markdown
        from tui_mlops.validation.report import list_reports, load_report

        try:
            if not list_reports(self.home, run_id):
                self.post_message(RunActionDone(
                    f"Run {run_id[:8]} has no validation report yet: run mlops-tui validate {run_id[:8]}, "
                    f"or v on a registered version in Models (4)", "warning"))
                return
            data = load_report(self.home, run_id)
            markdown = report_markdown(self.home, run_id, data)
        except (MlopsError, OSError) as exc:
            self.post_message(RunActionDone(str(exc), "error"))
            return
        self.post_message(ReportReady(f"Validation report {data.get('id')} of run {run_id[:8]}", markdown))

    def on_report_ready(self, event: ReportReady) -> None:
        from tui_mlops.tui.screens.models_panes import ReportScreen

        self.app.push_screen(ReportScreen(event.title, event.markdown))

    def on_run_action_done(self, event: RunActionDone) -> None:
        self.notify(event.note, severity=event.severity, markup=False)  # type: ignore[arg-type]
        if event.status and self.detail is not None and self.detail.status != event.status:
            # Shown at once: the folded run (read next) may lag a busy catalog by a few seconds.
            self.detail = replace(self.detail, status=event.status)
            self._show_header()
            self._refresh_keys()
        self.load_detail()
        if event.open_run:
            from tui_mlops.tui.screens.run_detail import RunDetailScreen

            self.app.push_screen(RunDetailScreen(self.home, event.open_run, mode=self.MODE))


