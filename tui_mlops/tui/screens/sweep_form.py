"""The sweep form (`w` on Experiments): the training fields plus a parameter space, method and trials."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.widgets import Input, Select

from tui_mlops.errors import InputError
from tui_mlops.tui.screens.train_form import RunForm

METHODS = (("grid (every combination)", "grid"), ("random (seeded)", "random"))
SPACE_HELP = ("space: name=v1,v2,v3 (a list) · name=lo:hi (uniform) · name=lo:hi:log · "
              "name=lo:hi:int, separated by ';'")


class SweepForm(RunForm):
    """Dismisses with the sweep's parent run id, or None when cancelled."""

    TITLE_TEXT = "New sweep: one training job per trial, under a parent run"

    def compose_extra(self) -> ComposeResult:
        yield self.row("space", Input(placeholder="num_leaves=15,31,63; learning_rate=0.01:0.3:log",
                                      compact=True, id="form-space"), "space")
        yield self.row("method", Select(METHODS, value="grid", allow_blank=False, compact=True,
                                        id="form-method"), "method")
        yield self.row("trials", Input("10", placeholder="trials (random; grid caps at this)",
                                       type="integer", compact=True, id="form-trials"), "trials")

    def on_mount(self) -> None:
        super().on_mount()
        self._help(SPACE_HELP)

    @on(Select.Changed, "#form-method")
    def _method_changed(self, event: Select.Changed) -> None:
        self._help(SPACE_HELP)

    def build(self) -> dict[str, Any]:
        fields = self.spec_fields()
        space = self._text("space")
        if not space:
            raise InputError("space: give at least one parameter, e.g. num_leaves=15,31,63")
        return {"base": fields, "space": space, "method": self._select("method", "method"),
                "trials": self._int("trials", 1), "seed": fields["seed"]}

    def perform(self, job: dict[str, Any]) -> str:
        from tui_mlops.training.spec import prepare
        from tui_mlops.training.sweep import SweepSpec, parse_space, start_sweep

        space = parse_space(job["space"])  # a bad space fails before anything starts
        base = prepare(self.home, self.make_spec(job["base"]))
        sweep = SweepSpec(base=base, space=space, method=job["method"], trials=job["trials"],
                          seed=job["seed"])
        return start_sweep(self.home, sweep)

    def succeeded(self, run_id: str) -> None:
        self.notify(f"Started sweep {run_id}", title="Sweep", markup=False)
        self.dismiss(run_id)
