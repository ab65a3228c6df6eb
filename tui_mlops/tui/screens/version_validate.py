"""The Validate pane of the version screen: rule verdicts in colour, with failing example rows."""

from __future__ import annotations

import json
from typing import Any

from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from tui_mlops.errors import MlopsError, NotFoundError
from tui_mlops.store.home import Home
from tui_mlops.store.records import DatasetVersion
from tui_mlops.tui.screens.version_panes import StatsTable
from tui_mlops.tui.widgets.paged_table import format_cell
from tui_mlops.tui.widgets.vim import VimDataTable


def describe_rule(rule: Any) -> str:
    if getattr(rule, "label", None):
        return str(rule.label)
    params = getattr(rule, "params", {}) or {}
    bits = " ".join(f"{k}={v}" for k, v in params.items() if k not in ("type", "column", "name"))
    return f"{rule.type} {bits}".strip()


class ValidatePane(Vertical):
    """Runs the dataset's rules file against this version in a worker."""

    class _Done(Message):
        def __init__(self, report: Any = None, error: str | None = None,
                     missing: bool = False) -> None:
            super().__init__()
            self.report = report
            self.error = error
            self.missing = missing

    class _Rerun(Message):
        pass

    def __init__(self, home: Home, version: DatasetVersion, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.home = home
        self.version = version
        self.report: Any = None
        self.state = "idle"  # idle | running | done | missing | failed
        self.rules_file = ""

    def compose(self) -> ComposeResult:
        yield Static("", id="validate-summary", classes="pane-note")
        yield StatsTable(id="validate-table")
        yield Static("", id="validate-examples-title", classes="pane-note")
        yield VimDataTable(id="validate-examples", zebra_stripes=True, cursor_type="row")

    def on_mount(self) -> None:
        self.query_one("#validate-table", DataTable).add_columns(
            "verdict", "rule", "column", "failing", "checked", "message")
        self._examples_visible(False)

    def _examples_visible(self, on_: bool) -> None:
        self.query_one("#validate-examples").display = on_
        self.query_one("#validate-examples-title").display = on_

    def _summary(self, text: str | Text) -> None:
        self.query_one("#validate-summary", Static).update(text)

    def ensure(self) -> None:
        if self.state == "idle":
            self.run()

    def run(self) -> None:
        self.state = "running"
        self.screen.refresh_bindings()
        self._summary("validating…")
        self._validate()

    @work(thread=True, exclusive=True, group="validate", exit_on_error=False)
    def _validate(self) -> None:
        from tui_mlops.data import rules as R

        try:
            self.rules_file = str(R.rules_path(self.home, self.version.name))
            report = R.validate(self.home, self.version)
        except NotFoundError as exc:
            self.post_message(self._Done(error=str(exc), missing=True))
        except MlopsError as exc:
            self.post_message(self._Done(error=str(exc)))
        except Exception as exc:  # noqa: BLE001 - shown to the user, never a crash
            self.post_message(self._Done(error=f"validation failed: {exc}"))
        else:
            self.post_message(self._Done(report=report))

    @on(_Done)
    def _done(self, event: _Done) -> None:
        event.stop()
        self.screen.refresh_bindings()  # r and i depend on the new state
        table = self.query_one("#validate-table", DataTable)
        table.clear()
        self._examples_visible(False)
        if event.missing:
            self.state = "missing"
            table.display = False
            name = self.version.name
            self._summary(Text.assemble(
                (f"No validation rules for {name!r} yet.", "bold"),
                f" They live in\n{self.rules_file}: TOML, one [[rule]] per check\n"
                "(not_null, range, allowed_values, unique, regex, row_count, column_present,\n"
                "max_null_share).\n\n"
                "Press i to write a starter file from this schema, or run\n  ",
                (f"mlops-tui data rules {name} --init", "bold"),
                "\nfor a commented example; edit the file, then press r to validate."))
            return
        table.display = True
        if event.error is not None:
            self.state = "failed"
            self._summary(Text(f"error: {event.error}  ·  fix the rules file, then press r"))
            self.notify(event.error, severity="error", markup=False)
            return
        self.state = "done"
        self.report = event.report
        self._fill(event.report)

    def _fill(self, report: Any) -> None:
        css = self.app.get_css_variables()
        ok_style = Style(color=css.get("success", "green"), bold=True)
        bad_style = Style(color=css.get("error", "red"), bold=True)
        table = self.query_one("#validate-table", DataTable)
        for res in report.results:
            rule = res.rule
            verdict = Text("PASS", style=ok_style) if res.passed else Text("FAIL", style=bad_style)
            column = ", ".join(getattr(rule, "columns", None) or []) or "–"
            table.add_row(verdict, Text(describe_rule(rule)), Text(str(column)),
                          f"{res.failing:,}", f"{res.checked:,}", Text(res.message or ""))
        failed = sum(1 for r in report.results if not r.passed)
        total = len(report.results)
        head = Text.assemble(
            ("PASSED" if failed == 0 else "FAILED", ok_style if failed == 0 else bad_style),
            f"  {total - failed} of {total} rules passed  ·  r re-runs  ·  ↑↓ picks a rule")
        self._summary(head)
        if report.results:
            self._show_examples(0)

    def _show_examples(self, index: int) -> None:
        results = self.report.results if self.report else []
        if not 0 <= index < len(results):
            return
        res = results[index]
        examples = self.query_one("#validate-examples", DataTable)
        examples.clear(columns=True)
        if res.passed or not res.examples:
            self._examples_visible(False)
            return
        self._examples_visible(True)
        # Each example is {"row": 0-based row, "values": {column: value}}.
        keys: list[str] = []
        for ex in res.examples:
            keys += [k for k in (ex.get("values") or {}) if k not in keys]
        examples.add_columns("row", *(Text(k) for k in keys))
        for ex in res.examples:
            values = ex.get("values") or {}
            row = ex.get("row")
            examples.add_row(Text(f"{row + 1:,}" if isinstance(row, int) else "–", style="dim"),
                             *(Text(format_cell(values.get(k)).text) for k in keys))
        self.query_one("#validate-examples-title", Static).update(
            f"example failing rows of “{describe_rule(res.rule)}” "
            f"({len(res.examples)} of {res.failing:,})")

    @on(DataTable.RowHighlighted, "#validate-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_examples(event.cursor_row)

    def init_rules(self) -> None:
        """Write a starter rules file (only when none exists), then validate with it."""
        if self.state != "missing":
            return
        self._write_starter()

    @work(thread=True, exclusive=True, group="validate", exit_on_error=False)
    def _write_starter(self) -> None:
        from tui_mlops.data import rules as R

        try:
            R.save_rules(self.home, self.version.name, starter_rules(self.version, R.EXAMPLE_RULES))
        except MlopsError as exc:
            self.post_message(self._Done(error=str(exc)))
            return
        self.notify(f"wrote {R.rules_path(self.home, self.version.name)}", markup=False)
        self.post_message(self._Rerun())

    @on(_Rerun)
    def _rerun(self, event: _Rerun) -> None:
        event.stop()
        self.run()


def starter_rules(v: DatasetVersion, reference: str = "") -> str:
    """Rules that hold for this version (rows > 0, every column present with its type), followed
    by `reference` (every rule type, with comments) commented out, to copy from."""
    lines = [f"# Validation rules for dataset {v.name!r}, started from the schema of {v.ref}.", "",
             "[[rule]]", 'type = "row_count"', "min = 1", ""]
    for col in v.columns:
        lines += ["[[rule]]", 'type = "column_present"', f"column = {_toml_str(col.name)}",
                  f"dtype = {_toml_str(col.type)}", ""]
    if reference:
        lines += ["# ---- every rule type, to copy and edit (remove the leading '# ') ----"]
        lines += [f"# {line}" if line.strip() else "#" for line in reference.splitlines()]
    return "\n".join(lines) + "\n"


def _toml_str(s: str) -> str:
    # A JSON string (with \uXXXX escapes) is also a valid TOML basic string.
    return json.dumps(s)
