"""A run's validation report: holdout metrics, CIs, CV, slices, noise, drift, champion and gates,
stored as runs/<run_id>/validation/<id>.json (+ .md) and read back newest first."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from tui_mlops.errors import InputError, NotFoundError
from tui_mlops.validation.stability import check_cancel

REPORT_DIR = "validation"
REPORT_ID = re.compile(r"\d{8}T\d{9}Z-[0-9a-f]{6}")   # temp files of atomic writes do not match


@dataclass
class ValidationReport:
    id: str
    run_id: str
    model_ref: str | None          # "NAME@VERSION" when validated through the registry
    data_ref: str                  # what was evaluated
    task: str
    created: float                 # unix time
    holdout: dict[str, float]      # metric -> value at `threshold`
    calibration: list[dict] | None  # binary: bins of mean prediction vs positive share
    ci: dict[str, dict] | None      # metric -> {"lo","hi","mean","std"} (None: bootstrap 0)
    cv: dict[str, Any] | None       # {"k","rows","rows_from","metrics": {metric: {"mean","std","folds"}}}
    slices: dict[str, Any] | None   # {"column","metric","min_rows","groups": [...],"worst": {...}|None}
    noise: dict[str, Any] | None
    drift: dict[str, Any] | None    # DriftReport.to_dict()
    champion: dict[str, Any] | None  # None: not asked; {"skipped": why} or the comparison
    gates: dict[str, Any] | None    # GateOutcome.to_dict() when gates were evaluated
    rows: int = 0
    threshold: float = 0.5
    settings: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)   # confusion matrix / residual summary
    warnings: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool | None:
        return None if self.gates is None else bool(self.gates.get("passed"))

    def to_dict(self) -> dict[str, Any]:
        from tui_mlops.cli_format import jsonable

        return jsonable(_plain(asdict(self)))

    def to_markdown(self) -> str:
        from tui_mlops.validation.report_markdown import render

        return render(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ValidationReport":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


def _plain(obj: Any) -> Any:
    """numpy scalars and arrays as Python numbers and lists (JSON would otherwise get their text)."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if type(obj).__module__ == "numpy":
        return _plain(obj.tolist()) if hasattr(obj, "tolist") else obj
    return obj


def new_report_id() -> str:
    """UTC time to the millisecond plus a short random tail: sorts by creation, never collides."""
    now = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f"{int(now % 1 * 1000):03d}Z"
    return f"{stamp}-{secrets.token_hex(3)}"


def _resolve_gates(home: Any, gates: Any, experiment: str | None) -> list[Any] | None:
    from tui_mlops.validation import gates as G

    if gates is None:
        return G.experiment_gates(home, experiment)
    if isinstance(gates, (str, Path)):
        return G.load_gates(gates)
    gates = list(gates)
    bad = [g for g in gates if not isinstance(g, G.Gate)]
    if bad:
        raise InputError(f"gates must be Gate values or a TOML file path, not {type(bad[0]).__name__}")
    return gates


def _details(task: str, y: Any, pred: Any, classes: list[Any] | None, threshold: float) -> dict[str, Any]:
    import numpy as np

    from tui_mlops.validation import metrics as M

    if task == "regression":
        return {"residuals": M.residual_summary(y, pred)}
    p = np.asarray(pred, dtype=float)
    labels = (p >= threshold).astype(int) if task == "binary" else p.argmax(axis=1)
    k = len(classes or []) or (2 if task == "binary" else p.shape[1])
    return {"labels": [str(c) for c in classes or range(k)],
            "confusion": M.confusion_matrix(np.asarray(y).astype(int), labels, k)}


def _drift(train: Any, frame: Any, inputs: list[str]) -> tuple[dict[str, Any], list[str]]:
    from tui_mlops.validation.drift import drift_report

    rep = drift_report(train.select(inputs), frame.select(inputs), columns=inputs)
    notes = []
    for f in rep.features:
        if f.new_categories:
            shown = ", ".join(repr(c) for c in f.new_categories[:5])
            more = f" and {len(f.new_categories) - 5} more" if len(f.new_categories) > 5 else ""
            notes.append(f"column {f.column!r} has categories never seen in training: {shown}{more}")
    return rep.to_dict(), notes


def _slices(task: str, frame: Any, column: str, data_ref: str, y: Any, pred: Any,
            threshold: float) -> dict[str, Any]:
    from tui_mlops.validation.stability import PRIMARY, slice_metrics, worst_slice

    if column not in frame.columns:
        raise InputError(f"slice column {column!r} is not in {data_ref} (columns: {', '.join(frame.columns)})")
    groups = slice_metrics(task, y, pred, frame[column], threshold=threshold)
    return {"column": column, "metric": PRIMARY[task], "min_rows": 20, "groups": groups,
            "worst": worst_slice(task, groups)}


