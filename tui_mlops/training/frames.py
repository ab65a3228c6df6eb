"""Training data access: rows of a dataset version (optionally filtered) as a polars frame, quick
target statistics for the pre-job checks, and the seeded holdout split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tui_mlops.data import versions as V
from tui_mlops.data.filter_expr import compile_filter
from tui_mlops.data.sql import quote_ident
from tui_mlops.store.home import Home
from tui_mlops.store.records import DatasetVersion


@dataclass(frozen=True)
class TargetStats:
    rows: int            # rows after the filter
    non_null: int        # rows whose target is not null
    distinct: int        # distinct non-null target values
    example: Any         # one target value (the smallest), to name a lone class


def _where(v: DatasetVersion, expr: str | None) -> tuple[str, list[Any]]:
    if not expr:
        return "TRUE", []
    return compile_filter(expr, [c.name for c in v.columns])


def filtered_rows(home: Home, v: DatasetVersion, expr: str | None) -> int:
    """How many rows of `v` the filter keeps (all rows without one)."""
    import duckdb

    cond, params = _where(v, expr)
    con = duckdb.connect()
    try:
        sql = f"SELECT count(*) FROM read_parquet(?) WHERE {cond}"
        return int(con.execute(sql, [str(V.snapshot_path(home, v)), *params]).fetchone()[0])
    finally:
        con.close()


def target_stats(home: Home, v: DatasetVersion, target: str, expr: str | None) -> TargetStats:
    import duckdb

    cond, params = _where(v, expr)
    t = quote_ident(target)
    con = duckdb.connect()
    try:
        sql = (f"SELECT count(*), count({t}), count(DISTINCT {t}), min({t}) "
               f"FROM read_parquet(?) WHERE {cond}")
        rows, non_null, distinct, example = con.execute(sql, [str(V.snapshot_path(home, v)), *params]).fetchone()
    finally:
        con.close()
    return TargetStats(int(rows), int(non_null), int(distinct), example)


def load_frame(home: Home, v: DatasetVersion, expr: str | None = None,
               columns: list[str] | None = None) -> Any:
    """The rows of `v` that pass `expr`, in file order, as a polars DataFrame."""
    import duckdb

    cond, params = _where(v, expr)
    select = ", ".join(quote_ident(c) for c in columns) if columns else "*"
    con = duckdb.connect()
    try:
        sql = f"SELECT {select} FROM read_parquet(?) WHERE {cond}"
        import polars as pl

        table = con.sql(sql, params=[str(V.snapshot_path(home, v)), *params]).to_arrow_table()
        return pl.from_arrow(table)
    finally:
        con.close()


def holdout_indices(labels: Any, fraction: float, seed: int, stratify: bool) -> tuple[Any, Any]:
    """(train, valid) row indices, both sorted: a seeded random `fraction` of the rows goes to
    valid, taken per class when `stratify` so every class with two or more rows is in both."""
    import numpy as np

    n = len(labels)
    rng = np.random.default_rng(seed)
    if stratify:
        values = np.asarray(labels)
        groups = [np.flatnonzero(values == c) for c in np.unique(values)]
    else:
        groups = [np.arange(n)]
    valid_parts = []
    for idx in groups:
        take = int(np.floor(len(idx) * fraction + 0.5))
        if len(idx) >= 2:
            take = min(max(take, 1), len(idx) - 1)
        else:
            take = 0
        valid_parts.append(rng.permutation(idx)[:take])
    valid = np.sort(np.concatenate(valid_parts)) if valid_parts else np.array([], dtype=np.int64)
    mask = np.ones(n, dtype=bool)
    mask[valid] = False
    return np.flatnonzero(mask), valid
