"""`mlops-tui train/sweep/runs rerun` with real LightGBM jobs on a 2,000-row slice of the sample churn data."""

from __future__ import annotations

import time

import pytest

from cli_helpers import REPO, Cli


FAST = ["--drop", "customer_id", "--param", "num_threads=1"]


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """One store for the module: the data is registered once."""
    root = tmp_path_factory.mktemp("train")
    lines = (REPO / "sample_data" / "data" / "churn.csv").read_text().splitlines(keepends=True)
    csv = root / "churn.csv"
    csv.write_text("".join(lines[:2001]))
    c = Cli(root / "home")
    assert c.json("data", "add", csv)[0]["rows"] == 2000
    return c


def _run_dirs(cli: Cli) -> set[str]:
    runs = cli.home / "runs"
    return {p.name for p in runs.iterdir() if not p.name.startswith(".")} if runs.is_dir() else set()


@pytest.mark.parametrize(("args", "expected"), [
    (["--target", "nosuch"], "nosuch"),
    (["--target", "churned", "--feature", "age", "--feature", "no_col"], "no_col"),
    (["--target", "churned", "--param", "num_leavez=31"], "num_leavez"),
    (["--target", "churned", "--filter", "age > 1000"], "rows"),
    (["--target", "churned", "--transform", "log:"], "log:COL"),
    (["--target", "churned", "--transform", "bins:age:many"], "integer"),
    (["--target", "churned", "--transform", "ratio:monthly_fee:nosuch"], "nosuch"),
    (["--target", "churned", "--tag", "oops"], "KEY=VALUE"),
])
def test_bad_spec_fails_before_any_job(cli: Cli, args: list[str], expected: str) -> None:
    before = _run_dirs(cli)
    r = cli("train", "--dataset", "churn", *args, "--wait")
    assert r.rc == 2 and expected in r.err, r.err
    assert r.err.startswith("mlops-tui: error:") and len(r.err.strip().splitlines()) == 1
    assert _run_dirs(cli) == before  # nothing was submitted


def test_train_wait_show_history_and_rerun(cli: Cli) -> None:
    r = cli.ok("train", "--dataset", "churn", "--target", "churned", *FAST, "--rounds", "20",
               "--early-stopping", "0", "--transform", "date_parts:observed_at:month,dayofweek",
               "--experiment", "cli", "--name", "first", "--tag", "team=risk", "--wait", "--every", "5", "--json")
    done = r.json()
    rid = done["run_id"]
    assert done["status"] == "finished" and done["error"] is None and done["device"] == "cpu"
    assert 0.5 < done["metrics"]["valid/auc"] <= 1.0 and done["metrics"]["valid/logloss"] > 0
    assert "artifacts/model.txt" in {a["path"] for a in done["artifacts"]}
    progress = r.err.splitlines()  # with --json the progress lines go to stderr
    assert progress[0] == f"run {rid}" and "status: running" in progress
    rounds = [line.split()[1] for line in progress if line.startswith("round ")]
    assert rounds == ["1", "5", "10", "15", "20"]
    assert "valid/auc=" in next(line for line in progress if line.startswith("round 20"))

    shown = cli.json("runs", "show", rid)
    assert shown["kind"] == "train" and shown["model"] == "lightgbm" and shown["dataset"].startswith("churn@")
    assert shown["tags"]["team"] == "risk" and shown["name"] == "first"
    paths = {a["path"] for a in shown["artifacts"]}
    assert {"artifacts/model.txt", "artifacts/features.json"} <= paths
    text = cli.ok("runs", "show", rid).out
    assert "artifacts:" in text and "model.txt" in text

    hist = cli.json("runs", "history", rid, "valid/auc")
    assert hist["steps"][:20] == list(range(1, 21)) and set(hist["steps"][20:]) <= {20}
    assert hist["values"][-1] == pytest.approx(done["metrics"]["valid/auc"])

    again = cli.ok("runs", "rerun", rid[:8], "--wait", "--json").json()
    assert again["run_id"] != rid and again["status"] == "finished"
    assert again["metrics"]["valid/auc"] == pytest.approx(done["metrics"]["valid/auc"], abs=1e-12)
    assert cli.json("runs", "show", again["run_id"])["tags"].get("rerun_of") == rid


def test_train_in_background_then_cancel(cli: Cli) -> None:
    r = cli.ok("train", "--dataset", "churn", "--target", "churned", *FAST, "--rounds", "100000",
               "--early-stopping", "0", "--param", "learning_rate=0.001", "--experiment", "long")
    rid = r.out.strip()  # only the id on stdout, for scripts; the hint goes to stderr
    assert len(rid) == 12 and f"jobs cancel {rid}" in r.err
    assert rid in {j["run_id"] for j in cli.json("jobs", "list")}
    t0 = time.monotonic()
    assert cli.json("jobs", "cancel", rid[:5])["status"] == "cancelled"
    assert time.monotonic() - t0 < 15
    shown = cli.json("runs", "show", rid)
    assert shown["status"] == "cancelled" and shown["kind"] == "train"
    assert rid not in {j["run_id"] for j in cli.json("jobs", "list")}


def test_sweep_grid_wait(cli: Cli) -> None:
    r = cli.ok("sweep", "--dataset", "churn", "--target", "churned", *FAST, "--rounds", "5",
               "--space", "num_leaves=4,8", "--method", "grid", "--experiment", "sweeps", "--wait", "--json")
    done = r.json()
    assert done["status"] == "finished" and done["kind"] == "sweep"
    assert [line.split()[1] for line in r.err.splitlines() if line.startswith("trial ")] == ["1", "2"]
    trials = done["trials"]
    assert len(trials) == 2 and {t["status"] for t in trials} == {"finished"}
    assert sorted(t["params"]["num_leaves"] for t in trials) == ["4", "8"]
    listed = cli.json("runs", "list", "--experiment", "sweeps")
    assert listed["total"] == 3
    gone = cli.json("runs", "rm", done["run_id"], "--yes")["removed"]  # a sweep goes with its trials
    assert sorted(gone) == sorted([done["run_id"]] + [t["run_id"] for t in trials])
    assert cli.json("runs", "list", "--experiment", "sweeps")["total"] == 0
    bad = cli("sweep", "--dataset", "churn", "--target", "churned", "--space", "num_leaves=")
    assert bad.rc == 2 and "num_leaves" in bad.err

