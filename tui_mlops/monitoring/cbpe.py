"""Label-free performance estimation for binary classifiers (the idea of NannyML's CBPE): scores are
calibrated on the labelled reference, then each batch's expected confusion matrix gives the metrics."""

from __future__ import annotations

from typing import Any

from tui_mlops.errors import InputError

FORMAT = "tui_mlops.calibration/1"
METRICS = ("accuracy", "precision", "recall", "f1", "auc")


def _scores(values: Any, what: str) -> Any:
    import numpy as np

    try:
        arr = np.asarray(values if values is not None else [], dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise InputError(f"performance estimation: {what} are not numbers ({exc})") from None
    return arr


def fit_calibration(y_true: Any, scores: Any) -> dict[str, Any]:
    """Isotonic regression of the reference labels (0/1) on the model's scores, as a JSON-able
    piecewise-linear mapping {"format","method","thresholds","values","rows","positive_rate"}
    applied with numpy.interp (clipped at both ends, exactly as IsotonicRegression.predict).
    Rows whose label or score is missing/NaN are skipped."""
    import numpy as np

    y, s = _scores(y_true, "reference labels"), _scores(scores, "reference scores")
    if len(y) != len(s):
        raise InputError(f"performance estimation: {len(y)} reference labels but {len(s)} scores")
    keep = np.isfinite(y) & np.isfinite(s)
    y, s = y[keep], s[keep]
    if len(y) == 0:
        raise InputError("performance estimation: the reference has no rows with both a label and a score")
    bad = (y != 0) & (y != 1)
    if bad.any():
        raise InputError(f"performance estimation: reference label {y[bad][0]:g} is not 0 or 1 "
                         "(binary classifiers only)")
    if y.min() == y.max():
        raise InputError(f"performance estimation: every reference label is {int(y[0])}; calibration "
                         "needs both classes 0 and 1")
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(s, y)
    return {"format": FORMAT, "method": "isotonic",
            "thresholds": [float(v) for v in iso.X_thresholds_],
            "values": [float(v) for v in iso.y_thresholds_],
            "rows": int(len(y)), "positive_rate": float(y.mean())}


def calibrate(calibration: dict[str, Any], scores: Any) -> Any:
    """Calibrated probabilities P(y=1) for `scores` (a numpy array; NaN stays NaN)."""
    import numpy as np

    s = _scores(scores, "scores")
    xs, ys = np.asarray(calibration["thresholds"], float), np.asarray(calibration["values"], float)
    if len(xs) == 0:
        raise InputError("performance estimation: the calibration mapping is empty")
    return np.interp(s, xs, ys) if len(xs) > 1 else np.where(np.isnan(s), np.nan, ys[0])


def _ratio(num: float, den: float) -> float:
    # zero_division=0, as holdout_metrics reports the realised precision/recall/f1.
    return float(num / den) if den > 0 else 0.0


def _auc(scores: Any, p: Any) -> float | None:
    """Expected ROC AUC: thresholds at every distinct score (descending), expected TP/FP from the
    calibrated probabilities of the rows at or above it, trapezoids through (0,0)..(1,1). Rows are
    ranked by the model's own score, so ties the isotonic steps introduce do not blur the ranking the
    realised AUC is computed on."""
    import numpy as np

    pos, neg = float(p.sum()), float((1 - p).sum())
    if pos <= 0 or neg <= 0:
        return None
    order = np.argsort(-scores, kind="stable")
    s, q = scores[order], p[order]
    tp, fp = np.cumsum(q), np.cumsum(1 - q)
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]   # end of each group of equal scores
    tpr = np.r_[0.0, tp[last] / pos]
    fpr = np.r_[0.0, fp[last] / neg]
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def estimate(calibration: dict[str, Any], scores: Any, *, threshold: float = 0.5) -> dict[str, Any]:
    """Estimated metrics of an unlabelled batch from its scores.

    The model predicts 1 where its raw score >= `threshold` (as holdout_metrics); with p the calibrated
    probability, a predicted-1 row adds p to TP and 1-p to FP, a predicted-0 row adds 1-p to TN and p
    to FN. Returns {"accuracy","precision","recall","f1","auc","rows","tp","fp","tn","fn",
    "positive_rate"}: floats, "rows" the scored rows (missing/NaN scores skipped); with no rows every
    metric is None. "auc" is None when the expected positives or negatives are 0."""
    import numpy as np

    s = _scores(scores, "scores")
    s = s[np.isfinite(s)]
    out: dict[str, Any] = {m: None for m in METRICS}
    out.update(rows=int(len(s)), tp=None, fp=None, tn=None, fn=None, positive_rate=None)
    if len(s) == 0:
        return out
    p = calibrate(calibration, s)
    pred = s >= float(threshold)
    tp, fp = float(p[pred].sum()), float((1 - p[pred]).sum())
    tn, fn = float((1 - p[~pred]).sum()), float(p[~pred].sum())
    n = float(len(s))
    out.update(accuracy=(tp + tn) / n, precision=_ratio(tp, tp + fp), recall=_ratio(tp, tp + fn),
               f1=_ratio(2 * tp, 2 * tp + fp + fn), auc=_auc(s, p),
               tp=tp, fp=fp, tn=tn, fn=fn, positive_rate=(tp + fn) / n)
    return out
