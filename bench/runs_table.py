"""Bench: the Experiments runs table with 30,000 runs, driven by the Pilot like a person at the keys.

Usage: python bench/runs_table.py [--runs N] [--workdir DIR] [--repeat K]
Targets: open the screen (key 2 -> first page shown) < 300 ms; a sort and a filter (enter in the
picker / query box -> the new page in the grid) < 100 ms each.
Setup (untimed): N runs written as events.jsonl files in the tracking event schema (one plain
write per run: the API's fsync per run would make setup take minutes), then one catalog fold.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OPEN_TARGET_MS, SORT_TARGET_MS, FILTER_TARGET_MS = 300.0, 100.0, 100.0
EXPERIMENTS = ("churn-lgbm", "churn-rf", "fraud", "ranking", "ablation")
SORTS = ("metric valid/auc", "metric valid/logloss", "param num_leaves", "name", "metric train/loss")
FILTERS = (
    "metrics.`valid/auc` > 0.9",
    "metrics.`valid/auc` > 0.8 and params.num_leaves in (31, 63)",
    "params.seed = 3 or status = 'failed'",
    "metrics.`valid/logloss` < 0.3 and experiment = 'fraud'",
    "params.learning_rate between 0.05 and 0.1",
)


def write_runs(home, n: int, seed: int = 7) -> None:
    """n finished (some failed) runs with 6 params and 4 metrics each (3 with 5 steps of history)."""
    from tui_mlops.tracking.events import EVENTS_FILE, new_run_id

    rng = random.Random(seed)
    host, pid = socket.gethostname(), os.getpid()
    t = time.time() - n * 60
    for i in range(n):
        run_id = new_run_id()
        folder = home.runs_dir / run_id
        folder.mkdir(parents=True)
        t += 60
        params = {"num_leaves": rng.choice((15, 31, 63, 127)), "learning_rate": rng.choice((0.01, 0.05, 0.1, 0.2)),
                  "seed": i % 10, "min_child_samples": rng.choice((5, 10, 20, 50)),
                  "feature_fraction": rng.choice((0.6, 0.8, 1.0)), "objective": "binary"}
        exp = EXPERIMENTS[i % len(EXPERIMENTS)]
        events = [{"type": "run_start", "run_id": run_id, "experiment": exp, "name": f"{exp}-{i}",
                   "kind": "script", "parent_run_id": None, "params": params, "tags": {"team": "risk"},
                   "spec": None, "dataset": "churn@19e7ef354bc88854", "model": "lightgbm", "pid": pid,
                   "pid_started": 0.0, "host": host}]
        auc = 0.6 + 0.39 * rng.random()
        for step in range(1, 6):
            events.append({"type": "metrics", "values": {"train/loss": 0.7 / step + 0.01 * rng.random(),
                                                         "valid/auc": auc - 0.02 * (5 - step),
                                                         "valid/logloss": 0.9 - auc / 2 + 0.01 * (5 - step)},
                           "step": step})
        events.append({"type": "metric", "key": "best_iteration", "value": float(rng.randrange(50, 500)),
                       "step": None})
        failed = i % 97 == 0
        events.append({"type": "run_end", "status": "failed" if failed else "finished",
                       "error": "ValueError: bench failure" if failed else None})
        lines = []
        for seq, ev in enumerate(events, 1):
            ts = t + seq
            lines.append(json.dumps({"seq": seq, "ts": ts, **ev}, separators=(",", ":")))
        (folder / EVENTS_FILE).write_text("\n".join(lines) + "\n")


def prepare_home(n: int, workdir: Path):
    from tui_mlops.store.catalog import open_catalog
    from tui_mlops.store.home import Home

    root = workdir / f"runs_home_{n}"
    marker = root / ".bench-complete"
    if not marker.exists():
        shutil.rmtree(root, ignore_errors=True)
        home = Home.open(root)
        t0 = time.perf_counter()
        write_runs(home, n)
        t1 = time.perf_counter()
        with open_catalog(home):
            pass  # the fold indexes every run once
        t2 = time.perf_counter()
        marker.write_text("ok\n")
        print(f"setup: wrote {n:,} runs in {t1 - t0:.1f} s, first fold {t2 - t1:.1f} s (untimed)")
    else:
        print(f"setup: reusing {root} ({n:,} runs)")
    return Home.open(root)


async def wait_shown(pilot, screen, count: int, timeout: float = 30.0) -> None:
    """Until the screen has drawn more than `count` pages (its `painted_at` is then the moment)."""
    deadline = time.monotonic() + timeout
    while screen.painted_count <= count:
        if time.monotonic() > deadline:
            raise TimeoutError("the runs page did not appear")
        await asyncio.sleep(0.0005)


async def measure(home, repeat: int, verbose: bool) -> dict[str, list[tuple[float, float]]]:
    from tui_mlops.tui.app import MlopsApp
    from tui_mlops.tui.screens.experiments import ExperimentsScreen

    out: dict[str, list[tuple[float, float]]] = {"open": [], "sort": [], "filter": [], "page": []}
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = None

        async def timed(step: str, label: str, key: str) -> None:
            """Press `key`, wait for the next page drawn, record key press -> drawn."""
            nonlocal screen
            before = screen.painted_count if screen is not None else 0
            t0 = time.perf_counter()
            await pilot.press(key)
            if screen is None:
                screen = app.screen
                assert isinstance(screen, ExperimentsScreen), type(screen).__name__
            await wait_shown(pilot, screen, before)
            total, fetch = (screen.painted_at - t0) * 1000, screen.last_fetch_ms or 0.0
            out[step].append((total, fetch))
            if verbose:
                print(f"  {step:>6} {label:<58} {total:7.1f} ms (search_runs {fetch:5.1f})")
            await app.workers.wait_for_complete()
            await pilot.pause()

        await timed("open", "key 2 on the Datasets screen", "2")
        total = screen.page.total
        for _ in range(repeat):
            for text in SORTS:
                await pilot.press("o")
                await pilot.pause()
                await pilot.press(*text)
                await timed("sort", f"o {text}", "enter")
            await timed("sort", "O (reverse)", "O")
            for query in FILTERS:
                await pilot.press("slash", "ctrl+a", "ctrl+k")
                await pilot.press(*query)
                await timed("filter", query, "enter")
            before = screen.painted_count
            await pilot.press("escape")  # clear the filter
            await wait_shown(pilot, screen, before)
            for _ in range(3):
                await timed("page", "pagedown", "pagedown")
        print(f"runs in the table: {total:,}")
    # Opening again in a fresh app of the same process: the store's query caches are warm, as
    # they are when the app has warmed them in the background after start-up.
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        out["open-warm"] = []
        await timed_open(app, pilot, out["open-warm"], verbose)
    return out


async def timed_open(app, pilot, into: list, verbose: bool) -> None:
    from tui_mlops.tui.screens.experiments import ExperimentsScreen

    t0 = time.perf_counter()
    await pilot.press("2")
    screen = app.screen
    assert isinstance(screen, ExperimentsScreen), type(screen).__name__
    await wait_shown(pilot, screen, 0)
    total, fetch = (screen.painted_at - t0) * 1000, screen.last_fetch_ms or 0.0
    into.append((total, fetch))
    if verbose:
        print(f"  {'open':>6} {'key 2 again, in a fresh app (store caches warm)':<58} {total:7.1f} ms "
              f"(search_runs {fetch:5.1f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30_000)
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "_work")
    parser.add_argument("--repeat", type=int, default=2, help="rounds of sorts and filters")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every measurement")
    args = parser.parse_args()
    home = prepare_home(args.runs, args.workdir)
    results = asyncio.run(measure(home, args.repeat, args.verbose))
    targets = {"open": OPEN_TARGET_MS, "open-warm": OPEN_TARGET_MS, "sort": SORT_TARGET_MS,
               "filter": FILTER_TARGET_MS, "page": 100.0}
    ok = True
    print(f"{'step':>9}  {'n':>3}  {'median':>9}  {'max':>9}  {'search_runs':>11}  {'screen':>8}  target")
    for step, pairs in results.items():
        values = [total for total, _fetch in pairs]
        fetch = statistics.median(f for _t, f in pairs)
        ui = statistics.median(t - f for t, f in pairs)
        worst, med = max(values), statistics.median(values)
        passed = worst < targets[step]
        ok &= passed
        print(f"{step:>9}  {len(values):>3}  {med:>7.1f}ms  {worst:>7.1f}ms  {fetch:>9.1f}ms  {ui:>6.1f}ms"
              f"  < {targets[step]:.0f} ms (max): {'PASS' if passed else 'FAIL'}")
    print("each figure: key press -> new page in the grid (Pilot, 120x36); search_runs and screen are the "
          "medians of the store query and of the rest (keys, worker, formatting, drawing)")
    try:
        print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    except OSError:
        pass
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
