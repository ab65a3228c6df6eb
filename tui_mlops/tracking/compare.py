"""Runs side by side: params, last/best metrics with the best run per row, feature importance,
evaluation (confusion matrix or residuals) and the data each run used, with deltas to a baseline."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

from tui_mlops.errors import InputError, MlopsError, NotFoundError
from tui_mlops.store.home import Home
from tui_mlops.store.runs_catalog import LIVE_STATUSES, param_text
from tui_mlops.tracking.query import RunDetail, RunRow, metric_direction

__all__ = ["Comparison", "ParamRow", "MetricRow", "compare_runs", "deltas", "get_runs"]

TOP_FEATURES = 20
IMPORTANCE = "artifacts/importance.json"
EVALUATION = "artifacts/evaluation.json"
FEATURES = "artifacts/features.json"
# Spec fields shown as params (a train run launched in-process logs no params of its own);
# `dataset` goes to Comparison.datasets instead. Boosting rounds only mean something for LightGBM.
SPEC_FIELDS = ("model", "target", "features", "drop", "transforms", "filter", "valid", "valid_fraction",
               "seed", "num_boost_round", "early_stopping_rounds", "device")
LGBM_ONLY = ("num_boost_round", "early_stopping_rounds")


@dataclass
class ParamRow:
    key: str
    values: list[str | None]
    differs: bool


@dataclass
class MetricRow:
    key: str
    values: list[float | None]       # each run's last value
    best: int | None                 # index of the best run (first on ties)
    higher_better: bool
    steps: list[dict[str, Any] | None]  # {"last","best","best_step"} where the run logged > 1 point


@dataclass
class Comparison:
    runs: list[RunDetail]
    task: str | None
    params: list[ParamRow]
    metrics: list[MetricRow]
    importance: dict[str, list[float | None]]   # feature -> share of each run's total importance
    evaluation: list[dict[str, Any] | None]
    datasets: list[str | None]
    warnings: list[str] = field(default_factory=list)
    baseline: int | None = None

    @property
    def run_ids(self) -> list[str]:
        return [r.run_id for r in self.runs]

    def to_dict(self) -> dict[str, Any]:
        run_keys = ("run_id", "experiment", "name", "kind", "status", "dataset", "model", "start_ts", "end_ts")
        metrics = []
        for row in self.metrics:
            d = {"key": row.key, "values": row.values, "best": row.best, "higher_better": row.higher_better,
                 "steps": row.steps}
            if self.baseline is not None:
                d["deltas"] = deltas(self, row)
            metrics.append(d)
        runs = []
        for r, ds in zip(self.runs, self.datasets):
            d = {k: getattr(r, k) for k in run_keys}
            spec = r.spec if isinstance(r.spec, dict) else {}
            d["dataset"], d["model"] = ds, r.model or spec.get("model")
            runs.append(d)
        return {
            "runs": runs,
            "task": self.task,
            "baseline": self.baseline,
            "baseline_run": None if self.baseline is None else self.runs[self.baseline].run_id,
            "params": [{"key": p.key, "values": p.values, "differs": p.differs} for p in self.params],
            "metrics": metrics,
            "importance": self.importance,
            "evaluation": self.evaluation,
            "datasets": self.datasets,
            "warnings": self.warnings,
        }


def deltas(cmp: Comparison, row: MetricRow) -> list[float | None]:
    """value - baseline value for each run (None for the baseline itself, without a baseline, or
    where either value is missing)."""
    b = cmp.baseline
    if b is None or row.values[b] is None:
        return [None] * len(row.values)
    base = row.values[b]
    return [None if i == b or v is None else v - base for i, v in enumerate(row.values)]


def _home(home: Home | str | os.PathLike[str] | None) -> Home:
    if isinstance(home, Home):
        return home
    from tui_mlops.config import resolve_home

    return Home.open(resolve_home(home))


def _short(run_id: str) -> str:
    return run_id[:8]


# -- runs in one go (get_run per run costs ~10 ms each: 50 runs would take half a second) -------------

def get_runs(home: Home | str | os.PathLike[str] | None, refs: list[str]) -> list[RunDetail]:
    """`query.get_run` for many runs with a handful of statements in all: ids or unique prefixes,
    duplicates dropped keeping the first."""
    from tui_mlops.tracking.query import _runs_catalog

    h = _home(home)
    with _runs_catalog(h) as cat:
        return _get_runs(cat.con, h, refs)


def _get_runs(con: Any, h: Home, refs: list[str]) -> list[RunDetail]:
    from tui_mlops.tracking.query import _ROW_COLS, _ROWS_SQL, SYSTEM_PREFIX, _num, _resolve_id, _row

    ids: list[str] = []
    for ref in refs:
        rid = _resolve_id(con, ref)
        if rid not in ids:
            ids.append(rid)
    page = "SELECT unnest(?::VARCHAR[]) AS run_id"
    rows = {r[0]: _row(r) for r in con.execute(
        _ROWS_SQL.format(page=page, cols=_ROW_COLS, extra="", order="r.run_id"), [ids]).fetchall()}
    extra = {r[0]: r[1:] for r in con.execute(
        "SELECT run_id, spec_json, note, error, host, pid, pid_started, device, device_detail "
        "FROM runs WHERE run_id IN (SELECT unnest(?::VARCHAR[]))", [ids]).fetchall()}
    summary: dict[str, dict[str, dict[str, Any]]] = {rid: {} for rid in ids}
    for rid, k, last, lo, hi, step, n in con.execute(
            "SELECT run_id, key, last, min, max, last_step, n FROM metric_summary "
            "WHERE run_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY run_id, key", [ids]).fetchall():
        summary[rid][k] = {"last": _num(last), "min": _num(lo), "max": _num(hi), "last_step": step, "n": n}
    artifacts: dict[str, list[dict[str, Any]]] = {rid: [] for rid in ids}
    for rid, p, s, z, k in con.execute(
            "SELECT run_id, path, sha256, size, kind FROM artifacts WHERE run_id IN (SELECT unnest(?::VARCHAR[])) "
            "ORDER BY run_id, ts, path", [ids]).fetchall():
        artifacts[rid].append({"path": p, "sha256": s, "size": z, "kind": k})
    children: dict[str, list[str]] = {rid: [] for rid in ids}
    for parent, rid in con.execute(
            "SELECT parent_run_id, run_id FROM runs WHERE parent_run_id IN (SELECT unnest(?::VARCHAR[])) "
            "ORDER BY start_ts, run_id", [ids]).fetchall():
        children[parent].append(rid)
    out = []
    for rid in ids:
        row = rows[rid]
        spec_json, note, error, host, pid, pid_started, device, device_detail = extra[rid]
        base = {k: getattr(row, k) for k in RunRow.__dataclass_fields__}
        base["metrics"] = {k: s["last"] for k, s in summary[rid].items() if not k.startswith(SYSTEM_PREFIX)}
        out.append(RunDetail(**base, spec=json.loads(spec_json) if spec_json else None, note=note, error=error,
                             host=host, pid=pid, artifacts=artifacts[rid], metric_summary=summary[rid],
                             children=children[rid], pid_started=pid_started, device=device,
                             device_detail=device_detail, dir=h.runs_dir / rid))
    return out


# -- artifacts, checked against the hash the run recorded ----------------------------------------------

def _artifact_json(run: RunDetail, rel: str, warnings: list[str]) -> Any:
    """The JSON artifact `rel` of the run, or None when it has none; a file that fails its hash
    check or does not parse is left out with a warning."""
    from tui_mlops.training.artifacts import verified_bytes

    # The catalog holds each artifact's recorded hash (the last event per path wins, as in
    # recorded_artifacts), so the run's whole log need not be parsed again here.
    recorded = {a["path"]: a for a in run.artifacts}
    if rel not in recorded or run.dir is None:
        return None
    try:
        return json.loads(verified_bytes(run.dir, recorded, rel))
    except MlopsError as exc:
        warnings.append(f"{exc} (left out)")
    except ValueError:
        warnings.append(f"run {_short(run.run_id)}: {rel} is not valid JSON (left out)")
    return None


def _task(run: RunDetail, warnings: list[str]) -> str | None:
    spec = run.spec if isinstance(run.spec, dict) else {}
    if isinstance(spec.get("task"), str):
        return spec["task"]
    features = _artifact_json(run, FEATURES, warnings)
    target = features.get("target") if isinstance(features, dict) else None
    task = target.get("task") if isinstance(target, dict) else None
    return task if isinstance(task, str) else None


def _check_tasks(runs: list[RunDetail], tasks: list[str | None]) -> str | None:
    known = [(r, t) for r, t in zip(runs, tasks) if t is not None]
    for r, t in known[1:]:
        if t != known[0][1]:
            r0, t0 = known[0]
            raise InputError(f"runs on different tasks: {_short(r0.run_id)} is {t0}, {_short(r.run_id)} is {t}; "
                             "compare runs of one task")
    return known[0][1] if known else None


# -- params, metrics, importance -----------------------------------------------------------------------

def _run_params(run: RunDetail) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    spec = run.spec if isinstance(run.spec, dict) else {}
    model = run.model or spec.get("model")
    for key in SPEC_FIELDS:
        value = model if key == "model" else spec.get(key)
        if key in LGBM_ONLY and model != "lightgbm":
            continue
        if value is None or value == [] or value == {}:
            continue
        out[key] = json.dumps(value, separators=(",", ":")) if isinstance(value, (list, dict)) else param_text(value)[0]
    for key, value in (spec.get("params") or {}).items() if isinstance(spec.get("params"), dict) else ():
        out[str(key)] = json.dumps(value) if isinstance(value, (list, dict)) else param_text(value)[0]
    out.update(run.params)  # what the run logged wins over its spec
    out.pop("dataset", None)
    return out


def _params(runs: list[RunDetail]) -> list[ParamRow]:
    per_run = [_run_params(r) for r in runs]
    keys = sorted({k for p in per_run for k in p}, key=lambda k: (k != "model", k))
    rows = []
    for k in keys:
        values = [p.get(k) for p in per_run]
        rows.append(ParamRow(k, values, len(set(values)) > 1))
    return rows


def _best_index(values: list[float | None], higher: bool) -> int | None:
    best = None
    for i, v in enumerate(values):
        if v is None or math.isnan(v):
            continue
        if best is None or (v > values[best] if higher else v < values[best]):
            best = i
    return best


# Best value and its step per (run, key), from the catalog's points (every point of every run).
# Steps are numbered as query.metric_history numbers them: ordered by step NULLS LAST, ts, seq, a
# point without a step gets its position in that order (the run's stepped points, then its rank
# among the unstepped ones); only those few need a window. Ties go to the first point in that
# order: a stepped point before an unstepped one, then the smallest step or position.
_BEST_SQL = """
WITH pts AS MATERIALIZED (SELECT run_id, key AS k, step, ts, seq, value AS v FROM metrics
                          WHERE run_id IN (SELECT unnest(?::VARCHAR[])) AND list_contains(?, key)),
