"""Pipeline stage kinds: the KINDS table (params, types, outputs), running one stage against the
existing services (`run_stage`), and the fingerprint that lets an unchanged stage be skipped."""

from __future__ import annotations

import hashlib
import importlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tui_mlops.errors import InputError, MlopsError

LogFn = Callable[[str], Any]
# A param's type: a Python type (or a tuple of them) checked with isinstance; `float` also takes ints.
ParamType = Any


@dataclass(frozen=True)
class StageKind:
    params: dict[str, tuple[ParamType, bool, str]]   # name -> (type, required, help)
    outputs: tuple[str, ...]                          # named outputs; the first is the default
    run: str                                          # "module:function" that runs it
    # Params whose text may name an upstream stage ("STAGE" / "STAGE.OUTPUT"), with what a plain
    # value means there: "dataset" (NAME[@VER]), "run" (run id), "model" (NAME[@ALIAS|@N]),
    # "data" (a file path or a dataset ref), "map" (a table whose values are any of these).
    refs: dict[str, str] = field(default_factory=dict)
    paths: tuple[str, ...] = ()                       # params naming files beside the pipeline file
    help: str = ""


@dataclass
class StageResult:
    status: str                                       # "ok" | "gate_failed" | "failed"
    outputs: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    gates: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "outputs": dict(self.outputs), "message": self.message,
                "gates": self.gates}


_NUM = float
_TRAIN_PARAMS: dict[str, tuple[ParamType, bool, str]] = {
    "dataset": (str, True, "training data: a stage (split.train) or a dataset ref NAME[@VER]"),
    "target": (str, True, "the column to predict"),
    "valid": (str, False, "validation data (a stage or dataset ref); default: a split of dataset"),
    "model": (str, False, "lightgbm (default), random_forest, hist_gb, logistic or linear"),
    "task": (str, False, "binary, multiclass or regression (default: inferred from the target)"),
    "features": (list, False, "the feature columns (default: all but the target and drop)"),
    "drop": (list, False, "columns left out of the features"),
    "params": (dict, False, "the model's own params, e.g. { num_threads = 1, num_leaves = 15 }"),
    "seed": (int, False, "random seed (default 42)"),
    "num_boost_round": (int, False, "LightGBM rounds (default 200)"),
    "early_stopping_rounds": (int, False, "LightGBM early stopping (default 20)"),
    "valid_fraction": (_NUM, False, "share held out for validation when valid is not given (0.2)"),
    "filter": (str, False, "a row filter expression applied before training"),
    "device": (str, False, "cpu (default) or gpu"),
    "experiment": (str, False, "experiment of the run (default: the pipeline's name)"),
    "name": (str, False, "run name (default: PIPELINE.STAGE)"),
    "tags": (dict, False, "extra run tags"),
    "timeout": (_NUM, False, "seconds to wait for the job before cancelling it (default 3600)"),
}

