"""Per-feature drift of current data against a reference (PSI, Kolmogorov-Smirnov, chi-square,
Jensen-Shannon, new categories, null shifts), vectorised; the reference may be a cached JSON profile."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from tui_mlops.errors import InputError

PROFILE_FORMAT = "tui_mlops.drift_profile/1"
SAMPLE = 10_000        # order statistics kept per numeric column, for KS against a profile
MAX_KNOWN = 10_000     # category names kept for new-category checks (beyond: not checked)
MAX_NEW = 100          # new categories listed per feature (most frequent first)
PSI_EPS = 1e-4         # share given to an empty bin, so PSI stays finite
EFFECT = 0.1           # KS statistic / JS distance a significant test also needs to count as drift


@dataclass
class FeatureDrift:
    column: str
    kind: str                       # "numeric" | "categorical"
    psi: float                      # over reference-quantile bins (or categories) plus a null bin
    ks: float | None                # numeric: two-sample KS statistic on the non-null values
    ks_p: float | None
    chi2_p: float | None            # categorical: chi-square test over categories + other + null
    js: float | None                # categorical: Jensen-Shannon distance (base 2, 0..1)
    null_ref: float                 # shares of null (or NaN / infinite) values
    null_cur: float
    new_categories: list[str] = field(default_factory=list)
    drifted: bool = False
    n_ref: int = 0
    n_cur: int = 0


@dataclass
class DriftReport:
    features: list[FeatureDrift]
    share_drifted: float
    drifted: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"features": [asdict(f) for f in self.features], "share_drifted": self.share_drifted,
                "drifted": list(self.drifted)}


def _kind(dtype: Any) -> str | None:
    import polars as pl

    if dtype.is_numeric() or dtype.is_temporal():
        return "numeric"
    if dtype in (pl.Boolean, pl.String, pl.Categorical, pl.Null) or isinstance(dtype, (pl.Categorical, pl.Enum)):
        return "categorical"
    return None


def _numeric(s: Any) -> Any:
    """Finite non-null values as float64 (dates and times as microseconds / nanoseconds)."""
    import numpy as np
    import polars as pl

    dt = s.dtype
    if dt in (pl.Date,) or isinstance(dt, pl.Datetime):
        s = s.dt.epoch("us")
    elif isinstance(dt, pl.Duration):
        s = s.dt.total_microseconds()
    elif dt == pl.Time:
        s = s.to_physical()
    v = s.cast(pl.Float64, strict=False).drop_nulls().to_numpy()
    return v[np.isfinite(v)]


def _categories(s: Any) -> Any:
    """Value counts of the non-null values as strings: a frame (value, count), most frequent first."""
    import polars as pl

    vc = s.cast(pl.String).rename("value").drop_nulls().value_counts(name="count")
    return vc.sort(["count", "value"], descending=[True, False])


def _profile_column(s: Any, kind: str, bins: int, top: int) -> dict[str, Any]:
    import numpy as np

    n = len(s)
    if kind == "numeric":
        v = np.sort(_numeric(s))
        cuts = np.unique(np.quantile(v, np.linspace(0, 1, bins + 1)[1:-1])) if len(v) else np.empty(0)
        counts = _bin_counts(v, cuts)
        sample = v if len(v) <= SAMPLE else v[np.round(np.linspace(0, len(v) - 1, SAMPLE)).astype(np.int64)]
        return {"kind": "numeric", "dtype": str(s.dtype), "n": n, "nulls": n - len(v),
                "cuts": cuts.tolist(), "counts": counts.tolist(), "sample": sample.tolist()}
    vc = _categories(s)
    values, counts = vc["value"].to_list(), vc["count"].to_list()
    return {"kind": "categorical", "dtype": str(s.dtype), "n": n, "nulls": n - sum(counts),
            "values": values[:top], "counts": counts[:top], "other": sum(counts[top:]),
            "known": values if len(values) <= MAX_KNOWN else None}


def _pick(frame: Any, columns: Any, what: str) -> list[str]:
    if columns is None:
        return [c for c in frame.columns if _kind(frame[c].dtype) is not None]
    names = [columns] if isinstance(columns, str) else list(columns)
    for c in names:
        if c not in frame.columns:
            raise InputError(f"drift: the {what} data has no column {c!r}")
        if _kind(frame[c].dtype) is None:
            raise InputError(f"drift: column {c!r} has type {frame[c].dtype}, which drift cannot compare")
    return names


def reference_profile(frame: Any, columns: Any = None, *, bins: int = 10, top: int = 50) -> dict[str, Any]:
    """A JSON-able summary of `frame` that drift_report compares against: per numeric column the
    reference-quantile cut points, bin counts and <= 10,000 sorted order statistics (for KS); per
    categorical column the top `top` categories' counts, an "other" count and the known names;
    null counts for both. Default columns: all numeric, temporal, boolean and string columns."""
    if bins < 1 or top < 1:
        raise InputError(f"drift profile: bins and top must be at least 1 (got bins={bins}, top={top})")
    if frame.height == 0:
        raise InputError("drift: the reference data has no rows")
    names = _pick(frame, columns, "reference")
    return {"format": PROFILE_FORMAT, "rows": frame.height, "bins": bins, "top": top,
            "columns": {c: _profile_column(frame[c], _kind(frame[c].dtype) or "", bins, top) for c in names}}


def _psi(ref: Any, cur: Any) -> float:
    import numpy as np

    r = np.maximum(ref / max(ref.sum(), 1), PSI_EPS)
    c = np.maximum(cur / max(cur.sum(), 1), PSI_EPS)
    return float(np.sum((c - r) * np.log(c / r)))


def _bin_counts(sorted_values: Any, cuts: Any) -> Any:
    """Counts in the bins (-inf, c0], (c0, c1], ..., (c_last, inf) of already sorted values."""
    import numpy as np

    le = np.searchsorted(sorted_values, cuts, side="right")
    return np.diff(np.concatenate([[0], le, [len(sorted_values)]]))


def _ks(sample: Any, cur: Any) -> tuple[float, float]:
    """Two-sample KS of the sorted reference sample against all (sorted) current values. For large
    batches the ECDFs are compared only at the sample's distinct values, where the difference peaks
    (its left and right limits there), so the work after the sort is O(m log n)."""
    import numpy as np
    from scipy import stats

    m, n = len(sample), len(cur)
    if n <= SAMPLE:
        res = stats.ks_2samp(sample, cur)
        return float(res.statistic), float(res.pvalue)
    u = np.unique(sample)
    right = np.abs(np.searchsorted(sample, u, side="right") / m - np.searchsorted(cur, u, side="right") / n)
    left = np.abs(np.searchsorted(sample, u, side="left") / m - np.searchsorted(cur, u, side="left") / n)
    d = float(max(right.max(), left.max()))
    # scipy's ks_2samp asymptotic two-sided p-value, for the same statistic.
    en = round(m * n / (m + n))
    return d, float(stats.kstwo.sf(d, en))


def _numeric_drift(name: str, prof: dict[str, Any], s: Any) -> dict[str, Any]:
    import numpy as np

    v = np.sort(_numeric(s))
    cur = _bin_counts(v, np.asarray(prof["cuts"], dtype=float))
    ref = np.asarray(prof["counts"], dtype=float)
    out: dict[str, Any] = {"psi": _psi(np.append(ref, prof["nulls"]), np.append(cur, len(s) - len(v))),
                           "ks": None, "ks_p": None, "chi2_p": None, "js": None, "new_categories": [],
                           "null_cur": (len(s) - len(v)) / len(s)}
    sample = np.asarray(prof["sample"], dtype=float)
    if len(sample) and len(v):
        out["ks"], out["ks_p"] = _ks(sample, v)
    return out


def _categorical_drift(name: str, prof: dict[str, Any], s: Any) -> dict[str, Any]:
    import numpy as np
    import polars as pl
    from scipy import stats
    from scipy.spatial.distance import jensenshannon

    vc = _categories(s)
    values = prof["values"]
    index = pl.DataFrame({"value": values, "slot": list(range(len(values)))},
                         schema={"value": pl.String, "slot": pl.Int64})
    hit = vc.join(index, on="value", how="left")
    slots = hit["slot"].fill_null(len(values)).to_numpy()
    cur = np.bincount(slots, weights=hit["count"].to_numpy(), minlength=len(values) + 1)
    nulls = len(s) - int(vc["count"].sum())
    cur = np.append(cur, nulls)
    ref = np.asarray(list(prof["counts"]) + [prof["other"], prof["nulls"]], dtype=float)
    new: list[str] = []
    if prof.get("known") is not None:
        known = pl.DataFrame({"value": prof["known"]}, schema={"value": pl.String})
        unseen = vc.join(known, on="value", how="anti").sort(["count", "value"], descending=[True, False])
        new = unseen["value"].head(MAX_NEW).to_list()
    keep = (ref + cur) > 0
    table = np.vstack([ref[keep], cur[keep]])
    if table.shape[1] < 2:
        chi2_p, js = 1.0, 0.0   # one category on both sides: nothing can have moved
    else:
        chi2_p = float(stats.chi2_contingency(table, correction=False)[1])
        js = float(jensenshannon(table[0], table[1], base=2))
    return {"psi": _psi(ref, cur), "ks": None, "ks_p": None, "chi2_p": chi2_p, "js": js,
            "new_categories": new, "null_cur": nulls / len(s)}


def _as_profile(reference: Any, columns: Any) -> dict[str, Any]:
    if isinstance(reference, dict):
        if reference.get("format") != PROFILE_FORMAT or not isinstance(reference.get("columns"), dict):
            raise InputError(f"drift: the reference is not a drift profile (expected format {PROFILE_FORMAT!r})")
        return reference
    if not hasattr(reference, "columns") or not hasattr(reference, "height"):
        raise InputError("drift: the reference must be a polars DataFrame or a reference_profile dict")
    return reference_profile(reference, columns)


def drift_report(reference: Any, current: Any, columns: Any = None, *, psi_threshold: float = 0.2,
                 p_threshold: float = 0.05) -> DriftReport:
    """Drift of `current` (a polars DataFrame) against `reference` (a frame, or a profile from
    reference_profile: then the cost grows only with the current batch). A feature drifted when
    psi > psi_threshold, or (numeric) ks_p < p_threshold and ks >= 0.1, or (categorical)
    chi2_p < p_threshold and js >= 0.1. Default columns: all the reference profiles."""
    if not hasattr(current, "columns") or not hasattr(current, "height"):
        raise InputError("drift: the current data must be a polars DataFrame")
    if current.height == 0:
        raise InputError("drift: the current data has no rows")
    profile = _as_profile(reference, columns)
    names = list(profile["columns"]) if columns is None else ([columns] if isinstance(columns, str) else list(columns))
    features: list[FeatureDrift] = []
    for c in names:
        prof = profile["columns"].get(c)
        if prof is None:
            raise InputError(f"drift: the reference has no column {c!r}")
        if c not in current.columns:
            raise InputError(f"drift: the current data has no column {c!r}")
        s = current[c]
        part = (_numeric_drift if prof["kind"] == "numeric" else _categorical_drift)(c, prof, s)
        if prof["kind"] == "numeric":
            drifted = part["ks_p"] is not None and part["ks_p"] < p_threshold and part["ks"] >= EFFECT
        else:
            drifted = part["chi2_p"] < p_threshold and part["js"] >= EFFECT
        drifted = bool(drifted or part["psi"] > psi_threshold)
        features.append(FeatureDrift(column=c, kind=prof["kind"], psi=part["psi"], ks=part["ks"], ks_p=part["ks_p"],
                                     chi2_p=part["chi2_p"], js=part["js"], null_ref=prof["nulls"] / prof["n"],
                                     null_cur=part["null_cur"], new_categories=part["new_categories"],
                                     drifted=drifted, n_ref=int(prof["n"]), n_cur=current.height))
    drifted_names = [f.column for f in features if f.drifted]
    share = len(drifted_names) / len(features) if features else 0.0
    return DriftReport(features=features, share_drifted=share, drifted=drifted_names)
