"""The clean form: pick one cleaning operation and its parameters; it makes a new version."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static

from tui_mlops.errors import InputError, MlopsError
from tui_mlops.store.home import Home
from tui_mlops.store.records import DatasetVersion

OPERATIONS: tuple[tuple[str, str], ...] = (
    ("Drop duplicate rows", "drop_duplicates"),
    ("Drop columns", "drop_columns"),
    ("Rename columns", "rename_columns"),
    ("Cast column types", "cast"),
    ("Fill nulls", "fill_nulls"),
    ("Filter rows", "filter"),
)
# Which field rows each operation shows (the rest are hidden).
FIELDS: dict[str, tuple[str, ...]] = {
    "drop_duplicates": ("columns",),
    "drop_columns": ("columns",),
    "rename_columns": ("mapping",),
    "cast": ("mapping",),
    "fill_nulls": ("columns", "strategy", "value"),
    "filter": ("expr",),
}
HELP: dict[str, str] = {
    "drop_duplicates": "Keeps the first of each set of equal rows; columns: compare only these "
                       "(blank = all).",
    "drop_columns": "Removes the listed columns.",
    "rename_columns": "mapping: old=new, other=new2",
    "cast": "mapping: column=TYPE, e.g. age=DOUBLE, day=DATE (DuckDB types)",
    "fill_nulls": "Replaces nulls in the listed columns (blank = all) by a constant, the median or the mode.",
    "filter": "Keeps rows matching, e.g.  age >= 18 and country in ('DE', 'FR')",
}


def split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_mapping(text: str, what: str) -> dict[str, str]:
    """`a=b, c=d` -> {"a": "b", "c": "d"}; InputError naming the bad pair."""
    mapping: dict[str, str] = {}
    for pair in split_list(text):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InputError(f"{what}: {pair!r} is not of the form name=value")
        mapping[key.strip()] = value.strip()
    if not mapping:
        raise InputError(f"{what}: give at least one name=value pair")
    return mapping


class FormScreen(ModalScreen[Any], inherit_bindings=False):
    """A keyboard form in a dialog: ctrl+s or enter applies, escape cancels; work runs in a worker."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="form.cancel", tooltip="Close the form without changes"),
        Binding("ctrl+s", "apply", "Apply", id="form.apply", tooltip="Run the operation"),
        Binding("tab", "app.focus_next", "Next field", show=False, id="form.next_field",
                tooltip="Move to the next field"),
        Binding("shift+tab", "app.focus_previous", "Previous field", show=False,
                id="form.previous_field", tooltip="Move to the previous field"),
    ]
    CSS_PATH = "version.tcss"

    class Finished(Message):
        def __init__(self, result: Any = None, error: str | None = None) -> None:
            super().__init__()
            self.result = result
            self.error = error

    busy = False

    def row(self, label: str, widget: Widget, name: str) -> Horizontal:
        return Horizontal(Label(label, classes="form-label"), widget, id=f"row-{name}",
                          classes="form-row")

    def action_cancel(self) -> None:
        if not self.busy:
            self.dismiss(None)

    def action_apply(self) -> None:
        if self.busy:
            return
        try:
            job = self.build()
        except MlopsError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        self.busy = True
        self.query_one(".form-status", Static).update("working…")
        self._run_job(job)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_apply()

    def build(self) -> Any:
        """Read the fields into the job's arguments (raise InputError on bad input)."""
        raise NotImplementedError

    def perform(self, job: Any) -> Any:
        """Runs in a worker thread."""
        raise NotImplementedError

    def succeeded(self, result: Any) -> None:
        raise NotImplementedError

    @work(thread=True, exclusive=True, group="form", exit_on_error=False)
    def _run_job(self, job: Any) -> None:
        try:
            result = self.perform(job)
        except MlopsError as exc:
            self.post_message(self.Finished(error=str(exc)))
        except Exception as exc:  # noqa: BLE001 - one line to the user, never a crash
            self.post_message(self.Finished(error=f"failed: {exc}"))
        else:
            self.post_message(self.Finished(result=result))

    @on(Finished)
    def _finished(self, event: Finished) -> None:
        self.busy = False
        self.query_one(".form-status", Static).update("")
        if event.error is not None:
            self.notify(event.error, severity="error", markup=False)
            return
        self.succeeded(event.result)


