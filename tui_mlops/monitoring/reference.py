"""The monitor's cached reference (reference.json), built once at create: drift profiles of the model
inputs and of its predictions, summary bins for windowed drift, NannyML-style bands over reference
chunks, the PCA reconstruction model and the CBPE calibration."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from tui_mlops.errors import InputError

FORMAT = "tui_mlops.monitor_reference/1"
SUMMARY_BINS = 200      # summary bins per numeric column (reference quantiles; exact values when fewer)
_CACHE: dict[str, tuple[tuple[int, int], dict[str, Any]]] = {}
_LOCK = threading.Lock()


def profile_columns(profile: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """column -> its profile entry (drift_methods keeps them under "columns")."""
    cols = profile.get("columns")
    if isinstance(cols, dict):
        return cols
    return {k: v for k, v in profile.items() if isinstance(v, dict) and "kind" in v}


def check_methods(spec: Any) -> None:
    from tui_mlops.validation.drift_methods import METHODS

    allowed = set(spec.features) | {spec.prediction_column, spec.score_column}
    for col, method in {**spec.methods, **{c: None for c in spec.thresholds}}.items():
        if col not in allowed:
            raise InputError(f"method/threshold for {col!r}: not a model input (inputs: {', '.join(spec.features)})")
        if method is not None and method not in METHODS:
            raise InputError(f"unknown drift method {method!r} for {col!r} (methods: {', '.join(METHODS)})")
    if spec.default_method not in METHODS:
        raise InputError(f"unknown drift method {spec.default_method!r} (methods: {', '.join(METHODS)})")


def overrides(spec: Any, columns: list[str]) -> dict[str, Any]:
    """dataset_drift keyword arguments: the spec's per-column methods/thresholds for `columns`."""
    return {"methods": {c: m for c, m in spec.methods.items() if c in columns},
            "thresholds": {c: t for c, t in spec.thresholds.items() if c in columns},
            "default_method": spec.default_method}


def numeric_values(s: Any) -> Any:
    """A polars series as float64 numpy values without nulls/NaN (booleans as 0/1)."""
    import numpy as np
    import polars as pl

    try:
        v = (s.to_physical() if s.dtype.is_temporal() else s).cast(pl.Float64, strict=False).to_numpy()
    except Exception:  # noqa: BLE001 - a column that cannot be numbers has no numeric values
        return np.empty(0)
    v = np.asarray(v, dtype=float)
    return v[np.isfinite(v)]


def summary_bins(values: Any) -> dict[str, Any]:
    """Edges (reference quantiles, or the exact values when there are few), the reference's mean and
    count within each bin: bin 0 = (-inf, e0], bin i = (e[i-1], e[i]], last = (e[-1], inf)."""
    import numpy as np

    if len(values) == 0:
        return {"edges": [], "means": [], "counts": []}
    distinct = np.unique(values)
    edges = distinct if len(distinct) <= SUMMARY_BINS else np.unique(
        np.quantile(values, np.linspace(0.0, 1.0, SUMMARY_BINS + 1)))
    idx = np.searchsorted(edges, values, side="left")
    counts = np.bincount(idx, minlength=len(edges) + 1)
    sums = np.bincount(idx, weights=values, minlength=len(edges) + 1)
    mids = np.concatenate([[edges[0]], (edges[:-1] + edges[1:]) / 2, [edges[-1]]])
    means = np.where(counts > 0, sums / np.maximum(counts, 1), mids)
    return {"edges": edges.tolist(), "means": means.tolist(), "counts": counts.tolist()}


def _score(model: Any, frame: Any, types: dict[str, str]) -> Any:
    from tui_mlops.registry.predict import conform, score_frame

    conformed, _ = conform(model.pipeline, types, frame, "the reference")
    return score_frame(model, conformed)


def prediction_columns(spec: Any) -> list[str]:
    """Prediction outputs watched for drift: the score (binary) and the prediction."""
    return [spec.score_column, spec.prediction_column] if spec.task == "binary" else [spec.prediction_column]


def _bands(spec: Any, frame: Any, scored: Any, profile: dict, pred_profile: dict, calibration: Any,
           classes: list[Any]) -> dict:
    import numpy as np

    from tui_mlops.monitoring import bands as B
    from tui_mlops.monitoring import cbpe
    from tui_mlops.validation.drift_methods import dataset_drift
    from tui_mlops.validation.metrics import holdout_metrics

    slices = B.chunks(frame.height, spec.window_rows)
    per_feature: dict[str, list] = {c: [] for c in spec.features}
    shares, preds, metrics, estimated = [], [], {}, {}
    pcols = prediction_columns(spec)
    y = labels_array(spec, frame, classes)
    for s in slices:
        part = frame.slice(s.start, s.stop - s.start)
        d = dataset_drift(profile, part, spec.features, dataset_share=spec.dataset_share,
                          **overrides(spec, spec.features))
        shares.append(d.share)
        for c in d.columns:
            per_feature[c.column].append(c.score)
        p = dataset_drift(pred_profile, scored.slice(s.start, s.stop - s.start), pcols[:1],
                          **overrides(spec, pcols[:1]))
        preds.append(p.columns[0].score if p.columns else None)
        if y is not None:
            ys, pr = y[s], prediction_array(spec, scored)[s]
            keep = np.isfinite(ys)
            try:
                for k, v in holdout_metrics(spec.task, ys[keep], pr[keep]).items():
                    metrics.setdefault(k, []).append(v)
            except InputError:
                pass
        if calibration is not None:
            for k, v in cbpe.estimate(calibration, scored[spec.score_column].to_numpy()[s]).items():
                if k in cbpe.METRICS:
                    estimated.setdefault(k, []).append(v)
    sig = spec.sigma
    return {"chunks": len(slices),
            "features": {c: B.chunk_bands(v, sig) for c, v in per_feature.items()},
            "drift_share": B.chunk_bands(shares, sig, lower_limit=0.0, upper_limit=1.0),
            "prediction": B.chunk_bands(preds, sig),
            "realized": {k: B.chunk_bands(v, sig) for k, v in metrics.items()},
            "estimated": {k: B.chunk_bands(v, sig) for k, v in estimated.items()}}


