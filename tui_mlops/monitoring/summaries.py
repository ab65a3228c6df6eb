"""Per-batch mergeable summaries (counts on the reference's summary bins, category counts, nulls) and
window drift computed from merged summaries, so a window never re-reads its batches.

Windowed drift is exact for categorical methods (Jensen-Shannon, chi-square, Z: they only need
counts). For numeric methods the window's values are represented by their bins: each value stands at
the reference's mean within its bin (or, beyond the reference's range, at the batch's mean out
there), so Wasserstein/KS/PSI of a window are approximations (error about the bin width, 1/200 of
the reference's quantile range; exact for numeric columns with at most 200 distinct values)."""

from __future__ import annotations

from typing import Any

MAX_CATEGORIES = 1000   # category counts kept per batch and column; the rest are summed as OTHER
OTHER = "\u0000other"


def summarise_column(s: Any, kind: str, bins: dict[str, Any] | None, new_rate: float | None = None) -> dict[str, Any]:
    """One column of one batch: {"n","nulls"} plus numeric {"counts","lo_n","lo_sum","hi_sum"} or
    categorical {"values","counts","new"} (new = non-null values the reference never had, from the
    batch's drift result `new_rate`)."""
    import numpy as np

    from tui_mlops.monitoring.reference import numeric_values

    n, nulls = len(s), int(s.null_count())
    out: dict[str, Any] = {"n": n, "nulls": nulls}
    if kind == "numeric" and bins is not None and bins["edges"]:
        v = numeric_values(s)
        out["nulls"] = n - len(v)   # NaN counts as missing too
        edges = np.asarray(bins["edges"], dtype=float)
        # Sort once (numpy's vectorised sort: ~0.4 ms per 100k), then find the edges in the sorted
        # values: ~10x faster than a binary search of each value among the edges.
        sv = np.sort(v)
        at_or_below = np.searchsorted(sv, edges, side="right")     # values <= each edge
        counts = np.diff(np.concatenate([[0], at_or_below, [len(sv)]]))
        lo_n = int(np.searchsorted(sv, edges[0], side="left"))
        out.update(counts=counts.tolist(), lo_n=lo_n, lo_sum=float(sv[:lo_n].sum()),
                   hi_sum=float(sv[at_or_below[-1]:].sum()))
        return out
    vc = s.drop_nulls().value_counts(sort=True)
    values, counts = vc[:, 0].to_list(), vc[:, 1].to_list()
    if len(values) > MAX_CATEGORIES:
        rest = int(sum(counts[MAX_CATEGORIES:]))
        values, counts = values[:MAX_CATEGORIES] + [OTHER], counts[:MAX_CATEGORIES] + [rest]
    out.update(values=values, counts=[int(c) for c in counts])
    if new_rate is not None:
        out["new"] = int(round(new_rate * (n - nulls)))
    return out


def merge(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum column summaries of several batches (the same column, same bins)."""
    import numpy as np

    out: dict[str, Any] = {"n": 0, "nulls": 0}
    cats: dict[Any, int] = {}
    for s in summaries:
        out["n"] += s["n"]
        out["nulls"] += s["nulls"]
        if "counts" in s and "values" not in s:
            c = np.asarray(s["counts"], dtype=np.int64)
            out["counts"] = out["counts"] + c if "counts" in out else c
            for k in ("lo_n", "lo_sum", "hi_sum"):
                out[k] = out.get(k, 0) + s[k]
        elif "values" in s:
            for v, c in zip(s["values"], s["counts"]):
                key = tuple(v) if isinstance(v, list) else v
                cats[key] = cats.get(key, 0) + c
            if "new" in s:
                out["new"] = out.get("new", 0) + s["new"]
    if cats or any("values" in s for s in summaries):
        out["values"], out["counts"] = list(cats), list(cats.values())
    elif "counts" in out:
        out["counts"] = out["counts"].tolist()
    return out


def pseudo_series(merged: dict[str, Any], bins: dict[str, Any] | None, name: str) -> Any:
    """The window's values as a series rebuilt from merged counts (see the module docstring)."""
    import numpy as np
    import polars as pl

    if "values" in merged:
        values = [v for v in merged["values"] if v != OTHER]
        counts = [c for v, c in zip(merged["values"], merged["counts"]) if v != OTHER]
        if not values:
            return pl.Series(name, [], dtype=pl.String)
        base = pl.Series(name, values)
        return base.gather(np.repeat(np.arange(len(values)), counts))
    if "counts" not in merged or bins is None:
        return pl.Series(name, [], dtype=pl.Float64)
    counts = np.asarray(merged["counts"], dtype=np.int64)
    reps = np.asarray(bins["means"], dtype=float).copy()
    edges = bins["edges"]
    if counts[-1]:
        reps[-1] = merged["hi_sum"] / counts[-1]
    at_min = counts[0] - merged["lo_n"]
    groups = [np.repeat(reps[1:], counts[1:])]
    if merged["lo_n"]:
        groups.insert(0, np.full(merged["lo_n"], merged["lo_sum"] / merged["lo_n"]))
    if at_min:
        groups.insert(0, np.full(at_min, float(edges[0])))
    return pl.Series(name, np.concatenate(groups))


def window_drift(profile: dict[str, Any], bins: dict[str, Any], merged: dict[str, dict[str, Any]],
                 spec: Any, *, columns: list[str] | None = None) -> dict[str, Any] | None:
    """A DatasetDrift dict for a window from its merged column summaries (None: nothing usable)."""
    from tui_mlops.monitoring.reference import profile_columns
    from tui_mlops.validation.drift_methods import DatasetDrift, column_drift

    cols = profile_columns(profile)
    found = []
    for c in columns or list(merged):
        m = merged.get(c)
        if c not in cols or not m or m["n"] - m["nulls"] <= 0:
            continue
        series = pseudo_series(m, bins.get(c), c)
        if len(series) == 0:
            continue
        d = column_drift(cols[c], series, method=spec.methods.get(c, spec.default_method),
                         threshold=spec.thresholds.get(c), name=c)
        d.null_rate = m["nulls"] / m["n"] if m["n"] else None
        if "new" in m:
            d.new_category_rate = m["new"] / max(m["n"] - m["nulls"], 1)
        found.append(d)
    if not found:
        return None
    scored = [d for d in found if d.score is not None]
    drifted = [d.column for d in scored if d.drifted]
    share = len(drifted) / len(scored) if scored else 0.0
    return DatasetDrift(found, share, bool(scored) and share >= spec.dataset_share, spec.dataset_share,
                        drifted).to_dict()
