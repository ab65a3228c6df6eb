"""Numeric kernels behind drift_methods: Wasserstein, KS, chi-square, Z, Jensen-Shannon and PSI on
sorted arrays, weighted points or quantile sketches, with Evidently's conventions (numpy/scipy)."""

from __future__ import annotations

from typing import Any


def distinct(sorted_values: Any) -> tuple[Any, Any]:
    """Distinct values and their int64 counts of an already sorted array."""
    import numpy as np

    v = sorted_values
    if len(v) == 0:
        return v, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], v[1:] != v[:-1])))
    counts = np.diff(np.append(starts, len(v))).astype(np.int64)
    return v[starts], counts


def n_distinct(sorted_values: Any) -> int:
    import numpy as np

    v = sorted_values
    return 0 if len(v) == 0 else 1 + int(np.count_nonzero(v[1:] != v[:-1]))


def wasserstein(av: Any, bv: Any, ac: Any = None, bc: Any = None) -> float:
    """W1 between two sorted samples (weights: int counts per value, None = one each): the integral
    of |F_a - F_b| over the merged grid, like scipy's, but merging two sorted runs instead of sorting."""
    import numpy as np

    na = len(av) if ac is None else int(ac.sum())
    nb = len(bv) if bc is None else int(bc.sum())
    # Merged position of every a-value (a before an equal b: ties only ever meet a zero-width step).
    pa = np.arange(len(av)) + np.searchsorted(bv, av, side="left")
    total = len(av) + len(bv)
    isa = np.zeros(total, dtype=bool)
    isa[pa] = True
    merged = np.empty(total, dtype=np.float64)
    merged[pa] = av
    merged[~isa] = bv
    if ac is None and bc is None:
        # F_a - F_b on the merged grid from one running count (fewer full-size temporaries).
        ca = np.cumsum(isa[:-1], dtype=np.int64)
        del isa
        d = ca * (1.0 / na + 1.0 / nb)
        del ca
        d -= np.arange(1, total, dtype=np.float64) / nb
    else:
        wa = np.zeros(total, dtype=np.int64)
        wa[pa] = 1 if ac is None else ac
        wb = np.zeros(total, dtype=np.int64)
        wb[~isa] = 1 if bc is None else bc
        d = np.cumsum(wa[:-1]) / na - np.cumsum(wb[:-1]) / nb
    np.abs(d, out=d)
    d *= np.diff(merged)
    return float(d.sum())     # not np.dot: BLAS threads stall on a busy machine


def tail_probs(n: int, quantiles: int) -> Any:
    """Extra sketch probabilities in both tails, halving from the first (last) evenly spaced step
    down to about 1/n: the extreme bins of a long tail are where a linear quantile function errs most."""
    import numpy as np

    h = 1.0 / (quantiles - 1)
    if n * h <= 2:
        return np.zeros(0)
    low = h * 0.5 ** np.arange(1, int(np.ceil(np.log2(n * h))) + 1)
    return np.concatenate([low[::-1], 1.0 - low])


def sorted_quantiles(v: Any, probs: Any) -> Any:
    """np.quantile(v, probs) (linear method) of an already sorted non-empty array."""
    import numpy as np

    pos = probs * (len(v) - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, len(v) - 1)
    return v[lo] + (pos - lo) * (v[hi] - v[lo])


def wasserstein_sketch(p: Any, q: Any, cur: Any) -> float:
    """W1 = integral over u of |Q_ref(u) - Q_cur(u)|, Q_ref linear between the knots (p, q) (p from 0
    to 1, increasing), Q_cur the step quantile function of the sorted sample `cur`."""
    import numpy as np

    m = len(cur)
    grid = np.arange(m + 1) / m
    # Split the current's steps at the knots: t is the merged grid, c the step value on each piece.
    pos = np.searchsorted(grid, p, side="right")
    t = np.insert(grid, pos, p)
    c = np.insert(cur, pos - 1, cur[np.clip(pos - 1, 0, m - 1)])
    qr = np.interp(t, p, q)
    d0, d1 = qr[:-1] - c, qr[1:] - c
    x = np.flatnonzero(np.signbit(d0) != np.signbit(d1))   # Q_ref crosses the step: two triangles
    e0, e1 = d0[x], d1[x]
    s = np.abs(d0, out=d0)
    s += np.abs(d1, out=d1)
    w = np.diff(t)
    sx = s[x]
    keep = sx > 0
    s *= w
    total = 0.5 * float(s.sum())
    total += float(np.sum(((e0[keep] ** 2 + e1[keep] ** 2) / (2 * sx[keep]) - 0.5 * sx[keep]) * w[x][keep]))
    return total


def sketch_cdf(p: Any, q: Any, x: Any, side: str) -> Any:
    """F_ref at x (right limits for side="right", left limits for "left") of the distribution whose
    quantile function is linear between the knots (p, q)."""
    import numpy as np

    k = len(q)
    i = np.searchsorted(q, x, side=side) - 1       # last knot <= x (right) or < x (left)
    out = np.where(i >= k - 1, 1.0, 0.0)
    inner = (i >= 0) & (i < k - 1)
    j = i[inner]
    lo, hi = q[j], q[j + 1]
    frac = np.divide(x[inner] - lo, hi - lo, out=np.zeros(len(j)), where=hi > lo)
    out[inner] = p[j] + frac * (p[j + 1] - p[j])
    return out


