"""Small SQL helpers shared by the data services: identifier quoting, numbered snapshot scans,
cancellable queries, and DuckDB values turned into JSON-safe ones."""

from __future__ import annotations

import datetime as _dt
import decimal
import math
import threading
import uuid
from typing import Any, Callable, Iterable

from tui_mlops.errors import MlopsError

# The column DuckDB's `read_parquet(..., file_row_number=true)` adds.
FILE_ROW_NUMBER = "file_row_number"


def quote_ident(name: str) -> str:
    """A SQL identifier for any column name (quotes doubled), so user names never become SQL."""
    return '"' + str(name).replace('"', '""') + '"'


def unused_name(columns: Iterable[str], base: str = "_row") -> str:
    """A column name not among `columns` (compared case-insensitively, as DuckDB does)."""
    taken = {c.lower() for c in columns}
    name, i = base, 1
    while name.lower() in taken:
        name, i = f"{base}_{i}", i + 1
    return name


def numbered_scan(columns: list[str], alias: str) -> str:
    """A subquery over the Parquet file bound as the first `?`: every column plus `alias`, the
    0-based row number in file order."""
    if any(c.lower() == FILE_ROW_NUMBER for c in columns):
        # DuckDB refuses the file_row_number option when the file has such a column; a window
        # with an empty OVER () numbers rows in scan order (insertion order is preserved).
        return f"(SELECT *, row_number() OVER () - 1 AS {quote_ident(alias)} FROM read_parquet(?))"
    return (f"(SELECT * EXCLUDE ({FILE_ROW_NUMBER}), {FILE_ROW_NUMBER} AS {quote_ident(alias)} "
            f"FROM read_parquet(?, file_row_number = true))")


def json_value(value: Any) -> Any:
    """A DuckDB result value as something `json.dumps` writes faithfully (strict JSON)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return str(value)


def first_line(exc: BaseException) -> str:
    text = str(exc)
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), text)


def run_query(con: Any, sql: str, params: list[Any], *, cancel: threading.Event | None = None,
              what: str = "query", on_progress: Callable[[float], None] | None = None) -> list[tuple]:
    """Execute and fetch all rows; a set `cancel` interrupts DuckDB and raises
    MlopsError(f"{what} cancelled"). `on_progress` gets DuckDB's own 0..1 query progress."""
    if cancel is None and on_progress is None:
        return con.execute(sql, params).fetchall()
    if cancel is not None and cancel.is_set():
        raise MlopsError(f"{what} cancelled")
    done = threading.Event()
    cancelled = threading.Event()

    def watch() -> None:
        while not done.wait(0.05):
            if cancel is not None and cancel.is_set():
                cancelled.set()
                con.interrupt()
                return
            if on_progress is not None:
                try:
                    pct = con.query_progress()
                except Exception:
                    pct = -1
                if pct is not None and pct >= 0:
                    on_progress(min(pct / 100.0, 1.0))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        rows = con.execute(sql, params).fetchall()
    except Exception:
        if cancelled.is_set():
            raise MlopsError(f"{what} cancelled") from None
        raise
    finally:
        done.set()
        watcher.join()
    if cancelled.is_set():
        raise MlopsError(f"{what} cancelled")
    return rows