KINDS: dict[str, StageKind] = {
    "ingest": StageKind(
        params={"path": (str, True, "the data file, relative to the pipeline file's folder"),
                "name": (str, False, "dataset name (default: from the file name)"),
                "format": (str, False, "csv, tsv, parquet, json or ndjson (default: from the suffix)"),
                "types": (dict, False, "column -> DuckDB type overrides")},
        outputs=("version",), run="tui_mlops.pipeline.stage_kinds_data:run_ingest", paths=("path",),
        help="register a data file as a dataset version"),
    "validate_data": StageKind(
        params={"input": (str, True, "the dataset: a stage or a dataset ref NAME[@VER]"),
                "rules_file": (str, False, "a rules TOML file (default: the dataset's own rules)")},
        outputs=("version", "passed"), run="tui_mlops.pipeline.stage_kinds_data:run_validate_data",
        refs={"input": "dataset"}, paths=("rules_file",), help="check data rules; failing rules fail the gate"),
    "clean": StageKind(
        params={"input": (str, True, "the dataset: a stage or a dataset ref NAME[@VER]"),
                "steps": (list, True, "steps as in `data clean`, e.g. [\"drop_duplicates\", \"fill_nulls:x=median\"]"),
                "into": (str, False, "dataset name of the result (default: the input's)")},
        outputs=("version",), run="tui_mlops.pipeline.stage_kinds_data:run_clean",
        refs={"input": "dataset"}, help="apply cleaning steps as a new version"),
    "split": StageKind(
        params={"input": (str, True, "the dataset: a stage or a dataset ref NAME[@VER]"),
                "method": (str, False, "random (default), stratified or time"),
                "ratios": (list, False, "train, valid, test shares (default [0.7, 0.15, 0.15])"),
                "seed": (int, False, "random seed (default 42)"),
                "stratify": (str, False, "the column to stratify by"),
                "time_column": (str, False, "the time column of a time split"),
                "cutoffs": (list, False, "time cut-offs of a time split")},
        outputs=("train", "valid", "test"), run="tui_mlops.pipeline.stage_kinds_data:run_split",
        refs={"input": "dataset"}, help="split a dataset into train/valid/test versions"),
    "train": StageKind(
        params=dict(_TRAIN_PARAMS), outputs=("run",), run="tui_mlops.pipeline.stage_kinds_model:run_train",
        refs={"dataset": "dataset", "valid": "dataset"}, help="train a model as a job"),
    "sweep": StageKind(
        params={**_TRAIN_PARAMS,
                "space": ((str, dict), True, "search space: \"lr=0.01:0.3:log; leaves=7,15\" or a table"),
                "method": (str, False, "random (default) or grid"),
                "trials": (int, False, "number of trials (random default 10)"),
                "sweep_seed": (int, False, "seed of the trial draws (default 0)"),
                "parallel": (int, False, "trials at once (default: the job limit)")},
        outputs=("run", "best_run"), run="tui_mlops.pipeline.stage_kinds_model:run_sweep",
        refs={"dataset": "dataset", "valid": "dataset"}, help="a hyper-parameter sweep; best_run is the winner"),
    "validate": StageKind(
        params={"run": (str, True, "the run: a stage (train) or a run id or model ref"),
                "data": (str, False, "evaluation data (a stage or dataset ref); default: the run's holdout"),
                "gates": (list, False, "gate tables, e.g. [ { metric = \"auc\", min = 0.75 } ]"),
                "gates_file": (str, False, "a gates TOML file of [[gates]] tables"),
                "folds": (int, False, "cross-validation folds (0: none; default 5)"),
                "bootstrap": (int, False, "bootstrap resamples (0: none; default 1000)"),
                "slice_by": (str, False, "a column to report metrics per value of"),
                "threshold": (_NUM, False, "binary decision threshold (default 0.5)"),
                "champion": (bool, False, "compare with the production model (default true)")},
        outputs=("report", "run", "passed"), run="tui_mlops.pipeline.stage_kinds_model:run_validate",
        refs={"run": "run", "data": "dataset"}, paths=("gates_file",),
        help="validate a run; a failing gate fails the pipeline with exit code 1"),
    "register": StageKind(
        params={"run": (str, True, "the run: a stage (train, sweep.best_run) or a run id"),
                "model": (str, True, "the registered model's name"),
                "note": (str, False, "a note stored on the version")},
        outputs=("model", "run"), run="tui_mlops.pipeline.stage_kinds_model:run_register",
        refs={"run": "run"}, help="register the run's model as a new version"),
    "promote": StageKind(
        params={"version": (str, True, "the model version: a stage (register) or NAME@N / NAME@ALIAS"),
                "alias": (str, False, "the alias to move (default production)"),
                "force": (bool, False, "promote even when its gates failed (needs reason)"),
                "reason": (str, False, "why, recorded with the alias move")},
        outputs=("model", "alias"), run="tui_mlops.pipeline.stage_kinds_model:run_promote",
        refs={"version": "model"}, help="point an alias at a model version; failed gates refuse production"),
    "predict": StageKind(
        params={"model": (str, True, "the model: a stage (register/promote) or NAME[@ALIAS|@N]"),
                "data": (str, True, "the data: a stage, a dataset ref or a file beside the pipeline file"),
                "out": (str, False, "output file (.parquet or .csv), relative to the pipeline file's folder"),
                "monitor": (str, False, "also drop the scored batch into this monitor's inbox")},
        outputs=("rows", "out", "model"), run="tui_mlops.pipeline.stage_kinds_model:run_predict",
        refs={"model": "model", "data": "data"}, help="score data with a registered model"),
    "shell": StageKind(
        params={"command": (str, True, "run with /bin/sh in the pipeline file's folder"),
                "inputs": (dict, False, "NAME -> stage ref or value; each is $MLOPS_STAGE_<NAME>"),
                "env": (dict, False, "extra environment variables"),
                "timeout": (_NUM, False, "seconds before the command is killed (default: none)")},
        outputs=("exit_code", "last_line"), run="tui_mlops.pipeline.stage_kinds_shell:run_shell",
        refs={"inputs": "map"}, help="run your own command"),
}

