"""Run exports: each run's best value per metric (by the metric's direction) and metric histories
of runs as CSV or Parquet, streamed from the catalog by DuckDB COPY and written atomically."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui_mlops.errors import InputError
from tui_mlops.store.home import Home, commit_file, temp_path_for
from tui_mlops.tracking.query import SYSTEM_PREFIX, _home, _resolve_id, metric_direction

__all__ = ["HistoryExport", "table_format", "best_values", "export_histories", "copy_to_file"]

FORMATS = ("csv", "parquet")
HISTORY_COLUMNS = ("run_id", "key", "step", "value", "ts")


@dataclass(frozen=True)
class HistoryExport:
    path: Path
    runs: list[str]
    keys: list[str]
    points: int
    format: str


def table_format(out: str | os.PathLike[str], allowed: tuple[str, ...] = FORMATS, flag: str = "--out") -> str:
    """'csv' or 'parquet' from a file name, else a one-line error naming the file."""
    fmt = Path(out).suffix.lower().lstrip(".")
    if fmt not in allowed:
        names = ", ".join(f".{a}" for a in allowed[:-1]) + f" or .{allowed[-1]}"
        raise InputError(f"{flag} {out}: the file name must end in {names}")
    return fmt


def copy_to_file(con: Any, select_sql: str, params: list[Any] | dict[str, Any], out: Path, fmt: str) -> None:
    """COPY a query's rows to `out` through a temp file in the same folder, renamed when done."""
    out = Path(out).resolve()
    if not out.parent.is_dir():
        raise InputError(f"--out {out}: folder {out.parent} does not exist")
    tmp = temp_path_for(out)
    options = "FORMAT csv, HEADER true" if fmt == "csv" else "FORMAT parquet, COMPRESSION zstd"
    try:
        con.execute(f"COPY ({select_sql}) TO '{_sql_text(str(tmp))}' ({options})", params)
        commit_file(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _sql_text(text: str) -> str:
    # COPY's target cannot be a bound parameter; the path is our own temp name, quoted anyway.
    return text.replace("'", "''")


def best_values(home: Home | str | os.PathLike[str] | None, run_ids: list[str]) -> dict[str, dict[str, float]]:
    """run id -> {metric: best value over the run's history}: the minimum for losses and errors
    (`metric_direction` "min"), else the maximum. System metrics are left out."""
    from tui_mlops.tracking.mirror import mirror_for

    if not run_ids:
        return {}
    out: dict[str, dict[str, float]] = {}
    with mirror_for(_home(home)) as m, m.catalog() as cat:
        rows = cat.con.execute(
            "SELECT run_id, key, min, max FROM metric_summary WHERE run_id IN (SELECT unnest(?::VARCHAR[])) "
            "AND NOT starts_with(key, ?)", [list(run_ids), SYSTEM_PREFIX]).fetchall()
    for rid, key, lo, hi in rows:
        value = lo if metric_direction(key) == "min" else hi
        if value is not None and value == value:  # NaN is no best
            out.setdefault(rid, {})[key] = float(value)
    return out


def export_histories(home: Home | str | os.PathLike[str] | None, run_refs: list[str], out: str | os.PathLike[str],
                     keys: list[str] | None = None) -> HistoryExport:
    """Every logged point of `keys` (default: each run's non-system metrics) of the runs, one row
    per point: run_id, key, step (NULL where none was logged), value, ts; ordered per run and key
    as `metric_history` orders them (step, then time)."""
    from tui_mlops.tracking.mirror import mirror_for

    fmt = table_format(out)
    if not run_refs:
        raise InputError("give at least one run id")
    wanted = [k.removeprefix("metrics.").strip("`") for k in keys or []]
    path = Path(out)
    with mirror_for(_home(home)) as m, m.catalog() as cat:
        con = cat.con
        ids = list(dict.fromkeys(_resolve_id(con, r) for r in run_refs))
        have = con.execute("SELECT DISTINCT key FROM metric_summary WHERE run_id IN (SELECT unnest(?::VARCHAR[])) "
                           "ORDER BY key", [ids]).fetchall()
        known = [k for (k,) in have]
        if wanted:
            missing = [k for k in wanted if k not in known]
            if missing:
                shown = ", ".join(k for k in known if not k.startswith(SYSTEM_PREFIX)) or "none"
                raise InputError(f"no metric {missing[0]!r} in runs {', '.join(i[:8] for i in ids)} "
                                 f"(metrics: {shown})")
            chosen = list(dict.fromkeys(wanted))
        else:
            chosen = [k for k in known if not k.startswith(SYSTEM_PREFIX)]
        select = ("SELECT run_id, key, step, value, ts FROM metrics "
                  "WHERE run_id IN (SELECT unnest($ids::VARCHAR[])) AND key IN (SELECT unnest($keys::VARCHAR[])) "
                  "ORDER BY array_position($ids::VARCHAR[], run_id), key, step NULLS LAST, ts, seq")
        params = {"ids": ids, "keys": chosen}
        (points,) = con.execute(f"SELECT count(*) FROM ({select})", params).fetchone()
        copy_to_file(con, select, params, path, fmt)
    return HistoryExport(path=path, runs=ids, keys=chosen, points=int(points), format=fmt)
