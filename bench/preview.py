"""Bench: page through the 10M-row bench dataset with `read_page` (first, middle, last and 20 random pages).

Usage: python bench/preview.py [--rows N] [--workdir DIR] [--page-size N]   (target: every page < 100 ms)
Baseline in the same run: a bare DuckDB `SELECT * FROM read_parquet(?) LIMIT ? OFFSET ?` per page.
Uses the home left by bench/ingest.py (ingests the generated CSV first, untimed, if there is none).
"""

from __future__ import annotations

import random
import time

import _gen  # also puts the repo root on sys.path

RANDOM_PAGES = 20


def main() -> int:
    parser = _gen.common_args(__doc__.splitlines()[0])
    parser.add_argument("--page-size", type=int, default=100, help="rows per page (default 100)")
    args = parser.parse_args()
    home, v = _gen.ingested_version(args.rows, args.workdir)
    try:
        from tui_mlops.data.preview import read_page
    except ImportError as exc:
        print(f"tui_mlops.data.preview is not available yet ({exc}); nothing to measure")
        return 2
    import duckdb

    from tui_mlops.data.versions import snapshot_path

    limit = args.page_size
    total = v.rows
    last = max(0, total - limit)
    rng = random.Random(7)
    offsets = [("first", 0), ("middle", (total // 2) // limit * limit), ("last", last)]
    offsets += [(f"random {i + 1}", rng.randrange(0, last + 1)) for i in range(RANDOM_PAGES)]

    snapshot = str(snapshot_path(home, v))
    con = duckdb.connect()

    def bare(offset: int) -> float:
        t0 = time.perf_counter()
        con.execute("SELECT * FROM read_parquet(?) LIMIT ? OFFSET ?", [snapshot, limit, offset]).fetchall()
        return time.perf_counter() - t0

    print(f"version {v.ref}: {total:,} rows x {len(v.columns)} columns; page size {limit}")
    # The very first call pays for imports/caches the app pays once per session; report it apart.
    t0 = time.perf_counter()
    page = read_page(home, v, 0, limit)
    print(f"first call in this process (cold caches): {_gen.fmt_s(time.perf_counter() - t0)}")
    if len(page.rows) != min(limit, total) or page.total != total:
        print(f"warning: read_page returned {len(page.rows)} rows, total {page.total}")
    ours, base = [], []
    print(f"{'page':>10}  {'offset':>12}  {'read_page':>10}  {'bare duckdb':>11}")
    for label, off in offsets:
        t0 = time.perf_counter()
        page = read_page(home, v, off, limit)
        t = time.perf_counter() - t0
        assert page.offset == off and len(page.rows) == min(limit, total - off), (label, off, len(page.rows))
        b = bare(off)
        ours.append(t)
        base.append(b)
        print(f"{label:>10}  {off:>12,}  {_gen.fmt_s(t):>10}  {_gen.fmt_s(b):>11}")
    con.close()
    worst, med = max(ours), _gen.median(ours)
    print(f"read_page   max {_gen.fmt_s(worst)}, median {_gen.fmt_s(med)} "
          f"(target < 100 ms each: {'PASS' if worst < 0.1 else 'FAIL'})")
    print(f"bare duckdb max {_gen.fmt_s(max(base))}, median {_gen.fmt_s(_gen.median(base))}; "
          f"ratio of medians {med / _gen.median(base):.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
