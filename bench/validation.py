"""Bench: 1,000 bootstrap resamples of AUC and log loss on 1M scored rows vs a naive scikit-learn loop.

Usage: python bench/validation.py [--rows N] [--resamples N] [--naive N] [--decimals D] [--seed S]
(target: ours >= 20x faster than the naive loop, and equal to it within 1e-9 on the same resamples)
Ours: tui_mlops.validation.bootstrap.bootstrap_auc_logloss (rows sorted once, one bincount of slot ids
per resample). Naive: roc_auc_score + log_loss on y[idx], p[idx] for each resample; --naive of them
(default 20) are timed and the time scaled to --resamples. The naive loop replays the exact resamples
ours used (resample_indices), so the figures can be compared one by one. Scores are continuous by
default (no ties: the most work for us); --decimals rounds them to make ties.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as `python bench/validation.py` from a checkout

TARGET = 20.0
TOLERANCE = 1e-9


def fmt(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"


def scored_rows(rows: int, seed: int, decimals: int | None):
    """Labels (30% positive) and the scores of a decent model: sigmoid(noise + 1.2 * label)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < 0.3).astype(np.int64)
    p = 1.0 / (1.0 + np.exp(-(rng.normal(size=rows) + 1.2 * y - 0.5)))
    if decimals is not None:
        p = np.clip(np.round(p, decimals), 10.0 ** -decimals, 1 - 10.0 ** -decimals)
    return y, p


def machine() -> str:
    import numpy
    import sklearn

    one, five, _ = os.getloadavg()
    return (f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} CPUs, "
            f"load average {one:.1f} (1 min) {five:.1f} (5 min); Python {platform.python_version()}, "
            f"numpy {numpy.__version__}, scikit-learn {sklearn.__version__}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="scored rows (default 1,000,000)")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples for ours (default 1000)")
    p.add_argument("--naive", type=int, default=20, help="resamples the naive loop runs, scaled (default 20)")
    p.add_argument("--decimals", type=int, default=None, help="round scores to D decimals (ties)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.naive > args.resamples:
        p.error("--naive must not exceed --resamples (it replays the first of our resamples)")

    import numpy as np
    from sklearn.metrics import log_loss, roc_auc_score

    from tui_mlops.validation.bootstrap import bootstrap_auc_logloss, resample_indices

    y, scores = scored_rows(args.rows, args.seed, args.decimals)
    print(f"{args.rows:,} scored rows ({int(y.sum()):,} positive, {len(np.unique(scores)):,} distinct scores); "
          f"{args.resamples:,} resamples, seed {args.seed}", flush=True)

    w, c = time.perf_counter(), time.process_time()
    auc, loss = bootstrap_auc_logloss(y, scores, args.resamples, args.seed)
    ours_wall, ours_cpu = time.perf_counter() - w, time.process_time() - c

    naive_auc, naive_loss = [], []
    w, c = time.perf_counter(), time.process_time()
    for idx in resample_indices(args.rows, args.naive, args.seed):
        yi, pi = y[idx], scores[idx]
        naive_auc.append(roc_auc_score(yi, pi))
        naive_loss.append(log_loss(yi, pi, labels=[0, 1]))
    scale = args.resamples / args.naive
    naive_wall, naive_cpu = (time.perf_counter() - w) * scale, (time.process_time() - c) * scale

    d_auc = float(np.max(np.abs(auc[:args.naive] - np.asarray(naive_auc))))
    d_loss = float(np.max(np.abs(loss[:args.naive] - np.asarray(naive_loss))))
    same = d_auc < TOLERANCE and d_loss < TOLERANCE
    ratio, cpu_ratio = naive_wall / ours_wall, naive_cpu / ours_cpu
    print(f"  ours   bootstrap_auc_logloss x {args.resamples:<6} wall {fmt(ours_wall):>10}   cpu {fmt(ours_cpu):>10}"
          f"   ({ours_wall / args.resamples * 1000:.1f} ms per resample, sort included)")
    print(f"  naive  sklearn loop x {args.naive} scaled to {args.resamples:<5} wall {fmt(naive_wall):>10}   "
          f"cpu {fmt(naive_cpu):>10}   ({naive_wall / args.resamples * 1000:.1f} ms per resample)")
    print(f"ratio: wall {ratio:.1f}x (target >= {TARGET:g}x: {'PASS' if ratio >= TARGET else 'FAIL'}); "
          f"cpu {cpu_ratio:.1f}x")
    print(f"equal on the {args.naive} replayed resamples: max |diff| auc {d_auc:.2e}, logloss {d_loss:.2e} "
          f"(tolerance {TOLERANCE:g}: {'PASS' if same else 'FAIL'})")
    print(f"bootstrap 95% interval: auc [{np.nanpercentile(auc, 2.5):.5f}, {np.nanpercentile(auc, 97.5):.5f}], "
          f"logloss [{np.percentile(loss, 2.5):.5f}, {np.percentile(loss, 97.5):.5f}]")
    print(machine())
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