def validate(home: Any, ref: str, *, data: str | None = None, gates: Any = None, folds: int = 5,
             bootstrap: int = 1000, slice_by: str | None = None, threshold: float = 0.5,
             champion: bool = True, progress: Callable[[int, int, str], Any] | None = None,
             cancel: Any = None, store: bool = True, target_column: str | None = None) -> ValidationReport:
    """Validate a run (id / prefix) or registered model (NAME, NAME@ALIAS, NAME@3) on its own holdout
    or on dataset `data`; store the report with the run and the gate verdict on its model versions.
    `target_column` names the label column of a model that does not record it (an imported one)."""
    from tui_mlops.store.home import Home
    from tui_mlops.training.artifacts import load_model
    from tui_mlops.validation import sources as S
    from tui_mlops.validation.bootstrap import bootstrap_ci
    from tui_mlops.validation.gates import evaluate_gates
    from tui_mlops.validation.metrics import calibration_curve, holdout_metrics
    from tui_mlops.validation.stability import cross_validate, noise_sensitivity, training_rows

    home = home if isinstance(home, Home) else Home.open(home)
    if not 0 < threshold < 1:
        raise InputError(f"threshold must be between 0 and 1, not {threshold:g}")
    if folds < 0 or folds == 1:
        raise InputError(f"folds must be 0 (no cross-validation) or at least 2, not {folds}")
    if bootstrap < 0:
        raise InputError(f"bootstrap must be 0 (none) or a number of resamples, not {bootstrap}")
    target = S.resolve_ref(home, ref)
    experiment = S.run_experiment(home, target.run_id, None)
    gate_list = _resolve_gates(home, gates, experiment)  # a bad gate file fails before the work
    model = load_model(home, target.run_id)
    _set_target(model, target_column, data)
    spec = model.spec
    task = model.task
    if experiment is None:
        experiment = spec.experiment
        gate_list = _resolve_gates(home, gates, experiment)
    check_cancel(cancel)
    notes: list[str] = []
    rows_all, tdata = training_rows(home, spec, notes) if spec.dataset else (None, None)
    if tdata is None:
        source = spec.tags.get("imported_from")
        notes.append(f"{f'imported from {_SOURCES.get(source, source)}: ' if source else ''}no training data "
                     f"recorded, so cross-validation and train-vs-test drift are skipped")
    ev = S.evaluation_data(home, model, data, tdata.valid if tdata is not None else None)
    frame, warnings = ev.frame, [*notes, *ev.warnings]
    y = model.pipeline.encode_target(frame)
    pred = model.score(frame)
    holdout = holdout_metrics(task, y, pred, threshold=threshold)
    calibration = calibration_curve(y, pred) if task == "binary" else None
    details = _details(task, y, pred, model.classes, threshold)
    slices = _slices(task, frame, slice_by, ev.ref, y, pred, threshold) if slice_by else None
    check_cancel(cancel)
    ci = bootstrap_ci(task, y, pred, n=bootstrap, seed=spec.seed, threshold=threshold) if bootstrap else None
    cv = None
    if folds and tdata is not None:
        metrics = cross_validate(home, spec, k=folds, progress=progress, cancel=cancel, threshold=threshold,
                                 num_boost_round=S.best_iteration(home, target.run_id), frame=rows_all,
                                 classes=tdata.classes)
        cv = {"k": folds, "rows": rows_all.height, "rows_from": "train+valid", "metrics": metrics}
    check_cancel(cancel)
    noise = noise_sensitivity(model, frame, seed=spec.seed, threshold=threshold)
    drift, drift_notes = _drift(tdata.train, frame, model.pipeline.inputs) if tdata is not None else (None, [])
    warnings.extend(drift_notes)
    check_cancel(cancel)
    champ = None
    if champion:
        champ = S.compare_with_production(home, target.run_id, target.model_name, frame, y, pred, task,
                                          n=bootstrap, seed=spec.seed, threshold=threshold)
    report = ValidationReport(
        id=new_report_id(), run_id=target.run_id, model_ref=target.model_ref, data_ref=ev.ref, task=task,
        created=time.time(), holdout=holdout, calibration=calibration, ci=ci, cv=cv, slices=slices,
        noise=noise, drift=drift, champion=champ, gates=None, rows=frame.height, threshold=threshold,
        settings={"folds": folds, "bootstrap": bootstrap, "slice_by": slice_by, "seed": spec.seed,
                  "champion": champion, "data": data, "experiment": experiment, "target": spec.target},
        details=details, warnings=warnings)
    if gate_list is not None:
        report.gates = evaluate_gates(gate_list, report).to_dict()
    if store:
        save_report(home, report)
    return report


