"""A dataset version to CSV or Parquet: streamed by DuckDB COPY from its Parquet snapshot (never
loaded whole), optionally a subset of columns, written to a temp name and renamed."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tui_mlops.errors import InputError
from tui_mlops.store.home import Home

__all__ = ["DatasetExport", "export_version"]


@dataclass(frozen=True)
class DatasetExport:
    path: Path
    ref: str
    rows: int
    columns: list[str]
    format: str


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def export_version(home: Home, ref: str, out: str | os.PathLike[str],
                   columns: list[str] | None = None) -> DatasetExport:
    """Write version `ref` (NAME, NAME@latest or NAME@PREFIX) to `out` (.csv or .parquet)."""
    import duckdb

    from tui_mlops.data.versions import resolve, snapshot_path
    from tui_mlops.tracking.exports import copy_to_file, table_format

    fmt = table_format(out)
    v = resolve(home, ref)
    snap = snapshot_path(home, v)
    if not snap.is_file():
        raise InputError(f"{v.name}@{v.short}: snapshot {snap} is missing (see `mlops-tui store check`)")
    con = duckdb.connect()
    try:
        have = [d[0] for d in con.execute("SELECT * FROM read_parquet(?) LIMIT 0", [str(snap)]).description]
        if columns:
            chosen = list(dict.fromkeys(c.strip() for c in columns if c.strip()))
            unknown = [c for c in chosen if c not in have]
            if unknown:
                raise InputError(f"--columns: {v.name}@{v.short} has no column {unknown[0]!r} "
                                 f"(columns: {', '.join(have)})")
        else:
            chosen = have
        select = f"SELECT {', '.join(_quote(c) for c in chosen)} FROM read_parquet(?)"
        copy_to_file(con, select, [str(snap)], Path(out), fmt)
    finally:
        con.close()
    return DatasetExport(path=Path(out), ref=f"{v.name}@{v.version}", rows=int(v.rows), columns=chosen, format=fmt)
