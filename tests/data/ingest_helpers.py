"""Helpers for the ingest tests: generated inputs and a check that nothing was left behind."""

from __future__ import annotations

from pathlib import Path

from tui_mlops.data import versions as V
from tui_mlops.store.events import read_events
from tui_mlops.store.home import Home


def make_big_csv(path: Path, rows: int) -> Path:
    """A CSV of `rows` rows x 5 columns (about 40 bytes a row), written by DuckDB in a blink."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute(
            "COPY (SELECT i AS id, i * 0.5 AS x, 'name' || (i % 97) AS s, "
            "DATE '2024-01-01' + (i % 365)::INTEGER AS d, i % 2 = 0 AS flag FROM range(?) t(i)) "
            "TO ? (FORMAT csv, HEADER true)", [rows, str(path)])
    finally:
        con.close()
    return path


def stray_files(home: Home) -> list[str]:
    """Everything under datasets/ except the activity log: dataset folders, snapshots, temps."""
    return sorted(str(p.relative_to(home.root)) for p in home.datasets_dir.rglob("*")
                  if p != home.activity_log)


def assert_nothing_left(home: Home) -> None:
    """No partial version: no snapshot, sidecar, temp file, dataset folder or catalog row."""
    assert stray_files(home) == []
    assert V.list_datasets(home) == []
    events, _ = read_events(home.activity_log)
    assert [e for e in events if e.get("event") == "registered"] == []
    assert V.check_store(home) == []
