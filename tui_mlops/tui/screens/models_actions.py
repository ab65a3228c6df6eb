"""Keys of the Models screen on the highlighted version: alias moves (with a forced promotion),
validation with progress and cancel, the latest report, export. The work runs in thread workers."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from textual import work
from textual.actions import SkipAction
from textual.message import Message

from tui_mlops.errors import InputError, MlopsError
from tui_mlops.tui.screens.models_panes import (
    ReportScreen, ValidationLine, alias_problem, gate_state, required,
)

DEFAULT_ALIAS = "staging"
PRODUCTION = "production"
NO_REPORT = "{ref} is not validated yet — press v to validate it"


class ActionDone(Message):
    """A registry change (or a failure) to tell the user about; the screen reloads."""

    bubble = False

    def __init__(self, note: str, severity: str = "information") -> None:
        super().__init__()
        self.note, self.severity = note, severity


class AliasRefused(Message):
    """set_alias refused `production` for a version whose gates failed (`message` says why)."""

    bubble = False

    def __init__(self, name: str, version: int, alias: str, message: str) -> None:
        super().__init__()
        self.name, self.version, self.alias, self.message = name, version, alias, message


class ValidationProgressed(Message):
    """The running validation's progress callback fired."""

    bubble = False

    def __init__(self, done: int, total: int, what: str) -> None:
        super().__init__()
        self.done, self.total, self.what = done, total, what

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ValidationProgressed)  # a backlog collapses to the newest


class ValidationFinished(Message):
    """The validation ended: a report (Markdown), an error, or cancelled."""

    bubble = False

    def __init__(self, ref: str, *, markdown: str | None = None, report_id: str | None = None,
                 passed: bool | None = None, error: str | None = None,
                 cancelled: bool = False) -> None:
        super().__init__()
        self.ref, self.markdown, self.report_id, self.passed = ref, markdown, report_id, passed
        self.error, self.cancelled = error, cancelled


class ReportLoaded(Message):
    """The latest report of a version was read (markdown None: never validated)."""

    bubble = False

    def __init__(self, ref: str, markdown: str | None, report_id: str | None = None,
                 error: str | None = None) -> None:
        super().__init__()
        self.ref, self.markdown, self.report_id, self.error = ref, markdown, report_id, error


def version_ref(version: Any) -> str:
    return f"{version.name} v{version.version}"


def report_markdown(home: Any, run_id: str, data: dict[str, Any]) -> str:
    """The Markdown of a stored report (its .md file, else rebuilt from the JSON)."""
    from tui_mlops.tracking.events import resolve_run_dir

    md = resolve_run_dir(home, run_id) / "validation" / f"{data.get('id')}.md"
    if data.get("id") and md.is_file():
        return md.read_text(encoding="utf-8")
    from tui_mlops.validation.report import ValidationReport

    return ValidationReport.from_dict(data).to_markdown()


