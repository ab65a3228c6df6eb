"""Sweeps: a search space (`num_leaves=15,31,63; learning_rate=0.01:0.3:log; n=5:50:int`), grid
or seeded random trials, and the coordinator job that runs the trials as child train jobs, follows
their logs and keeps the best so far on the parent run."""

from __future__ import annotations

import itertools
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui_mlops.errors import InputError, MlopsError
from tui_mlops.training.spec import TrainSpec, parse_value

METHODS = ("grid", "random")
DEFAULT_TRIALS = 10
MAX_TRIALS = 10_000
POLL_S = 0.25          # how often the coordinator reads its trials' new log lines
LIVENESS_S = 2.0       # how often it checks that running trials' processes still exist


@dataclass(frozen=True)
class SweepSpec:
    base: TrainSpec
    space: dict[str, Any]
    method: str = "random"
    trials: int | None = None      # random: how many (default 10); grid: a seeded subset if fewer
    seed: int = 0
    parallel: int | None = None    # trials at once; None: the job concurrency limit


def _range(name: str, text: str) -> dict[str, Any]:
    bits = [b.strip().lower() for b in text.split(":")]
    flags = set(bits[2:])
    if len(bits) < 2 or not flags <= {"log", "int"}:
        raise InputError(f"bad search space entry {name}={text}: a range is LOW:HIGH[:log][:int]")
    try:
        low, high = float(bits[0]), float(bits[1])
    except ValueError:
        raise InputError(f"bad search space entry {name}={text}: LOW and HIGH must be numbers") from None
    if not low < high:
        raise InputError(f"bad search space entry {name}={text}: LOW must be below HIGH")
    if "log" in flags and low <= 0:
        raise InputError(f"bad search space entry {name}={text}: a log range needs LOW > 0")
    if "int" in flags:
        low, high = float(math.ceil(low)), float(math.floor(high))
        if low > high:
            raise InputError(f"bad search space entry {name}={text}: no integer between LOW and HIGH")
    return {"low": low, "high": high, "log": "log" in flags, "int": "int" in flags}


def parse_space(text: str) -> dict[str, Any]:
    """`a=1,2,3; lr=0.01:0.3:log; n=5:50:int` -> {"a": [1, 2, 3], "lr": {"low", "high", "log",
    "int"}, ...}; entries separated by `;` or new lines."""
    space: dict[str, Any] = {}
    for entry in text.replace("\n", ";").split(";"):
        if not entry.strip():
            continue
        name, eq, value = entry.partition("=")
        name, value = name.strip(), value.strip()
        if not eq or not name or not value:
            raise InputError(f"bad search space entry {entry.strip()!r}: expected NAME=v1,v2,... or NAME=LOW:HIGH")
        if name in space:
            raise InputError(f"search space names {name!r} twice")
        if ":" in value and "," not in value:
            space[name] = _range(name, value)
        else:
            space[name] = [parse_value(v) for v in value.split(",") if v.strip()]
    if not space:
        raise InputError("the search space is empty: give NAME=v1,v2,... or NAME=LOW:HIGH entries")
    return space


def _draw(rng: Any, dim: Any) -> Any:
    if isinstance(dim, list):
        return dim[int(rng.integers(len(dim)))]
    low, high = dim["low"], dim["high"]
    if dim["log"]:
        x = math.exp(rng.uniform(math.log(low), math.log(high)))
    else:
        x = rng.uniform(low, high)
    if dim["int"]:
        return int(min(max(round(x), low), high))
    return float(f"{x:.6g}")


