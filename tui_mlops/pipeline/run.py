"""Running a pipeline: stages in dependency order, independent ones in parallel threads, skipped
while their fingerprint is unchanged since their last success, every change recorded."""

from __future__ import annotations

import os
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from tui_mlops.errors import MlopsError
from tui_mlops.pipeline import dag
from tui_mlops.pipeline.records import (DONE_OK, Cache, PipelineRun, StageRecord, active_run, jsonable,
                                        list_runs, mark_interrupted, new_run_id, own_process, runs_dir, save_run)
from tui_mlops.pipeline.report import markdown_report
from tui_mlops.pipeline.spec import PipelineSpec, StageSpec, load_pipeline
from tui_mlops.store.home import Home

__all__ = ["run_pipeline", "run_spec", "pipeline_status", "pipeline_history", "markdown_report", "dag_text"]
dag_text = dag.dag_text

# runner(home, pipeline, stage, inputs, log) -> StageResult (status, outputs, message, gates)
Runner = Callable[[Home, PipelineSpec, StageSpec, "dict[str, Any]", Callable[[str], None]], Any]
Fingerprinter = Callable[[Home, PipelineSpec, StageSpec, "dict[str, Any]"], str]


def _home(home: Home | str | os.PathLike[str]) -> Home:
    return home if isinstance(home, Home) else Home.open(home)


def _default_runner(executor: Any, cancel: threading.Event | None) -> Runner:
    if executor is not None:
        return executor.run_stage if hasattr(executor, "run_stage") else executor
    import functools

    # The kinds read pipeline.executor themselves (a dask train/sweep goes to pipeline/dask_exec).
    from tui_mlops.pipeline.stages import run_stage

    return functools.partial(run_stage, cancel=cancel)


def _default_fingerprint() -> Fingerprinter:
    from tui_mlops.pipeline.stages import stage_fingerprint

    return stage_fingerprint


def resolve_input(outputs: dict[str, dict[str, Any]], ref: str) -> Any:
    """`STAGE.OUTPUT` -> that output; `STAGE` -> its only output, or all of them as a dict."""
    head, dot, out = ref.partition(".")
    produced = outputs.get(head, {})
    if dot:
        return produced.get(out)
    if len(produced) == 1:
        return next(iter(produced.values()))
    return produced


def run_pipeline(home: Home | str | os.PathLike[str], path: str | Path, *, stage: str | None = None,
                 force: bool = False, progress: Callable[[PipelineRun, str], None] | None = None,
                 cancel: threading.Event | None = None, executor: Any = None, runner: Runner | None = None,
                 fingerprint: Fingerprinter | None = None, rerun_from: str | None = None) -> PipelineRun:
    """Load, check and run the pipeline file at `path` (PipelineFileError before anything runs).

    stage: run only that stage and what it needs; force: run selected stages even when cached
    (with `stage`, only that one); rerun_from: run that stage and everything downstream of it.
    """
    home = _home(home)
    spec = load_pipeline(path, home=home)
    return run_spec(home, spec, stage=stage, force=force, progress=progress, cancel=cancel,
                    executor=executor, runner=runner, fingerprint=fingerprint, rerun_from=rerun_from)