def labels_array(spec: Any, frame: Any, classes: list[Any], column: str | None = None) -> Any:
    """Labels encoded as holdout_metrics wants them (class index, NaN where unknown/null), or None
    when the column is absent."""
    import numpy as np
    import polars as pl

    column = column or spec.target
    if column not in frame.columns:
        return None
    s = frame[column]
    if spec.task == "regression":
        return numeric_values_keep(s)
    if not classes:
        return None
    text = s.cast(pl.String)
    codes = np.full(len(s), np.nan)
    for i, c in enumerate(classes):   # one vector pass per class
        codes[(text == _text(c)).fill_null(False).to_numpy()] = i
    return codes


def _text(value: Any) -> str:
    """A class as polars casts it to text (True -> "true")."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def numeric_values_keep(s: Any) -> Any:
    import numpy as np
    import polars as pl

    s = s.to_physical() if s.dtype.is_temporal() else s
    return np.asarray(s.cast(pl.Float64, strict=False).fill_null(float("nan")).to_numpy(), dtype=float)


def prediction_array(spec: Any, scored: Any) -> Any:
    """What holdout_metrics takes as `pred`: P(1) (binary), the proba matrix (multiclass), values."""
    import numpy as np

    if spec.task == "binary":
        return numeric_values_keep(scored[spec.score_column])
    if spec.task == "multiclass":
        cols = [c for c in scored.columns if c.startswith("proba_")]
        return np.column_stack([numeric_values_keep(scored[c]) for c in cols])
    return numeric_values_keep(scored[spec.prediction_column])


def build_reference(home: Any, spec: Any, model: Any, frame: Any) -> dict[str, Any]:
    """Everything later batches are compared with, computed once from the reference frame."""
    import polars as pl

    from tui_mlops.monitoring import cbpe, multivariate
    from tui_mlops.registry.predict import training_schema
    from tui_mlops.validation.drift_methods import build_profile

    if frame.height < 2:
        raise InputError(f"reference {spec.reference} has {frame.height} row(s): a monitor needs at least 2")
    types = training_schema(home, spec.reference) or {}
    types = {c: t for c, t in types.items() if c in spec.features}
    scored = _score(model, frame.select(spec.features), types)
    if spec.prediction_column != "prediction":
        scored = scored.rename({"prediction": spec.prediction_column})
    if spec.task == "binary" and spec.score_column != "score":
        scored = scored.rename({"score": spec.score_column})
    pcols = prediction_columns(spec)
    profile = build_profile(frame, spec.features)
    pred_profile = build_profile(scored.select(pcols), pcols)
    kinds = {c: p.get("kind") for c, p in {**profile_columns(profile), **profile_columns(pred_profile)}.items()}
    bins = {c: summary_bins(numeric_values(frame[c] if c in frame.columns else scored[c]))
            for c, k in kinds.items() if k == "numeric"}
    calibration = None
    y = labels_array(spec, frame, list(model.classes or []))
    if spec.task == "binary" and y is not None:
        try:
            calibration = cbpe.fit_calibration(y, scored[spec.score_column].to_numpy())
        except InputError:
            calibration = None
    try:
        pca = multivariate.fit_pca(frame.select(spec.features), spec.features, chunk_rows=spec.window_rows,
                                   sigma=spec.sigma)
    except InputError:
        pca = None
    return {"format": FORMAT, "rows": frame.height, "reference": spec.reference, "types": types,
            "classes": list(model.classes or []), "kinds": kinds, "profile": profile,
            "prediction_profile": pred_profile, "bins": bins, "calibration": calibration, "pca": pca,
            "bands": {**_bands(spec, frame, scored, profile, pred_profile, calibration,
                                                   list(model.classes or [])),
                      "multivariate": (pca or {}).get("band")},
            "null_rates": {c: float(frame[c].null_count()) / frame.height for c in spec.features},
            "dtypes": {c: str(frame.schema[c]) for c in spec.features},
            "score_dtype": {c: str(scored.schema[c]) for c in pcols},
            "polars": pl.__version__}


def load_reference(home: Any, name: str) -> dict[str, Any]:
    """reference.json of a monitor, cached while the file is unchanged."""
    from tui_mlops.monitoring.spec import REFERENCE_FILE, monitor_dir
    from tui_mlops.store.home import read_json

    path = Path(monitor_dir(home, name)) / REFERENCE_FILE
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputError(f"monitor {name!r} has no reference profile ({path}); create it again") from None
    sig = (st.st_size, st.st_mtime_ns)
    with _LOCK:
        hit = _CACHE.get(str(path))
        if hit and hit[0] == sig:
            return hit[1]
    ref = read_json(path)
    with _LOCK:
        _CACHE[str(path)] = (sig, ref)
    return ref
