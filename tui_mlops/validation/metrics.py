"""Holdout metrics computed with scikit-learn: classification, multiclass and regression, plus the
calibration curve, confusion matrix and residual summary that reports show."""

from __future__ import annotations

from typing import Any

from tui_mlops.errors import InputError

CLASSIFICATION = ("auc", "logloss", "accuracy", "precision", "recall", "f1", "brier")   # binary
MULTICLASS = ("logloss", "accuracy", "f1_macro")
REGRESSION = ("rmse", "mae", "r2", "mape")            # mape omitted when any |y| == 0
TASKS = ("binary", "multiclass", "regression")
# Probabilities are clipped like training's final_metrics, so a validation's holdout logloss equals
# the run's recorded valid/logloss on the same rows.
PROBA_EPS = 1e-15

_HIGHER = frozenset({"auc", "accuracy", "precision", "recall", "f1", "f1_macro", "r2"})
_LOWER = frozenset({"logloss", "brier", "rmse", "mae", "mape"})


def task_metrics(task: str) -> tuple[str, ...]:
    """The metric names holdout_metrics can give for `task`."""
    check_task(task)
    return {"binary": CLASSIFICATION, "multiclass": MULTICLASS, "regression": REGRESSION}[task]


def check_task(task: str) -> None:
    if task not in TASKS:
        raise InputError(f"unknown task {task!r}: expected one of {', '.join(TASKS)}")


def clip_proba(p: Any) -> Any:
    import numpy as np

    return np.clip(p, PROBA_EPS, 1 - PROBA_EPS)


def as_arrays(task: str, y: Any, pred: Any) -> tuple[Any, Any]:
    """(y, pred) as float64 numpy arrays, checked for `task`: same length, at least one row, finite,
    binary labels 0/1 with probabilities in [0, 1], multiclass labels 0..k-1 with an (n, k) matrix."""
    import numpy as np

    check_task(task)
    y = np.asarray(y, dtype=float).ravel()
    pred = np.asarray(pred, dtype=float)
    if task == "multiclass":
        if pred.ndim != 2 or pred.shape[1] < 2:
            raise InputError(f"multiclass predictions must be an (n, k) probability matrix, got shape {pred.shape}")
    elif pred.ndim != 1:
        pred = pred.ravel() if pred.ndim == 2 and pred.shape[1] == 1 else pred
        if pred.ndim != 1:
            raise InputError(f"{task} predictions must be one value per row, got shape {pred.shape}")
    if len(y) != len(pred):
        raise InputError(f"{len(y)} labels but {len(pred)} predictions")
    if len(y) == 0:
        raise InputError("no rows to evaluate")
    _first_bad("label", "is not a finite number", ~np.isfinite(y), y)
    _first_bad("prediction", "is not a finite number", ~np.isfinite(pred).reshape(len(pred), -1).all(axis=1))
    if task == "binary":
        _first_bad("binary label", "is not 0 or 1", (y != 0) & (y != 1), y)
        _first_bad("probability", "is outside [0, 1]", (pred < 0) | (pred > 1), pred)
    elif task == "multiclass":
        k = pred.shape[1]
        _first_bad("class label", f"is not an integer in 0..{k - 1}", (y < 0) | (y >= k) | (y != np.round(y)), y)
        _first_bad("probability", "is outside [0, 1]", ((pred < 0) | (pred > 1)).any(axis=1))
    return y, pred


def _first_bad(what: str, rule: str, bad: Any, values: Any = None) -> None:
    import numpy as np

    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        shown = "" if values is None else f" {values[i]:g}"
        raise InputError(f"row {i}: {what}{shown} {rule}")


