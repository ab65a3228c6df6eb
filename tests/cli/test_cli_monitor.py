"""`mlops-tui monitor ...` as real subprocesses: create, list, run --once over real batch files, status,
alerts with a real user command, reports to files, headless run until Ctrl-C, rm, and bad input."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_helpers import REPO, Cli, cli_env

# monitor_helpers lives in tests/monitoring (and pulls in tests/training itself).
_MONITORING = str(Path(__file__).resolve().parents[1] / "monitoring")
if _MONITORING not in sys.path:
    sys.path.insert(0, _MONITORING)

from monitor_helpers import batch_csv, drop, labels_csv, trained_home  # noqa: E402
from tui_mlops.monitoring.spec import create_monitor  # noqa: E402
from tui_mlops.store.home import Home  # noqa: E402


@pytest.fixture
def store(cli: Cli) -> Home:
    """The CLI's home, holding the toy model registered as toy@production."""
    return trained_home(Home.open(cli.home))


def test_create_run_status_alerts_report_rm(cli: Cli, store: Home, tmp_path: Path) -> None:
    hook = tmp_path / "hook.txt"
    spec = cli.json("monitor", "create", "m", "--model", "toy@production", "--id", "id", "--time", "ts", "--window-rows", "200",
                    "--method", "x2=psi", "--threshold", "x1=0.15",
                    "--alert", f"drift_share>0.3; run=sh -c 'echo \"$MLOPS_ALERT_RULE $MLOPS_ALERT_VALUE\" > {hook}'",
                    "--alert", "feature:*>0.2x2")
    assert spec["name"] == "m" and spec["model_version"] == 1 and spec["window_rows"] == 200
    assert spec["methods"] == {"x2": "psi"} and spec["thresholds"] == {"x1": 0.15}
    assert [a["name"] for a in spec["alerts"]] == ["drift_share>0.3", "feature:*>0.2x2"]
    assert Path(spec["incoming"]) == store.monitors_dir / "m" / "incoming"
    listed = cli.json("monitor", "list")
    assert [(m["name"], m["batches"]) for m in listed] == [("m", 0)]

    drop(store, "m", "b1.csv", batch_csv(200, seed=1))
    drop(store, "m", "b2.csv", batch_csv(50, seed=2, drop=("x2",)))          # a missing feature column
    drop(store, "m", "b3.csv", batch_csv(200, seed=3, shift=0.8))
    # Labels join by id with the scores of batches processed in the same run.
    drop(store, "m", "l1.csv", labels_csv(200, seed=3, shift=0.8), folder="labels")
    r = cli.ok("monitor", "run", "m", "--once")
    lines = r.out.splitlines()
    batches = [ln for ln in lines if ln.startswith("batch")]
    assert len(batches) == 3, r.out
    assert batches[0].startswith("batch #1 b1.csv: ok, 200 row(s)") and "b3.csv: ok, 200 row(s)" in batches[2]
    assert "b2.csv: problems, 50 row(s)" in batches[1] and "x2" in batches[1]
    assert any(ln.startswith("labels l1.csv: ok, 200 row(s), 200 matched") for ln in lines), r.out
    assert any(ln.startswith("alert fired drift_share>0.3") for ln in lines), r.out
    assert any(ln.startswith("alert problem") and "b2.csv" in ln for ln in lines), r.out
    rule, value = hook.read_text().split()
    assert rule == "drift_share>0.3" and float(value) > 0.3
    assert "processed 4 file(s)" in r.err

    st = cli.json("monitor", "status", "m")
    assert st["total_batches"] == 3 and st["total_rows"] == 450 and st["problems"] == 1
    assert "drift_share>0.3" in [a["rule"] for a in st["open_alerts"]]
    assert {f["column"] for f in st["features"]} >= {"x1", "cat", "flag", "neg"}
    assert st["quality"]["realized"]["accuracy"] > 0.5     # all-positive labels: no AUC

    al = cli.json("monitor", "alerts", "m")
    assert [e["type"] for e in al["events"]].count("fired") >= 1 and al["total"] == len(al["events"])
    assert [a["rule"] for a in al["open"]] == [e["rule"] for e in al["events"] if e["type"] == "fired"]
    text = cli.ok("monitor", "alerts", "m", "--all").out
    assert "drift_share>0.3" in text and "open: drift_share>0.3" in text

    out = tmp_path / "r.html"
    assert "wrote html report" in cli.ok("monitor", "report", "m", "--window", "all", "--out", out).out
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "x1" in page and "<script" not in page
    rep = cli.ok("monitor", "report", "m", "--window", "all", "--json").json()
    assert rep["batches"] == 3 and rep["window"]["windows"] >= 2
    assert rep["quality"]["realized"], rep["quality"]

    r = cli("monitor", "rm", "m")
    assert r.rc == 2 and "pass --yes" in r.err and len(r.err.strip().splitlines()) == 1
    assert cli.json("monitor", "rm", "m", "--yes") == {"removed": "m"}
    assert cli.json("monitor", "list") == []
    assert not (store.monitors_dir / "m").exists()