xs AS (SELECT run_id, k, v, step::DOUBLE AS x, 0 AS o FROM pts WHERE step IS NOT NULL
       UNION ALL
       SELECT n.run_id, n.k, n.v, (n.r + coalesce(c.n, 0))::DOUBLE, 1
       FROM (SELECT run_id, k, v, row_number() OVER (PARTITION BY run_id, k ORDER BY ts, seq) - 1 AS r
             FROM pts WHERE step IS NULL) n
       LEFT JOIN (SELECT run_id, k, count(*) AS n FROM pts WHERE step IS NOT NULL GROUP BY ALL) c
       USING (run_id, k)),
ok AS MATERIALIZED (SELECT run_id, k, v, x, o, list_contains(?, k) AS lo FROM xs WHERE NOT isnan(v)),
best AS (SELECT run_id, k, CASE WHEN any_value(lo) THEN min(v) ELSE max(v) END AS b FROM ok GROUP BY ALL)
SELECT run_id, k, b, coalesce(min(x) FILTER (WHERE o = 0), min(x))
FROM ok JOIN best USING (run_id, k) WHERE v = b GROUP BY ALL"""


def _best_steps(con: Any, runs: list[RunDetail], keys: set[str]) -> dict[tuple[str, str], tuple[float, float]]:
    """(run_id, key) -> (best value, step where first reached) for step metrics: one query over the
    catalog's points of all the runs (`con`: the catalog, as query._runs_catalog gives it)."""
    if not runs or not keys:
        return {}
    wanted = sorted(keys)
    min_keys = [k for k in wanted if metric_direction(k) == "min"]
    rows = con.execute(_BEST_SQL, [[r.run_id for r in runs], wanted, min_keys]).fetchall()
    return {(rid, k): (float(best), float(step)) for rid, k, best, step in rows}


