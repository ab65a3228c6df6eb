"""Bench: profile the 10M-row bench dataset vs one DuckDB `SUMMARIZE` over the same Parquet snapshot.

Usage: python bench/profile_speed.py [--rows N] [--workdir DIR] [--repeat N]   (target: ours < 3x the baseline)
Uses the home left by bench/ingest.py (ingests the generated CSV first, untimed, if there is none).
Each figure is the median (and min) of the runs, in wall seconds and in CPU seconds of this process.
"""

from __future__ import annotations

import _gen  # also puts the repo root on sys.path


def summarize(snapshot) -> _gen.Clock:
    import duckdb

    con = duckdb.connect()
    try:
        with _gen.Clock() as clock:
            con.execute("SUMMARIZE SELECT * FROM read_parquet(?)", [str(snapshot)]).fetchall()
        return clock
    finally:
        con.close()


def main() -> int:
    args = _gen.common_args(__doc__.splitlines()[0]).parse_args()
    home, v = _gen.ingested_version(args.rows, args.workdir)
    try:
        from tui_mlops.data.profile import compute_profile
    except ImportError as exc:
        print(f"tui_mlops.data.profile is not available yet ({exc}); nothing to measure")
        return 2
    from tui_mlops.data.versions import snapshot_path

    snapshot = snapshot_path(home, v)
    base: list[_gen.Clock] = []
    mine: list[_gen.Clock] = []
    profile: dict = {}
    for _ in range(args.repeat):
        base.append(summarize(snapshot))
        with _gen.Clock() as clock:
            profile = compute_profile(home, v)
        mine.append(clock)
    print(f"version {v.ref}: {v.rows:,} rows x {len(v.columns)} columns; {args.repeat} runs each; "
          f"{_gen.load_note()} at the end")
    for label, clocks in (("baseline  DuckDB SUMMARIZE over the snapshot", base),
                          ("ours      compute_profile (stored in sidecar)", mine)):
        wall, cpu = [c.wall for c in clocks], [c.cpu for c in clocks]
        print(f"{label:<48} wall {_gen.median(wall):6.2f} s (min {min(wall):5.2f})   "
              f"cpu {_gen.median(cpu):6.2f} s (min {min(cpu):5.2f})   wall runs {[round(x, 2) for x in wall]}")
    wall_ratio = _gen.median([c.wall for c in mine]) / _gen.median([c.wall for c in base])
    cpu_ratio = _gen.median([c.cpu for c in mine]) / _gen.median([c.cpu for c in base])
    print(f"ratio: wall median {_gen.verdict(wall_ratio, 3.0)}; cpu median {cpu_ratio:.2f}x")
    cols = profile.get("columns") or []
    with_hist = sum(1 for c in cols if c.get("histogram"))
    with_top = sum(1 for c in cols if c.get("top_values"))
    print(f"profile: {len(cols)} columns, {with_hist} histograms, {with_top} top-value lists")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
