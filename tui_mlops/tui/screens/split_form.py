"""The split form: train/valid/test versions by random, stratified or time split."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Select, Static

from tui_mlops.errors import InputError
from tui_mlops.store.home import Home
from tui_mlops.store.records import DatasetVersion
from tui_mlops.tui.screens.clean_form import FormScreen, split_list

METHODS = (("random (seeded)", "random"), ("stratified by a column", "stratified"),
           ("by time column", "time"))
HELP = {
    "random": "Rows are shuffled with the seed; the same seed gives the same versions.",
    "stratified": "Each split keeps the class shares of the stratify column.",
    "time": "Oldest rows train, newest test. Cut-offs (1 or 2 dates/numbers) override the ratios.",
}
TEMPORAL_HINTS = ("DATE", "TIME")


def parse_ratios(text: str) -> tuple[float, float, float]:
    parts = split_list(text)
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise InputError(f"ratios: {text!r} must be numbers, e.g. 0.7, 0.15, 0.15") from None
    if len(values) == 2:
        values.append(0.0)
    if len(values) != 3 or any(v < 0 for v in values) or abs(sum(values) - 1.0) > 1e-6:
        raise InputError(f"ratios: {text!r} must be 2 or 3 non-negative numbers summing to 1")
    return values[0], values[1], values[2]


class SplitForm(FormScreen):
    """Dismisses with {"train": v, "valid": v, "test": v} (parts with ratio 0 left out), or None."""

    AUTO_FOCUS = "#split-method"

    def __init__(self, home: Home, version: DatasetVersion) -> None:
        super().__init__()
        self.home = home
        self.version = version

    def compose(self) -> ComposeResult:
        v = self.version
        columns = [(c.name, c.name) for c in v.columns]
        temporal = [c.name for c in v.columns if any(h in c.type.upper() for h in TEMPORAL_HINTS)]
        with Vertical(id="split-dialog", classes="form-dialog"):
            yield Static(f"Split {v.name}@{v.short} into train / valid / test", classes="form-title")
            yield self.row("method", Select(METHODS, value="random", allow_blank=False, compact=True,
                                            id="split-method"), "method")
            yield self.row("ratios", Input("0.7, 0.15, 0.15", compact=True, id="split-ratios"),
                           "ratios")
            yield self.row("seed", Input("42", type="integer", compact=True, id="split-seed"), "seed")
            yield self.row("stratify by", Select(columns, prompt="column", compact=True,
                                                 id="split-stratify"), "stratify")
            yield self.row("time column", Select(columns, prompt="column", compact=True,
                                                 value=temporal[0] if temporal else Select.NULL,
                                                 id="split-time"), "time")
            yield self.row("cut-offs", Input(placeholder="optional: 2024-06-01  or  2024-03-01, 2024-06-01",
                                             compact=True, id="split-cutoffs"), "cutoffs")
            yield Static("", id="split-help", classes="form-help", markup=False)
            yield Static("", classes="form-status", markup=False)
            yield Static("tab next field · enter/ctrl+s apply · escape cancel", classes="form-keys")

    def on_mount(self) -> None:
        self._show_fields("random")

    @on(Select.Changed, "#split-method")
    def _method_changed(self, event: Select.Changed) -> None:
        self._show_fields(str(event.value))

    @property
    def method(self) -> str:
        return str(self.query_one("#split-method", Select).value)

    def _show_fields(self, method: str) -> None:
        self.query_one("#row-seed").display = method in ("random", "stratified")
        self.query_one("#row-stratify").display = method == "stratified"
        self.query_one("#row-time").display = method == "time"
        self.query_one("#row-cutoffs").display = method == "time"
        self.query_one("#split-help", Static).update(
            HELP[method] + f"\nresults: {self.version.name}.train, .valid, .test")

    def _column(self, select_id: str, what: str) -> str:
        value = self.query_one(select_id, Select).value
        if value is Select.NULL:
            raise InputError(f"{what}: choose a column")
        return str(value)

    def build(self) -> dict[str, Any]:
        method = self.method
        kwargs: dict[str, Any] = {"method": method,
                                  "ratios": parse_ratios(self.query_one("#split-ratios", Input).value)}
        seed_text = self.query_one("#split-seed", Input).value.strip()
        if method in ("random", "stratified"):
            if not seed_text.lstrip("-").isdigit():
                raise InputError(f"seed: {seed_text!r} is not a whole number")
            kwargs["seed"] = int(seed_text)
        if method == "stratified":
            kwargs["stratify"] = self._column("#split-stratify", "stratify by")
        if method == "time":
            kwargs["time_column"] = self._column("#split-time", "time column")
            cutoffs = split_list(self.query_one("#split-cutoffs", Input).value)
            if cutoffs:
                if len(cutoffs) > 2:
                    raise InputError("cut-offs: give one (test starts) or two (valid starts, test starts)")
                kwargs["cutoffs"] = cutoffs
        return kwargs

    def perform(self, job: dict[str, Any]) -> dict[str, DatasetVersion]:
        from tui_mlops.data.split import split

        return split(self.home, self.version, **job)

    def succeeded(self, result: dict[str, DatasetVersion]) -> None:
        from tui_mlops.tui.messages import DatasetsChanged

        refs = ", ".join(f"{part}: {v.name}@{v.short} ({v.rows:,} rows)" for part, v in result.items())
        self.notify(refs, title="Split", timeout=10, markup=False)
        first = next(iter(result.values()), None)
        self.app.post_message(DatasetsChanged(select=first))
        self.dismiss(result)
