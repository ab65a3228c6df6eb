"""Bench: the tracking API and run queries against MLflow (local SQLite backend), same machine, same run.

Usage: python bench/tracking.py [--small] [--points N] [--mlflow-calls N] [--runs N] [--history N]
                                [--catalog-runs N] [--repeat K] [--workdir DIR]
(a) logging N metric points one call at a time (ours: Run.log_metric incl. the final flush; MLflow:
    MlflowClient.log_metric; MLflow makes --mlflow-calls calls, fewer when it is slow, and the two are
    compared by throughput, points/s) and in batches of 1000 (ours log_metrics, MLflow log_batch);
(b) --runs runs with 10 params and 5 metrics, then a filtered, sorted query (ours: search_runs incl.
    the catalog open and its fold; MLflow: search_runs with the same filter and order);
(c) fetching an N-point metric history (ours: metric_history, which reads the run's own log with
    DuckDB, no catalog; MLflow: get_metric_history);
(d) our catalog alone with --catalog-runs runs: first fold, a fold with nothing new, sort and filter.
Targets: logging >= 100x MLflow's per-call throughput; query and history >= 20x faster.
Needs `pip install mlflow` (the `bench` extra); without it only our side is measured.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as `python bench/tracking.py` from a checkout

QUERY = "metrics.m1 > 0.5 and params.p1 = '3'"
MLFLOW_QUERY = "metrics.m1 > 0.5 and params.p1 = '3'"


def fmt(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"


def line(what: str, ours: str, theirs: str, ratio: float | None, target: float | None) -> None:
    verdict = ""
    if ratio is not None:
        verdict = f"{ratio:8.1f}x"
        if target is not None:
            verdict += f" (target >= {target:g}x: {'PASS' if ratio >= target else 'FAIL'})"
    print(f"  {what:<34} ours {ours:>16}   mlflow {theirs:>16}   {verdict}", flush=True)


def timed(fn, repeat: int) -> tuple[float, float, object]:
    """Median wall and CPU seconds of `repeat` calls (CPU time is steadier on a shared machine)."""
    walls, cpus, out = [], [], None
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus), out


def both(wall: float, cpu: float) -> str:
    return f"{fmt(wall)} (cpu {fmt(cpu)})"


def mlflow_client(workdir: Path):
    try:
        import mlflow  # noqa: F401
    except ImportError:
        return None
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}")


def bench_logging(args, home, client, workdir: Path) -> None:
    import tui_mlops as mt

    n = args.points
    print(f"(a) logging {n:,} metric points", flush=True)
    run = mt.start_run("bench-log", home=home)
    t0 = time.perf_counter()
    for i in range(n):
        run.log_metric("loss", 1.0 / (i + 1), step=i)
    run.end()  # includes the final flush + fsync
    ours_call = n / (time.perf_counter() - t0)

    run = mt.start_run("bench-log", home=home)
    t0 = time.perf_counter()
    for b in range(n // 1000):
        run.log_metrics({f"k{j}": b * 1000.0 + j for j in range(1000)}, step=b)
    run.end()
    ours_batch = (n // 1000 * 1000) / (time.perf_counter() - t0)

    theirs_call = theirs_batch = None
    calls = 0
    if client is not None:
        from mlflow.entities import Metric

        eid = client.create_experiment(f"log-{uuid.uuid4().hex[:6]}", artifact_location=str(workdir / "art"))
        rid = client.create_run(eid).info.run_id
        calls = min(args.mlflow_calls, n)
        t0 = time.perf_counter()
        for i in range(calls):
            client.log_metric(rid, "loss", 1.0 / (i + 1), step=i)
        theirs_call = calls / (time.perf_counter() - t0)
        rid = client.create_run(eid).info.run_id
        t0 = time.perf_counter()
        for b in range(n // 1000):
            ts = int(time.time() * 1000)
            client.log_batch(rid, metrics=[Metric(f"k{j}", b * 1000.0 + j, ts, b) for j in range(1000)])
        theirs_batch = (n // 1000 * 1000) / (time.perf_counter() - t0)
    note = f" (mlflow made {calls:,} calls; compared as points/s)" if calls and calls < n else ""
    print(f"  one call per point{note}")
    line("per call, points/s", f"{ours_call:,.0f}", f"{theirs_call:,.0f}" if theirs_call else "-",
         ours_call / theirs_call if theirs_call else None, 100)
    line("batches of 1000, points/s", f"{ours_batch:,.0f}", f"{theirs_batch:,.0f}" if theirs_batch else "-",
         ours_batch / theirs_batch if theirs_batch else None, None)


def bench_query(args, home, client, workdir: Path) -> None:
    import tui_mlops as mt
    from tui_mlops.store.catalog import open_catalog
    from tui_mlops.tracking.query import search_runs

    n = args.runs
    print(f"(b) {n:,} runs with 10 params and 5 metrics, then `{QUERY}` sorted by metrics.m2 desc", flush=True)
    rng = random.Random(1)
    specs = [({f"p{k}": rng.randint(0, 9) for k in range(10)}, {f"m{k}": rng.random() for k in range(1, 6)})
             for _ in range(n)]
    t0 = time.perf_counter()
    for params, metrics in specs:
        with mt.start_run("bench-query", params=params, home=home) as run:
            run.log_metrics(metrics)
    ours_create = time.perf_counter() - t0
    t0 = time.perf_counter()
    with open_catalog(home):
        pass
    ours_index = time.perf_counter() - t0

    def ours_query():
        return search_runs(home, QUERY, order_by="metrics.m2", descending=True, experiment="bench-query",
                           limit=1000)

    ours_q, ours_qc, page = timed(ours_query, args.repeat)
    theirs_create = theirs_q = theirs_qc = None
    found = None
    if client is not None:
        from mlflow.entities import Metric, Param

        eid = client.create_experiment(f"query-{uuid.uuid4().hex[:6]}", artifact_location=str(workdir / "art"))
        t0 = time.perf_counter()
        for params, metrics in specs:
            rid = client.create_run(eid).info.run_id
            ts = int(time.time() * 1000)
            client.log_batch(rid, metrics=[Metric(k, v, ts, 0) for k, v in metrics.items()],
                             params=[Param(k, str(v)) for k, v in params.items()])
            client.set_terminated(rid)
        theirs_create = time.perf_counter() - t0

        def theirs_query():
            return client.search_runs([eid], filter_string=MLFLOW_QUERY, order_by=["metrics.m2 DESC"],
                                      max_results=1000)

        theirs_q, theirs_qc, found = timed(theirs_query, args.repeat)
        ours_ids = [r.metrics["m2"] for r in page.rows]
        theirs_ids = [r.data.metrics["m2"] for r in found]
        if ours_ids != theirs_ids:
            print(f"  warning: results differ (ours {len(ours_ids)} runs, mlflow {len(theirs_ids)})")
    print(f"  both return {page.total} runs" + ("" if found is None else f" (mlflow {len(found)})"))
    line("create runs (not a target)", fmt(ours_create), fmt(theirs_create) if theirs_create else "-",
         theirs_create / ours_create if theirs_create else None, None)
    print(f"  ours: first catalog fold indexing the {n:,} new runs (once, when the app next opens): "
          f"{fmt(ours_index)}")
    line("filtered, sorted query, wall", both(ours_q, ours_qc), both(theirs_q, theirs_qc) if theirs_q else "-",
         theirs_q / ours_q if theirs_q else None, 20)
    if theirs_qc:
        line("  same, by CPU time", fmt(ours_qc), fmt(theirs_qc), theirs_qc / ours_qc, 20)


def bench_history(args, home, client, workdir: Path) -> None:
    import tui_mlops as mt
    from tui_mlops.tracking.query import metric_history

    n = args.history
    print(f"(c) fetching a {n:,}-point metric history", flush=True)
    with mt.start_run("bench-history", home=home) as run:
        for i in range(n):
            run.log_metric("h", float(i % 977), step=i)
    t0 = time.perf_counter()
    steps, _ = metric_history(home, run.run_id, "h")
    ours_first = time.perf_counter() - t0
    assert len(steps) == n
    ours_h, ours_hc, _ = timed(lambda: metric_history(home, run.run_id, "h"), args.repeat)
    theirs_h = theirs_hc = None
    if client is not None:
        from mlflow.entities import Metric

        eid = client.create_experiment(f"hist-{uuid.uuid4().hex[:6]}", artifact_location=str(workdir / "art"))
        rid = client.create_run(eid).info.run_id
        for b in range(0, n, 1000):
            ts = int(time.time() * 1000)
            client.log_batch(rid, metrics=[Metric("h", float(i % 977), ts, i) for i in range(b, min(n, b + 1000))])
        theirs_h, theirs_hc, hist = timed(lambda: client.get_metric_history(rid, "h"), args.repeat)
        assert len(hist) == n
    print(f"  ours: first fetch in this process: {fmt(ours_first)}")
    line("metric history, wall", both(ours_h, ours_hc), both(theirs_h, theirs_hc) if theirs_h else "-",
         theirs_h / ours_h if theirs_h else None, 20)
    if theirs_hc:
        line("  same, by CPU time", fmt(ours_hc), fmt(theirs_hc), theirs_hc / ours_hc, 20)


def synth_runs(home, n: int, seed: int = 0) -> None:
    """n finished runs written straight as events.jsonl in the API's schema (no fsync per run)."""
    rng = random.Random(seed)
    t0 = time.time() - n
    for i in range(n):
        rid = uuid.UUID(int=rng.getrandbits(128)).hex[:12]
        folder = home.runs_dir / rid
        folder.mkdir()
        ts = t0 + i
        params = {"num_leaves": rng.choice([15, 31, 63, 127]), "learning_rate": rng.choice([0.01, 0.05, 0.1]),
                  "seed": i % 5, "boosting": rng.choice(["gbdt", "dart"])}
        params.update({f"p{k}": rng.randint(0, 9) for k in range(6)})
        events = [
            {"seq": 1, "ts": ts, "type": "run_start", "run_id": rid, "experiment": f"exp{i % 3}", "name": f"r{i}",
             "kind": "train", "parent_run_id": None, "params": params, "tags": {"team": rng.choice(["risk", "ops"])},
             "spec": None, "dataset": "churn@abc", "model": "lightgbm", "pid": 1, "pid_started": 1.0, "host": "h"},
            {"seq": 2, "ts": ts + 0.1, "type": "metrics", "step": 100,
             "values": {"valid/auc": rng.random(), "valid/binary_logloss": rng.random(), "train/auc": rng.random(),
                        "train/binary_logloss": rng.random(), "valid/accuracy": rng.random()}},
            {"seq": 3, "ts": ts + 0.2, "type": "run_end", "status": "finished", "error": None},
        ]
        (folder / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))