def _stepped(runs: list[RunDetail]) -> tuple[list[RunDetail], set[str]]:
    """The runs with a metric logged more than once, and those metrics' keys (system ones aside)."""
    stepped = {k for r in runs for k, s in r.metric_summary.items() if k in r.metrics and (s.get("n") or 0) > 1}
    return [r for r in runs if any((r.metric_summary.get(k) or {}).get("n", 0) > 1 for k in stepped)], stepped


def _metrics(runs: list[RunDetail], best_steps: dict[tuple[str, str], tuple[float, float]]) -> list[MetricRow]:
    keys = sorted({k for r in runs for k in r.metrics})
    rows = []
    for k in keys:
        higher = metric_direction(k) == "max"
        values = [r.metrics.get(k) for r in runs]
        steps: list[dict[str, Any] | None] = []
        for r, v in zip(runs, values):
            s = r.metric_summary.get(k) or {}
            found = best_steps.get((r.run_id, k))
            if (s.get("n") or 0) > 1 and found is not None:
                best, step = found
                steps.append({"last": v, "best": best, "best_step": int(step) if step.is_integer() else step})
            else:
                steps.append(None)
        rows.append(MetricRow(k, values, _best_index(values, higher), higher, steps))
    return rows


def _importance_values(obj: Any) -> dict[str, float] | None:
    """{feature: importance} from importance.json ({"features": [{"name", "gain"|"importance"}]}
    as training writes it, or a plain {feature: value})."""
    if isinstance(obj, dict) and isinstance(obj.get("features"), list):
        out = {}
        for f in obj["features"]:
            if isinstance(f, dict) and isinstance(f.get("name"), str):
                v = f.get("gain", f.get("importance"))
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                    out[f["name"]] = abs(float(v))
        return out
    if isinstance(obj, dict):
        return {str(k): abs(float(v)) for k, v in obj.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}
    return None


