"""Paged preview: pages in file order, edges, Python values, and the file_row_number name clash."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from tui_mlops.data.ingest import IngestOptions, ingest_file
from tui_mlops.data.preview import Page, read_page
from tui_mlops.errors import InputError, NotFoundError
from tui_mlops.store.home import Home


def _parquet(path: Path, sql: str, row_group_size: int = 1000) -> Path:
    con = duckdb.connect()
    try:
        con.execute(f"COPY ({sql}) TO ? (FORMAT parquet, ROW_GROUP_SIZE {row_group_size})", [str(path)])
    finally:
        con.close()
    return path


@pytest.fixture
def many(home: Home, tmp_path: Path):
    """5,500 rows over several row groups: id = row number, d a date, s a string."""
    src = _parquet(tmp_path / "many.parquet",
                   "SELECT i AS id, DATE '2024-01-01' + (i % 30)::INTEGER AS d, 's' || i AS s FROM range(5500) t(i)")
    return ingest_file(home, src, IngestOptions(name="many")).version


def test_first_middle_and_last_pages_are_the_rows_at_that_offset(home: Home, many) -> None:
    first = read_page(home, many, 0, 100)
    assert isinstance(first, Page)
    assert first.columns == ["id", "d", "s"] and first.total == 5500 and first.offset == 0
    assert [r[0] for r in first.rows] == list(range(100))
    # Pages that cross a row-group boundary come back whole and in order.
    middle = read_page(home, many, 2950, 100)
    assert [r[0] for r in middle.rows] == list(range(2950, 3050))
    last = read_page(home, many, 5450, 100)
    assert [r[0] for r in last.rows] == list(range(5450, 5500))


def test_values_are_python_objects_and_types_come_from_the_schema(home: Home, many) -> None:
    page = read_page(home, many, 31, 1)
    assert page.rows == [(31, dt.date(2024, 1, 2), "s31")]
    assert page.types[0] in ("BIGINT", "INTEGER") and page.types[1] == "DATE" and page.types[2] == "VARCHAR"


def test_offset_at_or_past_the_end_gives_an_empty_page(home: Home, many) -> None:
    assert read_page(home, many, 5500).rows == []
    past = read_page(home, many, 10**9)
    assert past.rows == [] and past.offset == 5500


def test_bad_offset_or_page_size_is_refused(home: Home, many) -> None:
    with pytest.raises(InputError, match="offset must be 0 or more"):
        read_page(home, many, -1)
    with pytest.raises(InputError, match="page size"):
        read_page(home, many, 0, 0)


def test_a_column_named_file_row_number_still_pages_in_order(home: Home, tmp_path: Path) -> None:
    src = _parquet(tmp_path / "clash.parquet",
                   "SELECT 1000 - i AS file_row_number, i AS id FROM range(2500) t(i)")
    v = ingest_file(home, src, IngestOptions(name="clash")).version
    page = read_page(home, v, 1200, 5)
    assert page.rows == [(1000 - i, i) for i in range(1200, 1205)]


def test_missing_snapshot_is_reported(home: Home, many) -> None:
    home.snapshot_path(many.name, many.version).unlink()
    with pytest.raises(NotFoundError, match="snapshot"):
        read_page(home, many, 0)
