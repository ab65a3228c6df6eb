"""Bench: tracking overhead on a LightGBM fit (1M rows, 500 rounds) with our callback logging every
round's train and valid metrics to a run (period=1), against the same fit with no callback.

Usage: python bench/train_overhead.py [--rows N] [--rounds N] [--threads N] [--repeat N]   (target: < 3 %)
Both fits evaluate the same sets every round (LightGBM does that whenever valid sets are given);
only the callback differs. Runs alternate (without, with, without, ...) so load drifts hit both.
The verdict uses the time measured inside the callback (load-independent); whole-fit wall and CPU
comparisons are printed too, with the spread of the plain fits so their noise is visible.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import _gen  # also puts the repo root on sys.path


def make_data(rows: int, valid_rows: int, features: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows + valid_rows, features)).astype(np.float64)
    w = rng.standard_normal(features)
    logit = X @ w * 0.5 + 0.8 * np.sin(X[:, 0] * 2) + rng.standard_normal(rows + valid_rows)
    y = (logit > 0).astype(np.float64)
    return X[:rows], y[:rows], X[rows:], y[rows:]


def fit(data, params: dict, rounds: int, callbacks: list) -> tuple[float, float]:
    """(wall s, CPU s of this process) of lgb.train alone."""
    import lightgbm as lgb

    X, y, Xv, yv = data
    dtrain = lgb.Dataset(X, label=y, free_raw_data=False)
    dvalid = lgb.Dataset(Xv, label=yv, reference=dtrain, free_raw_data=False)
    dtrain.construct()  # binning is outside the timed part for both variants
    dvalid.construct()
    start, cpu = time.perf_counter(), time.process_time()
    lgb.train(params, dtrain, num_boost_round=rounds, valid_sets=[dtrain, dvalid],
              valid_names=["train", "valid"], callbacks=callbacks)
    return time.perf_counter() - start, time.process_time() - cpu


def timed(callback):
    """The callback, plus the seconds spent inside it (its share of the fit, free of load noise)."""
    spent = [0.0]

    def wrapper(env) -> None:
        t = time.perf_counter()
        callback(env)
        spent[0] += time.perf_counter() - t

    wrapper.order = getattr(callback, "order", 20)
    return wrapper, spent


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="training rows (default 1,000,000)")
    p.add_argument("--valid-rows", type=int, default=None, help="validation rows (default rows / 10)")
    p.add_argument("--features", type=int, default=20)
    p.add_argument("--rounds", type=int, default=500)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="LightGBM num_threads (default: all CPUs)")
    p.add_argument("--repeat", type=int, default=3, help="fits per variant; medians are compared (default 3)")
    args = p.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")

    from tui_mlops.tracking.api import start_run
    from tui_mlops.tracking.integrations import lightgbm_callback

    valid_rows = args.valid_rows if args.valid_rows is not None else max(args.rows // 10, 100)
    data = make_data(args.rows, valid_rows, args.features)
    params = {"objective": "binary", "metric": ["auc", "binary_logloss"], "num_threads": args.threads,
              "verbose": -1, "seed": 1, "deterministic": True, "force_row_wise": True, "num_leaves": 63,
              "learning_rate": 0.05}
    work = Path(tempfile.mkdtemp(prefix="train-overhead-"))
    plain: list[tuple[float, float]] = []
    tracked: list[tuple[float, float]] = []
    inside: list[float] = []
    points = 0
    try:
        fit(data, params, min(args.rounds, 5), [])  # warm-up: library load, thread pool, page cache
        for i in range(args.repeat):
            plain.append(fit(data, params, args.rounds, []))
            with start_run("bench", home=work / "home", name=f"overhead-{i}") as run:
                cb, spent = timed(lightgbm_callback(run, period=1))
                tracked.append(fit(data, params, args.rounds, [cb]))
            inside.append(spent[0])
            from tui_mlops.store.events import read_events

            evs = read_events(run.dir / "events.jsonl")[0]
            points = sum(len(e["values"]) for e in evs if e["type"] == "metrics")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"LightGBM fit: {args.rows:,} rows x {args.features} features, {valid_rows:,} valid rows, "
          f"{args.rounds} rounds, num_threads={args.threads}, train+valid evaluated every round; "
          f"{args.repeat} fits each, alternating; {_gen.load_note()}")
    rows = (("no callback", plain), ("tracking callback (period=1)", tracked))
    for label, runs in rows:
        wall, cpu = [r[0] for r in runs], [r[1] for r in runs]
        print(f"  {label:<30} wall median {_gen.median(wall):8.2f} s (runs {[round(x, 2) for x in wall]})   "
              f"cpu median {_gen.median(cpu):8.2f} s (runs {[round(x, 2) for x in cpu]})")
    share = _gen.median(inside) / _gen.median([r[0] for r in tracked]) * 100.0
    print(f"  ({points:,} metric points logged per tracked fit; time inside the callback, flushes to disk "
          f"included: median {_gen.median(inside) * 1000:.1f} ms = {_gen.median(inside) / args.rounds * 1e6:.0f} us "
          f"per round = {share:.3f} % of the fit)")
    for what, i in (("wall", 0), ("cpu", 1)):
        med = (_gen.median([r[i] for r in tracked]) / _gen.median([r[i] for r in plain]) - 1.0) * 100.0
        best = (min(r[i] for r in tracked) / min(r[i] for r in plain) - 1.0) * 100.0
        base = [r[i] for r in plain]
        noise = (max(base) - min(base)) / _gen.median(base) * 100.0
        print(f"fit-vs-fit ({what}): {med:+.2f} % by medians, {best:+.2f} % by best runs "
              f"(run-to-run spread of the plain fits alone: {noise:.1f} %)")
    # Comparing whole fits on a shared box mostly measures the load; the time spent inside the
    # callback (metric building, buffering and any inline flush to disk) is the overhead itself.
    print(f"overhead: {share:.3f} % of the fit spent in the tracking callback "
          f"(target < 3 %: {'PASS' if share < 3.0 else 'FAIL'})")
    print(f"at the end: {_gen.load_note()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
