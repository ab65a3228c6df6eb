"""Shared bench helpers: the generated wide CSV (made once, cached in the work dir) and its ingested home.

The CSV is written by DuckDB from `range()` with hash-derived values, so 10M rows take seconds, not
minutes, and the same row count always gives the same file.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as `python bench/x.py` from a checkout without installing

DEFAULT_ROWS = 10_000_000
DEFAULT_WORKDIR = ROOT / "bench" / "_work"
DATASET = "bench"

# 12 columns: ints, floats, strings, a timestamp, a date, a boolean; nulls in three of them.
# hash(i, k) is a per-row, per-column 64-bit hash, so columns are independent and the file is reproducible.
_SELECT = """
SELECT
  i AS id,
  TIMESTAMP '2024-01-01' + to_seconds((hash(i, 1) % 31536000)::BIGINT) AS event_time,
  DATE '2020-01-01' + (hash(i, 2) % 1800)::INTEGER AS signup_date,
  'user_' || (hash(i, 3) % 1000000)::VARCHAR AS user_name,
  ['DE','FR','GB','ES','IT','NL','PL','SE','US','CA','BR','IN','MX','JP','KR','AU','ZA','NG','EG','AR'][
    (hash(i, 4) % 20)::INTEGER + 1] AS country,
  ['books','garden','toys','food','music','sports','health','travel'][(hash(i, 5) % 8)::INTEGER + 1] AS category,
  round(exp((hash(i, 6) % 1000000) / 1000000.0 * 7), 2) AS amount,
  round((hash(i, 7) % 100000000) / 100000000.0, 6) AS score,
  (hash(i, 8) % 50)::INTEGER AS quantity,
  (hash(i, 9) % 3) = 0 AS is_member,
  CASE WHEN hash(i, 10) % 10 = 0 THEN NULL ELSE ((hash(i, 10) % 50) / 10.0) END AS rating,
  CASE WHEN hash(i, 11) % 5 = 0 THEN NULL ELSE 'customer note ' || (hash(i, 11) % 99991)::VARCHAR END AS comment
FROM range(?) t(i)
"""


def bench_csv(rows: int, workdir: Path) -> Path:
    """The generated CSV for `rows` rows, made on first use (written to a temp name, then renamed)."""
    import duckdb

    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"bench_{rows}.csv"
    if path.exists():
        return path
    tmp = workdir / f".tmp-{os.getpid()}-{path.name}"
    t0 = time.perf_counter()
    con = duckdb.connect()
    try:
        con.execute(f"COPY ({_SELECT}) TO ? (FORMAT csv, HEADER true)", [rows, str(tmp)])
    finally:
        con.close()
    os.replace(tmp, path)
    print(f"generated {path} ({path.stat().st_size / 1e9:.2f} GB, {rows:,} rows) "
          f"in {time.perf_counter() - t0:.1f} s", flush=True)
    return path


def home_path(rows: int, workdir: Path) -> Path:
    return workdir / f"home_{rows}"


def ingested_version(rows: int, workdir: Path):
    """The bench dataset's version in its home, ingesting the CSV first if that was not done yet."""
    from tui_mlops.data import versions as V
    from tui_mlops.data.ingest import IngestOptions, ingest_file
    from tui_mlops.errors import NotFoundError
    from tui_mlops.store.home import Home

    home = Home.open(home_path(rows, workdir))
    try:
        return home, V.resolve(home, DATASET)
    except NotFoundError:
        pass
    csv = bench_csv(rows, workdir)
    t0 = time.perf_counter()
    result = ingest_file(home, csv, IngestOptions(name=DATASET))
    print(f"ingested {csv.name} into {home.root} in {time.perf_counter() - t0:.1f} s (untimed setup)", flush=True)
    return home, result.version


def common_args(description: str, default_rows: int = DEFAULT_ROWS) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--rows", type=int, default=default_rows, help=f"rows in the generated CSV (default {default_rows:,})")
    p.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="cache for generated files (default bench/_work)")
    p.add_argument("--repeat", type=int, default=3, help="timed repetitions; the median is reported (default 3)")
    return p


class Clock:
    """Wall and CPU seconds (all threads of this process) of a block: `with Clock() as c: ...`.

    CPU time is reported next to wall time because on a shared 2-core machine other processes
    stretch wall times by a varying amount, while the CPU a piece of work needs barely changes.
    """

    def __enter__(self) -> "Clock":
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._w
        self.cpu = time.process_time() - self._c


def load_note() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min) {five:.1f} (5 min) on {os.cpu_count()} CPUs"


def median(values: list[float]) -> float:
    return statistics.median(values)


def fmt_s(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"


def verdict(ratio: float, target: float) -> str:
    return f"{ratio:.2f}x (target < {target}x: {'PASS' if ratio < target else 'FAIL'})"