def expand(space: dict[str, Any], method: str, trials: int | None, seed: int) -> list[dict[str, Any]]:
    """The trials' params: every grid combination (a seeded subset when `trials` is smaller), or
    `trials` seeded random draws."""
    import numpy as np

    if method not in METHODS:
        raise InputError(f"unknown search method {method!r} (methods: grid, random)")
    if trials is not None and not 1 <= trials <= MAX_TRIALS:
        raise InputError(f"trials must be between 1 and {MAX_TRIALS}, not {trials}")
    rng = np.random.default_rng(seed)
    names = list(space)
    if method == "random":
        return [{n: _draw(rng, space[n]) for n in names} for _ in range(trials or DEFAULT_TRIALS)]
    ranges = [n for n in names if not isinstance(space[n], list)]
    if ranges:
        raise InputError(f"grid search needs lists of values, but {ranges[0]!r} is a range: list values or use random")
    total = math.prod(len(space[n]) for n in names)
    if total > MAX_TRIALS and not trials:
        raise InputError(f"the grid has {total} combinations (at most {MAX_TRIALS}): give fewer values or --trials")
    combos = itertools.product(*(space[n] for n in names))
    if trials is None or trials >= total:
        return [dict(zip(names, c)) for c in combos]
    keep = set(rng.choice(total, size=trials, replace=False).tolist())
    return [dict(zip(names, c)) for i, c in enumerate(combos) if i in keep]


def space_text(space: dict[str, Any]) -> str:
    """The space back in its text form (shown as the sweep's param)."""
    parts = []
    for name, dim in space.items():
        if isinstance(dim, list):
            parts.append(f"{name}={','.join(str(v) for v in dim)}")
        else:
            flags = (":log" if dim["log"] else "") + (":int" if dim["int"] else "")
            parts.append(f"{name}={dim['low']:g}:{dim['high']:g}{flags}")
    return "; ".join(parts)


def trial_specs(base: TrainSpec, trials: list[dict[str, Any]]) -> list[TrainSpec]:
    """One checked spec per trial (base params overridden by the trial's)."""
    from tui_mlops.training.spec import check_model_params, normalise

    label = base.name or f"sweep-{base.model}"
    out = []
    for i, params in enumerate(trials, 1):
        spec = normalise(base.replace(params={**base.params, **params}, name=f"{label}-{i:03d}"))
        out.append(spec)
    seen: set[str] = set()
    for spec in out:  # identical param sets need one check
        key = repr(sorted(spec.params.items()))
        if key not in seen:
            seen.add(key)
            check_model_params(spec)
    return out


def _payload(sweep: SweepSpec, base: TrainSpec, specs: list[TrainSpec]) -> dict[str, Any]:
    return {"method": sweep.method, "space": sweep.space, "trials": sweep.trials, "seed": sweep.seed,
            "parallel": sweep.parallel, "base": base.to_dict(), "trial_specs": [s.to_dict() for s in specs]}


def start_sweep(home: Any, sweep: SweepSpec) -> str:
    """Check the base spec and every trial's params, then submit the coordinator job."""
    from tui_mlops.store.home import Home
    from tui_mlops.training.spec import prepare

    home = home if isinstance(home, Home) else Home.open(home)
    if sweep.parallel is not None and sweep.parallel < 1:
        raise InputError(f"parallel must be at least 1, not {sweep.parallel}")
    base = prepare(home, sweep.base)
    specs = trial_specs(base, expand(sweep.space, sweep.method, sweep.trials, sweep.seed))
    return _submit(home, base, _payload(sweep, base, specs), len(specs))


def _submit(home: Any, base: TrainSpec, payload: dict[str, Any], n: int, tags: dict[str, str] | None = None) -> str:
    from tui_mlops.jobs.manager import submit

    params = {"method": payload["method"], "trials": n, "space": space_text(payload["space"]),
              "model": base.model, "task": base.task}
    return submit(home, "sweep", payload, experiment=base.experiment, name=base.name or f"sweep-{base.model}",
                  params=params, tags={**base.tags, **(tags or {})}, dataset=base.dataset, model=base.model)


def rerun_sweep(home: Any, run_id: str, payload: dict[str, Any]) -> str:
    """The same trials again (the stored trial specs), as a new sweep tagged rerun_of."""
    from tui_mlops.training.spec import prepare

    if not isinstance(payload.get("trial_specs"), list) or not isinstance(payload.get("base"), dict):
        raise InputError(f"run {run_id} has no stored sweep spec to re-run")
    base = prepare(home, TrainSpec.from_dict(payload["base"]))
    specs = [TrainSpec.from_dict(d) for d in payload["trial_specs"]]
    return _submit(home, base, dict(payload), len(specs), {"rerun_of": run_id})


