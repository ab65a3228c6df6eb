"""Per-column profile of a version, computed in DuckDB in a few passes over the Parquet snapshot
and stored in the version's sidecar so it shows instantly afterwards.

Pass 1 aggregates every column at once (counts, distinct, min/max, mean/std, quantiles); pass 2
builds all histograms and top-value candidates at once; pass 3 (only for high-cardinality
columns) counts those candidates exactly.
"""

from __future__ import annotations

import math
import re
import threading
from typing import Any, Callable

from tui_mlops.data import versions as V
from tui_mlops.data.sql import json_value, quote_ident, run_query
from tui_mlops.errors import NotFoundError
from tui_mlops.store.home import Home
from tui_mlops.store.records import DatasetVersion

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
QUANTILE_KEYS = ("p1", "p5", "p25", "p50", "p75", "p95", "p99")
HIST_BINS = 20
TOP_K = 10
# Up to this many rows distinct counts and quantiles are exact; above, DuckDB's sketches
# (HyperLogLog, t-digest) keep a 10M-row profile near the cost of one SUMMARIZE.
EXACT_ROWS = 1_000_000
# Columns with at most this many distinct values get exact value counts in pass 2.
LOW_CARDINALITY = 10_000

_INTEGER = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "UHUGEINT", "INT", "INT1", "INT2", "INT4", "INT8", "LONG"}
_FLOAT = {"FLOAT", "DOUBLE", "REAL", "FLOAT4", "FLOAT8", "DECIMAL", "NUMERIC"}
_TEMPORAL_PREFIXES = ("DATE", "TIME", "TIMESTAMP")
_NESTED = re.compile(r"(\[\]$|^STRUCT|^MAP|^UNION|^LIST|\[\d+\]$)")

ProgressFn = Callable[[float], None]


def column_kind(dtype: str) -> str:
    """numeric, boolean, temporal or categorical, from a DuckDB type name."""
    t = dtype.upper().strip()
    if _NESTED.search(t):
        return "categorical"
    base = t.split("(", 1)[0].strip()
    if base in _INTEGER or base in _FLOAT:
        return "numeric"
    if base == "BOOLEAN" or base == "BOOL":
        return "boolean"
    if base.startswith(_TEMPORAL_PREFIXES):
        return "temporal"
    return "categorical"


def is_integer_type(dtype: str) -> bool:
    return dtype.upper().split("(", 1)[0].strip() in _INTEGER


def get_profile(home: Home, v: DatasetVersion) -> dict[str, Any] | None:
    """The stored profile of `v`, or None when none was computed yet."""
    try:
        return V.sidecar(home, v).get("profile")
    except FileNotFoundError:
        return None


def compute_profile(home: Home, v: DatasetVersion, *, progress: ProgressFn | None = None,
                    cancel: threading.Event | None = None) -> dict[str, Any]:
    """Profile every column of `v`, store it in the sidecar ("profile") and return it."""
    import duckdb

    path = home.snapshot_path(v.name, v.version)
    if not path.exists():
        raise NotFoundError(f"{v.ref}: snapshot {path} is missing (run `mlops-tui store check`)")
    cols = [(c.name, c.type, column_kind(c.type)) for c in v.columns]
    steps = 3
    last = [-1.0]

    def report(f: float) -> None:
        # DuckDB's own progress can step back between queries; callers get a rising value.
        if progress is not None and f > last[0]:
            last[0] = f
            progress(f)

    def step_progress(i: int) -> ProgressFn:
        return lambda f: report((i + f) / steps)

    con = duckdb.connect()
    try:
        src = [str(path)]
        exact = v.rows <= EXACT_ROWS
        report(0.0)
        rows, stats = _pass_aggregates(con, src, cols, exact, cancel, step_progress(0))
        report(1 / steps)
        hists, candidates = _pass_distributions(con, src, cols, stats, cancel, step_progress(1))
        report(2 / steps)
        tops = _pass_top_counts(con, src, candidates, cancel, step_progress(2))
        report(1.0)
    finally:
        con.close()

    out_cols = []
    for name, dtype, kind in cols:
        s = stats[name]
        top = tops.get(name) or hists.get(name, {}).get("top")
        out_cols.append({
            "name": name,
            "type": dtype,
            "kind": kind,
            "nulls": s["nulls"],
            "null_share": (s["nulls"] / rows) if rows else 0.0,
            "distinct": s["distinct"],
            "min": s["min"],
            "max": s["max"],
            "mean": s.get("mean"),
            "std": s.get("std"),
            "quantiles": s.get("quantiles"),
            "histogram": hists.get(name, {}).get("histogram"),
            "top_values": top,
        })
    profile = {"computed_at": V.now_iso(), "rows": rows, "approximate": not exact, "columns": out_cols}
    V.update_sidecar(home, v, profile=profile)
    return profile


