"""Bench: register a generated ~1 GB CSV (10M rows x 12 columns) vs a bare DuckDB COPY to Parquet.

Usage: python bench/ingest.py [--rows N] [--workdir DIR] [--repeat N]   (target: ours < 1.3x the baseline)
Baseline: `COPY (SELECT * FROM read_csv(path)) TO 'x.parquet' (FORMAT parquet)` in a fresh connection,
with DuckDB's default compression and, as a second figure, with zstd (the compression our snapshots use).
Each figure is the median (and min) of the runs, in wall seconds and in CPU seconds of this process.
"""

from __future__ import annotations

import shutil

import _gen  # also puts the repo root on sys.path


def baseline(csv, out, compression: str | None) -> _gen.Clock:
    import duckdb

    out.unlink(missing_ok=True)
    opts = "FORMAT parquet" + (f", COMPRESSION {compression}" if compression else "")
    con = duckdb.connect()
    try:
        with _gen.Clock() as clock:
            con.execute(f"COPY (SELECT * FROM read_csv(?)) TO ? ({opts})", [str(csv), str(out)])
        return clock
    finally:
        con.close()
        out.unlink(missing_ok=True)


def ours(csv, home_root) -> tuple[_gen.Clock, object]:
    from tui_mlops.data.ingest import IngestOptions, ingest_file
    from tui_mlops.store.home import Home

    shutil.rmtree(home_root, ignore_errors=True)
    with _gen.Clock() as clock:
        result = ingest_file(Home.open(home_root), csv, IngestOptions(name=_gen.DATASET))
    return clock, result.version


def _line(label: str, clocks: list[_gen.Clock]) -> str:
    wall = [c.wall for c in clocks]
    cpu = [c.cpu for c in clocks]
    return (f"{label:<48} wall {_gen.median(wall):6.2f} s (min {min(wall):5.2f})   "
            f"cpu {_gen.median(cpu):6.2f} s (min {min(cpu):5.2f})   wall runs {[round(x, 2) for x in wall]}")


def main() -> int:
    args = _gen.common_args(__doc__.splitlines()[0]).parse_args()
    csv = _gen.bench_csv(args.rows, args.workdir)
    size_gb = csv.stat().st_size / 1e9
    home_root = _gen.home_path(args.rows, args.workdir)
    scratch = args.workdir / "baseline.parquet"
    import duckdb  # imported before timing, as the app has it loaded when it ingests

    # Read once so every contender finds the file in the page cache (the generator may have run earlier).
    with open(csv, "rb") as fh:
        while fh.read(16 << 20):
            pass
    base_default: list[_gen.Clock] = []
    base_zstd: list[_gen.Clock] = []
    mine: list[_gen.Clock] = []
    version = None
    for _ in range(args.repeat):
        # Interleaved, so changes in machine load hit all three alike.
        base_default.append(baseline(csv, scratch, None))
        base_zstd.append(baseline(csv, scratch, "zstd"))
        clock, version = ours(csv, home_root)
        mine.append(clock)
    print(f"file: {csv} ({size_gb:.2f} GB, {args.rows:,} rows, 12 columns); duckdb {duckdb.__version__}; "
          f"{args.repeat} runs each; {_gen.load_note()} at the end")
    print(_line("baseline  bare COPY, default compression", base_default))
    print(_line("baseline  bare COPY, zstd", base_zstd))
    print(_line("ours      ingest_file (hash, sniff, COPY, commit)", mine))
    for label, base in (("default-compression", base_default), ("zstd", base_zstd)):
        def ratio(attr: str, pick) -> float:
            return pick([getattr(c, attr) for c in mine]) / pick([getattr(c, attr) for c in base])

        print(f"ratio vs {label:<19} baseline: wall median {_gen.verdict(ratio('wall', _gen.median), 1.3)}; "
              f"wall min {ratio('wall', min):.2f}x; cpu median {ratio('cpu', _gen.median):.2f}x")
    if version is not None:
        print(f"version {version.ref}: {version.rows:,} rows, snapshot {version.size_bytes / 1e6:.1f} MB "
              f"(left in {home_root} for bench/profile_speed.py and bench/preview.py)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
