"""What to train (TrainSpec), `k=v` param parsing, and `prepare`: every check a spec must pass before
a job starts, with one-line errors that name the column and the dataset."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from tui_mlops.errors import InputError

MODELS = ("lightgbm", "random_forest", "hist_gb", "logistic", "linear")
TASKS = ("binary", "multiclass", "regression")
DEVICES = ("cpu", "gpu")
MAX_CLASSES = 200
MULTICLASS_MAX_INT_VALUES = 20   # an integer target with at most this many values is a class label

# LightGBM aliases that the spec holds in its own fields (so the stored spec says them once).
_SEED_KEYS = ("seed", "random_seed", "random_state")
_ROUND_KEYS = ("num_iterations", "num_iteration", "n_iter", "num_tree", "num_trees", "num_round",
               "num_rounds", "nrounds", "num_boost_round", "n_estimators", "max_iter")
_THREAD_KEYS = ("num_threads", "num_thread", "nthread", "nthreads", "n_jobs")
_EARLY_KEYS = ("early_stopping_round", "early_stopping_rounds", "early_stopping", "n_iter_no_change")


@dataclass(frozen=True)
class TrainSpec:
    dataset: str
    target: str
    model: str = "lightgbm"
    task: str | None = None
    features: list[str] | None = None
    drop: list[str] = field(default_factory=list)
    transforms: list[dict[str, Any]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    seed: int = 42
    valid: str | None = None
    valid_fraction: float = 0.2
    filter: str | None = None
    num_boost_round: int = 200
    early_stopping_rounds: int | None = 20
    device: str = "cpu"
    experiment: str = "default"
    name: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainSpec":
        if not isinstance(d, dict):
            raise InputError(f"a train spec must be a JSON object, not {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        extra = sorted(set(d) - known)
        if extra:
            raise InputError(f"unknown train spec field {extra[0]!r} (fields: {', '.join(sorted(known))})")
        # An imported model (tags.imported_from) records no training data and may not know its target.
        imported = isinstance(d.get("tags"), dict) and bool(d["tags"].get("imported_from"))
        for key in ("dataset", "target"):
            if not isinstance(d.get(key), str) or not (d.get(key) or imported):
                raise InputError(f"the train spec needs {key!r} (a string)")
        kw = dict(d)
        for key in ("drop", "transforms"):
            kw[key] = list(kw.get(key) or [])
        if kw.get("features") is not None:
            kw["features"] = list(kw["features"])
        kw["params"] = dict(kw.get("params") or {})
        kw["tags"] = {str(k): str(v) for k, v in (kw.get("tags") or {}).items()}
        return cls(**kw)

    def replace(self, **changes: Any) -> "TrainSpec":
        return dataclasses.replace(self, **changes)


def parse_value(text: str) -> Any:
    """`true`/`false`, an int, a float, else the text itself (`none`/`null` -> None)."""
    t = text.strip()
    low = t.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for conv in (int, float):
        try:
            return conv(t)
        except ValueError:
            pass
    return t


def parse_params(items: list[str]) -> dict[str, Any]:
    """`["num_leaves=31", "learning_rate=0.05"]` -> {"num_leaves": 31, "learning_rate": 0.05}."""
    out: dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise InputError(f"invalid param {item!r}: expected KEY=VALUE")
        out[key.strip()] = parse_value(value)
    return out


def infer_task(dtype: str, distinct: int) -> str:
    """binary / multiclass / regression from the target's DuckDB type and distinct value count."""
    from tui_mlops.data.profile import column_kind, is_integer_type

    kind = column_kind(dtype)
    if kind in ("boolean", "categorical"):
        return "binary" if distinct <= 2 else "multiclass"
    if kind == "numeric":
        if distinct <= 2:
            return "binary"
        if is_integer_type(dtype) and distinct <= MULTICLASS_MAX_INT_VALUES:
            return "multiclass"
        return "regression"
    raise InputError(f"a {dtype} column cannot be a target")


def _unusable(dtype: str) -> bool:
    t = dtype.upper().strip()
    return "[" in t or t.startswith(("STRUCT", "MAP", "UNION", "BLOB", "BYTEA", "BIT", "LIST"))