def test_bad_input_gives_one_line_errors_and_exit_2(cli: Cli, store: Home) -> None:
    def err(*args: str, match: str) -> None:
        r = cli(*args)
        assert r.rc == 2, (args, r.rc, r.out, r.err)
        assert match in r.err, r.err
        if not r.err.startswith("usage"):      # argparse's own errors come with its usage line
            assert r.err.startswith("mlops-tui: error: ") and len(r.err.strip().splitlines()) == 1, r.err

    err("monitor", "create", "m", "--model", "nosuch@production", match="nosuch")
    err("monitor", "create", "m", "--model", "toy@production", "--method", "x1", match="expected COL=VALUE")
    err("monitor", "create", "m", "--model", "toy@production", "--threshold", "x1=big", match="not a number")
    err("monitor", "create", "m", "--model", "toy@production", "--alert", "drift>0.3", match="invalid alert rule")
    err("monitor", "create", "m", "--model", "toy@production", "--window-rows", "10", "--window-time", "1h",
        match="not allowed with")
    err("monitor", "create", "m", "--model", "toy@production", "--window-time", "soon", match="invalid window 'soon'")
    err("monitor", "create", "m", "--model", "toy@production", "--method", "x1=magic", match="unknown drift method")
    err("monitor", "status", "ghost", match="no monitor named 'ghost'")
    create_monitor(store, "m", "toy@production")
    err("monitor", "create", "m", "--model", "toy@production", match="already exists")
    err("monitor", "report", "m", "--window", "soon", match="invalid report window")
    err("monitor", "alerts", "ghost", match="no monitor named")


def _read_until(stream, marker: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], 0.5)
        if ready:
            chunk = os.read(stream.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
    return seen


def test_run_watches_until_ctrl_c(cli: Cli, store: Home) -> None:
    create_monitor(store, "m", "toy@production", window_rows=100, alerts=["drift_share>0.3"])
    cmd = [sys.executable, "-m", "tui_mlops", "--home", str(cli.home), "monitor", "run", "m", "--json"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=cli_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        drop(store, "m", "late.csv", batch_csv(150, seed=5, shift=1.0, with_ts=False))
        out = _read_until(proc.stdout, b'"what": "alert"', 30)
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    events = [json.loads(ln) for ln in (out + rest).decode().splitlines() if ln.strip()]
    assert [e["what"] for e in events][:2] == ["batch", "alert"], events
    assert events[0]["status"] == "ok" and events[0]["rows"] == 150
    assert events[1]["type"] == "fired" and events[1]["rule"] == "drift_share>0.3"
    assert proc.returncode == 0, err
    text = cli.ok("monitor", "status", "m").out
    assert "features (latest window)" in text and "open alerts\n  drift_share>0.3:" in text, text
    assert re.search(r"^batches +1 \(0 with problems\)", text, re.M), text