class VersionActions:
    """Needs the screen's `home`, `selected_version()`, `reload()` and a ValidationLine."""

    home: Any
    app: Any
    validating: str | None
    validation_updates: int

    def init_actions(self) -> None:
        self.validating = None            # "churn v3" while a validation runs
        self.validation_updates = 0       # progress messages shown (tests)
        self.last_report: str | None = None  # Markdown of the report shown last (tests)
        self._cancel_event = threading.Event()

    def _version_or_warn(self) -> Any:
        version = self.selected_version()  # type: ignore[attr-defined]
        if version is None:
            self.notify("No version highlighted.", severity="warning")  # type: ignore[attr-defined]
        return version

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_validation":
            return self.validating is not None
        return True

    # -- aliases ------------------------------------------------------------------------------
    def action_set_alias(self) -> None:
        from tui_mlops.tui.screens.run_detail_panes import TextPrompt

        v = self._version_or_warn()
        if v is None:
            return
        self.app.push_screen(
            TextPrompt(f"Alias for {version_ref(v)}", value=DEFAULT_ALIAS,
                       placeholder="staging, production, or any name", check=alias_problem),
            lambda alias: self._move_alias(v.name, v.version, alias.strip()) if alias else None)

    @work(thread=True, exit_on_error=False, group="models-alias")
    def _move_alias(self, name: str, version: int, alias: str, force: bool = False,
                    reason: str | None = None) -> None:
        from tui_mlops.registry import models as R

        post = self.post_message  # type: ignore[attr-defined]
        try:
            move = R.set_alias(self.home, name, version, alias, reason=reason, force=force)
        except InputError as exc:
            if alias == PRODUCTION and not force and self._gates_failed(name, version):
                post(AliasRefused(name, version, alias, str(exc)))
            else:
                post(ActionDone(str(exc), "error"))
            return
        except MlopsError as exc:
            post(ActionDone(str(exc), "error"))
            return
        was = f" (was v{move.previous})" if move.previous not in (None, version) else ""
        forced = f", forced: {reason}" if force else ""
        post(ActionDone(f"{alias} → {name} v{version}{was}{forced}"))

    def _gates_failed(self, name: str, version: int) -> bool:
        from tui_mlops.registry import models as R

        try:
            return gate_state(R.resolve_model(self.home, f"{name}@{version}")) == "failed"
        except MlopsError:
            return False

    def on_alias_refused(self, event: AliasRefused) -> None:
        from tui_mlops.tui.screens.confirm import ConfirmScreen

        self.notify(event.message, severity="error", markup=False)  # type: ignore[attr-defined]
        self.app.push_screen(
            ConfirmScreen(f"Force {event.alias} onto {event.name} v{event.version}?",
                          "Its validation gates failed. Force with a reason? The reason and "
                          "your name are recorded in the alias history."),
            lambda yes: self._ask_reason(event) if yes else None)

    def _ask_reason(self, event: AliasRefused) -> None:
        from tui_mlops.tui.screens.run_detail_panes import TextPrompt

        self.app.push_screen(
            TextPrompt(f"Why force {event.alias} onto {event.name} v{event.version}?",
                       placeholder="the reason, recorded with the move",
                       check=required("a forced promotion's reason")),
            lambda reason: self._move_alias(event.name, event.version, event.alias, True,
                                            reason.strip()) if reason else None)

    def action_remove_alias(self) -> None:
        from tui_mlops.tui.screens.run_detail_panes import TextPrompt

        v = self._version_or_warn()
        if v is None:
            return
        aliases = sorted(v.aliases)
        if not aliases:
            self.notify(f"{version_ref(v)} has no alias to remove.", severity="warning")  # type: ignore[attr-defined]
            return

        def check(text: str) -> str | None:
            if text.strip() in aliases:
                return None
            return f"{version_ref(v)} has no alias {text.strip()!r} (it has {', '.join(aliases)})"

        self.app.push_screen(
            TextPrompt(f"Remove which alias of {version_ref(v)}? ({', '.join(aliases)})",
                       value=aliases[0], check=check),
            lambda alias: self._unalias(v.name, v.version, alias.strip()) if alias else None)

    @work(thread=True, exit_on_error=False, group="models-alias")
    def _unalias(self, name: str, version: int, alias: str) -> None:
        from tui_mlops.registry import models as R

        try:
            R.remove_alias(self.home, name, alias)
        except MlopsError as exc:
            self.post_message(ActionDone(str(exc), "error"))  # type: ignore[attr-defined]
            return
        self.post_message(ActionDone(f"Removed {alias} from {name} v{version}"))  # type: ignore[attr-defined]

    def on_action_done(self, event: ActionDone) -> None:
        self.notify(event.note, severity=event.severity, markup=False)  # type: ignore[attr-defined]
        self.reload()  # type: ignore[attr-defined]

    # -- validation ---------------------------------------------------------------------------
    @property
    def validation_line(self) -> ValidationLine:
        return self.query_one(ValidationLine)  # type: ignore[attr-defined]

    def action_validate(self) -> None:
        if self.validating is not None:
            self.notify(f"Validating {self.validating} already (escape or x cancels it).",  # type: ignore[attr-defined]
                        severity="warning")
            return
        v = self._version_or_warn()
        if v is None:
            return
        if v.dataset:
            self._start_validation(v, None, None)
            return
        # An imported model records no training data (and often no label column): ask for both.
        from tui_mlops.tui.screens.run_detail_panes import TextPrompt

        home = self.home  # type: ignore[attr-defined]

        def check(text: str) -> str | None:
            try:
                parse_eval_target(home, text)
            except (ValueError, MlopsError) as exc:
                return str(exc)
            return None

        self.app.push_screen(  # type: ignore[attr-defined]
            TextPrompt(f"{version_ref(v)} records no training data: validate on which labelled dataset?",
                       placeholder="NAME[@VER] [TARGET_COLUMN]", check=check),
            lambda text: self._start_validation(v, *parse_eval_target(home, text)) if text else None)

    def _start_validation(self, v: Any, data: str | None, target: str | None) -> None:
        self.validating = version_ref(v)
        self._cancel_event = threading.Event()
        self.validation_line.start(f"validating {self.validating}" + (f" on {data}" if data else ""))
        self.refresh_bindings()  # type: ignore[attr-defined]
        self._validate(v.name, v.version, self._cancel_event, data, target)

    @work(thread=True, exclusive=True, exit_on_error=False, group="models-validate")
    def _validate(self, name: str, version: int, cancel: threading.Event, data: str | None = None,
                  target: str | None = None) -> None:
        ref = f"{name} v{version}"
        post = self.post_message  # type: ignore[attr-defined]

        def progress(done: Any = 0, total: Any = 0, what: Any = "", *_rest: Any) -> None:
            post(ValidationProgressed(int(done or 0), int(total or 0), str(what or "")))

        try:
            from tui_mlops.validation.report import validate

            report = validate(self.home, f"{name}@{version}", data=data, target_column=target, progress=progress,
                              cancel=cancel)
            markdown = report.to_markdown()
        except MlopsError as exc:
            post(ValidationFinished(ref, error=str(exc), cancelled=cancel.is_set()))
            return
        except Exception as exc:  # noqa: BLE001 - ValidationCancelled, or a bug: one line, never a crash
            post(ValidationFinished(ref, error=f"validation failed: {' '.join(str(exc).split())}",
                                    cancelled=cancel.is_set()))
            return
        if cancel.is_set():
            post(ValidationFinished(ref, cancelled=True))
            return
        passed = (report.gates or {}).get("passed") if isinstance(report.gates, dict) else None
        post(ValidationFinished(ref, markdown=markdown, report_id=report.id, passed=passed))

    def on_validation_progressed(self, event: ValidationProgressed) -> None:
        if self.validating is None:
            return
        self.validation_updates += 1
        self.validation_line.advance(event.done, event.total, event.what)

    def action_cancel_validation(self) -> None:
        if self.validating is None:
            raise SkipAction()  # escape keeps its other meanings
        self._cancel_event.set()
        self.validation_line.note(f"cancelling the validation of {self.validating} …")

    def on_validation_finished(self, event: ValidationFinished) -> None:
        self.validating = None
        self.validation_line.stop()
        self.refresh_bindings()  # type: ignore[attr-defined]
        notify = self.notify  # type: ignore[attr-defined]
        if event.cancelled:
            notify(f"Validation of {event.ref} cancelled.", severity="warning")
        elif event.error:
            notify(event.error, severity="error", markup=False)
        else:
            verdict = {True: "gates passed", False: "gates FAILED"}.get(event.passed, "no gates")
            notify(f"Validated {event.ref}: {verdict} (report {event.report_id})",
                   severity="error" if event.passed is False else "information", markup=False)
            self._show_report(event.ref, event.markdown or "", event.report_id)
        self.reload()  # type: ignore[attr-defined]

    # -- reports and export -------------------------------------------------------------------
    def action_open_report(self) -> None:
        v = self._version_or_warn()
        if v is not None:
            self._load_report(version_ref(v), v.run_id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="models-report")
    def _load_report(self, ref: str, run_id: str) -> None:
        try:
            from tui_mlops.validation.report import list_reports, load_report

            if not list_reports(self.home, run_id):
                self.post_message(ReportLoaded(ref, None))  # type: ignore[attr-defined]
                return
            data = load_report(self.home, run_id)
            markdown = report_markdown(self.home, run_id, data)
        except (MlopsError, OSError) as exc:
            self.post_message(ReportLoaded(ref, None, error=str(exc)))  # type: ignore[attr-defined]
            return
        self.post_message(ReportLoaded(ref, markdown, str(data.get("id") or "")))  # type: ignore[attr-defined]

    def on_report_loaded(self, event: ReportLoaded) -> None:
        if event.error:
            self.notify(event.error, severity="error", markup=False)  # type: ignore[attr-defined]
        elif event.markdown is None:
            self.notify(NO_REPORT.format(ref=event.ref), severity="warning", markup=False)  # type: ignore[attr-defined]
        else:
            self._show_report(event.ref, event.markdown, event.report_id)

    def _show_report(self, ref: str, markdown: str, report_id: str | None) -> None:
        self.last_report = markdown
        title = f"Validation report {report_id} of {ref}" if report_id else f"Validation of {ref}"
        self.app.push_screen(ReportScreen(title, markdown))

    def action_export(self) -> None:
        from tui_mlops.tui.screens.run_detail_panes import TextPrompt

        v = self._version_or_warn()
        if v is None:
            return
        default = os.path.join(os.getcwd(), f"{v.name}-v{v.version}")
        self.app.push_screen(
            TextPrompt(f"Export {version_ref(v)} to folder", value=default,
                       check=required("the folder")),
            lambda dest: self._export(v.name, v.version, dest.strip()) if dest else None)

    @work(thread=True, exit_on_error=False, group="models-export")
    def _export(self, name: str, version: int, dest: str) -> None:
        try:
            from tui_mlops.registry.export import export_model

            path = export_model(self.home, f"{name}@{version}", Path(dest).expanduser())
        except (MlopsError, OSError) as exc:
            self.post_message(ActionDone(str(exc), "error"))  # type: ignore[attr-defined]
            return
        self.post_message(ActionDone(f"Exported {name} v{version} to {path}"))  # type: ignore[attr-defined]


def parse_eval_target(home: Any, text: str) -> tuple[str, str | None]:
    """`NAME[@VER] [TARGET]` typed for an imported model -> (dataset ref, target or None); the
    dataset must exist and hold the target column (ValueError / MlopsError, one line)."""
    from tui_mlops.data.versions import resolve

    parts = text.split()
    if not parts or len(parts) > 2:
        raise ValueError("type a dataset (NAME or NAME@VER) and, if the model does not know it, its label column")
    v = resolve(home, parts[0])
    target = parts[1] if len(parts) == 2 else None
    if target is not None and target not in [c.name for c in v.columns]:
        raise ValueError(f"{v.ref} has no column {target!r}")
    return v.ref, target
