"""Model stage kinds: train and sweep (background jobs, waited for with a deadline), validate with
gates, register, promote (gates honoured) and predict."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from tui_mlops.errors import InputError, MlopsError
from tui_mlops.pipeline.stages import StageContext, StageResult

DEFAULT_TIMEOUT_S = 3600.0
POLL_S = 0.1   # between reads of the job's state and log: a foreign process has nothing to block on
_TERMINAL = ("finished", "failed", "cancelled", "crashed")
_SPEC_KEYS = ("target", "model", "task", "features", "drop", "seed", "num_boost_round",
              "early_stopping_rounds", "valid_fraction", "filter", "device")


def _train_spec(ctx: StageContext) -> Any:
    from tui_mlops.training.spec import TrainSpec

    kw = {k: ctx.param(k) for k in _SPEC_KEYS if ctx.param(k) is not None}
    valid = ctx.value("valid")
    pipeline = str(getattr(ctx.pipeline, "name", "") or "pipeline")
    tags = {"pipeline": pipeline, "stage": ctx.name, **{str(k): str(v) for k, v in ctx.param("tags", {}).items()}}
    return TrainSpec(dataset=str(ctx.value("dataset")), valid=str(valid) if valid is not None else None,
                     params=dict(ctx.param("params", {})), experiment=ctx.param("experiment", pipeline),
                     name=ctx.param("name", f"{pipeline}.{ctx.name}"), tags=tags, **kw)


def wait_job(ctx: StageContext, run_id: str) -> Any:
    """Wait for a job to end, copying its new log lines to the stage log; the stage's cancel or
    its timeout cancels the job. Returns the final JobInfo."""
    from tui_mlops.jobs import manager

    timeout = float(ctx.param("timeout", DEFAULT_TIMEOUT_S))
    deadline = time.monotonic() + timeout
    pause = ctx.cancel or threading.Event()
    log_path = Path(ctx.home.runs_dir) / run_id / "job.log"
    offset, partial = 0, b""
    while True:
        info = manager.get_job(ctx.home, run_id)
        offset, partial = _copy_log(ctx, log_path, offset, partial)
        if info.status in _TERMINAL:
            if partial.strip():
                ctx.log(partial.decode("utf-8", "replace").rstrip())
            return info
        if ctx.cancel is not None and ctx.cancel.is_set():
            manager.cancel(ctx.home, run_id)
            raise MlopsError(f"cancelled; job {run_id} was stopped")
        if time.monotonic() >= deadline:
            manager.cancel(ctx.home, run_id)
            raise MlopsError(f"job {run_id} did not end within {timeout:g} s and was cancelled (param timeout)")
        pause.wait(POLL_S)


def _copy_log(ctx: StageContext, path: Path, offset: int, partial: bytes) -> tuple[int, bytes]:
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return offset, partial
    if not data:
        return offset, partial
    *lines, rest = (partial + data).split(b"\n")
    for line in lines:
        ctx.log(line.decode("utf-8", "replace").rstrip("\r"))
    return offset + len(data), rest


def _job_result(ctx: StageContext, info: Any, what: str) -> StageResult | None:
    if info.status == "finished":
        return None
    return StageResult("failed", {"run": info.run_id},
                       f"stage {ctx.name!r}: {what} run {info.run_id} {info.status}: {info.error or 'see its log'}")


def _on_dask(ctx: StageContext) -> bool:
    return getattr(ctx.pipeline, "executor", "local") == "dask"


def _dask_client(ctx: StageContext) -> Any:
    from tui_mlops.pipeline.dask_exec import connect

    scheduler = getattr(ctx.pipeline, "scheduler", None) or "local:2"
    ctx.log(f"connecting to the Dask scheduler {scheduler}")
    return connect(scheduler)


def run_train(ctx: StageContext) -> StageResult:
    from tui_mlops.training.train import start_training

    if _on_dask(ctx):  # lightgbm.dask on the cluster's workers; the run lands in the store as usual
        from tui_mlops.pipeline.dask_exec import train_on_dask

        with _dask_client(ctx) as client:
            run_id = train_on_dask(ctx.home, _train_spec(ctx), client)
        return StageResult("ok", {"run": run_id}, f"run {run_id} trained on Dask")
    run_id = start_training(ctx.home, _train_spec(ctx))
    ctx.log(f"train run {run_id} started")
    failed = _job_result(ctx, wait_job(ctx, run_id), "train")
    return failed or StageResult("ok", {"run": run_id}, f"run {run_id} finished")


def _space(raw: Any) -> dict[str, Any]:
    from tui_mlops.training.sweep import parse_space

    if isinstance(raw, str):
        return parse_space(raw)
    entries = []
    for name, dim in raw.items():
        if isinstance(dim, list):
            entries.append(f"{name}={','.join(str(x) for x in dim)}")
        elif isinstance(dim, str):
            entries.append(f"{name}={dim}")
        else:
            raise InputError(f"space.{name} must be a list of values or \"LOW:HIGH[:log][:int]\", not {dim!r}")
    return parse_space("; ".join(entries))


def run_sweep(ctx: StageContext) -> StageResult:
    from tui_mlops.tracking.query import get_run
    from tui_mlops.training.sweep import SweepSpec, start_sweep

    sweep = SweepSpec(base=_train_spec(ctx), space=_space(ctx.param("space")), method=ctx.param("method", "random"),
                      trials=ctx.param("trials"), seed=ctx.param("sweep_seed", 0), parallel=ctx.param("parallel"))
    if _on_dask(ctx):  # the trials as Dask tasks
        from tui_mlops.pipeline.dask_exec import sweep_on_dask

        with _dask_client(ctx) as client:
            run_id = sweep_on_dask(ctx.home, sweep, client)
    else:
        run_id = start_sweep(ctx.home, sweep)
        ctx.log(f"sweep run {run_id} started")
        failed = _job_result(ctx, wait_job(ctx, run_id), "sweep")
        if failed:
            return failed
    best = get_run(ctx.home, run_id).tags.get("best_run")
    return StageResult("ok", {"run": run_id, "best_run": best}, f"sweep {run_id} finished; best run {best}")


def _gates(ctx: StageContext) -> Any:
    from tui_mlops.validation.gates import load_gates, parse_gates

    if ctx.param("gates") is not None and ctx.param("gates_file") is not None:
        raise InputError("give gates or gates_file, not both")
    if ctx.param("gates") is not None:
        where = f"{Path(getattr(ctx.pipeline, 'path', None) or 'pipeline').name} stage {ctx.name!r}"
        return parse_gates(ctx.param("gates"), where)
    path = ctx.path("gates_file")
    return load_gates(path) if path is not None else None


def run_validate(ctx: StageContext) -> StageResult:
    from tui_mlops.validation.report import validate

    gates = _gates(ctx)
    ctx.log(f"validating {ctx.value('run')}" + (f" on {ctx.value('data')}" if ctx.value("data") else ""))
    report = validate(ctx.home, str(ctx.value("run")), data=ctx.value("data"), gates=gates,
                      folds=ctx.param("folds", 5), bootstrap=ctx.param("bootstrap", 1000),
                      slice_by=ctx.param("slice_by"), threshold=float(ctx.param("threshold", 0.5)),
                      champion=ctx.param("champion", True), cancel=ctx.cancel)
    for name, value in report.holdout.items():
        ctx.log(f"{name} = {value:.4g}")
    outputs = {"report": report.id, "run": report.run_id, "passed": report.passed}
    if report.gates is None:
        return StageResult("ok", outputs, f"report {report.id} (no gates)")
    for r in report.gates.get("results") or []:
        ctx.log(f"gate {r['name']}: {r['verdict']} ({r.get('value')} {r.get('threshold')})")
    failed = [r for r in report.gates.get("results") or [] if r.get("verdict") == "fail"]
    if failed:
        shown = "; ".join(f"{r['name']} (value {_num(r.get('value'))}, needs {r.get('threshold')})" for r in failed)
        return StageResult("gate_failed", outputs, f"stage {ctx.name!r}: gates failed: {shown}", report.gates)
    return StageResult("ok", outputs, f"report {report.id}: all gates passed", report.gates)


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else str(value)


def run_register(ctx: StageContext) -> StageResult:
    from tui_mlops.registry.models import gates_status, register_model

    mv = register_model(ctx.home, str(ctx.value("run")), ctx.param("model"), note=ctx.param("note"))
    ctx.log(f"registered run {mv.run_id} as {mv.ref} (gates: {gates_status(mv)})")
    return StageResult("ok", {"model": mv.ref, "run": mv.run_id}, f"{mv.ref} (gates: {gates_status(mv)})")


def run_promote(ctx: StageContext) -> StageResult:
    from tui_mlops.registry.models import PRODUCTION, gates_status, resolve_model, set_alias

    alias, force, reason = ctx.param("alias", PRODUCTION), bool(ctx.param("force", False)), ctx.param("reason")
    mv = resolve_model(ctx.home, str(ctx.value("version")))
    outputs = {"model": mv.ref, "alias": alias}
    if alias == PRODUCTION and gates_status(mv) == "failed" and not force:
        names = ", ".join(str(r.get("name")) for r in (mv.gates or {}).get("results") or []
                          if isinstance(r, dict) and r.get("verdict") == "fail")
        return StageResult("gate_failed", outputs,
                           f"stage {ctx.name!r}: {mv.ref} failed its gates ({names or 'see its report'}): "
                           f"not promoted to {alias} (set force = true and a reason to override)", mv.gates)
    move = set_alias(ctx.home, mv.name, mv.version, alias, reason=reason, force=force)
    was = f" (was v{move.previous})" if move.previous else ""
    ctx.log(f"{alias} -> {mv.ref}{was}" + (" FORCED: " + str(reason) if move.forced else ""))
    return StageResult("ok", outputs, f"{alias} -> {mv.ref}{was}", mv.gates)


def run_predict(ctx: StageContext) -> StageResult:
    from tui_mlops.registry.predict import predict

    raw, data = ctx.param("data"), ctx.value("data")
    if data is raw:  # not from a stage: a file beside the pipeline file, else a dataset ref
        beside = ctx.root / str(raw)
        data = str(beside) if beside.exists() else raw
    out = ctx.path("out")
    res = predict(ctx.home, str(ctx.value("model")), str(data), out=out, monitor=ctx.param("monitor"))
    for w in res.warnings:
        ctx.log(f"warning: {w}")
    where = f" -> {res.out}" if res.out else ""
    ctx.log(f"scored {res.rows} rows of {data} with {res.model_ref}{where}")
    return StageResult("ok", {"rows": res.rows, "out": str(res.out) if res.out else None, "model": res.model_ref},
                       f"{res.rows} rows scored with {res.model_ref}{where}")