_RESERVED = ("kind", "after")   # stage keys that are not params
_TYPE_WORDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               list: "an array", dict: "a table"}


def _type_ok(value: Any, typ: ParamType) -> bool:
    types = typ if isinstance(typ, tuple) else (typ,)
    for t in types:
        if t in (int, float) and isinstance(value, bool):
            continue
        if isinstance(value, t) or (t is float and isinstance(value, int)):
            return True
    return False


def _type_word(typ: ParamType) -> str:
    types = typ if isinstance(typ, tuple) else (typ,)
    return " or ".join(_TYPE_WORDS.get(t, t.__name__) for t in types)


def check_params(kind: str, params: dict[str, Any], where: str) -> None:
    """InputError (one line, starting with `where`) for an unknown kind, an unknown or missing
    param, or a param of the wrong type."""
    if kind not in KINDS:
        raise InputError(f"{where}: unknown kind {kind!r} (kinds: {', '.join(KINDS)})")
    spec = KINDS[kind].params
    for name, value in params.items():
        if name in _RESERVED:
            continue
        if name not in spec:
            raise InputError(f"{where}: unknown param {name!r} for a {kind} stage (params: {', '.join(spec)})")
        if not _type_ok(value, spec[name][0]):
            raise InputError(f"{where}: {name} must be {_type_word(spec[name][0])}, not {value!r}")
    missing = [n for n, (_, required, _) in spec.items() if required and n not in params]
    if missing:
        raise InputError(f"{where}: a {kind} stage needs {missing[0]!r} ({spec[missing[0]][2]})")


def stage_where(pipeline: Any, stage: Any) -> str:
    """`mlops.toml line 12: stage 'train'` (the line when the spec knows it)."""
    path = getattr(pipeline, "path", None)
    line = getattr(stage, "line", None)
    head = Path(path).name if path else "pipeline"
    return f"{head} line {line}: stage {stage.name!r}" if line else f"{head}: stage {stage.name!r}"


# -- running ---------------------------------------------------------------------------------------
@dataclass
class StageContext:
    """What a kind's run function gets: the stage, its resolved inputs and where to log."""

    home: Any
    pipeline: Any
    stage: Any
    inputs: dict[str, Any]
    log: LogFn
    cancel: threading.Event | None = None

    @property
    def root(self) -> Path:
        root = getattr(self.pipeline, "root", None)
        return Path(root) if root is not None else Path.cwd()

    @property
    def name(self) -> str:
        return str(self.stage.name)

    def param(self, name: str, default: Any = None) -> Any:
        value = self.stage.params.get(name)
        return default if value is None else value

    def value(self, name: str, default: Any = None) -> Any:
        """The param, with a stage ref replaced by that stage's output."""
        raw = self.stage.params.get(name)
        return default if raw is None else resolve_value(self.inputs, raw)

    def path(self, name: str) -> Path | None:
        raw = self.stage.params.get(name)
        return None if raw is None else (self.root / str(raw)).expanduser()

    def dataset(self, name: str) -> Any:
        from tui_mlops.data.versions import resolve

        return resolve(self.home, str(self.value(name)))


_PRIMARY = ("version", "model", "run", "report", "train")


def resolve_value(inputs: dict[str, Any], raw: Any) -> Any:
    """`raw` itself, or the upstream output it names: by the whole ref, or "STAGE.OUTPUT" out of a
    stage's outputs dict; a whole dict picks its default output."""
    if not isinstance(raw, str):
        return raw
    if raw in inputs:
        value = inputs[raw]
    else:
        stage, dot, output = raw.partition(".")
        found = inputs.get(stage) if dot else None
        if not isinstance(found, dict) or output not in found:
            return raw
        value = found[output]
    if isinstance(value, dict):
        if len(value) == 1:
            return next(iter(value.values()))
        key = next((k for k in _PRIMARY if k in value), None)
        if key is None:
            raise InputError(f"{raw!r} has several outputs ({', '.join(value)}): name one as {raw}.OUTPUT")
        return value[key]
    return value