def default_threads(home: Any) -> int:
    """Physical cores shared among the jobs allowed to run at once (oversubscribed LightGBM threads
    were 3-5x slower on a busy 2-core box)."""
    try:
        import psutil

        cores = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    except ImportError:
        cores = os.cpu_count() or 1
    try:
        from tui_mlops.jobs.manager import max_concurrent

        jobs = max(1, int(max_concurrent(home)))
    except (ImportError, AttributeError, ValueError):
        jobs = 2
    return max(1, cores // jobs)


def normalise(spec: TrainSpec) -> TrainSpec:
    """Move seed / rounds / early stopping given as params into the spec's own fields."""
    params = dict(spec.params)
    seed, rounds, early = spec.seed, spec.num_boost_round, spec.early_stopping_rounds
    for key in _SEED_KEYS:
        if key in params:
            seed = params.pop(key)
    if spec.model == "lightgbm":
        for key in ("device_type", "device"):
            if key in params:
                device = str(params.pop(key)).lower()
                if device not in DEVICES:
                    raise InputError(f"device {device!r} is not available: LightGBM here has cpu and gpu "
                                     f"(OpenCL), not CUDA")
                spec = spec.replace(device=device)
    if spec.model == "lightgbm":
        for key in _ROUND_KEYS:
            if key in params:
                rounds = params.pop(key)
        for key in _EARLY_KEYS:
            if key in params:
                early = params.pop(key)
    for value, what in ((seed, "seed"), (rounds, "num_boost_round")):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{what} must be an integer, not {value!r}")
    if rounds < 1:
        raise InputError(f"num_boost_round must be at least 1, not {rounds}")
    if early is not None and (isinstance(early, bool) or not isinstance(early, int) or early < 0):
        raise InputError(f"early_stopping_rounds must be a positive integer or none, not {early!r}")
    return spec.replace(params=params, seed=seed, num_boost_round=rounds,
                        early_stopping_rounds=early or None)


def _check_fields(spec: TrainSpec) -> None:
    if spec.model not in MODELS:
        raise InputError(f"unknown model {spec.model!r} (models: {', '.join(MODELS)})")
    if spec.task is not None and spec.task not in TASKS:
        raise InputError(f"unknown task {spec.task!r} (tasks: {', '.join(TASKS)})")
    if spec.device not in DEVICES:
        raise InputError(f"unknown device {spec.device!r} (devices: cpu, gpu)")
    if spec.device == "gpu" and spec.model != "lightgbm":
        raise InputError(f"device gpu works only with model lightgbm; {spec.model} trains on the CPU")
    try:
        fraction = float(spec.valid_fraction)
    except (TypeError, ValueError):
        fraction = -1.0
    if spec.valid is None and not 0 < fraction < 1:
        raise InputError(f"valid_fraction must be between 0 and 1, not {spec.valid_fraction!r}")
    if spec.task == "regression" and spec.model == "logistic":
        raise InputError("model logistic is a classifier; for regression use linear, lightgbm, "
                         "random_forest or hist_gb")
    if spec.task in ("binary", "multiclass") and spec.model == "linear":
        raise InputError(f"model linear is for regression; for {spec.task} use logistic")
    from tui_mlops.store.home import check_name

    check_name(spec.experiment)


def prepare(home: Any, spec: TrainSpec) -> TrainSpec:
    """Resolve dataset refs to full versions, infer the task, fix defaults (num_threads), and check
    everything a job would otherwise fail on. Returns the spec a job runs exactly."""
    from tui_mlops.data.profile import column_kind
    from tui_mlops.data.versions import resolve
    from tui_mlops.store.home import Home
    from tui_mlops.training.features import check_transform, plan_columns
    from tui_mlops.training.frames import target_stats

    home = home if isinstance(home, Home) else Home.open(home)
    _check_fields(spec)
    spec = normalise(spec)
    v = resolve(home, spec.dataset)
    types = {c.name: c.type for c in v.columns}
    target = spec.target

    def unknown(col: str, what: str) -> InputError:
        return InputError(f"unknown {what} column {col!r} in {v.ref} (columns: {', '.join(types)})")

    if target not in types:
        raise unknown(target, "target")
    for c in spec.features or []:
        if c not in types:
            raise unknown(c, "feature")
    if target in (spec.features or []):
        raise InputError(f"target {target!r} cannot also be a feature")
    derived: set[str] = set()
    for t in spec.transforms:
        sources, outs, _ = check_transform(t)
        derived.update(outs)
        need = "temporal" if t["op"] == "date_parts" else "numeric"
        for s in sources:
            if s not in types:
                raise unknown(s, f"{t['op']} transform")
            if s == target:
                raise InputError(f"bad transform {t['op']}: {s!r} is the target")
            kind = column_kind(types[s])
            if kind == "boolean" and need == "numeric":
                continue
            if kind != need or types[s].upper().startswith("TIME") and not types[s].upper().startswith("TIMESTAMP"):
                want = "a date or timestamp" if need == "temporal" else "a numeric"
                raise InputError(f"bad transform {t['op']} on {s!r}: needs {want} column, but it is {types[s]}")
    for d in spec.drop:
        if d not in types and d not in derived:
            raise unknown(d, "drop")
    inputs, outputs = plan_columns(list(types), target, spec.features, spec.drop, spec.transforms)
    if not outputs:
        raise InputError(f"no feature columns are left in {v.ref} after the drops")
    for o in outputs:
        if o in types and _unusable(types[o]):
            raise InputError(f"column {o!r} of {v.ref} has type {types[o]}, which cannot be a feature: drop it")

    stats = target_stats(home, v, target, spec.filter)
    where = f" after filter {spec.filter!r}" if spec.filter else ""
    if stats.rows == 0:
        raise InputError(f"filter {spec.filter!r} leaves no rows of {v.ref}" if spec.filter
                         else f"{v.ref} has no rows")
    if stats.non_null == 0:
        raise InputError(f"target {target!r} is null in every row of {v.ref}{where}")
    dtype, tkind = types[target], column_kind(types[target])
    if tkind == "temporal" or _unusable(dtype):
        raise InputError(f"target {target!r} of {v.ref} is {dtype}: a target must be numeric, boolean or text")
    task = spec.task or infer_task(dtype, stats.distinct)
    if task == "regression":
        if tkind != "numeric":
            raise InputError(f"target {target!r} of {v.ref} is {dtype}, not numeric: regression needs a numeric "
                             f"target (use task binary or multiclass)")
        if stats.distinct < 2:
            raise InputError(f"target {target!r} is {stats.example!r} in every row of {v.ref}{where}: nothing to learn")
    else:
        if stats.distinct < 2:
            raise InputError(f"target {target!r} has only one class ({stats.example!r}) in {v.ref}{where}: "
                             f"a classifier needs at least two")
        if task == "binary" and stats.distinct != 2:
            raise InputError(f"task binary needs exactly 2 classes, but target {target!r} has {stats.distinct} "
                             f"in {v.ref}; use multiclass")
        if stats.distinct > MAX_CLASSES:
            raise InputError(f"target {target!r} has {stats.distinct} distinct values in {v.ref}: too many "
                             f"classes (at most {MAX_CLASSES}); use task regression if it is a number")
    spec = spec.replace(task=task)
    _check_fields(spec)
    valid_ref = None
    if spec.valid:
        vv = resolve(home, spec.valid)
        vtypes = {c.name for c in vv.columns}
        lacking = [c for c in [*inputs, target] if c not in vtypes]
        if lacking:
            raise InputError(f"validation data {vv.ref} lacks column(s) {', '.join(map(repr, lacking))} "
                             f"of the training data")
        vstats = target_stats(home, vv, target, spec.filter)
        if vstats.non_null == 0:
            raise InputError(f"validation data {vv.ref} has no rows with a target{where}")
        valid_ref = vv.ref
    elif stats.non_null < 2:
        raise InputError(f"{v.ref} has {stats.non_null} row(s) with a target{where}: too few to hold out "
                         f"validation rows")
    params = dict(spec.params)
    if spec.model == "lightgbm" and not any(k in params for k in _THREAD_KEYS):
        params["num_threads"] = default_threads(home)
    spec = spec.replace(params=params)
    check_model_params(spec, stats.distinct)
    if spec.device == "gpu":
        from tui_mlops.training.devices import detect

        info = detect()
        if not info.gpu_usable:
            raise InputError(info.message)
    return spec.replace(dataset=v.ref, valid=valid_ref)


def check_model_params(spec: TrainSpec, num_class: int = 3) -> None:
    """The model's own check of spec.params (LightGBM's or scikit-learn's message on failure)."""
    if spec.model == "lightgbm":
        from tui_mlops.training import lgbm

        lgbm.check_params(spec.task or "regression", spec.params, num_class)
    else:
        from tui_mlops.training import sklearn_models

        sklearn_models.check_params(spec.model, spec.task or "regression", spec.params)
