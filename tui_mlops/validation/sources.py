"""What a validation reads: the run behind a run id or model ref, the labelled data it is checked
on, and the production model it is compared with (through the registry, when there is one)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tui_mlops.errors import InputError, NotFoundError


def registry() -> Any:
    """tui_mlops.registry.models, or None where the registry is not installed."""
    try:
        from tui_mlops.registry import models
    except ModuleNotFoundError as exc:
        if (exc.name or "").startswith("tui_mlops.registry"):
            return None
        raise
    return models


@dataclass
class Target:
    run_id: str
    model_ref: str | None      # "NAME@VERSION" when ref named a registered model
    model_name: str | None


def resolve_ref(home: Any, ref: str) -> Target:
    """A run id / unique prefix, else a registered model (NAME, NAME@ALIAS, NAME@3)."""
    from tui_mlops.tracking.events import resolve_run_dir

    text = str(ref).strip()
    if re.fullmatch(r"[0-9a-fA-F]{4,}", text):
        try:
            return Target(resolve_run_dir(home, text).name, None, None)
        except NotFoundError:
            pass  # a model may have a hex-looking name
    reg = registry()
    if reg is None:
        raise NotFoundError(f"no run {text!r} in {home.runs_dir} (and no model registry)")
    try:
        mv = reg.resolve_model(home, text)
    except NotFoundError as exc:
        raise NotFoundError(f"no run or registered model {text!r} ({exc})") from None
    return Target(mv.run_id, f"{mv.name}@{mv.version}", mv.name)


def best_iteration(home: Any, run_id: str) -> int | None:
    """The run's logged best_iteration param (LightGBM's early-stopped round count), if any."""
    from tui_mlops.store.events import read_events

    best = None
    for ev in read_events(home.runs_dir / run_id / "events.jsonl", 0)[0]:
        if ev.get("type") == "params" and isinstance(ev.get("params"), dict):
            value = ev["params"].get("best_iteration")
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 1:
                best = int(value)
    return best


def run_experiment(home: Any, run_id: str, default: str | None) -> str | None:
    """The experiment the run was tracked under (its run_start event), else `default`."""
    from tui_mlops.training.artifacts import run_start

    try:
        return run_start(home.runs_dir / run_id).get("experiment") or default
    except NotFoundError:
        return default


@dataclass
class EvalData:
    frame: Any           # the labelled rows evaluated (polars)
    ref: str             # what they are, for the report
    warnings: list[str]


def evaluation_data(home: Any, model: Any, data: str | None, holdout: Any) -> EvalData:
    """The run's own holdout (`holdout`: load_data's valid frame), or dataset `data` whole."""
    spec = model.spec
    if data is None:
        where = spec.valid or spec.dataset
        return EvalData(holdout, f"{where} (validation rows of the run)", [])
    from tui_mlops.data.versions import resolve
    from tui_mlops.training.frames import load_frame

    v = resolve(home, data)
    frame = load_frame(home, v)
    for col in model.pipeline.inputs:
        if col not in frame.columns:
            raise InputError(f"{v.ref} lacks column {col!r} that the model was trained on")
    target = spec.target
    if target not in frame.columns:
        raise InputError(f"{v.ref} has no target column {target!r}: validation needs labelled rows")
    warnings = []
    n = frame.height
    frame = frame.filter(frame[target].is_not_null())
    if frame.height < n:
        warnings.append(f"{n - frame.height} row(s) of {v.ref} have a null target {target!r}: left out")
    if frame.height == 0:
        raise InputError(f"{v.ref} has no rows with a target {target!r} to validate on")
    return EvalData(frame, v.ref, warnings)


def champion_versions(home: Any, run_id: str, model_name: str | None) -> tuple[Any, str | None, str | None]:
    """(registry module, model name, why no comparison) for the champion check."""
    reg = registry()
    if reg is None:
        return None, None, "no model registry"
    name = model_name
    if name is None:
        versions = reg.versions_of_run(home, run_id)
        if not versions:
            return reg, None, "the run is not a registered model version"
        name = versions[-1].name
    return reg, name, None


def compare_with_production(home: Any, run_id: str, model_name: str | None, frame: Any, y: Any, pred: Any,
                            task: str, *, n: int, seed: int, threshold: float) -> dict[str, Any]:
    """This run (challenger) against the version holding `production`: its metrics on the same rows,
    a paired bootstrap of the primary metric and DeLong's test (binary)."""
    from tui_mlops.training.artifacts import load_model
    from tui_mlops.validation.bootstrap import delong, paired_bootstrap
    from tui_mlops.validation.metrics import holdout_metrics
    from tui_mlops.validation.stability import PRIMARY

    reg, name, why = champion_versions(home, run_id, model_name)
    if why:
        return {"skipped": why}
    prod = reg.production(home, name)
    if prod is None:
        return {"model": name, "skipped": f"model {name} has no production version"}
    head = {"model": name, "version": prod.version, "run_id": prod.run_id}
    if prod.run_id == run_id:
        return {**head, "skipped": f"this run is the production version ({name}@{prod.version})"}
    champ = load_model(home, prod.run_id)
    if champ.task != task:
        return {**head, "skipped": f"production is a {champ.task} model, this one {task}"}
    lacking = [c for c in champ.pipeline.inputs if c not in frame.columns]
    if lacking:
        return {**head, "skipped": f"the data lacks column {lacking[0]!r} that production needs"}
    try:
        y_champ = champ.pipeline.encode_target(frame)
    except InputError as exc:
        return {**head, "skipped": f"production cannot read the labels: {exc}"}
    import numpy as np

    if not np.array_equal(np.asarray(y_champ), np.asarray(y)):
        return {**head, "skipped": "production encodes the classes differently"}
    p_champ = champ.score(frame)
    metric = PRIMARY[task]
    out: dict[str, Any] = {**head, "skipped": None,
                           "metrics": holdout_metrics(task, y, p_champ, threshold=threshold)}
    if n > 0:
        out["paired"] = paired_bootstrap(task, y, p_champ, pred, metric, n=n, seed=seed, threshold=threshold)
    out["delong"] = delong(y, p_champ, pred) if task == "binary" and len(np.unique(y)) == 2 else None
    out["primary"] = metric
    return out