def _value_expr(q: str, dtype: str, kind: str) -> str:
    """How a column is aggregated: nested values as text (DuckDB cannot min/max every type)."""
    if _NESTED.search(dtype.upper()) or dtype.upper().startswith(("BLOB", "BIT")):
        return f"CAST({q} AS VARCHAR)"
    return q


def _pass_aggregates(con: Any, src: list, cols: list[tuple[str, str, str]], exact: bool,
                     cancel: threading.Event | None, progress: ProgressFn) -> tuple[int, dict]:
    parts = ["count(*)"]
    layout: list[tuple[str, str, int]] = []  # (column, what, index into the result row)
    for name, dtype, kind in cols:
        q = quote_ident(name)
        e = _value_expr(q, dtype, kind)
        distinct = f"count(DISTINCT {e})" if exact else f"approx_count_distinct({e})"
        fields = [("nonnull", f"count({q})"), ("distinct", distinct)]
        if kind != "categorical" or e == q:
            fields += [("min", f"min({e})"), ("max", f"max({e})")]
        if kind == "numeric":
            d = f"CAST({q} AS DOUBLE)"
            qs = "[" + ", ".join(repr(p) for p in QUANTILES) + "]"
            quant = f"quantile_cont({d}, {qs})" if exact else f"approx_quantile({d}, {qs})"
            fields += [("mean", f"avg({d})"), ("std", f"stddev_samp({d})"), ("quantiles", quant)]
        for what, sql in fields:
            layout.append((name, what, len(parts)))
            parts.append(sql)
    sql = f"SELECT {', '.join(parts)} FROM read_parquet(?)"
    row = run_query(con, sql, src, cancel=cancel, what="profile", on_progress=progress)[0]
    rows = int(row[0])
    stats: dict[str, dict[str, Any]] = {
        name: {"min": None, "max": None, "mean": None, "std": None, "quantiles": None}
        for name, _, _ in cols
    }
    for name, what, i in layout:
        value = row[i]
        if what == "nonnull":
            stats[name]["nulls"] = rows - int(value)
        elif what == "distinct":
            stats[name]["distinct"] = int(value or 0)
        elif what == "quantiles":
            if value is not None:
                stats[name]["quantiles"] = dict(zip(QUANTILE_KEYS, (json_value(x) for x in value)))
        elif what in ("min", "max"):
            stats[name][what] = json_value(value)
            stats[name]["raw_" + what] = value
        else:
            stats[name][what] = json_value(value)
    for name, _, _ in cols:
        # A sketch may report more distinct values than there are non-null ones.
        stats[name]["distinct"] = min(stats[name]["distinct"], rows - stats[name]["nulls"])
    return rows, stats


def _bins(dtype: str, lo: float, hi: float) -> tuple[float, float, int]:
    """(first edge, bin width, bin count): one bin per value for small integer ranges."""
    if is_integer_type(dtype) and hi - lo + 1 <= HIST_BINS:
        return lo - 0.5, 1.0, int(hi - lo) + 1
    if hi == lo:
        return lo - 0.5, 1.0, 1
    return lo, (hi - lo) / HIST_BINS, HIST_BINS