_SOURCES = {"mlflow": "MLflow"}


def _set_target(model: Any, column: str | None, data: str | None) -> None:
    """Check that the run can be evaluated: data where it records no training rows, a target column
    where its model does not know it; `column` fills the target in (never changes a recorded one)."""
    spec = model.spec
    if column is not None:
        column = column.strip()
        if not column:
            raise InputError("--target: give a column name")
        if spec.target and column != spec.target:
            raise InputError(f"--target {column!r}: run {model.run_id} was trained on target {spec.target!r}; "
                             f"leave out --target")
    name = spec.target or column or ""
    if data is None and not spec.dataset:
        need = "--data NAME@VER" + ("" if name else " and --target COL")
        raise InputError(f"run {model.run_id} records no training data (it was imported): pass {need} to "
                         f"validate it on labelled rows")
    if not name:
        raise InputError(f"run {model.run_id}'s model does not record its target column: pass --target COL "
                         f"(the label column of {data})")
    if not spec.target:
        model.spec = spec.replace(target=name)
        model.pipeline.target["name"] = name


def _report_dir(home: Any, run_id: str) -> Path:
    return home.runs_dir / run_id / REPORT_DIR


def save_report(home: Any, report: ValidationReport) -> Path:
    """Write <id>.json and <id>.md atomically, then record the gates on the run's model versions."""
    import json

    from tui_mlops.store.home import atomic_write_bytes
    from tui_mlops.validation.sources import registry

    folder = _report_dir(home, report.run_id)
    d = report.to_dict()
    atomic_write_bytes(folder / f"{report.id}.md", report.to_markdown().encode())
    path = folder / f"{report.id}.json"
    # Key order kept (not sorted): metrics and groups read back in the order they were computed.
    text = json.dumps(d, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    atomic_write_bytes(path, text.encode())  # last: a report is listed once its JSON exists
    reg = registry()
    if report.gates is not None and reg is not None:
        for mv in reg.versions_of_run(home, report.run_id):
            reg.record_gates(home, mv.name, mv.version, d["gates"], report.id, report.run_id)
    return path


def _run_dir(home: Any, run_ref: str) -> Path:
    from tui_mlops.store.home import Home
    from tui_mlops.tracking.events import resolve_run_dir

    home = home if isinstance(home, Home) else Home.open(home)
    return resolve_run_dir(home, run_ref)


def _read(path: Path) -> dict[str, Any] | None:
    from tui_mlops.store.home import read_json

    try:
        d = read_json(path)
    except (OSError, ValueError):
        return None  # half-written by a killed process (never renamed) or removed: not listed
    return d if isinstance(d, dict) else None


def list_reports(home: Any, run_ref: str) -> list[dict[str, Any]]:
    """The run's validation reports, newest first: {"id","created","data_ref","passed"}."""
    folder = _run_dir(home, run_ref) / REPORT_DIR
    out = []
    paths = [p for p in folder.glob("*.json") if REPORT_ID.fullmatch(p.stem)] if folder.is_dir() else []
    for path in sorted(paths, reverse=True):
        d = _read(path)
        if d is None:
            continue
        gates = d.get("gates")
        out.append({"id": d.get("id", path.stem), "created": d.get("created"), "data_ref": d.get("data_ref"),
                    "passed": None if not gates else gates.get("passed")})
    return out


def load_report(home: Any, run_ref: str, report_id: str | None = None) -> dict[str, Any]:
    """One stored report as a dict: `report_id` (or a unique prefix of it), else the latest."""
    run_dir = _run_dir(home, run_ref)
    reports = list_reports(home, run_dir.name)
    if not reports:
        raise NotFoundError(f"run {run_dir.name} has no validation report (run `mlops-tui validate {run_dir.name}`)")
    if report_id is None:
        pick = reports[0]["id"]
    else:
        found = [r["id"] for r in reports if r["id"].startswith(report_id)]
        if not found:
            raise NotFoundError(f"run {run_dir.name} has no validation report {report_id!r}")
        if len(found) > 1 and report_id not in found:
            raise InputError(f"report id prefix {report_id!r} is ambiguous: {', '.join(found[:5])}")
        pick = report_id if report_id in found else found[0]
    d = _read(run_dir / REPORT_DIR / f"{pick}.json")
    if d is None:
        raise NotFoundError(f"validation report {pick} of run {run_dir.name} cannot be read")
    return d
