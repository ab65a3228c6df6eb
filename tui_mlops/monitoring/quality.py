"""Mergeable quality counts of labelled rows, so a window's realised metrics come from summed counts
of its batches: exact for accuracy/precision/recall/f1/logloss/brier/rmse/mae/r2/mape/f1_macro;
binary AUC from 100 score bins (ties within a bin counted half: within about 1e-2 of the exact AUC)."""

from __future__ import annotations

from typing import Any

AUC_BINS = 100
EPS = 1e-15


def counts(task: str, y: Any, pred: Any, *, threshold: float = 0.5) -> dict[str, Any]:
    """Counts of labelled rows (y encoded as holdout_metrics takes it, pred likewise)."""
    import numpy as np

    y = np.asarray(y, dtype=float)
    pred = np.asarray(pred, dtype=float)
    n = len(y)
    if task == "regression":
        err = pred - y
        nz = y != 0
        return {"n": n, "se": float((err ** 2).sum()), "ae": float(np.abs(err).sum()), "y": float(y.sum()),
                "y2": float((y ** 2).sum()), "ape": float(np.abs(err[nz] / y[nz]).sum()), "zeros": int((~nz).sum())}
    if task == "binary":
        p = np.clip(pred, EPS, 1 - EPS)
        yi = y.astype(int)
        lab = p >= threshold
        b = np.minimum((p * AUC_BINS).astype(int), AUC_BINS - 1)
        return {"n": n, "tp": int((lab & (yi == 1)).sum()), "fp": int((lab & (yi == 0)).sum()),
                "tn": int((~lab & (yi == 0)).sum()), "fn": int((~lab & (yi == 1)).sum()),
                "logloss": float(-(yi * np.log(p) + (1 - yi) * np.log(1 - p)).sum()),
                "brier": float(((p - yi) ** 2).sum()),
                "pos": np.bincount(b[yi == 1], minlength=AUC_BINS).tolist(),
                "neg": np.bincount(b[yi == 0], minlength=AUC_BINS).tolist()}
    k = pred.shape[1]
    yi = y.astype(int)
    lab = pred.argmax(axis=1)
    p = np.clip(pred[np.arange(n), yi], EPS, 1.0)
    return {"n": n, "correct": int((lab == yi).sum()), "logloss": float(-np.log(p).sum()),
            "tp": [int(((lab == c) & (yi == c)).sum()) for c in range(k)],
            "fp": [int(((lab == c) & (yi != c)).sum()) for c in range(k)],
            "fn": [int(((lab != c) & (yi == c)).sum()) for c in range(k)]}


def merge(items: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Sum counts (lists element-wise)."""
    if not items:
        return None
    out: dict[str, Any] = {}
    for it in items:
        for k, v in it.items():
            if isinstance(v, list):
                out[k] = [a + b for a, b in zip(out[k], v)] if k in out else list(v)
            else:
                out[k] = out.get(k, 0) + v
    return out


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def metrics(task: str, c: dict[str, Any] | None) -> dict[str, float] | None:
    """holdout_metrics' names from (merged) counts; None without labelled rows."""
    import math

    if not c or not c.get("n"):
        return None
    n = c["n"]
    if task == "regression":
        out = {"rmse": math.sqrt(c["se"] / n), "mae": c["ae"] / n}
        ss_tot = c["y2"] - c["y"] ** 2 / n
        if n >= 2 and ss_tot > 0:
            out["r2"] = 1 - c["se"] / ss_tot
        if not c["zeros"]:
            out["mape"] = c["ape"] / n
        return out
    if task == "binary":
        tp, fp, tn, fn = c["tp"], c["fp"], c["tn"], c["fn"]
        prec, rec = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        out = {}
        npos, nneg = sum(c["pos"]), sum(c["neg"])
        if npos and nneg:
            above, auc = 0, 0.0
            for pos, neg in zip(reversed(c["pos"]), reversed(c["neg"])):
                auc += neg * (above + pos / 2)
                above += pos
            out["auc"] = auc / (npos * nneg)
        out.update(logloss=c["logloss"] / n, accuracy=(tp + tn) / n, precision=prec, recall=rec,
                   f1=_ratio(2 * prec * rec, prec + rec), brier=c["brier"] / n)
        return out
    f1s = []
    for tp, fp, fn in zip(c["tp"], c["fp"], c["fn"]):
        if tp + fp + fn:   # classes present in y or in the predictions, as holdout_metrics
            f1s.append(_ratio(2 * tp, 2 * tp + fp + fn))
    return {"logloss": c["logloss"] / n, "accuracy": c["correct"] / n,
            "f1_macro": sum(f1s) / len(f1s) if f1s else 0.0}
