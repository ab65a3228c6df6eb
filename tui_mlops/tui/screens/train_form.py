"""The training form (`n` on Experiments): a TrainSpec by keyboard, validated and started as a job.

Datasets, their columns and the GPU check load in thread workers; the spec is prepared (every
column, param and target checked) and the job submitted in a worker too, so nothing blocks keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Input, Select, Static

from tui_mlops.errors import InputError, MlopsError
from tui_mlops.tui.screens.clean_form import FormScreen, split_list

if TYPE_CHECKING:
    from tui_mlops.store.home import Home
    from tui_mlops.store.records import DatasetVersion

MODELS = (("LightGBM", "lightgbm"), ("random forest", "random_forest"),
          ("logistic regression", "logistic"), ("linear regression", "linear"),
          ("hist gradient boosting", "hist_gb"))
TASKS = (("auto (from the target)", "auto"), ("binary", "binary"), ("multiclass", "multiclass"),
         ("regression", "regression"))
DEVICES = (("cpu", "cpu"), ("gpu (LightGBM OpenCL)", "gpu"))
TARGET_HINTS = ("target", "label", "y", "churn", "churned", "class", "outcome")
VERSIONS_PER_DATASET = 3  # the newest few of each dataset; older ones via the CLI
KEYS_LINE = "tab next field · enter/ctrl+s start · escape cancel"


def parse_param_text(text: str) -> list[str]:
    """`num_leaves=31, learning_rate=0.05` -> ["num_leaves=31", "learning_rate=0.05"]."""
    items = split_list(text)
    for item in items:
        if "=" not in item or not item.split("=", 1)[0].strip():
            raise InputError(f"params: {item!r} is not of the form name=value")
    return items


def parse_transforms(text: str) -> list[dict[str, Any]]:
    """`log:income; bins:age:10; date_parts:signup:year,month; ratio:debt:income[:name]` -> transforms."""
    out: list[dict[str, Any]] = []
    for item in (part.strip() for part in text.split(";")):
        if not item:
            continue
        op, *args = [a.strip() for a in item.split(":")]
        if op == "log" and len(args) == 1 and args[0]:
            out.append({"op": "log", "column": args[0]})
        elif op == "bins" and len(args) == 2 and args[1].isdigit():
            out.append({"op": "bins", "column": args[0], "bins": int(args[1])})
        elif op == "date_parts" and len(args) in (1, 2) and args[0]:
            t: dict[str, Any] = {"op": "date_parts", "column": args[0]}
            if len(args) == 2:
                t["parts"] = split_list(args[1])
            out.append(t)
        elif op == "ratio" and len(args) in (2, 3) and args[0] and args[1]:
            t = {"op": "ratio", "num": args[0], "den": args[1]}
            if len(args) == 3 and args[2]:
                t["name"] = args[2]
            out.append(t)
        else:
            raise InputError(f"transforms: {item!r} is not one of log:COL, bins:COL:N, "
                             "date_parts:COL[:year,month,...], ratio:A:B[:NAME]")
    return out


def guess_target(columns: list[str]) -> str | None:
    lower = {c.lower(): c for c in columns}
    return next((lower[h] for h in TARGET_HINTS if h in lower), None)


class RunForm(FormScreen):
    """The fields a training spec needs; subclasses add theirs and decide what `perform` starts."""

    CSS_PATH = "experiments.tcss"
    AUTO_FOCUS = "#form-dataset"
    TITLE_TEXT = "New training run"

    def __init__(self, home: Home, *, experiment: str | None = None) -> None:
        super().__init__()
        self.home = home
        self.experiment = experiment or "default"
        self.versions: dict[str, DatasetVersion] = {}  # ref -> version

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form-dialog run-form"):
            yield Static(self.TITLE_TEXT, classes="form-title", markup=False)
            yield from self.compose_base()
            yield from self.compose_extra()
            yield Static("", id="form-help", classes="form-help", markup=False)
            yield Static("", id="form-gpu", classes="form-help", markup=False)
            yield Static("", classes="form-status", markup=False)
            yield Static(KEYS_LINE, classes="form-keys", markup=False)

    def compose_base(self) -> ComposeResult:
        def text(name: str, placeholder: str, value: str = "", **kw: Any) -> Input:
            return Input(value, placeholder=placeholder, compact=True, id=f"form-{name}", **kw)

        yield self.row("dataset", Select((), prompt="loading datasets …", compact=True,
                                         id="form-dataset"), "dataset")
        yield self.row("target", Select((), prompt="choose a dataset first", compact=True,
                                        id="form-target"), "target")
        yield self.row("model", Select(MODELS, value="lightgbm", allow_blank=False, compact=True,
                                       id="form-model"), "model")
        yield self.row("task", Select(TASKS, value="auto", allow_blank=False, compact=True,
                                      id="form-task"), "task")
        yield self.row("params", text("params", "num_leaves=31, learning_rate=0.05"), "params")
        yield self.row("features", text("features", "blank: all other columns"), "features")
        yield self.row("drop", text("drop", "columns to leave out, comma-separated"), "drop")
        yield self.row("transforms", text("transforms", "log:income; bins:age:10; ratio:a:b"),
                       "transforms")
        yield self.row("seed", text("seed", "42", "42", type="integer"), "seed")
        yield self.row("rounds", text("rounds", "200 (boosting rounds)", "200", type="integer"),
                       "rounds")
        yield self.row("experiment", text("experiment", "default", self.experiment), "experiment")
        yield self.row("name", text("name", "optional run name"), "name")
        yield self.row("device", Select(DEVICES, value="cpu", allow_blank=False, compact=True,
                                        id="form-device"), "device")

    def compose_extra(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self._load_datasets()
        self._detect_devices()

    # -- loading choices ---------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="form-datasets", exit_on_error=False)
    def _load_datasets(self) -> None:
        from tui_mlops.data.versions import list_versions

        try:
            versions = list_versions(self.home)
        except MlopsError as exc:
            self.app.call_from_thread(self._help, f"datasets: {exc}")
            return
        self.app.call_from_thread(self._datasets_loaded, versions)

    def _datasets_loaded(self, versions: list[DatasetVersion]) -> None:
        if not self.is_mounted:
            return  # the form was closed while the catalog was read
        options: list[tuple[str, str]] = []
        seen: dict[str, int] = {}
        for v in versions:  # newest version of each dataset first
            n = seen.get(v.name, 0)
            if n >= VERSIONS_PER_DATASET:
                continue
            seen[v.name] = n + 1
            label = (f"{v.name}  (latest {v.short}, {v.rows:,} rows)" if n == 0
                     else f"{v.name}@{v.short}  ({v.rows:,} rows)")
            options.append((label, v.ref))
            self.versions[v.ref] = v
        select = self.query_one("#form-dataset", Select)
        options.sort(key=lambda o: o[1].split("@")[0])
        select.set_options(options)
        select.prompt = "choose a dataset" if options else "no datasets: add one on screen 1"

    @on(Select.Changed, "#form-dataset")
    def _dataset_changed(self, event: Select.Changed) -> None:
        target = self.query_one("#form-target", Select)
        v = self.versions.get(str(event.value)) if event.value is not Select.NULL else None
        if v is None:
            target.set_options(())
            return
        columns = [c.name for c in v.columns]
        target.set_options([(f"{c.name}  {c.type}", c.name) for c in v.columns])
        target.prompt = "choose the target column"
        guess = guess_target(columns)
        if guess is not None:
            target.value = guess
        self._help(_cut(f"{v.name}@{v.short}: {v.rows:,} rows; columns: " + ", ".join(columns), 150))

    @work(thread=True, exclusive=True, group="form-devices", exit_on_error=False)
    def _detect_devices(self) -> None:
        try:
            from tui_mlops.training.devices import detect

            info = detect()
        except Exception as exc:  # noqa: BLE001 - the form works on CPU whatever happens here
            self.app.call_from_thread(self._devices_detected, False, f"not checked ({exc})")
            return
        self.app.call_from_thread(self._devices_detected, bool(info.gpu_usable), info.message)

    def _devices_detected(self, usable: bool, message: str) -> None:
        if not self.is_mounted:
            return
        if not usable:
            self.query_one("#form-device", Select).set_options([("cpu (no usable GPU: see below)",
                                                                  "cpu")])
            self.query_one("#form-device", Select).value = "cpu"
        self.query_one("#form-device", Select).tooltip = message
        self.query_one("#form-gpu", Static).update("gpu: " + _cut(message, 150))

    def _help(self, text: str) -> None:
        if self.is_mounted:
            self.query_one("#form-help", Static).update(text)

    # -- building the spec -------------------------------------------------------------------
    def _text(self, name: str) -> str:
        return self.query_one(f"#form-{name}", Input).value.strip()

    def _int(self, name: str, minimum: int) -> int:
        text = self._text(name)
        if not text.lstrip("-").isdigit() or int(text) < minimum:
            raise InputError(f"{name}: {text!r} is not a whole number >= {minimum}")
        return int(text)

    def _select(self, name: str, what: str) -> str:
        value = self.query_one(f"#form-{name}", Select).value
        if value is Select.NULL:
            raise InputError(f"{what}: choose one")
        return str(value)

    def spec_fields(self) -> dict[str, Any]:
        """The form's fields as TrainSpec arguments (params still as k=v texts)."""
        task = self._select("task", "task")
        return {
            "dataset": self._select("dataset", "dataset"),
            "target": self._select("target", "target"),
            "model": self._select("model", "model"),
            "task": None if task == "auto" else task,
            "params": parse_param_text(self._text("params")),
            "features": split_list(self._text("features")) or None,
            "drop": split_list(self._text("drop")),
            "transforms": parse_transforms(self._text("transforms")),
            "seed": self._int("seed", 0),
            "num_boost_round": self._int("rounds", 1),
            "experiment": self._text("experiment") or "default",
            "name": self._text("name") or None,
            "device": self._select("device", "device"),
        }

    def build(self) -> dict[str, Any]:
        return self.spec_fields()

    def make_spec(self, fields: dict[str, Any]) -> Any:
        """The TrainSpec (runs in the worker: importing training is not free)."""
        from tui_mlops.training.spec import TrainSpec, parse_params

        return TrainSpec(**{**fields, "params": parse_params(fields["params"])})

    def perform(self, job: dict[str, Any]) -> str:
        from tui_mlops.training.train import start_training

        return start_training(self.home, self.make_spec(job))

    def succeeded(self, run_id: str) -> None:
        self.notify(f"Started training run {run_id}", title="Train", markup=False)
        self.dismiss(run_id)


class TrainForm(RunForm):
    """Dismisses with the new run id, or None when cancelled."""


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
