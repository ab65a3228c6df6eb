"""Fast bootstrap of holdout metrics (rows sorted once, per-resample multinomial counts), the paired
bootstrap of two models on the same resamples, and DeLong's test for two correlated AUCs."""

from __future__ import annotations

from typing import Any, Iterator

from tui_mlops.errors import InputError
from tui_mlops.validation import metrics as VM

# Resamples are processed in blocks of about this many drawn indices, so memory stays at a few
# arrays of this size (tens of MB) whatever the row and resample counts.
CHUNK_ELEMENTS = 1 << 20


def resample_indices(n_rows: int, n: int, seed: int) -> Iterator[Any]:
    """The resamples every function here uses, one array of `n_rows` row indices (drawn with
    replacement) per resample, from numpy's default_rng(seed). Replaying them with a naive loop
    reproduces our figures exactly (bench/validation.py and the tests do)."""
    import numpy as np

    if n_rows < 1:
        raise InputError("no rows to resample")
    if n < 0:
        raise InputError(f"the number of bootstrap resamples cannot be negative ({n})")
    rng = np.random.default_rng(seed)
    dtype = _index_dtype(n_rows)
    # One draw per resample, so any consumer (blocks of many, or one by one) sees the same stream.
    return (rng.integers(0, n_rows, size=n_rows, dtype=dtype) for _ in range(n))


def _index_dtype(size: int) -> Any:
    import numpy as np

    return np.int32 if size < 2**31 else np.int64


