"""Bench: the Compare screen with 50 runs x 5,000-step curves, driven by the Pilot like a person.

Usage: python bench/compare_screen.py [--runs N] [--steps S] [--repeat K] [--workdir DIR]
Target: key 3 (runs marked with space on the Experiments screen) -> the comparison on screen in
under 500 ms. `compare_runs` is the comparison's own time (begun as the screen is made, so it
overlaps mounting the screen). Also timed: the chosen metric's histories read and reduced (curves ready), `c` ->
the overlay drawn, and `r` (compare again, the screen already built).
Peer, same machine, same run: the naive way to get the same data, `get_run` per run and every
step metric's full history of every run (`metric_history`), no reduction; the ratio is naive /
ours (key 3 -> shown).
Setup (untimed, cached under bench/_work): N runs logged with the tracking API (start_run,
log_metrics per step: train/loss, valid/auc and valid/binary_logloss; 4 params; a final
valid/accuracy), then one catalog fold.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as `python bench/compare_screen.py` from a checkout

TARGET_MS = 500.0
SIZE = (120, 36)


def prepare_home(n: int, steps: int, workdir: Path):
    from tui_mlops.store.catalog import open_catalog
    from tui_mlops.store.home import Home
    from tui_mlops.tracking.api import start_run

    root = workdir / f"compare_home_{n}x{steps}"
    marker = root / ".bench-complete"
    if marker.exists():
        print(f"setup: reusing {root} ({n} runs x {steps:,} steps)")
        return Home.open(root)
    shutil.rmtree(root, ignore_errors=True)
    home = Home.open(root)
    t0 = time.perf_counter()
    for i in range(n):
        rng = random.Random(i)
        lr = (0.01, 0.03, 0.05, 0.1, 0.2)[i % 5]
        with start_run("bench-compare", name=f"lr{lr}-s{i}", home=home, spec={"task": "binary"},
                       params={"learning_rate": lr, "num_leaves": 15 + 16 * (i % 4), "seed": i,
                               "objective": "binary"}, dataset="churn@19e7ef354bc88854",
                       model="lightgbm") as run:
            scale = 600 + 25 * i
            for s in range(steps):
                decay = math.exp(-s / scale)
                run.log_metrics({"train/loss": 0.1 + 0.6 * decay + 0.01 * rng.random(),
                                 "valid/auc": 0.95 - 0.35 * decay - 0.005 * rng.random(),
                                 "valid/binary_logloss": 0.25 + 0.45 * decay + 0.02 * rng.random()},
                                step=s)
            run.log_metrics({"valid/accuracy": 0.8 + 0.1 * rng.random()})
    t1 = time.perf_counter()
    with open_catalog(home):
        pass  # the fold indexes every run once
    t2 = time.perf_counter()
    marker.write_text("ok\n")
    print(f"setup: logged {n} runs x {steps:,} steps in {t1 - t0:.1f} s, first fold {t2 - t1:.1f} s "
          "(untimed)")
    return home


async def _until(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the Compare screen did not show the comparison")
        await asyncio.sleep(0.0005)


async def one_round(home, n: int, verbose: bool) -> dict[str, float]:
    """A fresh app: mark every run with space on Experiments, then time 3, c and r."""
    from tui_mlops.tui.app import MlopsApp
    from tui_mlops.tui.screens.compare import CompareScreen
    from tui_mlops.tui.screens.experiments import ExperimentsScreen

    out: dict[str, float] = {}
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("2")
        exp = app.screen
        assert isinstance(exp, ExperimentsScreen), type(exp).__name__
        await _until(lambda: exp.page is not None)
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press(*["space"] * n)
        await pilot.pause()
        assert len(app.marked_runs) == n, f"{len(app.marked_runs)} runs marked, expected {n}"

        t0 = time.perf_counter()
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, CompareScreen), type(screen).__name__
        await _until(lambda: screen.shown_count > 0 or screen.error is not None)
        if screen.error:
            raise RuntimeError(screen.error)
        out["open"] = (screen.shown_at - t0) * 1000
        out["compare_runs"] = screen.last_compare_ms or 0.0
        assert len(screen.cmp.runs) == n
        await _until(lambda: screen.curves_pane.curves is not None)
        out["curves ready"] = (screen.curves_pane.ready_at - t0) * 1000
        out["histories"] = screen.curves_pane.curves.load_ms
        assert len(screen.curves_pane.curves.series) == n, "every run's curve"
        await app.workers.wait_for_complete()
        await pilot.pause()

        t0 = time.perf_counter()
        await pilot.press("c")
        await _until(lambda: screen.curves_pane.drawn_count > 0)
        out["c (chart)"] = (screen.curves_pane.drawn_at - t0) * 1000
        await app.workers.wait_for_complete()
        await pilot.pause()

        before = screen.shown_count
        await pilot.press("m")
        await pilot.pause()
        t0 = time.perf_counter()
        await pilot.press("r")
        await _until(lambda: screen.shown_count > before)
        out["r (again)"] = (screen.shown_at - t0) * 1000
        await app.workers.wait_for_complete()
    if verbose:
        print("  " + "  ".join(f"{k} {v:.0f} ms" for k, v in out.items()))
    return out


def naive(home, ids: list[str]) -> float:
    """get_run per run + every step metric's full history per run, in ms."""
    from tui_mlops.tracking.query import get_run, metric_history

    t0 = time.perf_counter()
    details = [get_run(home, rid) for rid in ids]
    points = 0
    for d in details:
        for key, s in d.metric_summary.items():
            if (s.get("n") or 0) > 1:
                xs, _ys = metric_history(home, d.run_id, key)
                points += len(xs)
    ms = (time.perf_counter() - t0) * 1000
    assert points > 0
    return ms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5, help="fresh apps, each opening Compare")
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "_work")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every round")
    args = parser.parse_args()
    home = prepare_home(args.runs, args.steps, args.workdir)
    ids = sorted(p.name for p in home.runs_dir.iterdir() if p.is_dir())
    rounds = [asyncio.run(one_round(home, args.runs, args.verbose)) for _ in range(args.repeat)]
    peer = [naive(home, ids) for _ in range(max(1, min(3, args.repeat)))]
    print(f"{args.runs} runs x {args.steps:,} steps, {args.repeat} rounds (fresh app each), "
          f"terminal {SIZE[0]}x{SIZE[1]}")
    print(f"{'step':>14}  {'median':>9}  {'max':>9}")
    for key in rounds[0]:
        values = [r[key] for r in rounds]
        print(f"{key:>14}  {statistics.median(values):7.1f} ms  {max(values):7.1f} ms")
    opens = [r["open"] for r in rounds]
    med, worst = statistics.median(opens), max(opens)
    peer_ms = statistics.median(peer)
    print(f"naive load (get_run + full histories of every step metric): {peer_ms:.0f} ms median")
    print(f"key 3 -> comparison shown: median {med:.0f} ms, max {worst:.0f} ms, target < {TARGET_MS:.0f} ms "
          f"-> {'PASS' if med < TARGET_MS else 'FAIL'} (median)")
    print(f"ratio naive / ours (median): {peer_ms / med:.1f}x")
    return 0 if med < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