def bench_catalog(args, workdir: Path) -> None:
    from tui_mlops.store.catalog import open_catalog
    from tui_mlops.store.home import Home
    from tui_mlops.store.runs_catalog import fold_runs
    from tui_mlops.tracking.query import search_runs

    n = args.catalog_runs
    print(f"(d) our catalog with {n:,} runs (10 params, 5 metrics each)", flush=True)
    home = Home.open(workdir / "catalog-home")
    synth_runs(home, n)
    t0 = time.perf_counter()
    with open_catalog(home):
        pass
    print(f"  first fold, indexing all {n:,} runs (a rebuild):      {fmt(time.perf_counter() - t0)}")

    def no_change() -> None:
        with open_catalog(home):
            pass

    with open_catalog(home, fold=False) as cat:
        fold_only, fold_cpu, _ = timed(lambda: fold_runs(cat), max(args.repeat, 5))
    open_fold, open_cpu, _ = timed(no_change, max(args.repeat, 5))
    print(f"  fold with nothing new (fold_runs alone):             {both(fold_only, fold_cpu)} (target < 20 ms: "
          f"{'PASS' if fold_only < 0.02 else 'FAIL'})")
    print(f"  open_catalog (connect, migrate check, folds):        {both(open_fold, open_cpu)}")
    cases = [("sort by metric", None, "metrics.valid/auc"), ("sort by param", None, "params.num_leaves"),
             ("filter (OR, IN, range) + sort",
              "metrics.`valid/auc` > 0.9 and params.num_leaves in (31, 63) or tags.team = 'risk' "
              "and params.learning_rate between 0.01 and 0.05", "metrics.valid/binary_logloss")]
    for label, query, order in cases:
        t, c, page = timed(lambda: search_runs(home, query, order_by=order), args.repeat)
        print(f"  search_runs, {label:<30} {both(t, c):>24} incl. open ({page.total:,} matching; "
              f"target < 100 ms: {'PASS' if t < 0.1 else 'FAIL'})")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--small", action="store_true", help="quick run: fewer points and runs")
    p.add_argument("--points", type=int, default=20_000)
    p.add_argument("--mlflow-calls", type=int, default=2_000, help="MLflow per-call logging calls (default 2,000)")
    p.add_argument("--runs", type=int, default=2_000)
    p.add_argument("--history", type=int, default=20_000)
    p.add_argument("--catalog-runs", type=int, default=30_000, help="0 skips part (d)")
    p.add_argument("--repeat", type=int, default=5, help="timed repetitions of queries; the median is reported")
    p.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a new temp dir)")
    args = p.parse_args()
    if args.small:
        args.points, args.mlflow_calls, args.runs = 5_000, 500, 300
        args.history, args.catalog_runs, args.repeat = 5_000, 3_000, 3
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-tracking-"))
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    from tui_mlops.store.home import Home

    home = Home.open(workdir / "home")
    client = mlflow_client(workdir)
    one, five, _ = os.getloadavg()
    print(f"tracking bench in {workdir}; load average {one:.1f} (1 min) on {os.cpu_count()} CPUs; "
          f"mlflow: {'local SQLite' if client else 'not installed (pip install mlflow)'}", flush=True)
    try:
        bench_logging(args, home, client, workdir)
        bench_query(args, home, client, workdir)
        bench_history(args, home, client, workdir)
        if args.catalog_runs:
            bench_catalog(args, workdir)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
