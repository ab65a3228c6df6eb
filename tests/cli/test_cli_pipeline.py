"""`mlops-tui init` and `pipeline run|status|history|dag` as real subprocesses: CI exit codes
0/1/2/3, the Markdown --report, and the JSON forms."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import Cli

CSV = "id,x,y\n" + "".join(f"{i},{i * 0.5},{i % 2}\n" for i in range(40))
OK_BODY = """\
[pipeline]
name = "ci"

[stages.ingest]
kind = "ingest"
path = "data.csv"
name = "toy"

[stages.split]
kind = "split"
input = "ingest"

[stages.done]
kind = "shell"
command = "echo all done"
after = ["split"]
"""


def _project(tmp_path: Path, body: str = OK_BODY) -> Path:
    root = tmp_path / "proj"
    root.mkdir(exist_ok=True)
    (root / "data.csv").write_text(CSV)
    (root / "mlops.toml").write_text(body)
    return root / "mlops.toml"


def test_run_ok_exit_0_with_report_then_cached(cli: Cli, tmp_path: Path) -> None:
    path = _project(tmp_path)
    report = tmp_path / "out" / "summary.md"
    r = cli("pipeline", "run", "--file", path, "--report", report)
    assert r.rc == 0, r.err
    assert "done: ok" in r.err and "ingest: ok" in r.err and r.out.startswith("run ") and ": ok in" in r.out
    md = report.read_text()
    assert md.startswith("# Pipeline `ci`: passed") and "| done | shell | **ok** |" in md
    assert "split | split | **ok**" in md and "toy.train@" in md

    again = cli.json("pipeline", "run", "--file", path)
    assert again["status"] == "ok" and again["exit_code"] == 0
    assert {n: s["status"] for n, s in again["stages"].items()} == {"ingest": "cached", "split": "cached", "done": "cached"}

    hist = cli("pipeline", "history", "--file", path)
    assert hist.rc == 0 and len(hist.out.strip().splitlines()) == 3 and "3 cached" in hist.out
    runs = cli.json("pipeline", "history", "--name", "ci")
    assert [r["run_id"] for r in runs] == [again["run_id"], runs[1]["run_id"]] and runs[1]["status"] == "ok"

    st = cli.json("pipeline", "status", "--file", path)
    assert [s["state"] for s in st["stages"]] == ["up to date"] * 3 and st["last_run"]["run_id"] == again["run_id"]
    assert "up to date" in cli.ok("pipeline", "status", "--file", path).out


def test_a_gate_failure_exits_1_and_the_report_says_which(cli: Cli, tmp_path: Path) -> None:
    body = OK_BODY.replace("[stages.split]", '[stages.check]\nkind = "validate_data"\ninput = "ingest"\n'
                           'rules_file = "rules.toml"\n\n[stages.split]').replace('input = "ingest"\n\n[stages.done]',
                                                                                  'input = "check"\n\n[stages.done]')
    path = _project(tmp_path, body)
    (path.parent / "data.csv").write_text(CSV.replace("\n3,1.5,1\n", "\n3,,1\n"))
    (path.parent / "rules.toml").write_text('[[rule]]\ntype = "not_null"\ncolumn = "x"\n')
    report = tmp_path / "summary.md"
    r = cli("pipeline", "run", "--file", path, "--report", report)
    assert r.rc == 1, r.err
    assert "check gate failed" in r.err
    md = report.read_text()
    assert "a gate failed" in md.splitlines()[0] and "## Gates of stage `check`: FAILED" in md
    assert "| split | split | **skipped** |" in md and "- `check` (gate failed)" in md


def test_a_stage_error_exits_2(cli: Cli, tmp_path: Path) -> None:
    path = _project(tmp_path, OK_BODY.replace('command = "echo all done"', 'command = "echo broken >&2; exit 4"'))
    report = tmp_path / "summary.md"
    r = cli("pipeline", "run", "--file", path, "--report", report)
    assert r.rc == 2 and "done failed" in r.err and "broken" in r.err
    assert "## What went wrong" in report.read_text()


def test_an_invalid_file_exits_3_before_running(cli: Cli, tmp_path: Path) -> None:
    path = _project(tmp_path, OK_BODY.replace('kind = "split"', 'kind = "splt"'))
    r = cli("pipeline", "run", "--file", path)
    assert r.rc == 3
    assert f"{path} line 10: stage 'split': unknown kind 'splt'" in r.err
    assert not (tmp_path / "home" / "pipelines").exists()
    assert cli("pipeline", "dag", "--file", path).rc == 3
    assert cli("pipeline", "run", "--file", tmp_path / "nope.toml").rc == 3


def test_dag_draws_the_graph(cli: Cli, tmp_path: Path) -> None:
    path = _project(tmp_path)
    out = cli.ok("pipeline", "dag", "--file", path).out
    assert " 1 [ingest]" in out and "     done [shell] <- split (after)" in out
    doc = cli.json("pipeline", "dag", "--file", path)
    assert doc["levels"] == [["ingest"], ["split"], ["done"]] and doc["stages"][1]["inputs"] == {"input": "ingest"}


def test_init_writes_a_loadable_example_with_sample_data(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "new"
    r = cli("init", folder)
    assert r.rc == 0 and (folder / "mlops.toml").is_file() and (folder / "data" / "churn.csv").is_file()
    assert "[stages.promote]" in (folder / "mlops.toml").read_text()
    out = cli.ok("pipeline", "dag", "--file", folder / "mlops.toml").out
    assert "7 stage(s)" in out
    again = cli("init", folder)
    assert again.rc == 2 and "exists already (--force overwrites it)" in again.err
    assert cli("init", folder, "--force").rc == 0


def test_init_example_runs_end_to_end_and_a_strict_gate_exits_1(cli: Cli, tmp_path: Path) -> None:
    # The real chain: ingest, split, LightGBM train job, validate with gates; an AUC of 0.9999 is out of reach.
    folder = tmp_path / "proj"
    cli.ok("init", folder)
    path = folder / "mlops.toml"
    path.write_text(path.read_text().replace("min = 0.75", "min = 0.9999")
                    .replace("num_iterations = 50", "num_iterations = 5"))
    report = tmp_path / "summary.md"
    r = cli("pipeline", "run", "--file", path, "--report", report, timeout=120)
    assert r.rc == 1, r.err
    md = report.read_text()
    assert "| train | train | **ok** |" in md and "| gate | validate | **gate_failed** |" in md
    assert "## Gates of stage `gate`: FAILED" in md and "| auc |" in md
    assert "| register | register | **skipped** |" in md and "| promote | promote | **skipped** |" in md


def test_sigterm_cancels_a_run_like_ctrl_c(cli: Cli, tmp_path: Path) -> None:
    import json
    import os
    import signal
    import subprocess
    import sys

    from cli_helpers import REPO, cli_env
    from waiting import wait_for

    gate = tmp_path / "go"
    body = f"""\
[pipeline]
name = "term"

[stages.wait]
kind = "shell"
command = "echo waiting; while [ ! -e '{gate}' ]; do sleep 0.05; done"
"""
    path = _project(tmp_path, body)
    proc = subprocess.Popen([sys.executable, "-m", "tui_mlops", "--home", str(cli.home), "pipeline", "run",
                             "--file", str(path)], cwd=REPO, env=cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    runs = Path(cli.home) / "pipelines" / "term" / "runs"
    log = lambda: next(iter(runs.glob("*/wait.log")), None)  # noqa: E731

    try:
        wait_for(lambda: log() is not None and "waiting" in log().read_text(), "the stage to start")
        os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        gate.touch()
    assert proc.returncode == 130, err
    record = json.loads(next(runs.glob("*.json")).read_text())
    assert record["status"] == "cancelled" and record["stages"]["wait"]["status"] == "cancelled"