def _runner(kind: StageKind) -> Callable[[StageContext], StageResult]:
    module, _, func = kind.run.partition(":")
    return getattr(importlib.import_module(module), func)


def run_stage(home: Any, pipeline: Any, stage: Any, inputs: dict[str, Any], log: LogFn, *,
              cancel: threading.Event | None = None) -> StageResult:
    """Run one stage; errors a user can cause come back as a failed StageResult whose one-line
    message names the stage (other exceptions are bugs and propagate)."""
    from tui_mlops.store.home import Home

    home = home if isinstance(home, Home) else Home.open(home)
    try:
        check_params(stage.kind, dict(stage.params), stage_where(pipeline, stage))
    except InputError as exc:
        return StageResult("failed", {}, str(exc))
    ctx = StageContext(home, pipeline, stage, dict(inputs), log, cancel)
    try:
        result = _runner(KINDS[stage.kind])(ctx)
    except MlopsError as exc:
        return StageResult("failed", {}, f"stage {stage.name!r}: {exc}")
    except OSError as exc:
        return StageResult("failed", {}, f"stage {stage.name!r}: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
    return result


# -- fingerprints ----------------------------------------------------------------------------------
def _file_id(path: Path) -> str:
    from tui_mlops.data.versions import file_sha256

    try:
        return "sha256:" + file_sha256(path) if path.is_file() else f"missing:{path}"
    except OSError:
        return f"unreadable:{path}"


def _ref_id(home: Any, role: str, text: str, root: Path) -> str:
    """What a plain (non-stage) value stands for now, so a new version behind a name is a change."""
    try:
        if role == "data" and (root / text).expanduser().is_file():
            return _file_id((root / text).expanduser())
        if role in ("dataset", "data"):
            from tui_mlops.data.versions import resolve

            return "dataset:" + resolve(home, text).ref
        if role == "model":
            from tui_mlops.registry.models import resolve_model

            mv = resolve_model(home, text)
            return f"model:{mv.ref}:{mv.run_id}"
    except MlopsError:
        return f"unresolved:{text}"
    return f"{role}:{text}"


def _input_id(home: Any, inputs: dict[str, Any], role: str, raw: Any, root: Path) -> Any:
    if role == "map" and isinstance(raw, dict):
        return {k: _input_id(home, inputs, "value", v, root) for k, v in sorted(raw.items())}
    value = resolve_value(inputs, raw)
    if value is not raw or not isinstance(raw, str):
        return {"upstream": value}   # an upstream output is its own fingerprint
    return _ref_id(home, role, raw, root) if role != "value" else raw


def stage_fingerprint(home: Any, pipeline: Any, stage: Any, inputs: dict[str, Any]) -> str:
    """sha256 over the kind, the canonical params and what each input is now: a file's sha256, a
    dataset ref's resolved version, a model ref's version and run, an upstream output's value."""
    from tui_mlops.store.home import Home

    home = home if isinstance(home, Home) else Home.open(home)
    kind = KINDS.get(stage.kind)
    params = {k: v for k, v in dict(stage.params).items() if k not in _RESERVED}
    root = Path(getattr(pipeline, "root", None) or Path.cwd())
    ids: dict[str, Any] = {}
    if kind is not None:
        for name, role in kind.refs.items():
            if params.get(name) is not None:
                ids[name] = _input_id(home, inputs, role, params[name], root)
        for name in kind.paths:
            if params.get(name) is not None:
                ids["file:" + name] = _file_id((root / str(params[name])).expanduser())
        if stage.kind == "validate_data" and params.get("rules_file") is None:
            ids["rules"] = _default_rules_id(home, ids.get("input"))
    doc = {"kind": stage.kind, "params": params, "inputs": ids}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _default_rules_id(home: Any, input_id: Any) -> str:
    """The dataset's own rules file, when the stage uses it (its edits are a change)."""
    ref = input_id.get("upstream") if isinstance(input_id, dict) else str(input_id or "").removeprefix("dataset:")
    name = str(ref or "").partition("@")[0]
    if not name:
        return "none"
    from tui_mlops.data.rules import rules_path

    try:
        return _file_id(rules_path(home, name))
    except MlopsError:
        return "none"
