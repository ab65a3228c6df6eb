"""The in-memory runs mirror behind search_runs: it follows every change (another process's runs,
another process's fold, edits, removals, new keys) with no explicit refresh, and job folders
whose worker died before run_start are indexed from job.json."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import threading
import time

import pytest

import tui_mlops as mt
from tui_mlops.store.catalog import open_catalog
from tui_mlops.store.home import Home
from tui_mlops.tracking.mirror import catalog_identity, mirror_for
from tui_mlops.tracking.query import get_run, group_runs, list_experiments, metric_direction, search_runs

SCRIPT = """
import sys
import tui_mlops as mt
with mt.start_run("other", name=sys.argv[2], params={"lr": 0.3}, home=sys.argv[1]) as run:
    run.log_metric("valid/auc", 0.99)
if sys.argv[3] == "fold":
    from tui_mlops.store.catalog import open_catalog
    from tui_mlops.store.home import Home
    with open_catalog(Home.open(sys.argv[1])):
        pass
print(run.run_id)
"""


def other_process(home: Home, name: str, fold: bool = False) -> str:
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(home.root), name, "fold" if fold else "-"],
                         capture_output=True, text=True, check=True, timeout=60)
    return out.stdout.strip()


def make_runs(home: Home, n: int = 3) -> list[str]:
    ids = []
    for i in range(n):
        with mt.start_run("exp", name=f"r{i}", params={"lr": 0.1 * (i + 1), "depth": i}, tags={"team": "a"},
                          home=home) as run:
            run.log_metrics({"valid/auc": 0.5 + i / 10, "valid/logloss": 1.0 - i / 10}, step=1)
        ids.append(run.run_id)
    return ids


def test_a_run_from_another_process_shows_on_the_next_search(home: Home) -> None:
    make_runs(home)
    assert search_runs(home).total == 3
    rid = other_process(home, "theirs")
    page = search_runs(home, "metrics.valid/auc > 0.9")
    assert [r.run_id for r in page.rows] == [rid] and page.rows[0].params == {"lr": "0.3"}
    assert search_runs(home).total == 4 and ("other", 1) in list_experiments(home)


def test_another_process_folding_the_catalog_is_seen(home: Home) -> None:
    make_runs(home)
    search_runs(home)
    before = catalog_identity(home.catalog_path)
    rid = other_process(home, "folded", fold=True)  # the catalog changes; run logs are all folded
    assert catalog_identity(home.catalog_path) != before
    assert rid in {r.run_id for r in search_runs(home).rows}


def test_tag_and_note_edits_show_and_a_removed_run_disappears(home: Home) -> None:
    ids = make_runs(home)
    assert search_runs(home, "tags.team = 'b'").total == 0
    mt.attach_run(home, ids[1]).set_tags({"team": "b", "new": "x"})
    page = search_runs(home, "tags.team = 'b'")
    assert [r.run_id for r in page.rows] == [ids[1]] and page.rows[0].tags == {"new": "x", "team": "b"}
    shutil.rmtree(home.runs_dir / ids[0])
    page = search_runs(home)
    assert sorted(r.run_id for r in page.rows) == sorted(ids[1:]) and page.total == 2
    assert page.best["valid/logloss"] == (pytest.approx(0.8), ids[2])


def test_new_keys_after_the_first_search_are_columns_too(home: Home) -> None:
    make_runs(home)
    assert search_runs(home, "params.`Odd'key` = 'v'").total == 0  # unknown yet: no run matches
    with mt.start_run("exp", params={"Odd'key": "v", "LR": 5}, home=home) as run:
        run.log_metric("Valid/AUC", 0.1)  # keys differ from others only by case: separate columns
    page = search_runs(home, "params.`Odd'key` = 'v' and params.LR = 5")
    assert [r.run_id for r in page.rows] == [run.run_id]
    assert page.rows[0].metrics == {"Valid/AUC": 0.1} and page.rows[0].params == {"LR": "5", "Odd'key": "v"}
    assert search_runs(home, order_by="metrics.Valid/AUC").rows[0].run_id == run.run_id
    assert search_runs(home, "params.lr > 0.25").total == 1


def test_a_live_run_moves_in_a_metric_sort_as_it_logs(home: Home) -> None:
    make_runs(home)
    run = mt.start_run("exp", name="live", home=home)
    run.log_metric("valid/auc", 0.1, step=1)
    run.flush()
    assert search_runs(home, order_by="metrics.valid/auc").rows[-1].name == "live"
    assert search_runs(home, "metrics.valid/auc < 0.2").total == 1
    run.log_metric("valid/auc", 0.99, step=2)
    run.flush()
    page = search_runs(home, order_by="metrics.valid/auc")
    assert page.rows[0].name == "live" and page.rows[0].metrics == {"valid/auc": 0.99}
    assert page.best["valid/auc"] == (0.99, run.run_id) and page.rows[0].status == "running"
    assert search_runs(home, "metrics.valid/auc < 0.2").total == 0
    run.end()
    assert search_runs(home, "status = 'finished'").total == 4


def test_none_params_and_nan_metrics(home: Home) -> None:
    with mt.start_run("exp", name="a", params={"max_depth": None, "n": 3}, home=home) as a:
        a.log_metrics({"loss": math.nan, "auc": 0.7})
    with mt.start_run("exp", name="b", params={"n": 4}, home=home) as b:
        b.log_metrics({"loss": 0.5, "auc": math.nan})
    page = search_runs(home, order_by="name", descending=False)
    ra, rb = page.rows
    assert ra.params == {"max_depth": None, "n": "3"} and rb.params == {"n": "4"}
    assert ra.metrics == {"auc": 0.7, "loss": None} and rb.metrics == {"auc": None, "loss": 0.5}
    assert page.param_keys == ["max_depth", "n"] and page.metric_keys == ["auc", "loss"]
    assert page.best == {"auc": (0.7, a.run_id), "loss": (0.5, b.run_id)}
    assert search_runs(home, "params.n = 4").param_keys == ["n"]
    assert [r.name for r in search_runs(home, "params.max_depth is null").rows] == ["b", "a"]


def test_many_matches_take_the_aggregate_path_with_the_same_answers(home: Home, monkeypatch) -> None:
    from tui_mlops.tracking import mirror

    make_runs(home, 5)
    with mt.start_run("other", params={"only_here": 1}, home=home) as run:
        run.log_metrics({"rmse": 2.0, "valid/auc": math.nan})
    cases = [dict(), dict(query="params.depth >= 1", order_by="metrics.valid/logloss", descending=False),
             dict(experiment="exp", offset=2, limit=2), dict(query="experiment = 'other'"),
             dict(order_by="params.lr", offset=4, limit=10)]
    small = [search_runs(home, **kw) for kw in cases]
    monkeypatch.setattr(mirror, "ALL_ROWS", 1)
    for kw, expected in zip(cases, small):
        assert search_runs(home, **kw) == expected, kw
        assert search_runs(home, **kw) == expected, kw  # from the kept aggregates
    assert small[0].param_keys == ["depth", "lr", "only_here"] and small[3].param_keys == ["only_here"]
    assert small[3].metric_keys == ["rmse", "valid/auc"] and small[3].best == {"rmse": (2.0, run.run_id)}
    assert small[2].metric_keys == ["valid/auc", "valid/logloss"] and small[2].total == 5


def test_a_job_whose_worker_died_before_run_start_is_indexed_as_crashed(home: Home) -> None:
    from tui_mlops.jobs.manager import detect_crashes
    from tui_mlops.jobs.state import hostname

    make_runs(home, 1)
    rid = "deadbeef0001"
    folder = home.runs_dir / rid
    folder.mkdir()
    # jobs.manager.submit's job.json; pid_started far from the pid's real start: that process is gone
    job = {"run_id": rid, "kind": "train", "payload": {"spec": {"target": "y"}}, "created": time.time() - 60,
           "experiment": "jobs", "name": "never-started", "params": {"num_leaves": 31}, "tags": {"by": "test"},
           "parent_run_id": None, "dataset": "d@1", "model": "lightgbm", "host": hostname(), "pid": 1,
           "pid_started": 1.0}
    (folder / "job.json").write_text(json.dumps(job))
    assert search_runs(home).total == 1  # pending: no verdict yet
    assert rid in detect_crashes(home)
    page = search_runs(home, "experiment = 'jobs'")
    assert page.total == 1
    row = page.rows[0]
    assert (row.run_id, row.status, row.kind, row.name, row.model, row.dataset) == (
        rid, "crashed", "train", "never-started", "lightgbm", "d@1")
    assert row.params == {"num_leaves": "31"} and row.tags == {"by": "test"}
    assert row.start_ts == pytest.approx(job["created"])
    detail = get_run(home, rid)
    assert detail.spec == {"target": "y"} and "exited without finishing" in detail.error


def test_threads_searching_at_once_get_consistent_pages(home: Home) -> None:
    make_runs(home, 6)
    errors: list[BaseException] = []
    totals: set[int] = set()

    def work() -> None:
        try:
            for _ in range(20):
                page = search_runs(home, "params.depth >= 2", order_by="metrics.valid/auc")
                totals.add(page.total)
                assert [r.params["depth"] for r in page.rows][:4] == ["5", "4", "3", "2"]
                group_runs(home, "params.depth", "metrics.valid/auc")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    with mt.start_run("exp", params={"depth": 9}, home=home):
        pass  # a change while they search
    for t in threads:
        t.join()
    assert not errors and totals <= {4, 5}


def test_the_catalog_is_not_held_open_between_searches(home: Home) -> None:
    make_runs(home)
    search_runs(home)
    # A read-write open in another process needs the file lock: the mirror must not hold it.
    code = ("import sys; from tui_mlops.store.catalog import open_catalog; from tui_mlops.store.home import Home\n"
            "with open_catalog(Home.open(sys.argv[1]), timeout=0.5): pass")
    subprocess.run([sys.executable, "-c", code, str(home.root)], check=True, timeout=60)
    with mirror_for(home) as m:
        assert m.query("SELECT count(*) FROM wide") == [(3,)]


def test_a_rebuilt_catalog_is_copied_afresh(home: Home) -> None:
    ids = make_runs(home)
    search_runs(home)
    home.catalog_path.unlink()  # `store rebuild`: a new file, folded from the run logs
    with open_catalog(home):
        pass
    assert sorted(r.run_id for r in search_runs(home).rows) == sorted(ids)


@pytest.mark.parametrize("key", ["fit_time", "train_seconds", "duration", "p99_latency", "runtime",
                                 "valid/time_per_iter", "epoch_duration_s"])
def test_time_like_metrics_are_minimised(key: str) -> None:
    assert metric_direction(key) == "min"
