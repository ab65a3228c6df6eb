"""`mlops-tui runs compare ID ID ... [--baseline ID] [--all] [--json]` as a real subprocess over runs
logged in-process (importance and evaluation artifacts as training writes them)."""

from __future__ import annotations

import pytest

from cli_helpers import Cli


def _log(home_path, *, leaves, auc_curve, dataset="churn@1a2b3c4d", task="binary", confusion=None):
    from tui_mlops.store.home import Home
    from tui_mlops.tracking.api import start_run

    spec = {"task": task, "dataset": dataset, "model": "lightgbm", "target": "churned"}
    with start_run("churn", params={"num_leaves": leaves, "seed": 1}, spec=spec, dataset=dataset,
                   model="lightgbm", kind="train", home=Home.open(home_path)) as run:
        for step, auc in enumerate(auc_curve, start=1):
            run.log_metrics({"valid/auc": auc}, step=step)
        run.log_metrics({"valid/logloss": 1 - auc_curve[-1]})
        run.log_artifact_json("importance.json", {"kind": "lightgbm", "features": [
            {"name": "tenure", "gain": 3.0 * leaves, "split": 3}, {"name": "plan", "gain": 100.0, "split": 1}]},
            kind="importance")
        if confusion is not None:
            run.log_artifact_json("evaluation.json", {"task": task, "labels": ["no", "yes"], "confusion": confusion,
                                                      "threshold": 0.5}, kind="report")
    return run.run_id


@pytest.fixture
def runs(cli: Cli) -> list[str]:
    return [_log(cli.home, leaves=31, auc_curve=[0.70, 0.85, 0.80], confusion=[[40, 2], [5, 13]]),
            _log(cli.home, leaves=63, auc_curve=[0.75, 0.82], confusion=[[41, 1], [6, 12]]),
            _log(cli.home, leaves=63, auc_curve=[0.60, 0.70], dataset="churn@9f8e7d6c")]


def _line(out: str, start: str) -> list[str]:
    return next(line for line in out.splitlines() if line.strip().startswith(start)).split()


def test_text_output(cli: Cli, runs: list[str]) -> None:
    a, b, c = runs
    out = cli.ok("runs", "compare", a[:6], b, c).out
    assert out.splitlines()[0] == "3 runs, binary"
    assert _line(out, "run ") == ["run", a[:8], b[:8], c[:8]]
    assert _line(out, "num_leaves") == ["num_leaves", "31", "63", "63"]
    assert "  seed " not in out and "hidden; --all shows them" in out  # the same everywhere
    assert _line(out, "valid/auc") == ["valid/auc", "0.8", "0.82*", "0.7"]
    assert _line(out, "valid/logloss") == ["valid/logloss", "(lower", "is", "better)", "0.2", "0.18*", "0.3"]
    assert _line(out, "best @ step") == ["best", "@", "step", "0.85", "@", "2", "0.82", "@", "2", "0.7", "@", "2"]
    assert "tenure" in out and "plan" in out
    assert "confusion matrices" in out and _line(out, "yes") == ["yes", "5", "13"]
    assert "datasets: churn@1a2b3c4d, churn@9f8e7d6c" in out
    assert "warning: runs used different data: churn@1a2b3c4d (2 runs), churn@9f8e7d6c (1 run)" in out

    everything = cli.ok("runs", "compare", a, b, "--all").out
    assert _line(everything, "seed") == ["seed", "1", "1"] and _line(everything, "target") == ["target", "churned",
                                                                                               "churned"]
    assert "warning" not in everything


def test_baseline_deltas(cli: Cli, runs: list[str]) -> None:
    a, b, c = runs
    out = cli.ok("runs", "compare", a, b, c, "--baseline", b[:5]).out
    assert out.splitlines()[0] == f"3 runs, binary; deltas against {b[:8]}"
    assert _line(out, "run ") == ["run", a[:8], b[:8], "(base)", c[:8]]
    assert _line(out, "valid/auc") == ["valid/auc", "0.8", "(-0.0200)", "0.82*", "0.7", "(-0.1200)"]

    data = cli.json("runs", "compare", a, b, c, "--baseline", b)
    assert [r["run_id"] for r in data["runs"]] == [a, b, c]
    assert data["baseline"] == 1 and data["baseline_run"] == b and data["task"] == "binary"
    auc = next(m for m in data["metrics"] if m["key"] == "valid/auc")
    assert auc["values"] == pytest.approx([0.80, 0.82, 0.70]) and auc["best"] == 1 and auc["higher_better"]
    assert auc["deltas"][0] == pytest.approx(-0.02) and auc["deltas"][1] is None
    assert auc["steps"][0] == {"last": 0.80, "best": 0.85, "best_step": 2}
    params = {p["key"]: p for p in data["params"]}
    assert params["num_leaves"]["differs"] and not params["seed"]["differs"]
    assert data["importance"]["plan"][0] == pytest.approx(100 / 193)
    assert data["evaluation"][2] is None and data["evaluation"][0]["confusion"] == [[40, 2], [5, 13]]
    assert data["datasets"] == ["churn@1a2b3c4d", "churn@1a2b3c4d", "churn@9f8e7d6c"]
    assert data["runs"][2]["dataset"] == "churn@9f8e7d6c" and data["runs"][0]["model"] == "lightgbm"


def test_one_run_and_bad_input(cli: Cli, runs: list[str]) -> None:
    a, b, _ = runs
    one = cli.ok("runs", "compare", a).out
    assert one.splitlines()[0] == "1 run, binary" and _line(one, "num_leaves") == ["num_leaves", "31"]

    reg = _log(cli.home, leaves=7, auc_curve=[0.5], task="regression")
    mixed = cli("runs", "compare", a, reg)
    assert mixed.rc == 2 and mixed.out == ""
    assert mixed.err.strip() == (f"mlops-tui: error: runs on different tasks: {a[:8]} is binary, "
                                 f"{reg[:8]} is regression; compare runs of one task")
    outside = cli("runs", "compare", a, b, "--baseline", reg)
    assert outside.rc == 2 and f"baseline '{reg}' is not one of the compared runs" in outside.err
    missing = cli("runs", "compare", a, "abcdef01")
    assert missing.rc != 0 and "no run 'abcdef01'" in missing.err

    helptext = cli.ok("runs", "--help").out
    assert helptext.count("compare ") == 1 and "--baseline" in cli.ok("runs", "compare", "--help").out