def _pass_distributions(con: Any, src: list, cols: list[tuple[str, str, str]], stats: dict,
                        cancel: threading.Event | None, progress: ProgressFn) -> tuple[dict, dict]:
    parts: list[str] = []
    params: list[Any] = []
    layout: list[tuple[str, str, Any]] = []
    for name, dtype, kind in cols:
        s = stats[name]
        q = quote_ident(name)
        if kind == "numeric":
            lo, hi = s.get("raw_min"), s.get("raw_max")
            if lo is None or hi is None:
                continue
            lo, hi = float(lo), float(hi)
            if not (math.isfinite(lo) and math.isfinite(hi)):
                continue
            start, width, n = _bins(dtype, lo, hi)
            # Values are binned by index; the max value falls into the last bin, not past it.
            # least/greatest skip NULLs, so nulls are filtered out explicitly.
            parts.append(f"histogram(least(greatest(CAST(floor((CAST({q} AS DOUBLE) - ?) / ?) AS BIGINT), 0), ?)) "
                         f"FILTER (WHERE {q} IS NOT NULL)")
            params += [start, width, n - 1]
            layout.append((name, "hist", (start, width, n)))
        elif kind in ("categorical", "boolean"):
            e = f"CAST({q} AS VARCHAR)"
            if s["distinct"] <= LOW_CARDINALITY:
                parts.append(f"histogram({e})")
                layout.append((name, "counts", None))
            else:
                parts.append(f"approx_top_k({e}, {TOP_K})")
                layout.append((name, "candidates", None))
    if not parts:
        return {}, {}
    sql = f"SELECT {', '.join(parts)} FROM read_parquet(?)"
    row = run_query(con, sql, params + src, cancel=cancel, what="profile", on_progress=progress)[0]
    out: dict[str, dict[str, Any]] = {}
    candidates: dict[str, list[str]] = {}
    for (name, what, extra), value in zip(layout, row):
        if what == "hist":
            start, width, n = extra
            counts = [0] * n
            for k, c in (value or {}).items():
                counts[int(k)] = int(c)
            edges = [start + i * width for i in range(n + 1)]
            out[name] = {"histogram": {"edges": edges, "counts": counts}}
        elif what == "counts":
            out[name] = {"top": _top((value or {}).items())}
        else:
            candidates[name] = [c for c in (value or []) if c is not None]
    return out, candidates


def _top(items: Any) -> list[dict[str, Any]]:
    ranked = sorted(((str(k), int(c)) for k, c in items if k is not None), key=lambda kc: (-kc[1], kc[0]))
    return [{"value": k, "count": c} for k, c in ranked[:TOP_K]]


def _pass_top_counts(con: Any, src: list, candidates: dict[str, list[str]],
                     cancel: threading.Event | None, progress: ProgressFn) -> dict[str, list]:
    """Exact counts of the sketch's top-value candidates, all columns in one pass."""
    parts: list[str] = []
    params: list[Any] = []
    layout: list[tuple[str, str]] = []
    for name, values in candidates.items():
        e = f"CAST({quote_ident(name)} AS VARCHAR)"
        for value in values:
            parts.append(f"count(*) FILTER (WHERE {e} = ?)")
            params.append(value)
            layout.append((name, value))
    if not parts:
        return {name: [] for name in candidates}
    sql = f"SELECT {', '.join(parts)} FROM read_parquet(?)"
    row = run_query(con, sql, params + src, cancel=cancel, what="profile", on_progress=progress)[0]
    found: dict[str, list[tuple[str, int]]] = {name: [] for name in candidates}
    for (name, value), count in zip(layout, row):
        found[name].append((value, int(count)))
    return {name: _top(pairs) for name, pairs in found.items()}