def run_spec(home: Home, spec: PipelineSpec, *, stage: str | None = None, force: bool = False,
             progress: Callable[[PipelineRun, str], None] | None = None, cancel: threading.Event | None = None,
             executor: Any = None, runner: Runner | None = None, fingerprint: Fingerprinter | None = None,
             rerun_from: str | None = None) -> PipelineRun:
    for name, what in ((stage, "--stage"), (rerun_from, "re-run from")):
        if name is not None and name not in spec.stages:
            raise MlopsError(f"{what}: no stage {name!r} in {spec.path.name} (stages: {', '.join(spec.stages)})")
    interrupted = mark_interrupted(home, spec.name)
    busy = active_run(home, spec.name)
    if busy is not None:
        raise MlopsError(f"pipeline {spec.name!r} is already running (run {busy.run_id}, pid {busy.pid})")
    run_stage_fn = runner or _default_runner(executor, cancel)
    fp_fn = fingerprint or _default_fingerprint()

    selected = set(spec.stages)
    forced: set[str] = set(spec.stages) if force else set()
    if stage is not None:
        selected = {stage} | dag.upstream(spec.stages, stage)
        forced = {stage} if force else set()
    if rerun_from is not None:
        forced |= {rerun_from} | dag.downstream(spec.stages, rerun_from)
    order = [n for n in dag.topo_order(spec.stages) if n in selected]

    pid, pid_started = own_process()
    from tui_mlops.jobs.state import hostname

    run = PipelineRun(run_id=new_run_id(), pipeline=spec.name, file=str(spec.path), started=time.time(),
                      pid=pid, pid_started=pid_started, host=hostname(),
                      options={"stage": stage, "force": force, "rerun_from": rerun_from},
                      stages={n: StageRecord(n, spec.stages[n].kind) for n in order},
                      resumed_interrupted=interrupted)
    if interrupted:
        run.message = f"earlier run(s) {', '.join(interrupted)} were interrupted (process gone): marked"
    logs = runs_dir(home, spec.name) / run.run_id
    logs.mkdir(parents=True, exist_ok=True)
    cache = Cache(home, spec.name)
    lock = threading.Lock()
    outputs: dict[str, dict[str, Any]] = {}

    def changed(name: str) -> None:
        with lock:
            save_run(home, run)
        if progress is not None:
            progress(run, name)

    def execute(name: str) -> None:
        st, rec = spec.stages[name], run.stages[name]
        rec.started = time.time()
        log_path = logs / f"{name}.log"
        rec.log = str(log_path)
        try:
            with lock:
                inputs = {ref: resolve_input(outputs, ref) for ref in st.inputs.values()}
            fp = fp_fn(home, spec, st, inputs)
            rec.fingerprint = fp
            hit = None if name in forced else cache.hit(name, fp)
            if hit is not None:
                produced = dict(hit.get("outputs") or {})
                rec.status, rec.outputs, rec.cached_from = "cached", produced, hit.get("run_id")
                rec.message = f"cached: inputs and params unchanged since run {hit.get('run_id')}"
            else:
                changed(name)  # says "running" before the work starts
                with open(log_path, "a", encoding="utf-8") as fh:
                    def log(line: str) -> None:
                        fh.write(str(line).rstrip("\n") + "\n")
                        fh.flush()

                    result = run_stage_fn(home, spec, st, inputs, log)
                produced = jsonable(dict(getattr(result, "outputs", None) or {}))
                rec.status = getattr(result, "status", "failed")
                if rec.status == "failed" and cancel is not None and cancel.is_set():
                    rec.status = "cancelled"  # stopped by the cancel, not broken
                rec.outputs, rec.message = produced, str(getattr(result, "message", "") or "")
                gates = getattr(result, "gates", None)
                rec.gates = jsonable(gates) if gates is not None else None
                if rec.status == "ok":
                    cache.put(name, fp, produced, run.run_id)
        except MlopsError as exc:
            rec.status, rec.message = "failed", exc.message
        except Exception as exc:  # a stage's own bug must not take the run down with it
            rec.status, rec.message = "failed", f"{type(exc).__name__}: {exc}"
            with open(log_path, "a", encoding="utf-8") as fh:
                fh.write(traceback.format_exc())
        rec.ended = time.time()
        if rec.status in DONE_OK:
            with lock:
                outputs[name] = rec.outputs
        changed(name)

    save_run(home, run)
    _schedule(spec, run, order, execute, cancel, changed)
    failed = [r for r in run.stages.values() if r.status in ("failed", "interrupted")]
    gated = [r for r in run.stages.values() if r.status == "gate_failed"]
    cancelled = any(r.status == "cancelled" for r in run.stages.values())
    run.status = "failed" if failed else "cancelled" if cancelled else "gate_failed" if gated else "ok"
    run.ended = time.time()
    with lock:
        save_run(home, run)
    return run


