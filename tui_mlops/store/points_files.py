"""Bulk metric points beside a run's log: Parquet files that a `metrics_file` event names (an
import writes them: millions of points would be slow as JSON lines). Columns: key, step, value,
ts, seq (the naming event's), ord (the place in the file). Only plain names in the run folder count.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ORD_SHIFT = 32  # a point's order is (event seq << 32) + its place in the event (or file)
POINTS_FILE_RE = re.compile(r"metrics-[0-9]{1,9}\.parquet")


def points_file_name(ev: dict[str, Any]) -> str | None:
    """The file a `metrics_file` event names, if it is a plain name in the run folder."""
    name = ev.get("path")
    return name if isinstance(name, str) and POINTS_FILE_RE.fullmatch(name) else None


def stage_points_files(con: Any, table: str, files: list[tuple[str, Path]]) -> None:
    """Add each readable points file's rows (run_id, key, step, value, ts, seq, ord) to `table`."""
    import duckdb

    # A file named by an event but gone: the run's other data still counts.
    files = [(rid, str(path)) for rid, path in files if path.is_file()]
    if not files:
        return
    pick = f"seq, (seq << {ORD_SHIFT}) + ord"
    try:  # all files in one statement (one statement, no transaction open: all or nothing)
        con.execute(f"""INSERT INTO {table} SELECT m.run_id, key, step, value, ts, {pick}
                        FROM read_parquet(?, filename = true) p
                        JOIN (SELECT unnest(?::VARCHAR[]) AS run_id, unnest(?::VARCHAR[]) AS path) m
                          ON m.path = p.filename""", [[f for _, f in files], [r for r, _ in files],
                                                      [f for _, f in files]])
        return
    except duckdb.Error:
        pass
    for rid, path in files:  # one is damaged: read each alone, leave the damaged one's points out
        try:
            con.execute(f"INSERT INTO {table} SELECT ?, key, step, value, ts, {pick} FROM read_parquet(?)",
                        [rid, path])
        except duckdb.Error:
            continue
