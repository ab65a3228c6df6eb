"""Stability checks: k-fold cross-validation refitting the run's pipeline and model, metrics per
slice of a column (naming the worst), and how often small input noise flips predictions."""

from __future__ import annotations

import contextlib
import io
import math
from typing import Any, Callable, Iterator

from tui_mlops.errors import InputError
from tui_mlops.training.spec import TrainSpec

# The metric that ranks slices and drives the champion comparison, by task.
PRIMARY = {"binary": "auc", "multiclass": "logloss", "regression": "rmse"}


class ValidationCancelled(Exception):
    """Validation was stopped through its cancel event (between folds or stages)."""


def check_cancel(cancel: Any) -> None:
    if cancel is not None and cancel.is_set():
        raise ValidationCancelled("validation cancelled")


@contextlib.contextmanager
def captured_prints(notes: list[str] | None) -> Iterator[None]:
    """The training code prints progress notes for a job's log; here they go to `notes` (once each)
    instead of stdout, which may carry the CLI's JSON."""
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            yield
    finally:
        if notes is not None:
            for line in buf.getvalue().splitlines():
                if line.strip() and line.strip() not in notes:
                    notes.append(line.strip())


def training_rows(home: Any, spec: TrainSpec, notes: list[str] | None = None) -> tuple[Any, Any]:
    """(the run's train+valid rows as one frame, its TrainData) exactly as training split them."""
    import polars as pl

    from tui_mlops.training.runner import load_data

    if not spec.dataset:
        raise InputError("the run records no training data (an imported model): cross-validation and "
                         "train-vs-test drift need it")
    with captured_prints(notes):
        data = load_data(home, spec)
    # A separate validation dataset may carry other columns: keep those both have, in train order.
    cols = [c for c in data.train.columns if c in data.valid.columns]
    both = pl.concat([data.train.select(cols), data.valid.select(cols)], how="vertical_relaxed")
    return both, data


def _folds(y: Any, k: int, seed: int, stratify: bool) -> list[tuple[Any, Any]]:
    import numpy as np
    from sklearn.model_selection import KFold, StratifiedKFold

    n = len(y)
    if k < 2:
        raise InputError(f"cross-validation needs at least 2 folds, not {k}")
    if k > n:
        raise InputError(f"cross-validation with {k} folds needs at least {k} rows; the run has {n}")
    if stratify:
        _, counts = np.unique(y, return_counts=True)
        if counts.min() >= k:
            return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(n), y))
        # A class rarer than k rows cannot be spread over every fold: plain shuffled folds instead.
    return list(KFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(n)))


def _fit_predict(spec: TrainSpec, train: Any, valid: Any, classes: Any, rounds: int) -> tuple[Any, Any]:
    """Fit the pipeline and model on `train` (no tracking run); (encoded valid target, predictions)."""
    from tui_mlops.training.runner import TrainData, fit_pipeline

    task = spec.task or "regression"
    with captured_prints(None):  # "feature 'x' is null in every training row": said at training
        pipeline = fit_pipeline(spec, TrainData(train, valid, classes))
    X_tr, y_tr = pipeline.transform(train), pipeline.encode_target(train)
    X_va, y_va = pipeline.transform(valid), pipeline.encode_target(valid)
    if spec.model == "lightgbm":
        import lightgbm as lgb

        from tui_mlops.training import lgbm

        params = lgbm.train_params(task, len(classes or []), spec.seed, spec.params)
        params.pop("device_type", None)
        params.pop("device", None)
        dtrain = lgb.Dataset(X_tr, label=y_tr, feature_name=lgbm.lgbm_names(pipeline.names),
                             categorical_feature=pipeline.categorical_indices or "auto", free_raw_data=True)
        booster = lgb.train(params, dtrain, num_boost_round=rounds)
        return y_va, booster.predict(X_va)
    from tui_mlops.training import sklearn_models as S

    est = S.build(spec.model, task, spec.params, spec.seed)
    S.fit(est, X_tr, y_tr)
    return y_va, S.predict(est, X_va, task)


