"""Start a training job from a spec (checked first, so a bad spec never becomes a failed job) and
re-run any train or sweep run exactly as it was specified."""

from __future__ import annotations

from typing import Any

from tui_mlops.errors import InputError
from tui_mlops.training.spec import TrainSpec, prepare


def _home(home: Any) -> Any:
    from tui_mlops.store.home import Home

    return home if isinstance(home, Home) else Home.open(home)


def run_params(spec: TrainSpec) -> dict[str, Any]:
    """The params shown in the runs table: model, task, seed, rounds, then the model's own."""
    p: dict[str, Any] = {"model": spec.model, "task": spec.task, "seed": spec.seed}
    if spec.model == "lightgbm":
        p["num_boost_round"] = spec.num_boost_round
    p.update(spec.params)
    return p


def submit_prepared(home: Any, spec: TrainSpec, *, parent_run_id: str | None = None,
                    tags: dict[str, str] | None = None) -> str:
    """Submit a spec that `prepare` already returned (no checks repeated)."""
    from tui_mlops.jobs.manager import submit

    return submit(_home(home), "train", {"spec": spec.to_dict()}, experiment=spec.experiment, name=spec.name,
                  params=run_params(spec), tags={**spec.tags, **(tags or {})}, parent_run_id=parent_run_id,
                  dataset=spec.dataset, model=spec.model)


def start_training(home: Any, spec: TrainSpec) -> str:
    """Check the spec, then start the job; returns the new run id at once."""
    home = _home(home)
    return submit_prepared(home, prepare(home, spec))


def run_record(home: Any, run_ref: str) -> tuple[str, dict[str, Any]]:
    """(run id, its run_start event) for a run id or unique prefix."""
    from tui_mlops.tracking.events import resolve_run_dir
    from tui_mlops.training.artifacts import run_start

    run_dir = resolve_run_dir(_home(home), run_ref)
    return run_dir.name, run_start(run_dir)


def rerun(home: Any, run_ref: str) -> str:
    """Start the same training again (same spec: same seed and dataset version, so the same
    metrics), tagged rerun_of=<id>. A sweep run re-runs the whole sweep."""
    home = _home(home)
    run_id, start = run_record(home, run_ref)
    kind = start.get("kind")
    if kind == "sweep":
        from tui_mlops.training.sweep import rerun_sweep

        return rerun_sweep(home, run_id, start.get("spec") or {})
    if kind != "train" or not isinstance(start.get("spec"), dict):
        raise InputError(f"run {run_id} is a {kind or 'script'} run: only train and sweep runs can be re-run")
    spec = TrainSpec.from_dict(start["spec"])
    return submit_prepared(home, prepare(home, spec), tags={"rerun_of": run_id})
