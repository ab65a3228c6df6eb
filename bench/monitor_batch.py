"""Bench: one 100k-row batch against a monitor's cached reference profile (drift part, scoring excluded).

Usage: python bench/monitor_batch.py [--rows N] [--ref-rows N] [--repeat N]
(target: the drift part of one 100k-row batch < 150 ms). The monitor watches a LightGBM model trained
on a seeded synthetic reference (20 numeric + 5 categorical columns). The batch already carries the
model's prediction and score (as `predict --monitor` writes it), so the timed part is what the monitor
adds: casting the inputs, per-column drift (Evidently's methods against the profile), prediction drift,
the mergeable summaries, PCA reconstruction error and CBPE. Also timed: the whole process_batch
(read Parquet, the above, scores file, event append, move) and monitor_state after each batch.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as `python bench/monitor_batch.py` from a checkout

TARGET_S = 0.150
NUMERIC, CATEGORICAL = 20, 5


def frame(rows: int, seed: int, shift: float = 0.0):
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    cols = {"id": np.arange(rows) + seed * 10_000_000}
    logit = np.zeros(rows)
    for i in range(NUMERIC):
        v = rng.normal(loc=shift if i < 5 else 0.0, scale=1.0 + i / 10, size=rows)
        cols[f"n{i}"] = v
        logit += v * (0.3 if i < 4 else 0.02)
    for j in range(CATEGORICAL):
        p = np.array([0.4, 0.3, 0.2, 0.1])
        if j == 0 and shift:
            p = p[::-1]
        c = rng.choice(np.array(["a", "b", "c", "d"]), size=rows, p=p)
        cols[f"c{j}"] = c
        logit += (c == "a") * 0.5
    cols["y"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return pl.DataFrame(cols)


def build(home, ref_rows: int) -> None:
    from tui_mlops.data.ingest import IngestOptions, ingest_file
    from tui_mlops.monitoring.spec import create_monitor
    from tui_mlops.registry import models as R
    from tui_mlops.tracking.api import start_run
    from tui_mlops.training.runner import run_train
    from tui_mlops.training.spec import TrainSpec, prepare

    path = home.root.parent / "ref.parquet"
    frame(ref_rows, 1).write_parquet(path)
    v = ingest_file(home, path, IngestOptions(name="ref")).version
    feats = [f"n{i}" for i in range(NUMERIC)] + [f"c{j}" for j in range(CATEGORICAL)]
    spec = prepare(home, TrainSpec(dataset=v.ref, target="y", features=feats, num_boost_round=20,
                                   early_stopping_rounds=None, params={"num_threads": 1}))
    with start_run("bench", home=home, kind="train", spec=spec.to_dict()) as run:
        run_train(run, spec.to_dict())
    R.register_model(home, run.run_id, "m")
    R.set_alias(home, "m", 1, "production")
    create_monitor(home, "bench", "m@production", id_column="id", window_rows=5000)


def breakdown(spec, ref, batch, repeat: int) -> dict[str, float]:
    """Median time of each piece of the drift part (who owns it: see the module docstrings)."""
    from tui_mlops.monitoring import cbpe, multivariate
    from tui_mlops.monitoring.batch_checks import prepare
    from tui_mlops.monitoring.reference import numeric_values_keep, overrides
    from tui_mlops.monitoring.summaries import summarise_column
    from tui_mlops.validation.drift_methods import dataset_drift

    prepared = prepare(spec, ref, batch, "bench")
    cast, kinds, bins = prepared.frame, ref["kinds"], ref["bins"]
    steps = {
        "cast": lambda: prepare(spec, ref, batch, "bench"),
        "input drift": lambda: dataset_drift(ref["profile"], cast, prepared.usable, **overrides(spec, spec.features)),
        "prediction drift": lambda: dataset_drift(ref["prediction_profile"], batch, ["score", "prediction"],
                                                  **overrides(spec, ["score", "prediction"])),
        "summaries": lambda: [summarise_column(cast[c], kinds[c], bins.get(c)) for c in spec.features]
        + [summarise_column(batch[c], kinds[c], bins.get(c)) for c in ("score", "prediction")],
        "CBPE": lambda: cbpe.estimate(ref["calibration"], numeric_values_keep(batch["score"])),
        "PCA error (20k rows)": lambda: multivariate.reconstruction_error(
            ref["pca"], cast.gather_every(-(-batch.height // 20_000))),
    }
    out = {}
    for name, fn in steps.items():
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        out[name] = min(times)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--ref-rows", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    with tempfile.TemporaryDirectory(prefix="bench-monitor-") as tmp:
        run(Path(tmp), args)


def run(tmp: Path, args: argparse.Namespace) -> None:
    import contextlib
    import io

    from tui_mlops.monitoring import batches as B
    from tui_mlops.monitoring.batch_checks import cached_model
    from tui_mlops.monitoring.reference import load_reference
    from tui_mlops.monitoring.spec import get_monitor
    from tui_mlops.monitoring.state import monitor_state
    from tui_mlops.registry.predict import conform, score_frame
    from tui_mlops.store.home import Home

    home = Home.open(tmp / "home")
    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        build(home, args.ref_rows)
    print(f"setup: reference {args.ref_rows:,} rows x {NUMERIC + CATEGORICAL} columns, model trained, "
          f"monitor created in {time.perf_counter() - t:.1f} s")
    spec, ref = get_monitor(home, "bench"), load_reference(home, "bench")
    model = cached_model(home, spec.run_id)
    batch = frame(args.rows, 2, shift=0.3).drop("y")
    t = time.perf_counter()
    scored = score_frame(model, conform(model.pipeline, {}, batch, "bench")[0])
    score_s = time.perf_counter() - t
    with_preds = batch.with_columns(scored["prediction"], scored["score"])
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        out = B.analyse(home, spec, ref, with_preds, "bench")
        times.append(time.perf_counter() - t)
    drift_s, drift_med = min(times), statistics.median(times)
    parts = breakdown(spec, ref, with_preds, args.repeat)
    flagged = [c["column"] for c in out["drift"]["columns"] if c["drifted"]]
    print(f"batch: {args.rows:,} rows; scoring alone (excluded): {score_s * 1000:.0f} ms")
    print(f"drift part (cast, drift, prediction drift, summaries, PCA, CBPE), best of {args.repeat}: "
          f"{drift_s * 1000:.1f} ms (median {drift_med * 1000:.1f} ms)  "
          f"(target < {TARGET_S * 1000:.0f} ms: {'met' if drift_s < TARGET_S else 'MISSED'})")
    print("  of which (best of each): " + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in parts.items()))
    print(f"  flagged {len(flagged)}/{len(out['drift']['columns'])}: {', '.join(flagged)}; "
          f"prediction drift {out['prediction']['method']} {out['prediction']['score']:.4f}")
    full = []
    for i in range(3):
        p = home.monitors_dir / "bench" / "incoming" / f"b{i}.parquet"
        with_preds.with_columns(with_preds["id"] + i * args.rows).write_parquet(p)
        t = time.perf_counter()
        B.process_batch(home, "bench", p, settle_s=0.0)
        full.append(time.perf_counter() - t)
        t = time.perf_counter()
        monitor_state(home, "bench")
        full.append(time.perf_counter() - t)
    print(f"whole process_batch (read Parquet, drift part, scores file, append, move): "
          f"{statistics.median(full[0::2]) * 1000:.0f} ms; monitor_state after it: {statistics.median(full[1::2]) * 1000:.0f} ms")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average {load:.1f}, "
          f"Python {platform.python_version()}")


if __name__ == "__main__":
    main()
