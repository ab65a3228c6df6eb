"""Automatic logging for LightGBM (a training callback) and scikit-learn (final metrics and staged
curves). Neither library is imported here until a helper is called."""

from __future__ import annotations

from typing import Any, Callable

from tui_mlops.tracking.api import Run


def lightgbm_callback(run: Run, period: int = 1) -> Callable[[Any], None]:
    """A `lightgbm.train(callbacks=[...])` callback logging every eval result as "<data>/<metric>"
    (e.g. "valid/auc") with step = iteration + 1, every `period` rounds and on the last one."""
    period = max(int(period), 1)

    def _callback(env: Any) -> None:
        step = env.iteration + 1
        last = env.iteration == env.end_iteration - 1
        if step % period and not last:
            return
        values = {}
        for item in env.evaluation_result_list or ():
            # (data, metric, value, higher_better) from train(); cv() adds the stdv as a 5th
            data_name, metric_name, value = item[0], item[1], item[2]
            values[f"{data_name}/{metric_name}"] = float(value)
        if values:
            run.log_metrics(values, step=step)

    # Before early stopping (order 30) so the round that stops training is logged too.
    _callback.order = 20  # type: ignore[attr-defined]
    return _callback


def _task(model: Any, y: Any) -> str:
    from sklearn.base import is_classifier

    if not is_classifier(model):
        return "regression"
    classes = getattr(model, "classes_", None)
    n = len(classes) if classes is not None else len(set(list(y)))
    return "binary" if n <= 2 else "multiclass"


def _classification_metrics(y: Any, proba: Any, pred: Any, classes: Any, task: str) -> dict[str, float]:
    from sklearn import metrics as skm

    out = {"accuracy": float(skm.accuracy_score(y, pred))}
    if task == "binary":
        out["f1"] = float(skm.f1_score(y, pred, pos_label=classes[-1]))
    else:
        out["f1"] = float(skm.f1_score(y, pred, average="macro"))
    if proba is not None:
        out["logloss"] = float(skm.log_loss(y, proba, labels=classes))
        if task == "binary":
            out["auc"] = float(skm.roc_auc_score(y, proba[:, 1]))
    return out


def _regression_metrics(y: Any, pred: Any) -> dict[str, float]:
    import numpy as np
    from sklearn import metrics as skm

    return {"rmse": float(np.sqrt(skm.mean_squared_error(y, pred))),
            "mae": float(skm.mean_absolute_error(y, pred)), "r2": float(skm.r2_score(y, pred))}


def log_sklearn(run: Run, model: Any, X: Any, y: Any, prefix: str = "valid") -> dict[str, float]:
    """Log a fitted scikit-learn model's metrics on (X, y) as "<prefix>/<metric>": staged curves
    first where the model has staged_predict(_proba), then the final values. Returns the finals."""
    task = _task(model, y)
    classes = getattr(model, "classes_", None)
    has_proba = task != "regression" and hasattr(model, "predict_proba")
    stages, staged_keys = 0, set()
    if task != "regression" and hasattr(model, "staged_predict_proba"):
        for stages, proba in enumerate(model.staged_predict_proba(X), start=1):
            pred = classes[proba.argmax(axis=1)]
            vals = _classification_metrics(y, proba, pred, classes, task)
            staged_keys = set(vals)
            run.log_metrics({f"{prefix}/{k}": v for k, v in vals.items()}, step=stages)
    elif task != "regression" and hasattr(model, "staged_predict"):
        for stages, pred in enumerate(model.staged_predict(X), start=1):
            vals = _classification_metrics(y, None, pred, classes, task)
            staged_keys = set(vals)
            run.log_metrics({f"{prefix}/{k}": v for k, v in vals.items()}, step=stages)
    elif task == "regression" and hasattr(model, "staged_predict"):
        for stages, pred in enumerate(model.staged_predict(X), start=1):
            vals = _regression_metrics(y, pred)
            staged_keys = set(vals)
            run.log_metrics({f"{prefix}/{k}": v for k, v in vals.items()}, step=stages)
    if task == "regression":
        final = _regression_metrics(y, model.predict(X))
    else:
        proba = model.predict_proba(X) if has_proba else None
        final = _classification_metrics(y, proba, model.predict(X), classes, task)
    # The last stage already logged what it could; add only what staging lacked (e.g. auc).
    run.log_metrics({f"{prefix}/{k}": v for k, v in final.items() if k not in staged_keys}, step=stages or None)
    return {f"{prefix}/{k}": v for k, v in final.items()}
