"""Per-column and dataset drift with Evidently's DataDriftPreset methods and defaults, scored against
a cached JSON reference profile (build_profile) or exactly against a reference frame."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from tui_mlops.errors import InputError

PROFILE_FORMAT = "tui_mlops.drift_methods/1"
METHODS = ("auto", "wasserstein", "jensenshannon", "ks", "chisquare", "z", "psi")
DEFAULT_THRESHOLD = {"wasserstein": 0.1, "jensenshannon": 0.1, "psi": 0.1, "ks": 0.05, "chisquare": 0.05, "z": 0.05}
SMALL_REFERENCE = 1000   # Evidently: at most this many reference values -> statistical tests
FEW_VALUES = 5           # numeric columns with at most this many distinct values count as categorical
BINNED_ABOVE = 20        # JS / PSI on a numeric column with more distinct reference values: Sturges bins
MAX_CATEGORIES = 10_000  # category counts kept in a profile; the rest are summed into "other"
PARALLEL_CELLS = 500_000  # above this many current cells, columns are scored on a thread pool


@dataclass
class ColumnDrift:
    column: str
    kind: str                    # "numeric" | "categorical" (by dtype; few-valued numeric stays "numeric")
    method: str                  # the method used, "auto" resolved
    score: float | None          # None when one side has no usable values
    threshold: float
    drifted: bool
    n_ref: int                   # non-null (finite) values compared
    n_cur: int
    null_rate: float             # current: share of null / NaN / infinite values
    new_category_rate: float | None = None  # current non-null values the reference never had
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DatasetDrift:
    columns: list[ColumnDrift]
    share: float                 # drifted columns / columns that could be scored
    drifted: bool                # share >= dataset_share
    dataset_share: float = 0.5
    drifted_columns: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"columns": [c.to_dict() for c in self.columns], "share": self.share, "drifted": self.drifted,
                "dataset_share": self.dataset_share, "drifted_columns": list(self.drifted_columns)}


@dataclass
class _Ref:
    """One reference column, exact (raw sorted values or value counts) or sketched (quantiles)."""
    kind: str
    n: int                       # non-null values
    nulls: int = 0
    integer: bool = False
    std: float | None = None
    lo: float | None = None
    hi: float | None = None
    distinct: int = 0
    raw: Any = None              # sorted finite values (exact path)
    values: Any = None           # numeric: sorted distinct values; categorical: list of names
    counts: Any = None           # int64 counts aligned with values
    p: Any = None                # sketch: probabilities 0..1 (increasing) ...
    q: Any = None                # ... and the quantiles there
    other: int = 0               # categorical: values beyond the kept names

    def points(self) -> tuple[Any, Any] | None:
        from tui_mlops.validation import drift_stats as st

        if self.values is None and self.raw is not None:
            self.values, self.counts = st.distinct(self.raw)
        return None if self.values is None else (self.values, self.counts)


def _kind(dtype: Any) -> str | None:
    import polars as pl

    if dtype.is_numeric() or dtype.is_temporal():  # dates and times compare as their epoch numbers
        return "numeric"
    if dtype in (pl.Boolean, pl.String, pl.Null) or isinstance(dtype, (pl.Categorical, pl.Enum)):
        return "categorical"
    return None


def _as_float(s: Any) -> Any:
    """Float64 values of a numeric or temporal series (dates and times as their epoch numbers)."""
    import polars as pl

    if s.dtype.is_temporal():
        s = s.to_physical()
    return s.cast(pl.Float64, strict=False)


def _finite_sorted(s: Any) -> Any:
    import numpy as np

    v = _as_float(s).to_numpy()
    v = v[np.isfinite(v)]
    v.sort()
    return v


def _category_counts(s: Any) -> Any:
    import polars as pl

    return s.cast(pl.String).drop_nulls().rename("value").value_counts(name="count")


def _exact_ref(s: Any, kind: str) -> _Ref:
    import numpy as np

    from tui_mlops.validation import drift_stats as st

    if kind == "numeric":
        v = _finite_sorted(s)
        ref = _Ref("numeric", len(v), nulls=len(s) - len(v), integer=s.dtype.is_integer(), raw=v,
                   distinct=st.n_distinct(v))
        if len(v):
            ref.std, ref.lo, ref.hi = float(np.std(v)), float(v[0]), float(v[-1])
        return ref
    vc = _category_counts(s)
    n = int(vc["count"].sum())
    return _Ref("categorical", n, nulls=len(s) - n, values=vc["value"].to_list(),
                counts=vc["count"].to_numpy().astype(np.int64), distinct=vc.height)


def _profile_ref(col: dict[str, Any]) -> _Ref:
    import numpy as np

    n = int(col["n"]) - int(col["nulls"])
    if col["kind"] == "numeric":
        ref = _Ref("numeric", n, nulls=int(col["nulls"]), integer=bool(col.get("integer")), std=col.get("std"),
                   lo=col.get("min"), hi=col.get("max"), distinct=int(col.get("distinct", 0)),
                   )
        q = np.asarray(col.get("quantiles") or [], dtype=np.float64)
        if len(q):
            p = np.concatenate([np.linspace(0.0, 1.0, len(q)), col.get("tail_probs") or []])
            order = np.argsort(p, kind="stable")
            ref.p = p[order]
            ref.q = np.concatenate([q, col.get("tail_quantiles") or []])[order]
        if col.get("values") is not None:
            ref.values = np.asarray(col["values"], dtype=np.float64)
            ref.counts = np.asarray(col["counts"], dtype=np.int64)
        return ref
    return _Ref("categorical", n, nulls=int(col["nulls"]), values=list(col["values"]),
                counts=np.asarray(col["counts"], dtype=np.int64), other=int(col.get("other", 0)),
                distinct=int(col.get("distinct", len(col["values"]))))


def _profile_column(s: Any, kind: str, quantiles: int, exact_max: int) -> dict[str, Any]:
    import numpy as np

    from tui_mlops.validation import drift_stats as st

    ref = _exact_ref(s, kind)
    out: dict[str, Any] = {"kind": kind, "dtype": str(s.dtype), "n": len(s), "nulls": ref.nulls,
                           "distinct": ref.distinct}
    if kind == "numeric":
        v = ref.raw
        out["integer"] = ref.integer
        if len(v):
            tails = st.tail_probs(len(v), quantiles)
            out.update(mean=float(v.mean()), std=ref.std, min=ref.lo, max=ref.hi,
                       quantiles=st.sorted_quantiles(v, np.linspace(0.0, 1.0, quantiles)).tolist(),
                       tail_probs=tails.tolist(), tail_quantiles=st.sorted_quantiles(v, tails).tolist())
            if ref.distinct <= exact_max:
                values, counts = ref.points()
                out.update(values=values.tolist(), counts=counts.tolist())
        return out
    import polars as pl

    vc = pl.DataFrame({"value": ref.values, "count": ref.counts}, schema={"value": pl.String, "count": pl.Int64})
    vc = vc.sort(["count", "value"], descending=[True, False])
    out.update(values=vc["value"].head(MAX_CATEGORIES).to_list(), counts=vc["count"].head(MAX_CATEGORIES).to_list(),
               other=int(vc["count"].slice(MAX_CATEGORIES).sum()))
    return out


def _pick(frame: Any, columns: Any) -> list[str]:
    if columns is None:
        return [c for c in frame.columns if _kind(frame[c].dtype) is not None]
    names = [columns] if isinstance(columns, str) else list(columns)
    for c in names:
        if c not in frame.columns:
            raise InputError(f"drift: the reference data has no column {c!r}")
        if _kind(frame[c].dtype) is None:
            raise InputError(f"drift: column {c!r} has type {frame[c].dtype}, which drift cannot compare")
    return names


def build_profile(frame: Any, columns: Any = None, *, quantiles: int = 1001, exact_max: int = 1000) -> dict[str, Any]:
    """JSON-able reference summary that column_drift / dataset_drift score against. Per numeric column:
    n (rows), nulls (null/NaN/inf), distinct, mean, std, min, max, `quantiles` knots at evenly spaced
    probabilities 0..1, and every distinct value with its count ("values", "counts") when there are at
    most exact_max of them (so a reference of <= exact_max rows is kept exactly). Per categorical
    column: n, nulls, distinct, the 10,000 most frequent values with counts and an "other" count."""
    if quantiles < 2 or exact_max < 0:
        raise InputError(f"drift profile: quantiles must be >= 2 and exact_max >= 0 (got {quantiles}, {exact_max})")
    if not hasattr(frame, "columns") or frame.height == 0:
        raise InputError("drift: the reference data has no rows")
    names = _pick(frame, columns)
    cols = {c: _profile_column(frame[c], _kind(frame[c].dtype) or "", quantiles, exact_max) for c in names}
    return {"format": PROFILE_FORMAT, "rows": frame.height, "quantiles": quantiles, "exact_max": exact_max,
            "columns": cols}


def _resolve(method: str, ref: _Ref, few: bool, ud: int, ref_rows: int) -> str:
    if method != "auto":
        return method
    if ref.kind == "categorical" or few:
        if ref_rows <= SMALL_REFERENCE:
            return "chisquare" if ud > 2 else "z"
        return "jensenshannon"
    return "ks" if ref_rows <= SMALL_REFERENCE else "wasserstein"


def _union_counts(ref: _Ref, cur_values: Any, cur_counts: Any) -> tuple[Any, Any, Any]:
    """Counts of both sides over the union of their values (sorted): keys, ref counts, cur counts.
    A capped categorical reference adds an "other" bucket holding its tail and unknown current values."""
    import numpy as np

    if ref.kind == "numeric":
        keys = np.union1d(ref.values, cur_values)
        r = np.zeros(len(keys))
        c = np.zeros(len(keys))
        r[np.searchsorted(keys, ref.values)] = ref.counts
        c[np.searchsorted(keys, cur_values)] = cur_counts
        return keys, r, c
    import polars as pl

    rf = pl.DataFrame({"value": ref.values, "r": ref.counts}, schema={"value": pl.String, "r": pl.Int64})
    cf = pl.DataFrame({"value": cur_values, "c": cur_counts}, schema={"value": pl.String, "c": pl.Int64})
    j = rf.join(cf, on="value", how="full", coalesce=True).fill_null(0).sort("value")
    r, c = j["r"].to_numpy().astype(np.float64), j["c"].to_numpy().astype(np.float64)
    keys = j["value"].to_list()
    if ref.other:
        unknown = r == 0
        r = np.append(r[~unknown], ref.other)
        c = np.append(c[~unknown], c[unknown].sum())
        keys = [k for k, u in zip(keys, unknown) if not u] + [None]
    return keys, r, c


def _score(method: str, ref: _Ref, cur: Any, cur_values: Any, cur_counts: Any, column: str) -> float:
    import numpy as np
    from scipy import stats

    from tui_mlops.validation import drift_stats as st

    numeric = ref.kind == "numeric"
    if method in ("wasserstein", "ks") and not numeric:
        raise InputError(f"drift: method {method!r} needs a numeric column; {column!r} is categorical")
    if method == "wasserstein":
        norm = max(float(ref.std), 0.001)
        if ref.raw is not None:
            return st.wasserstein(ref.raw, cur) / norm
        if ref.values is not None:
            return st.wasserstein(ref.values, cur, ref.counts) / norm
        return st.wasserstein_sketch(ref.p, ref.q, cur) / norm
    if method == "ks":
        if ref.raw is not None or ref.values is not None:
            full = ref.raw if ref.raw is not None else np.repeat(ref.values, ref.counts)
            return float(stats.ks_2samp(full, cur)[1])
        return st.ks_sketch(ref.p, ref.q, ref.n, cur)[1]
    if numeric and method in ("jensenshannon", "psi") and ref.distinct > BINNED_ABOVE:
        r, c = st.binned(ref, cur)
    else:
        if numeric and ref.points() is None:
            raise InputError(f"drift: method {method!r} on numeric column {column!r} needs a reference with "
                             "few distinct values (the profile kept none)")
        _, r, c = _union_counts(ref, cur_values, cur_counts)
    if method == "jensenshannon":
        return st.jensenshannon(r, c)
    if method == "psi":
        return st.psi(r, ref.n, c, int(c.sum()))
    if method == "chisquare":
        return st.chisquare_p(r, c)
    if len(r) == 1:
        return 1.0      # one value on both sides: nothing moved
    return st.z_p(r[0], ref.n, c[0], int(c.sum()))


def _column(name: str, ref: _Ref, s: Any, method: str, threshold: float | None, ref_rows: int | None) -> ColumnDrift:
    import numpy as np

    from tui_mlops.validation import drift_stats as st

    if method not in METHODS:
        raise InputError(f"drift: unknown method {method!r} for column {name!r} (choose from {', '.join(METHODS)})")
    total = len(s)
    if total == 0:
        raise InputError(f"drift: the current data has no rows (column {name!r})")
    cur = cur_values = cur_counts = None
    few, ud, new = False, 0, None
    if ref.kind == "numeric":
        cur = _finite_sorted(s)
        n_cur = len(cur)
        if n_cur and ref.n and ref.distinct <= FEW_VALUES and ref.points() is not None:
            cur_values, cur_counts = st.distinct(cur)
            ud = len(np.union1d(ref.values, cur_values))
            few = ud <= FEW_VALUES
    else:
        import polars as pl

        vc = _category_counts(s)
        cur_values, cur_counts = vc["value"].to_list(), vc["count"].to_numpy().astype(np.int64)
        n_cur = int(cur_counts.sum())
        unseen = ~vc["value"].is_in(pl.Series(ref.values, dtype=pl.String).implode()).to_numpy()
        ud = ref.distinct + int(unseen.sum())
        if n_cur and not ref.other:
            new = int(cur_counts[unseen].sum()) / n_cur
    resolved = _resolve(method, ref, few, ud, ref.n if ref_rows is None else int(ref_rows))
    if cur_values is None and n_cur and (resolved in ("chisquare", "z") or (
            resolved in ("jensenshannon", "psi") and ref.distinct <= BINNED_ABOVE)):
        cur_values, cur_counts = st.distinct(cur)
    thr = DEFAULT_THRESHOLD[resolved] if threshold is None else float(threshold)
    out = ColumnDrift(column=name, kind=ref.kind, method=resolved, score=None, threshold=thr, drifted=False,
                      n_ref=ref.n, n_cur=n_cur, null_rate=(total - n_cur) / total, new_category_rate=new)
    if n_cur == 0 or ref.n == 0:
        out.note = f"no values to compare in the {'current' if n_cur == 0 else 'reference'} data"
        return out
    out.score = float(_score(resolved, ref, cur, cur_values, cur_counts, name))
    out.drifted = st.is_drift(resolved, out.score, thr)
    return out


def column_drift(profile_col: dict[str, Any], current: Any, *, method: str = "auto", threshold: float | None = None,
                 ref_rows: int | None = None, name: str | None = None) -> ColumnDrift:
    """Drift of one current column (a polars Series) against one column of a build_profile profile.
    ref_rows overrides the reference size that picks the automatic method (default: its non-null count)."""
    import polars as pl

    if not isinstance(current, pl.Series):
        current = pl.Series(name or "value", current)
    return _column(name or current.name, _profile_ref(profile_col), current, method, threshold, ref_rows)


def _run(ref_for: Any, current: Any, names: list[str], methods: dict | None, thresholds: dict | None,
         default_method: str, dataset_share: float) -> DatasetDrift:
    import os
    from concurrent.futures import ThreadPoolExecutor

    if not hasattr(current, "columns") or not hasattr(current, "height"):
        raise InputError("drift: the current data must be a polars DataFrame")
    if current.height == 0:
        raise InputError("drift: the current data has no rows")
    for what, given in (("method", methods), ("threshold", thresholds)):
        for c in given or {}:
            if c not in names:
                raise InputError(f"drift: a {what} is set for column {c!r}, which is not compared")
    for c in names:
        if c not in current.columns:
            raise InputError(f"drift: the current data has no column {c!r}")
    methods, thresholds = methods or {}, thresholds or {}

    def one(c: str) -> ColumnDrift:
        # References are built per column inside the worker, so only the columns in flight are held.
        return _column(c, ref_for(c), current[c], methods.get(c, default_method), thresholds.get(c), None)

    workers = min(8, os.cpu_count() or 1, len(names))
    if workers > 1 and current.height * len(names) >= PARALLEL_CELLS:
        with ThreadPoolExecutor(workers) as pool:
            cols = list(pool.map(one, names))
    else:
        cols = [one(c) for c in names]
    scored = [c for c in cols if c.score is not None]
    drifted = [c.column for c in scored if c.drifted]
    share = len(drifted) / len(scored) if scored else 0.0
    return DatasetDrift(columns=cols, share=share, drifted=bool(scored) and share >= dataset_share,
                        dataset_share=dataset_share, drifted_columns=drifted)


def dataset_drift(profile: dict[str, Any], current_frame: Any, columns: Any = None, *, methods: dict | None = None,
                  thresholds: dict | None = None, default_method: str = "auto",
                  dataset_share: float = 0.5) -> DatasetDrift:
    """Drift of every profiled column (or `columns`) of current_frame against a build_profile profile;
    `methods` / `thresholds` override per column. The dataset drifts when the share of drifted
    columns (among those with values on both sides) is >= dataset_share."""
    if not isinstance(profile, dict) or profile.get("format") != PROFILE_FORMAT:
        raise InputError(f"drift: the reference is not a drift profile (expected format {PROFILE_FORMAT!r})")
    names = list(profile["columns"]) if columns is None else ([columns] if isinstance(columns, str) else list(columns))
    for c in names:
        if c not in profile["columns"]:
            raise InputError(f"drift: the reference profile has no column {c!r}")
    return _run(lambda c: _profile_ref(profile["columns"][c]), current_frame, names, methods, thresholds, default_method, dataset_share)


def dataset_drift_exact(reference_frame: Any, current_frame: Any, columns: Any = None, *, methods: dict | None = None,
                        thresholds: dict | None = None, default_method: str = "auto",
                        dataset_share: float = 0.5) -> DatasetDrift:
    """As dataset_drift, but against the whole reference frame (no sketch): scores equal Evidently's."""
    if not hasattr(reference_frame, "columns") or reference_frame.height == 0:
        raise InputError("drift: the reference data has no rows")
    names = _pick(reference_frame, columns)
    return _run(lambda c: _exact_ref(reference_frame[c], _kind(reference_frame[c].dtype) or ""), current_frame, names, methods, thresholds, default_method, dataset_share)
