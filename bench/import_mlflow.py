"""Bench: importing an MLflow store vs reading the same data through MLflow's own API, same machine, same run.

Usage (needs the bench extra: mlflow, pandas): python bench/import_mlflow.py [--backend file|sqlite]
        [--runs N] [--metrics M] [--steps S] [--sample K] [--seed X] [--jobs J]
1. Generates an MLflow store with the real client (MlflowClient.log_batch, up to 1,000 metric points a
   call; one timestamp per step, as a training loop logs): N runs x M metrics x S steps. It is cached
   under bench/_work/ and reused when one with the same parameters exists.
2. Ours: tui_mlops.importers.mlflow_import.import_mlflow into a fresh temp home; the imported counts
   (runs, metric points) must equal what was generated.
3. MLflow: mlflow.search_runs over the experiment + MlflowClient.get_metric_history for every run x
   metric. With --sample K < N the histories of K random runs are read and scaled linearly to N runs
   (search_runs always covers all N runs); the output says so.
Target (issue 7): 2,000 runs x 20 metrics x 1,000 steps imported in < 60 s on 2 cores. With fewer runs the
measured figure is printed with a linear extrapolation to 2,000 runs, labelled as such.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as `python bench/import_mlflow.py` from a checkout

WORK = ROOT / "bench" / "_work"
EXPERIMENT = "bench-import"
TARGET_RUNS, TARGET_S = 2000, 60.0
BATCH = 1000  # MLflow's limit of metrics per log_batch call


def fmt(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"


def quiet() -> None:
    for name in ("mlflow", "alembic", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.WARNING)


def store_paths(args) -> tuple[Path, str, str]:
    """(cache folder, tracking URI for MLflow, source for our importer)."""
    folder = WORK / f"mlflow_{args.backend}_{args.runs}r_{args.metrics}m_{args.steps}s_{args.seed}"
    if args.backend == "file":
        mlruns = folder / "mlruns"
        return folder, mlruns.resolve().as_uri(), str(mlruns)
    db = folder / "mlflow.db"
    return folder, f"sqlite:///{db.resolve()}", str(db)


def client_for(uri: str):
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    quiet()
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(uri)
    return MlflowClient(tracking_uri=uri)


def _log_runs(uri: str, eid: str, runs: list[int], metrics: int, steps: int, seed: int, base_ms: int,
              total: int) -> None:
    """Log the given run numbers with the real client (one process of the generation)."""
    client = client_for(uri)
    from mlflow.entities import Metric, Param

    keys = [f"m{k:02d}" for k in range(metrics)]
    steps_per_call = max(1, BATCH // max(1, metrics))
    report_every = max(1, len(runs) // 5)
    t0 = time.perf_counter()
    for i, r in enumerate(runs):
        rng = random.Random(seed * 1_000_003 + r)
        rid = client.create_run(eid, run_name=f"run-{r}").info.run_id
        params = [Param("lr", repr(rng.choice([0.1, 0.03, 0.01]))), Param("depth", str(rng.randint(2, 12))),
                  Param("seed", str(r))]
        client.log_batch(rid, params=params)
        offs = [rng.random() for _ in keys]
        t_ms = base_ms + r * steps
        for s0 in range(0, steps, steps_per_call):
            batch = []
            for s in range(s0, min(steps, s0 + steps_per_call)):
                ts = t_ms + s
                batch.extend(Metric(k, offs[j] + 1.0 / (s + 1), ts, s) for j, k in enumerate(keys))
            client.log_batch(rid, metrics=batch)
        client.set_terminated(rid)
        if (i + 1) % report_every == 0:
            el = time.perf_counter() - t0
            print(f"  [{os.getpid()}] generated {i + 1:,}/{len(runs):,} of its runs ({total:,} in all) in {fmt(el)} "
                  f"(~{el / (i + 1) * (len(runs) - i - 1):.0f} s left)", flush=True)


def generate(args, folder: Path, uri: str) -> tuple[float | None, dict]:
    """Build the store (or reuse the cached one); returns (seconds taken or None if cached, its manifest)."""
    done = folder / "manifest.json"
    want = {"backend": args.backend, "runs": args.runs, "metrics": args.metrics, "steps": args.steps,
            "seed": args.seed}
    if done.is_file():
        manifest = json.loads(done.read_text())
        if all(manifest.get(k) == v for k, v in want.items()):
            return None, manifest
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    client = client_for(uri)
    eid = client.create_experiment(EXPERIMENT, artifact_location=(folder / "artifacts").resolve().as_uri())
    base_ms = int(time.time() * 1000) - args.runs * args.steps
    jobs = max(1, min(args.jobs, args.runs))
    chunks = [list(range(j, args.runs, jobs)) for j in range(jobs)]
    t0 = time.perf_counter()
    if jobs == 1:
        _log_runs(uri, eid, chunks[0], args.metrics, args.steps, args.seed, base_ms, args.runs)
    else:  # each process has its own client, as parallel training jobs would; the file store is per-run folders
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(jobs) as pool:
            pool.starmap(_log_runs, [(uri, eid, c, args.metrics, args.steps, args.seed, base_ms, args.runs)
                                     for c in chunks])
    took = time.perf_counter() - t0
    manifest = dict(want, experiment_id=eid, points=args.runs * args.metrics * args.steps,
                    generation_s=round(took, 3), mlflow_version=sys.modules["mlflow"].__version__)
    done.write_text(json.dumps(manifest, indent=1))
    return took, manifest


def bench_ours(source: str) -> tuple[float, float, dict]:
    from tui_mlops.importers.mlflow_import import import_mlflow
    from tui_mlops.store.home import Home

    tmp = Path(tempfile.mkdtemp(prefix="bench-import-"))
    try:
        home = Home.open(tmp / "home")
        w, c = time.perf_counter(), time.process_time()
        result = import_mlflow(home, source)
        wall, cpu = time.perf_counter() - w, time.process_time() - c
        return wall, cpu, result.added
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_mlflow(args, uri: str, eid: str) -> tuple[float, float, int, int, int, float, float]:
    """(search_runs s, history s for the sampled runs, runs found, runs sampled, points read, scaled total s,
    cpu s)."""
    client = client_for(uri)
    import mlflow

    w, c = time.perf_counter(), time.process_time()
    df = mlflow.search_runs(experiment_ids=[eid], max_results=max(args.runs, 1) + 1000)
    t_search = time.perf_counter() - w
    run_ids = list(df["run_id"])
    keys = sorted(col[len("metrics."):] for col in df.columns if col.startswith("metrics."))
    sample = run_ids if args.sample >= len(run_ids) else random.Random(args.seed).sample(run_ids, args.sample)
    points = 0
    w2 = time.perf_counter()
    for rid in sample:
        for k in keys:
            points += len(client.get_metric_history(rid, k))
    t_hist = time.perf_counter() - w2
    cpu = time.process_time() - c
    scaled = t_search + t_hist * (len(run_ids) / max(1, len(sample)))
    return t_search, t_hist, len(run_ids), len(sample), points, scaled, cpu


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=("file", "sqlite"), default="file")
    p.add_argument("--runs", type=int, default=2000)
    p.add_argument("--metrics", type=int, default=20)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--sample", type=int, default=None,
                   help="runs whose histories MLflow reads, scaled to all (default all if runs <= 200, else 100)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=1, help="processes that generate the store (each its own client)")
    args = p.parse_args()
    if args.sample is None:
        args.sample = args.runs if args.runs <= 200 else 100
    args.sample = max(1, min(args.sample, args.runs))
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    quiet()
    try:
        import mlflow
    except ImportError:
        print("needs mlflow (pip install mlflow): the store is generated with MLflow's own client", file=sys.stderr)
        return 2
    one, _, _ = os.getloadavg()
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs (load {one:.1f}), mlflow {mlflow.__version__}, "
          f"{platform.machine()} {platform.system()}", flush=True)
    folder, uri, source = store_paths(args)
    total = args.runs * args.metrics * args.steps
    print(f"store: {args.backend} backend, {args.runs:,} runs x {args.metrics} metrics x {args.steps:,} steps "
          f"= {total:,} points, at {folder.relative_to(ROOT)}", flush=True)
    took, manifest = generate(args, folder, uri)
    if took is None:
        print(f"generation: reused the cached store (it took {manifest.get('generation_s', '?')} s to build)")
    else:
        print(f"generation with MlflowClient.log_batch: {fmt(took)} ({total / took:,.0f} points/s)")

    ours, ours_cpu, added = bench_ours(source)
    ok = added["runs"] == args.runs and added["metric_points"] == total
    print(f"ours:   import_mlflow {fmt(ours)} (cpu {fmt(ours_cpu)}), {total / ours:,.0f} points/s; imported "
          f"{added['runs']:,} runs, {added['metric_points']:,} points, {added['params']:,} params "
          f"[{'counts match' if ok else 'COUNTS DIFFER from the generated ' + f'{args.runs:,} runs, {total:,} points'}]",
          flush=True)

    t_search, t_hist, found, sampled, points, scaled, cpu = bench_mlflow(args, uri, manifest["experiment_id"])
    if sampled < found:
        exp_points = sampled * args.metrics * args.steps
        print(f"mlflow: search_runs {fmt(t_search)} ({found:,} runs) + get_metric_history for a random sample of "
              f"{sampled:,} runs x {args.metrics} metrics {fmt(t_hist)} ({points:,} points"
              f"{'' if points == exp_points else f', expected {exp_points:,}'}); SCALED linearly to "
              f"{found:,} runs: {fmt(scaled)} (cpu of the measured part {fmt(cpu)})")
    else:
        print(f"mlflow: search_runs {fmt(t_search)} + get_metric_history for all {found:,} runs x {args.metrics} "
              f"metrics {fmt(t_hist)} = {fmt(scaled)} (cpu {fmt(cpu)}), {points:,} points"
              f"{'' if points == total else f' (expected {total:,})'}")
    print(f"ratio: mlflow read / our import = {scaled / ours:.2f}x"
          f"{' (mlflow side scaled from a sample)' if sampled < found else ''}")

    full = args.runs == TARGET_RUNS and args.metrics == 20 and args.steps == 1000
    if full:
        print(f"target: {TARGET_RUNS:,} runs x 20 x 1,000 imported in < {TARGET_S:g} s: {fmt(ours)} on "
              f"{os.cpu_count()} CPUs -> {'PASS' if ours < TARGET_S and ok else 'FAIL'}")
    else:
        est = ours * (TARGET_RUNS * 20 * 1000) / max(1, total)
        print(f"target: measured {fmt(ours)} for {total:,} points; LINEAR EXTRAPOLATION (not measured) to "
              f"{TARGET_RUNS:,} runs x 20 x 1,000: ~{est:.1f} s vs < {TARGET_S:g} s -> "
              f"{'would pass' if est < TARGET_S else 'would fail'} (run --runs {TARGET_RUNS} to measure)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