def cross_validate(home: Any, spec: TrainSpec, *, k: int = 5, progress: Callable[[int, int, str], Any] | None = None,
                   cancel: Any = None, num_boost_round: int | None = None, threshold: float = 0.5,
                   frame: Any = None, classes: list[Any] | None = None) -> dict[str, dict[str, Any]]:
    """k-fold cross-validation (stratified for classification, seeded by spec.seed) over the run's
    train+valid rows, refitting pipeline and model per fold: {metric: {"mean","std","folds"}}.

    LightGBM trains `num_boost_round` rounds (default spec.num_boost_round) without early stopping,
    on the CPU; `frame`/`classes` skip reloading the rows when the caller has them.
    """
    import numpy as np

    from tui_mlops.validation.metrics import holdout_metrics

    if spec.task is None:
        raise InputError("the train spec has no task: cannot cross-validate it")
    if frame is None:
        frame, data = training_rows(home, spec)
        classes = data.classes
    rounds = int(num_boost_round or spec.num_boost_round)
    y_all = frame[spec.target].to_numpy()
    splits = _folds(y_all, k, spec.seed, spec.task != "regression")
    per_fold: list[dict[str, float]] = []
    for i, (tr, va) in enumerate(splits):
        check_cancel(cancel)
        if progress is not None:
            progress(i, k, f"fold {i + 1}/{k}")
        y_va, pred = _fit_predict(spec, frame[tr], frame[va], classes, rounds)
        per_fold.append(holdout_metrics(spec.task, y_va, pred, threshold=threshold))
    check_cancel(cancel)
    if progress is not None:
        progress(k, k, "done")
    out: dict[str, dict[str, Any]] = {}
    for key in dict.fromkeys(m for f in per_fold for m in f):
        values = [f.get(key) for f in per_fold]
        finite = [v for v in values if v is not None and math.isfinite(v)]
        out[key] = {"mean": float(np.mean(finite)) if finite else None,
                    "std": float(np.std(finite)) if finite else None,
                    "folds": [None if v is None else float(v) for v in values]}
    return out


def slice_metrics(task: str, y: Any, pred: Any, slices: Any, *, threshold: float = 0.5,
                  min_rows: int = 20) -> list[dict[str, Any]]:
    """Metrics per distinct value of `slices` (one value per row), largest slice first; slices with
    fewer than `min_rows` rows get no metrics ("metrics": {}, "too_small": True)."""
    import numpy as np

    from tui_mlops.validation.metrics import holdout_metrics

    values = np.asarray(list(slices) if not hasattr(slices, "to_list") else slices.to_list(), dtype=object)
    y, pred = np.asarray(y), np.asarray(pred)
    if len(values) != len(y):
        raise InputError(f"slice column has {len(values)} values for {len(y)} rows")
    keys = np.array(["\x00null" if v is None else str(v) for v in values], dtype=object)
    uniq, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    out: list[dict[str, Any]] = []
    for j, key in enumerate(uniq):
        idx = np.flatnonzero(inverse == j)
        value = None if key == "\x00null" else str(key)
        row: dict[str, Any] = {"value": value, "n": int(counts[j]), "metrics": {}}
        if counts[j] < min_rows:
            row["too_small"] = True
        else:
            row["metrics"] = holdout_metrics(task, y[idx], pred[idx], threshold=threshold)
        out.append(row)
    out.sort(key=lambda r: (-r["n"], r["value"] is None, str(r["value"])))
    return out


def worst_slice(task: str, slices: list[dict[str, Any]], metric: str | None = None) -> dict[str, Any] | None:
    """The slice with the worst value of `metric` (default: the task's primary metric)."""
    from tui_mlops.validation.metrics import higher_is_better

    metric = metric or PRIMARY[task]
    scored = [s for s in slices if s.get("metrics", {}).get(metric) is not None
              and math.isfinite(s["metrics"][metric])]
    if not scored:
        return None
    pick = min if higher_is_better(metric) else max
    worst = pick(scored, key=lambda s: s["metrics"][metric])
    return {"value": worst["value"], "n": worst["n"], "metric": metric, "score": worst["metrics"][metric]}


def noise_sensitivity(model: Any, frame: Any, *, scale: float = 0.05, seed: int = 0,
                      threshold: float = 0.5) -> dict[str, Any]:
    """Add gaussian noise of `scale` x std to every numeric model input and score again:
    classification -> share of rows whose predicted class flips; every task -> mean |change| of
    the score (probability or value)."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    noisy_cols, changed = [], []
    for col in model.pipeline.inputs:
        dtype = frame.schema[col]
        if dtype == pl.Boolean or not dtype.is_numeric():
            continue
        x = frame[col].cast(pl.Float64)
        std = x.std()
        if std is None or not math.isfinite(std) or std == 0:
            continue
        arr = x.to_numpy().copy()
        arr = arr + rng.normal(0.0, scale * std, size=arr.shape)
        changed.append(pl.Series(col, arr, dtype=pl.Float64))
        noisy_cols.append(col)
    base = np.asarray(model.score(frame), dtype=float)
    out: dict[str, Any] = {"scale": scale, "columns": noisy_cols, "rows": frame.height}
    noisy = np.asarray(model.score(frame.with_columns(changed)), dtype=float) if changed else base
    out["mean_abs_change"] = float(np.mean(np.abs(noisy - base))) if base.size else 0.0
    if model.task == "binary":
        out["flip_share"] = float(np.mean((base >= threshold) != (noisy >= threshold))) if base.size else 0.0
    elif model.task == "multiclass":
        out["flip_share"] = float(np.mean(base.argmax(axis=1) != noisy.argmax(axis=1))) if base.size else 0.0
    return out