def _importance(runs: list[RunDetail], warnings: list[str]) -> dict[str, list[float | None]]:
    shares: list[dict[str, float] | None] = []
    for r in runs:
        vals = _importance_values(_artifact_json(r, IMPORTANCE, warnings))
        total = sum(vals.values()) if vals else 0.0
        shares.append(None if vals is None else {k: (v / total if total > 0 else 0.0) for k, v in vals.items()})
    have = [s for s in shares if s is not None]
    if not have:
        return {}
    mean = {f: sum(s.get(f, 0.0) for s in have) / len(have) for s in have for f in s}
    top = sorted(mean, key=lambda f: (-mean[f], f))[:TOP_FEATURES]
    return {f: [None if s is None else s.get(f, 0.0) for s in shares] for f in top}


# -- the comparison ------------------------------------------------------------------------------------

def _dataset(run: RunDetail) -> str | None:
    spec = run.spec if isinstance(run.spec, dict) else {}
    ds = run.dataset or spec.get("dataset")
    return ds if isinstance(ds, str) and ds else None


def _dataset_warning(datasets: list[str | None]) -> str | None:
    counts: dict[str, int] = {}
    for d in datasets:
        if d is not None:
            counts[d] = counts.get(d, 0) + 1
    if len(counts) < 2:
        return None
    shown = ", ".join(f"{d} ({n} run{'s' if n != 1 else ''})" for d, n in counts.items())
    return f"runs used different data: {shown}"


def _baseline_index(runs: list[RunDetail], ref: str) -> int:
    ref = str(ref).strip().lower()
    hits = [i for i, r in enumerate(runs) if r.run_id == ref] or \
        [i for i, r in enumerate(runs) if ref and r.run_id.startswith(ref)]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise InputError(f"baseline {ref!r} is not one of the compared runs "
                         f"({', '.join(_short(r.run_id) for r in runs)})")
    raise InputError(f"baseline {ref!r} matches several compared runs: "
                     f"{', '.join(_short(runs[i].run_id) for i in hits)}")


def compare_runs(home: Home | str | os.PathLike[str] | None, refs: list[str], *,
                 baseline: str | None = None) -> Comparison:
    """Compare runs (ids or unique prefixes; any number, one included). Runs on different tasks
    are refused; a baseline must be one of the compared runs."""
    refs = [str(r) for r in refs if str(r).strip()]
    if not refs:
        raise InputError("give at least one run to compare")
    from tui_mlops.tracking.query import _runs_catalog

    h = _home(home)
    with _runs_catalog(h) as cat:  # one refresh and attach for the runs and their best steps
        runs = _get_runs(cat.con, h, refs)
        best_steps = _best_steps(cat.con, *_stepped(runs))
    if not runs:
        raise NotFoundError("no runs to compare")
    warnings: list[str] = []
    task = _check_tasks(runs, [_task(r, warnings) for r in runs])
    base = None if baseline is None else _baseline_index(runs, baseline)
    datasets = [_dataset(r) for r in runs]
    dw = _dataset_warning(datasets)
    if dw:
        warnings.append(dw)
    live = [_short(r.run_id) for r in runs if r.status in LIVE_STATUSES]
    if live:
        warnings.append(f"still running, values may change: {', '.join(live)}")
    evaluation = [_artifact_json(r, EVALUATION, warnings) for r in runs]
    return Comparison(runs=runs, task=task, params=_params(runs), metrics=_metrics(runs, best_steps),
                      importance=_importance(runs, warnings),
                      evaluation=[e if isinstance(e, dict) else None for e in evaluation],
                      datasets=datasets, warnings=warnings, baseline=base)