def _schedule(spec: PipelineSpec, run: PipelineRun, order: list[str], execute: Callable[[str], None],
              cancel: threading.Event | None, changed: Callable[[str], None]) -> None:
    """Start each stage once its inputs succeeded, at most max_parallel at a time."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    recs = run.stages
    pending = list(order)
    running: dict[Any, str] = {}
    # A stage counts as done only once its thread returned: its status is set before its outputs
    # are published, so reading the status alone could start a dependant too early.
    finished: set[str] = set()

    def state(dep: str) -> str:
        return recs[dep].status if dep in finished else "running"

    pool = ThreadPoolExecutor(max_workers=spec.max_parallel, thread_name_prefix=f"pipeline-{spec.name}")
    try:
        while pending or running:
            if cancel is not None and cancel.is_set():
                for name in pending:
                    recs[name].status, recs[name].message = "cancelled", "not run: the run was cancelled"
                    finished.add(name)
                    changed(name)
                pending = []
            for name in list(pending):
                bad = [d for d in spec.stages[name].deps if d in recs
                       and state(d) not in (*DONE_OK, "pending", "running")]
                if bad:
                    pending.remove(name)
                    recs[name].status = "skipped"
                    recs[name].message = f"not run: stage {bad[0]!r} {recs[bad[0]].status.replace('_', ' ')}"
                    finished.add(name)
                    changed(name)
            for name in list(pending):
                if len(running) >= spec.max_parallel:
                    break
                if all(state(d) in DONE_OK for d in spec.stages[name].deps if d in recs):
                    pending.remove(name)
                    recs[name].status = "running"
                    running[pool.submit(execute, name)] = name
            if not running:
                break
            done, _ = wait(list(running), timeout=0.2 if cancel is not None else None,
                           return_when=FIRST_COMPLETED)
            for fut in done:
                finished.add(running.pop(fut))
                fut.result()
    except BaseException:
        # Ctrl-C: record what never started; running stages finish (their subprocesses got the signal).
        for name in pending:
            recs[name].status, recs[name].message = "cancelled", "not run: the run was interrupted"
        raise
    finally:
        pool.shutdown(wait=True)


def pipeline_history(home: Home | str | os.PathLike[str], name: str) -> list[PipelineRun]:
    """Runs of the pipeline `name`, newest first (dead ones marked interrupted)."""
    return list_runs(_home(home), name)


def pipeline_status(home: Home | str | os.PathLike[str], path: str | Path,
                    fingerprint: Fingerprinter | None = None) -> dict[str, Any]:
    """Each stage: its last result and whether it would run now (inputs or params changed)."""
    home = _home(home)
    spec = load_pipeline(path, home=home)
    runs = list_runs(home, spec.name)
    last = runs[0] if runs else None
    cache = Cache(home, spec.name)
    fp_fn = fingerprint or _default_fingerprint()
    outputs: dict[str, dict[str, Any]] = {}
    stages = []
    for name in dag.topo_order(spec.stages):
        st = spec.stages[name]
        entry = cache.entries.get(name)
        if entry is None:
            state = "never run"
        elif any(d not in outputs for d in st.deps):
            state = "waits on upstream"
        else:
            try:
                inputs = {ref: resolve_input(outputs, ref) for ref in st.inputs.values()}
                state = "up to date" if fp_fn(home, spec, st, inputs) == entry.get("fingerprint") else "changed"
            except Exception as exc:  # a missing input file, a removed dataset: shown, not raised
                state = f"cannot check: {exc}"
        if entry is not None and state == "up to date":
            outputs[name] = entry.get("outputs") or {}
        rec = last.stages.get(name) if last else None
        stages.append({"name": name, "kind": st.kind, "deps": list(st.deps), "state": state,
                       "last_status": rec.status if rec else None,
                       "last_success_run": entry.get("run_id") if entry else None,
                       "outputs": entry.get("outputs") if entry else None})
    return {"pipeline": spec.name, "file": str(spec.path), "running": bool(last and last.status == "running"),
            "last_run": last.to_dict() if last else None, "stages": stages}