class _Trial:
    """Follows one trial's files: new bytes of events.jsonl and edits.jsonl for the primary
    metric's last value and the first run_end."""

    def __init__(self, run_dir: Path, metric: str) -> None:
        self.dir, self.metric = run_dir, metric
        self.offsets = {"events.jsonl": 0, "edits.jsonl": 0}
        self.value: float | None = None
        self.status: str | None = None
        self.error: str | None = None

    def poll(self) -> bool:
        """Read what is new; True once the trial has ended."""
        from tui_mlops.store.events import read_events

        for name in ("events.jsonl", "edits.jsonl"):
            events, self.offsets[name] = read_events(self.dir / name, self.offsets[name])
            for ev in events:
                t = ev.get("type")
                if t == "metric" and ev.get("key") == self.metric:
                    self.value = float(ev["value"])
                elif t == "metrics" and self.metric in (ev.get("values") or {}):
                    self.value = float(ev["values"][self.metric])
                elif t == "run_end" and self.status is None:
                    self.status, self.error = ev.get("status"), ev.get("error")
        return self.status is not None


def run_sweep(run: Any, payload: dict[str, Any]) -> None:
    """The coordinator (in the sweep's worker): keep up to `parallel` trials submitted, log
    trials_done and best/<metric> on this run as they end, tag best_run. A cancel of this job
    reaches the trials through the worker (it cancels the children it finds)."""
    from tui_mlops.jobs import manager
    from tui_mlops.training.runner import PRIMARY_METRIC
    from tui_mlops.training.train import submit_prepared

    home = run.home
    specs = [TrainSpec.from_dict(d) for d in payload["trial_specs"]]
    if not specs:
        raise InputError("the sweep has no trials")
    metric = PRIMARY_METRIC[specs[0].task or "regression"]
    better_is_lower = not metric.endswith("auc")
    limit = int(payload.get("parallel") or manager.max_concurrent(home))
    pending = list(specs)
    active: dict[str, _Trial] = {}
    done, best, best_run, failed = 0, None, None, []
    last_liveness = time.monotonic()
    wake = threading.Event()
    print(f"sweep: {len(specs)} trials, {limit} at a time, best by {metric}", flush=True)
    while pending or active:
        while pending and len(active) < limit:
            spec = pending.pop(0)
            rid = submit_prepared(home, spec, parent_run_id=run.run_id)
            active[rid] = _Trial(home.runs_dir / rid, metric)
        ended = [rid for rid, t in active.items() if t.poll()]
        if not ended and time.monotonic() - last_liveness >= LIVENESS_S:
            last_liveness = time.monotonic()
            manager.detect_crashes(home)  # a trial killed hard gets its crashed verdict in edits
            ended = [rid for rid, t in active.items() if t.poll()]
        for rid in ended:
            t = active.pop(rid)
            done += 1
            if t.status == "finished" and t.value is not None and math.isfinite(t.value):
                if best is None or (t.value < best if better_is_lower else t.value > best):
                    best, best_run = t.value, rid
                    run.set_tag("best_run", rid)
            else:
                failed.append((rid, t.status, t.error))
            values = {"trials_done": float(done)}
            if best is not None:
                values[f"best/{metric}"] = best
            run.log_metrics(values, step=done)
            print(f"trial {rid} {t.status} ({metric}={t.value}); {done}/{len(specs)} done, best {best}", flush=True)
        if not ended:
            wake.wait(POLL_S)  # a timer between reads of the trials' logs, not synchronisation
    if failed:
        run.set_tag("failed_trials", str(len(failed)))
    if best_run is None:
        rid, status, error = failed[0]
        raise MlopsError(f"all {len(specs)} trials failed; first: trial {rid} {status}: {error}")