def ks_sketch(p: Any, q: Any, n_ref: int, cur: Any) -> tuple[float, float]:
    """KS statistic of the sketched reference against the sorted sample `cur`, and scipy's
    asymptotic two-sided p-value for it (kstwo with n = round(n m / (n + m)))."""
    import numpy as np
    from scipy import stats

    m = len(cur)
    grid = np.union1d(q, distinct(cur)[0])
    right = np.abs(sketch_cdf(p, q, grid, "right") - np.searchsorted(cur, grid, side="right") / m)
    left = np.abs(sketch_cdf(p, q, grid, "left") - np.searchsorted(cur, grid, side="left") / m)
    d = float(max(right.max(), left.max()))
    return d, float(stats.kstwo.sf(d, np.round(n_ref * m / (n_ref + m))))


def sturges_edges(lo: float, hi: float, n_total: int, integer: bool = False) -> Any:
    """np.histogram_bin_edges(data, "sturges") for data of n_total values spanning [lo, hi]
    (`integer`: the data has an integer dtype, where numpy widens bins narrower than 1)."""
    import numpy as np

    if lo == hi:
        return np.linspace(lo - 0.5, hi + 0.5, 2)
    width = (hi - lo) / (np.log2(n_total) + 1.0)
    if integer and width < 1:
        width = 1
    bins = int(np.ceil((hi - lo) / width)) if width else 1
    return np.linspace(lo, hi, bins + 1)


def hist_sorted(sorted_values: Any, edges: Any, counts: Any = None) -> Any:
    """np.histogram counts (last bin closed) of sorted values (weighted by int counts if given)."""
    import numpy as np

    idx = np.searchsorted(sorted_values, edges, side="left")
    if counts is None:
        idx[-1] = len(sorted_values)
        return np.diff(idx).astype(np.float64)
    cum = np.concatenate(([0], np.cumsum(counts)))
    at = cum[idx]
    at[-1] = cum[-1]
    return np.diff(at).astype(np.float64)


def hist_sketch(p: Any, q: Any, n_ref: int, edges: Any) -> Any:
    """Expected histogram counts of the sketched reference on `edges` (last bin closed)."""
    import numpy as np

    f = sketch_cdf(p, q, edges, "left")
    f[-1] = 1.0
    return np.diff(f) * n_ref


def jensenshannon(ref_counts: Any, cur_counts: Any) -> float:
    """Jensen-Shannon distance (natural log, as Evidently: 0 .. sqrt(ln 2)) of two count vectors."""
    from scipy.spatial import distance

    return float(distance.jensenshannon(ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()))


def chisquare_p(ref_counts: Any, cur_counts: Any) -> float:
    """Chi-square goodness of fit of the current counts to the reference frequencies scaled to the
    current size (a category the reference never had gives p = 0)."""
    import numpy as np
    from scipy import stats

    expected = ref_counts * (cur_counts.sum() / ref_counts.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(stats.chisquare(cur_counts, expected)[1])


def z_p(ref_first: float, n_ref: int, cur_first: float, n_cur: int) -> float:
    """Two-proportion two-sided Z-test p-value for the share of values other than the first key."""
    import numpy as np
    from scipy.stats import norm

    p1 = float(n_ref - ref_first) / n_ref
    p2 = float(n_cur - cur_first) / n_cur
    pooled = float(p1 * n_ref + p2 * n_cur) / (n_ref + n_cur)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n_ref + 1.0 / n_cur))
    return float(2 * (1 - norm.cdf(np.abs(z))))


def _fill_zeros(share: Any) -> Any:
    nonzero = share[share != 0]
    if len(nonzero) == 0:
        return share
    low = nonzero.min()
    share = share.copy()
    share[share == 0] = low / 10**6 if low <= 0.0001 else 0.0001
    return share


def psi(ref_counts: Any, n_ref: int, cur_counts: Any, n_cur: int) -> float:
    """PSI over shared bins, empty bins filled as Evidently does (min share / 1e6, or 1e-4)."""
    import numpy as np

    r = _fill_zeros(ref_counts / n_ref)
    c = _fill_zeros(cur_counts / n_cur)
    return float(np.sum((r - c) * np.log(r / c)))


def binned(ref: Any, cur: Any) -> tuple[Any, Any]:
    """Histograms of a reference column (drift_methods._Ref: raw, weighted values or sketch) and the sorted
    current sample on Sturges edges over both ranges, as Evidently bins numeric JS / PSI."""
    edges = sturges_edges(min(ref.lo, cur[0]), max(ref.hi, cur[-1]), ref.n + len(cur), ref.integer)
    if ref.raw is not None:
        r = hist_sorted(ref.raw, edges)
    elif ref.values is not None:
        r = hist_sorted(ref.values, edges, ref.counts)
    else:
        r = hist_sketch(ref.p, ref.q, ref.n, edges)
    return r, hist_sorted(cur, edges)


def is_drift(method: str, score: float, threshold: float) -> bool:
    """Evidently's rule: distances drift at >= threshold, the KS p-value at <=, other p-values at <."""
    if method in ("wasserstein", "jensenshannon", "psi"):
        return bool(score >= threshold)
    if method == "ks":
        return bool(score <= threshold)
    return bool(score < threshold)