class CleanForm(FormScreen):
    """Dismisses with the new DatasetVersion, or None when cancelled."""

    AUTO_FOCUS = "#clean-op"

    def __init__(self, home: Home, version: DatasetVersion) -> None:
        super().__init__()
        self.home = home
        self.version = version

    def compose(self) -> ComposeResult:
        v = self.version
        with Vertical(id="clean-dialog", classes="form-dialog"):
            yield Static(f"Clean {v.name}@{v.short} into a new version", classes="form-title")
            yield self.row("operation", Select(OPERATIONS, value="drop_duplicates", allow_blank=False,
                                               compact=True, id="clean-op"), "op")
            yield self.row("columns", Input(placeholder="a, b (comma-separated)", compact=True,
                                            id="clean-columns"), "columns")
            yield self.row("mapping", Input(placeholder="old=new, col=TYPE", compact=True,
                                            id="clean-mapping"), "mapping")
            yield self.row("strategy", Select((("constant", "constant"), ("median", "median"),
                                               ("mode", "mode")), value="median",
                                              allow_blank=False, compact=True,
                                              id="clean-strategy"), "strategy")
            yield self.row("value", Input(placeholder="constant to fill with", compact=True,
                                          id="clean-value"), "value")
            yield self.row("expression", Input(placeholder="age >= 18 and country in ('DE')",
                                               compact=True, id="clean-expr"), "expr")
            yield self.row("into", Input(placeholder=f"{v.name} (dataset name of the result)",
                                         compact=True, id="clean-into"), "into")
            yield Static("", id="clean-help", classes="form-help", markup=False)
            yield Static("", classes="form-status", markup=False)
            yield Static("tab next field · enter/ctrl+s apply · escape cancel", classes="form-keys")

    def on_mount(self) -> None:
        self._show_fields("drop_duplicates")

    @on(Select.Changed, "#clean-op")
    def _op_changed(self, event: Select.Changed) -> None:
        self._show_fields(str(event.value))

    @on(Select.Changed, "#clean-strategy")
    def _strategy_changed(self, event: Select.Changed) -> None:
        self._show_fields(self.operation)

    @property
    def operation(self) -> str:
        return str(self.query_one("#clean-op", Select).value)

    def _show_fields(self, op: str) -> None:
        shown = FIELDS.get(op, ())
        for name in ("columns", "mapping", "strategy", "value", "expr"):
            visible = name in shown
            if name == "value":
                visible = visible and self.query_one("#clean-strategy", Select).value == "constant"
            self.query_one(f"#row-{name}").display = visible
        cols = ", ".join(c.name for c in self.version.columns)
        if len(cols) > 150:
            cols = cols[:149] + "…"
        self.query_one("#clean-help", Static).update(f"{HELP.get(op, '')}\ncolumns: {cols}")

    def _value(self, name: str) -> str:
        return self.query_one(f"#clean-{name}", Input).value.strip()

    def build(self) -> tuple[Any, str | None]:
        from tui_mlops.data.clean import CleanStep

        op = self.operation
        columns = split_list(self._value("columns"))
        if op == "drop_duplicates":
            params: dict[str, Any] = {"columns": columns or None}
        elif op == "drop_columns":
            if not columns:
                raise InputError("drop columns: list the columns to drop, e.g. a, b")
            params = {"columns": columns}
        elif op == "rename_columns":
            params = {"mapping": parse_mapping(self._value("mapping"), "rename")}
        elif op == "cast":
            params = {"types": parse_mapping(self._value("mapping"), "cast")}
        elif op == "fill_nulls":
            strategy = str(self.query_one("#clean-strategy", Select).value)
            params = {"columns": columns or [c.name for c in self.version.columns],
                      "strategy": strategy}
            if strategy == "constant":
                if not self._value("value"):
                    raise InputError("fill nulls: give the constant to fill with")
                params["value"] = self._value("value")
        else:
            if not self._value("expr"):
                raise InputError("filter: give an expression, e.g. age >= 18")
            params = {"expr": self._value("expr")}
        into = self._value("into") or None
        if into is not None:
            from tui_mlops.store.home import check_name

            check_name(into)
        return CleanStep(op, params), into

    def perform(self, job: tuple[Any, str | None]) -> tuple[DatasetVersion, bool]:
        from tui_mlops.data.clean import clean

        step, into = job
        return clean(self.home, self.version, [step], into=into)

    def succeeded(self, result: tuple[DatasetVersion, bool]) -> None:
        from tui_mlops.tui.messages import DatasetsChanged

        new, created = result
        if created:
            self.notify(f"created {new.name}@{new.short} ({new.rows:,} rows)", title="Clean",
                        markup=False)
        else:
            self.notify(f"{new.name}@{new.short} already exists (same data); opening it",
                        title="Clean", markup=False)
        self.app.post_message(DatasetsChanged(select=new))
        self.dismiss(new)