def _blocks(n_rows: int, n: int, seed: int, width: int) -> Iterator[Any]:
    """The resamples of resample_indices stacked into (m, n_rows) blocks of ~CHUNK_ELEMENTS."""
    import numpy as np

    per = max(1, min(n, CHUNK_ELEMENTS // max(n_rows, width, 1)))
    draws = resample_indices(n_rows, n, seed)
    left = n
    while left:
        m = min(per, left)
        yield next(draws)[None, :] if m == 1 else np.stack([next(draws) for _ in range(m)])
        left -= m


def _offset(keys: Any, block: Any, width: int) -> Any:
    """(m, width) counts per resample of the bins keys[block] (block itself when keys is None)."""
    import numpy as np

    s = block if keys is None else keys[block]
    if block.shape[0] > 1:
        s = s.astype(np.int64, copy=False) + np.arange(0, block.shape[0] * width, width, dtype=np.int64)[:, None]
    return np.bincount(s.ravel(), minlength=block.shape[0] * width).reshape(block.shape[0], width)


def _ratio(num: Any, den: Any) -> Any:
    """num / den with 0 where den == 0 (sklearn's zero_division=0)."""
    import numpy as np

    out = np.zeros(len(num))
    np.divide(num, den, out=out, where=den != 0)
    return out


class _Binary:
    """Rows grouped into slots of equal (clipped probability, label), sorted by probability then
    label: a resample is then one bincount of slot ids, and every binary metric, AUC included,
    follows from the slot counts with a few passes (no per-resample sort)."""

    def __init__(self, y: Any, p: Any, threshold: float) -> None:
        import numpy as np

        p = VM.clip_proba(p)
        yi = y.astype(np.int64)
        # Sorted by probability, then label: two stable sorts (much faster than lexsort on 1M rows).
        order = np.argsort(yi.astype(np.int8), kind="stable")
        order = order[np.argsort(p[order], kind="stable")]
        ps, ys = p[order], yi[order]
        new = np.ones(len(p), dtype=bool)
        new[1:] = (ps[1:] != ps[:-1]) | (ys[1:] != ys[:-1])
        # int32 where it fits: the per-resample gather of slot ids reads half the memory.
        self.slot = np.empty(len(p), dtype=_index_dtype(len(p)))
        self.slot[order] = np.cumsum(new) - 1
        first = np.flatnonzero(new)
        sp, sy = ps[first], ys[first]
        self.width = len(first)
        self.pos = sy
        self.neg = 1 - sy
        # A positive slot right after a negative one of the same probability: a tie across classes,
        # which counts one half (as in sklearn's roc_auc_score).
        sib = np.zeros(self.width, dtype=np.int64)
        sib[1:] = (sy[1:] == 1) & (sy[:-1] == 0) & (sp[1:] == sp[:-1])
        self.sib = sib if sib.any() else None
        eps = np.finfo(np.float64).eps  # sklearn's log_loss clip
        pred1 = sp >= threshold
        self.values = {
            "logloss": np.where(sy == 1, -np.log(np.clip(sp, eps, 1 - eps)), -np.log(np.clip(1 - sp, eps, 1 - eps))),
            "correct": (pred1 == (sy == 1)).astype(float),
            "tp": (pred1 & (sy == 1)).astype(float),
            "fp": (pred1 & (sy == 0)).astype(float),
            "fn": (~pred1 & (sy == 1)).astype(float),
            "brier": (sp - sy) ** 2,
        }

    def metrics(self, block: Any, names: tuple[str, ...]) -> dict[str, Any]:
        import numpy as np

        b = _offset(self.slot, block, self.width)
        rows = block.shape[1]
        out: dict[str, Any] = {}
        if "auc" in names:
            posb = b * self.pos
            below = np.cumsum(b * self.neg, axis=1)        # negatives at or below each slot
            two_u = 2 * np.einsum("ks,ks->k", posb, below)  # exact integers: 2 x Mann-Whitney U ...
            if self.sib is not None:                        # ... minus tied negatives once: ties count 1/2
                two_u -= np.einsum("ks,ks->k", posb[:, 1:], b[:, :-1] * self.sib[1:])
            wpos = posb.sum(axis=1)
            wneg = rows - wpos
            den = 2.0 * wpos * wneg
            out["auc"] = np.divide(two_u, den, out=np.full(len(den), np.nan), where=den > 0)
        need = {"logloss": ("logloss",), "accuracy": ("correct",), "brier": ("brier",),
                "precision": ("tp", "fp"), "recall": ("tp", "fn"), "f1": ("tp", "fp", "fn")}
        keys = list(dict.fromkeys(k for name in names for k in need.get(name, ())))
        if keys:
            bf = b.astype(np.float64)
            # einsum, not a BLAS matmul: a multi-threaded BLAS crawls on a busy machine.
            s = {k: np.einsum("ks,s->k", bf, self.values[k]) for k in keys}
            for name, value in (("logloss", lambda: s["logloss"] / rows),
                                ("accuracy", lambda: s["correct"] / rows),
                                ("brier", lambda: s["brier"] / rows),
                                ("precision", lambda: _ratio(s["tp"], s["tp"] + s["fp"])),
                                ("recall", lambda: _ratio(s["tp"], s["tp"] + s["fn"])),
                                ("f1", lambda: _ratio(2 * s["tp"], 2 * s["tp"] + s["fp"] + s["fn"]))):
                if name in names:
                    out[name] = value()
        return out


class _Multiclass:
    """Each row's (true, predicted) pair: a resample's confusion matrix is one bincount."""

    def __init__(self, y: Any, proba: Any, threshold: float) -> None:
        import numpy as np

        self.k = proba.shape[1]
        yi = y.astype(np.int64)
        self.width = self.k * self.k
        self.pair = (yi * self.k + proba.argmax(axis=1)).astype(_index_dtype(self.width))
        eps = np.finfo(np.float64).eps
        self.loss = -np.log(np.clip(np.clip(proba, VM.PROBA_EPS, 1.0)[np.arange(len(yi)), yi], eps, 1 - eps))

    def metrics(self, block: Any, names: tuple[str, ...]) -> dict[str, Any]:
        import numpy as np

        rows = block.shape[1]
        out: dict[str, Any] = {}
        if "logloss" in names:
            out["logloss"] = self.loss[block].sum(axis=1) / rows
        if "accuracy" in names or "f1_macro" in names:
            conf = _offset(self.pair, block, self.width).reshape(-1, self.k, self.k)
            tp = np.einsum("kii->ki", conf).astype(float)
            out["accuracy"] = tp.sum(axis=1) / rows
            fp = conf.sum(axis=1) - tp
            fn = conf.sum(axis=2) - tp
            den = 2 * tp + fp + fn
            present = den > 0      # classes in y or in the predictions, as sklearn's macro average
            f1 = np.divide(2 * tp, den, out=np.zeros_like(tp), where=present)
            out["f1_macro"] = f1.sum(axis=1) / present.sum(axis=1)
        return {k: v for k, v in out.items() if k in names}


class _Regression:
    """Per-row error terms: a resample's sums are its row counts times these columns."""

    def __init__(self, y: Any, pred: Any, threshold: float) -> None:
        import numpy as np

        e = y - pred
        yc = y - y.mean()   # centred, so the total sum of squares loses no precision
        cols = {"e2": e * e, "ae": np.abs(e), "yc": yc, "yc2": yc * yc}
        if not (y == 0).any():
            cols["ape"] = np.abs(e) / np.abs(y)
        self.keys = list(cols)
        self.values = np.stack([cols[k] for k in self.keys], axis=1)
        self.width = len(y)

    def metrics(self, block: Any, names: tuple[str, ...]) -> dict[str, Any]:
        import numpy as np

        rows = block.shape[1]
        c = _offset(None, block, self.width).astype(np.float64)
        s = {k: np.einsum("ks,s->k", c, self.values[:, i]) for i, k in enumerate(self.keys)}
        out = {"rmse": np.sqrt(s["e2"] / rows), "mae": s["ae"] / rows}
        if "r2" in names:
            sst = s["yc2"] - s["yc"] ** 2 / rows
            # sklearn's force_finite: a constant resample scores 1.0 when predicted exactly, else 0.0.
            r2 = np.where(s["e2"] == 0, 1.0, 0.0)
            np.divide(s["e2"], sst, out=r2, where=sst > 0)
            out["r2"] = np.where(sst > 0, 1.0 - r2, r2)
        if "mape" in names:
            out["mape"] = s["ape"] / rows
        return {k: v for k, v in out.items() if k in names}


_ENGINES = {"binary": _Binary, "multiclass": _Multiclass, "regression": _Regression}


def _metric_names(task: str, metrics: Any, y: Any) -> tuple[str, ...]:
    import numpy as np

    known = VM.task_metrics(task)
    if metrics is None:
        names = [m for m in known if not (m == "auc" and len(np.unique(y)) < 2)
                 and not (m == "mape" and (y == 0).any()) and not (m == "r2" and len(y) < 2)]
        return tuple(names)
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    for m in names:
        if m not in known:
            raise InputError(f"metric {m!r} is not a {task} metric (known: {', '.join(known)})")
        if m == "auc" and len(np.unique(y)) < 2:
            raise InputError("auc needs both classes among the labels")
        if m == "mape" and (y == 0).any():
            raise InputError("mape is undefined: some labels are 0")
        if m == "r2" and len(y) < 2:
            raise InputError("r2 needs at least 2 rows")
    return tuple(dict.fromkeys(names))


def _check(n: int, level: float) -> None:
    if n < 1:
        raise InputError(f"the number of bootstrap resamples must be at least 1, not {n}")
    if not 0 < level < 1:
        raise InputError(f"the confidence level must be between 0 and 1, not {level}")


def _draw(engines: list[Any], names: tuple[str, ...], n: int, seed: int, n_rows: int) -> list[dict[str, Any]]:
    """Per engine, metric -> array of its n resampled values, all engines on the same resamples."""
    import numpy as np

    parts: list[dict[str, list[Any]]] = [{m: [] for m in names} for _ in engines]
    width = max(e.width for e in engines)
    for block in _blocks(n_rows, n, seed, width):
        for engine, acc in zip(engines, parts):
            for m, v in engine.metrics(block, names).items():
                acc[m].append(v)
    return [{m: np.concatenate(v) for m, v in acc.items()} for acc in parts]


def _summary(values: Any, level: float) -> dict[str, float] | None:
    import numpy as np

    v = values[np.isfinite(values)]
    if len(v) == 0:
        return None
    lo, hi = np.percentile(v, [50 * (1 - level), 50 * (1 + level)])
    return {"lo": float(lo), "hi": float(hi), "mean": float(v.mean()),
            "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0}


def bootstrap_ci(task: str, y: Any, pred: Any, *, metrics: Any = None, n: int = 1000, seed: int = 0,
                 level: float = 0.95, threshold: float = 0.5) -> dict[str, dict[str, float]]:
    """Percentile bootstrap intervals: metric -> {"lo","hi","mean","std"} over `n` resamples
    (metrics: default all of the task's, as holdout_metrics gives them). Resamples where a metric is
    undefined (AUC of a one-class resample) are left out of its interval."""
    y, pred = VM.as_arrays(task, y, pred)
    names = _metric_names(task, metrics, y)
    _check(n, level)
    draws = _draw([_ENGINES[task](y, pred, threshold)], names, n, seed, len(y))[0]
    out = {}
    for m in names:
        s = _summary(draws[m], level)
        if s is not None:
            out[m] = s
    return out


def bootstrap_auc_logloss(y: Any, p: Any, n: int, seed: int) -> tuple[Any, Any]:
    """Per-resample AUC (nan for a one-class resample) and log loss of binary scores `p`, on the
    resamples of resample_indices(len(y), n, seed)."""
    y, p = VM.as_arrays("binary", y, p)
    _check(n, 0.5)
    d = _draw([_Binary(y, p, 0.5)], ("auc", "logloss"), n, seed, len(y))[0]
    return d["auc"], d["logloss"]


def paired_bootstrap(task: str, y: Any, pred_a: Any, pred_b: Any, metric: str, *, n: int = 1000, seed: int = 0,
                     level: float = 0.95, threshold: float = 0.5) -> dict[str, Any]:
    """Model b (challenger) against a (champion) on the same resamples. delta is b - a signed so
    that > 0 means b is better (a - b for losses); lo/hi its percentile interval; p_value two-sided;
    b_better when the interval lies entirely above 0."""
    import numpy as np

    y, pa = VM.as_arrays(task, y, pred_a)
    _, pb = VM.as_arrays(task, y, pred_b)
    if pa.shape != pb.shape:
        raise InputError(f"the two models' predictions differ in shape: {pa.shape} vs {pb.shape}")
    names = _metric_names(task, [metric], y)
    _check(n, level)
    a = VM.holdout_metrics(task, y, pa, threshold=threshold)[metric]
    b = VM.holdout_metrics(task, y, pb, threshold=threshold)[metric]
    sign = 1.0 if VM.higher_is_better(metric) else -1.0
    da, db = _draw([_ENGINES[task](y, pa, threshold), _ENGINES[task](y, pb, threshold)], names, n, seed, len(y))
    d = sign * (db[metric] - da[metric])
    d = d[np.isfinite(d)]
    if len(d) == 0:
        raise InputError(f"{metric} is undefined on every resample")
    lo, hi = np.percentile(d, [50 * (1 - level), 50 * (1 + level)])
    below, above = int((d <= 0).sum()), int((d >= 0).sum())
    p_value = min(1.0, 2 * min(below + 1, above + 1) / (len(d) + 1))
    return {"metric": metric, "a": float(a), "b": float(b), "delta": float(sign * (b - a)),
            "lo": float(lo), "hi": float(hi), "p_value": float(p_value), "b_better": bool(lo > 0),
            "n": int(len(d)), "level": float(level)}


def delong(y: Any, p_a: Any, p_b: Any) -> dict[str, float]:
    """DeLong's test of AUC(b) - AUC(a) on the same rows, with the midrank algorithm of Sun & Xu
    (2014): O(n log n). {"auc_a","auc_b","delta","se","z","p_value"} (two-sided)."""
    import numpy as np
    from scipy.stats import norm, rankdata

    y, pa = VM.as_arrays("binary", y, p_a)
    _, pb = VM.as_arrays("binary", y, p_b)
    pos = y == 1
    m, k = int(pos.sum()), int((~pos).sum())
    if m < 2 or k < 2:
        raise InputError(f"DeLong's test needs at least 2 positive and 2 negative rows ({m} and {k} here)")
    preds = VM.clip_proba(np.vstack([pa, pb]))
    x, z = preds[:, pos], preds[:, ~pos]
    tx, tz = rankdata(x, axis=1), rankdata(z, axis=1)
    t_all = rankdata(np.hstack([x, z]), axis=1)
    aucs = (t_all[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * k)
    v10 = (t_all[:, :m] - tx) / k            # per positive: share of negatives it beats
    v01 = 1.0 - (t_all[:, m:] - tz) / m      # per negative: share of positives above it
    cov = np.cov(v10) / m + np.cov(v01) / k
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    delta = float(aucs[1] - aucs[0])
    se = float(np.sqrt(var)) if var > 0 else 0.0
    if se > 0:
        zval = delta / se
    else:
        zval = 0.0 if delta == 0 else float(np.copysign(np.inf, delta))
    return {"auc_a": float(aucs[0]), "auc_b": float(aucs[1]), "delta": delta, "se": se,
            "z": float(zval), "p_value": float(2 * norm.sf(abs(zval)))}
