"""scikit-learn models (random_forest, hist_gb, logistic, linear): how each wants its features
encoded, construction with the user's params (checked before a job), importance, skops bytes."""

from __future__ import annotations

from typing import Any

from tui_mlops.errors import InputError

# (categorical encoding, impute numeric nulls, standardise numeric columns)
ENCODING = {
    "random_forest": ("ordinal", True, False),
    "hist_gb": ("ordinal", False, False),   # handles NaN itself
    "logistic": ("onehot", True, True),
    "linear": ("onehot", True, True),
}


def _estimator_class(model: str, task: str) -> Any:
    from sklearn import ensemble, linear_model

    classify = task != "regression"
    if model == "random_forest":
        return ensemble.RandomForestClassifier if classify else ensemble.RandomForestRegressor
    if model == "hist_gb":
        return ensemble.HistGradientBoostingClassifier if classify else ensemble.HistGradientBoostingRegressor
    if model == "logistic" and classify:
        return linear_model.LogisticRegression
    if model == "linear" and not classify:
        return linear_model.LinearRegression
    raise InputError(f"model {model!r} does not do {task}")


def _defaults(model: str, seed: int) -> dict[str, Any]:
    if model == "random_forest":
        return {"random_state": seed, "n_jobs": 1}
    if model == "hist_gb":
        return {"random_state": seed}
    if model == "logistic":
        return {"random_state": seed, "max_iter": 1000}
    return {}


def build(model: str, task: str, params: dict[str, Any], seed: int) -> Any:
    """The estimator with our defaults, then the user's params; bad names or values raise
    InputError with scikit-learn's own message."""
    cls = _estimator_class(model, task)
    est = cls(**_defaults(model, seed))
    try:
        est.set_params(**params)
        validate = getattr(est, "_validate_params", None)
        if validate is not None:
            validate()  # checks values too, as fit would, but now (before the job starts)
    except (ValueError, TypeError) as exc:
        msg = " ".join(str(exc).split())
        raise InputError(f"scikit-learn rejected the params: {msg}") from None
    return est


def check_params(model: str, task: str, params: dict[str, Any]) -> None:
    build(model, task, params, 0)


def fit(est: Any, X: Any, y: Any) -> Any:
    import warnings

    with warnings.catch_warnings():
        # Convergence warnings go to job.log once, not per iteration.
        warnings.simplefilter("once")
        est.fit(X, y)
    return est


def predict(est: Any, X: Any, task: str) -> Any:
    """Positive-class probability (binary), class probabilities (multiclass) or values."""
    import warnings

    with warnings.catch_warnings():
        # A model fit on a named frame elsewhere (an MLflow import) gets our matrix in the same
        # column order, which the feature pipeline guarantees: sklearn's name warning is noise.
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        if task == "regression":
            return est.predict(X)
        proba = est.predict_proba(X)
    return proba[:, 1] if task == "binary" else proba


def importance(est: Any, names: list[str]) -> dict[str, Any]:
    import numpy as np

    if hasattr(est, "feature_importances_"):
        values, kind = np.asarray(est.feature_importances_, dtype=float), "impurity"
    elif hasattr(est, "coef_"):
        coef = np.atleast_2d(np.asarray(est.coef_, dtype=float))
        values, kind = np.abs(coef).mean(axis=0), "abs_coefficient"
    else:
        return {"kind": "none", "features": []}
    rows = sorted(zip(names, values), key=lambda r: -r[1])
    return {"kind": kind, "features": [{"name": n, "importance": float(v)} for n, v in rows]}


def to_bytes(est: Any) -> bytes:
    import skops.io as sio

    return sio.dumps(est)


ALLOWED_PREFIXES = ("sklearn.", "numpy.", "builtins.")


def load_bytes(data: bytes, what: str) -> Any:
    """Load a skops model, trusting only the types skops itself reports as needing trust, and only
    when every one of them is from scikit-learn, numpy or builtins."""
    import skops.io as sio

    untrusted = sio.get_untrusted_types(data=data)
    foreign = [t for t in untrusted if not t.startswith(ALLOWED_PREFIXES)]
    if foreign:
        from tui_mlops.errors import StoreError

        raise StoreError(f"{what} contains types outside scikit-learn/numpy ({', '.join(foreign[:5])}); "
                         f"refusing to load it")
    return sio.loads(data, trusted=untrusted)