def holdout_metrics(task: str, y: Any, pred: Any, *, threshold: float = 0.5) -> dict[str, float]:
    """Metrics of `pred` against `y` (encoded labels or values). pred: P(class 1) for binary, an (n, k)
    probability matrix for multiclass, values for regression. Binary with one class in y: no "auc"."""
    import numpy as np
    from sklearn import metrics as M

    y, pred = as_arrays(task, y, pred)
    if task == "regression":
        out = {"rmse": float(np.sqrt(M.mean_squared_error(y, pred))),
               "mae": float(M.mean_absolute_error(y, pred))}
        # r2 of a single row is undefined (sklearn warns and returns nan): leave it out.
        if len(y) >= 2:
            out["r2"] = float(M.r2_score(y, pred))
        if not (y == 0).any():
            out["mape"] = float(M.mean_absolute_percentage_error(y, pred))
        return out
    if task == "binary":
        yi = y.astype(int)
        p = clip_proba(pred)
        labels = (p >= threshold).astype(int)
        out = {}
        if len(np.unique(yi)) == 2:
            out["auc"] = float(M.roc_auc_score(yi, p))
        out.update({
            "logloss": float(M.log_loss(yi, p, labels=[0, 1])),
            "accuracy": float(M.accuracy_score(yi, labels)),
            "precision": float(M.precision_score(yi, labels, zero_division=0)),
            "recall": float(M.recall_score(yi, labels, zero_division=0)),
            "f1": float(M.f1_score(yi, labels, zero_division=0)),
            "brier": float(M.brier_score_loss(yi, p)),
        })
        return out
    yi = y.astype(int)
    k = pred.shape[1]
    labels = pred.argmax(axis=1)
    return {"logloss": float(M.log_loss(yi, np.clip(pred, PROBA_EPS, 1.0), labels=list(range(k)))),
            "accuracy": float(M.accuracy_score(yi, labels)),
            # Macro over the classes present in y or in the predictions, like training's final_metrics.
            "f1_macro": float(M.f1_score(yi, labels, average="macro", zero_division=0))}


def calibration_curve(y: Any, p: Any, bins: int = 10) -> list[dict[str, float]]:
    """Reliability diagram on `bins` equal-width bins of [0, 1] (binned like sklearn's
    calibration_curve): the non-empty bins, each {"bin_lo","bin_hi","n","mean_pred","frac_pos"}."""
    import numpy as np

    if bins < 1:
        raise InputError(f"calibration bins must be at least 1, not {bins}")
    y, p = as_arrays("binary", y, p)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.searchsorted(edges[1:-1], p)
    n = np.bincount(which, minlength=bins)
    sum_p = np.bincount(which, weights=p, minlength=bins)
    sum_y = np.bincount(which, weights=y, minlength=bins)
    return [{"bin_lo": float(edges[i]), "bin_hi": float(edges[i + 1]), "n": int(n[i]),
             "mean_pred": float(sum_p[i] / n[i]), "frac_pos": float(sum_y[i] / n[i])}
            for i in range(bins) if n[i] > 0]


def confusion_matrix(y: Any, labels_pred: Any, n_classes: int) -> list[list[int]]:
    """Counts with rows = true class, columns = predicted class, classes 0..n_classes-1."""
    import numpy as np
    from sklearn.metrics import confusion_matrix as sk_confusion

    y, labels_pred = np.asarray(y).ravel(), np.asarray(labels_pred).ravel()
    if len(y) != len(labels_pred):
        raise InputError(f"{len(y)} labels but {len(labels_pred)} predicted labels")
    for what, arr in (("label", y), ("predicted label", labels_pred)):
        bad = (arr < 0) | (arr >= n_classes)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"row {i}: {what} {arr[i]} is outside 0..{n_classes - 1}")
    m = sk_confusion(y.astype(int), labels_pred.astype(int), labels=list(range(n_classes)))
    return [[int(v) for v in row] for row in m]


def residual_summary(y: Any, pred: Any) -> dict[str, float]:
    """Residuals y - pred: mean, std, mae, p05, p50, p95, max_abs."""
    import numpy as np

    y, pred = as_arrays("regression", y, pred)
    r = y - pred
    p05, p50, p95 = np.percentile(r, [5, 50, 95])
    return {"mean": float(r.mean()), "std": float(r.std()), "mae": float(np.abs(r).mean()),
            "p05": float(p05), "p50": float(p50), "p95": float(p95), "max_abs": float(np.abs(r).max())}


def higher_is_better(metric: str) -> bool:
    """True for auc/accuracy/precision/recall/f1*/r2; False for losses and errors. Other names (with
    any "valid/" style prefix dropped) follow the tracking query's metric_direction."""
    name = str(metric).lower().rsplit("/", 1)[-1]
    if name in _HIGHER or name.startswith("f1"):
        return True
    if name in _LOWER:
        return False
    from tui_mlops.tracking.query_lang import metric_direction

    return metric_direction(name) == "max"
