"""`mlops-tui runs list/show/compare/history/tag/rm/export`, run as subprocesses over runs logged in-process."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from cli_helpers import Cli


# (num_leaves, seed) -> final valid/auc; the best is num_leaves=63, seed=2.
AUC = {(15, 1): 0.80, (15, 2): 0.82, (31, 1): 0.85, (31, 2): 0.87, (63, 1): 0.88, (63, 2): 0.90}


def _log_runs(home_path: Path) -> dict[tuple[int, int], str]:
    from tui_mlops.store.home import Home
    from tui_mlops.tracking.api import start_run

    home = Home.open(home_path)
    ids = {}
    for (leaves, seed), auc in AUC.items():
        team = "risk" if leaves == 63 else "growth"
        with start_run("churn", name=f"nl{leaves}-s{seed}", params={"num_leaves": leaves, "seed": seed},
                       tags={"team": team}, home=home) as run:
            for step in range(1, 6):
                run.log_metrics({"valid/auc": auc - 0.1 + step * 0.02, "valid/logloss": 1.0 / step}, step=step)
            run.log_artifact_json("importance.json", {"age": 3}, kind="importance")
            ids[(leaves, seed)] = run.run_id
    with start_run("other", name="lonely", params={"num_leaves": 7}, home=home) as run:
        run.log_metric("valid/auc", 0.5)
        ids[(7, 0)] = run.run_id
    return ids


@pytest.fixture
def logged(cli: Cli) -> dict[tuple[int, int], str]:
    return _log_runs(cli.home)


def test_list_sort_query_page_and_group(cli: Cli, logged: dict) -> None:
    page = cli.json("runs", "list", "--experiment", "churn", "--sort", "metrics.valid/auc", "--asc")
    assert page["total"] == 6
    aucs = [r["metrics"]["valid/auc"] for r in page["rows"]]
    assert aucs == sorted(aucs) and aucs[-1] == pytest.approx(0.90)
    assert page["best"]["valid/auc"]["run_id"] == logged[(63, 2)]

    everything = cli.json("runs", "list")
    assert everything["total"] == 7

    q = "params.num_leaves in (31, 63) and metrics.`valid/auc` > 0.86 or tags.team = 'nobody'"
    hits = cli.json("runs", "list", "--query", q)
    assert {r["run_id"] for r in hits["rows"]} == {logged[(31, 2)], logged[(63, 1)], logged[(63, 2)]}

    second = cli.json("runs", "list", "--sort", "metrics.valid/auc", "--limit", "2", "--offset", "2")
    assert second["total"] == 7 and second["offset"] == 2
    assert [r["run_id"] for r in second["rows"]] == [logged[(31, 2)], logged[(31, 1)]]

    text = cli.ok("runs", "list", "--experiment", "churn", "--columns", "params.num_leaves,metrics.valid/auc").out
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["run", "experiment", "name", "status"]
    assert "num_leaves" in lines[0] and "valid/auc" in lines[0]
    assert f"best valid/auc: 0.9 (run {logged[(63, 2)]})" in text
    assert "runs 1-6 of 6" in text

    groups = cli.json("runs", "list", "--experiment", "churn", "--group-by", "params.num_leaves",
                      "--metric", "metrics.valid/auc")["groups"]
    by_value = {g["value"]: g for g in groups}
    assert set(by_value) == {"15", "31", "63"}
    assert by_value["31"]["count"] == 2 and by_value["31"]["mean"] == pytest.approx(0.86)
    assert by_value["63"]["best"] == pytest.approx(0.90)
    grouped_text = cli.ok("runs", "list", "--group-by", "params.num_leaves", "--metric", "valid/auc").out
    assert grouped_text.splitlines()[0].split()[:3] == ["params.num_leaves", "runs", "mean"]


def test_list_errors_are_one_line(cli: Cli, logged: dict) -> None:
    bad = cli("runs", "list", "--query", "metrics.`valid/auc` >")
    assert bad.rc == 2 and bad.err.startswith("mlops-tui: error:") and len(bad.err.strip().splitlines()) == 1
    half = cli("runs", "list", "--group-by", "params.num_leaves")
    assert half.rc == 2 and "--metric" in half.err
    cols = cli("runs", "list", "--columns", "nosuch")
    assert cols.rc == 2 and "nosuch" in cols.err


def test_show_compare_and_history(cli: Cli, logged: dict) -> None:
    rid = logged[(63, 2)]
    shown = cli.json("runs", "show", rid[:6])
    assert shown["run_id"] == rid and shown["status"] == "finished"
    assert shown["params"] == {"num_leaves": "63", "seed": "2"}
    assert shown["metrics"]["valid/auc"] == pytest.approx(0.90)
    assert [a["path"] for a in shown["artifacts"]] == ["artifacts/importance.json"]
    text = cli.ok("runs", "show", rid).out
    assert "artifacts:" in text and "importance.json" in text and "valid/auc" in text and "team" in text

    missing = cli("runs", "show", "zzzzzzzz")
    assert missing.rc == 2 and "zzzzzzzz" in missing.err

    a, b = logged[(31, 1)], logged[(63, 2)]  # runs compare itself: tests/cli/test_cli_compare.py
    cmp = cli.json("runs", "compare", a, b)
    assert [r["run_id"] for r in cmp["runs"]] == [a, b]
    assert next(m for m in cmp["metrics"] if m["key"] == "valid/auc")["best"] == 1

    hist = cli.json("runs", "history", rid, "valid/auc")
    assert hist["steps"] == [1, 2, 3, 4, 5]
    assert hist["values"] == pytest.approx([0.82, 0.84, 0.86, 0.88, 0.90])
    chart = cli.ok("runs", "history", rid, "metrics.valid/auc", "--chart").out
    assert chart.splitlines()[0] == f"run {rid} valid/auc: 5 point(s)" and len(chart.splitlines()) > 10
    assert "\x1b[" not in chart
    nohist = cli("runs", "history", rid, "valid/nope")
    assert nohist.rc == 2 and "valid/nope" in nohist.err and "valid/auc" in nohist.err


def test_tag_note_and_rm(cli: Cli, logged: dict) -> None:
    rid = logged[(15, 1)]
    tagged = cli.json("runs", "tag", rid, "team=risk", "stage=review", "--note", "baseline, keep")
    assert tagged["tags"] == {"team": "risk", "stage": "review"} and tagged["note"] == "baseline, keep"
    risk = cli.json("runs", "list", "--query", "tags.team = 'risk'")
    assert logged[(15, 1)] in {r["run_id"] for r in risk["rows"]} and risk["total"] == 3
    bad = cli("runs", "tag", rid, "novalue")
    assert bad.rc == 2 and "KEY=VALUE" in bad.err

    nothing = cli("runs", "rm", rid)  # no terminal to ask on, no --yes
    assert nothing.rc == 2 and "--yes" in nothing.err and (cli.home / "runs" / rid).is_dir()
    gone = cli.json("runs", "rm", rid, "--yes")
    assert gone["removed"] == [rid] and not (cli.home / "runs" / rid).exists()
    assert cli.json("runs", "list")["total"] == 6
    assert cli("runs", "show", rid).rc == 2


def test_rm_refuses_a_running_run(cli: Cli) -> None:
    from tui_mlops.store.home import Home
    from tui_mlops.tracking.api import start_run

    # This test process is alive, so its open run is running, not crashed.
    run = start_run("live", params={"x": 1}, home=Home.open(cli.home))
    try:
        run.log_metric("loss", 1.0, step=1)
        run.flush()
        refused = cli("runs", "rm", run.run_id, "--yes")
        assert refused.rc == 2 and "jobs cancel" in refused.err and run.dir.is_dir()
    finally:
        run.end()
    assert cli.ok("runs", "rm", run.run_id, "--yes").rc == 0


def test_export_csv_parquet_json(cli: Cli, logged: dict, tmp_path: Path) -> None:
    out_csv = tmp_path / "runs.csv"
    done = cli.json("runs", "export", "--query", "params.num_leaves >= 31", "--out", out_csv)
    assert done == {"path": str(out_csv), "runs": 4, "format": "csv"}  # 31 and 63, two seeds each
    with open(out_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4 and {"run_id", "params.num_leaves", "metrics.valid/auc", "tags.team"} <= set(rows[0])
    assert sorted(r["params.num_leaves"] for r in rows) == ["31", "31", "63", "63"]

    import polars as pl

    out_pq = tmp_path / "runs.parquet"
    cli.ok("runs", "export", "--out", out_pq)
    frame = pl.read_parquet(out_pq)
    assert frame.height == 7 and frame.schema["metrics.valid/auc"] == pl.Float64
    assert sorted(frame["metrics.valid/auc"].to_list()) == pytest.approx(sorted([0.5, *AUC.values()]))

    out_json = tmp_path / "runs.json"
    cli.ok("runs", "export", "--experiment", "other", "--out", out_json)
    data = json.loads(out_json.read_text())
    assert [r["name"] for r in data] == ["lonely"] and data[0]["metrics"] == {"valid/auc": 0.5}

    bad = cli("runs", "export", "--out", tmp_path / "runs.txt")
    assert bad.rc == 2 and ".csv" in bad.err and not (tmp_path / "runs.txt").exists()
