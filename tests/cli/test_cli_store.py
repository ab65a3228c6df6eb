"""`mlops-tui store rebuild/check` and `mlops-tui inbox`, run as subprocesses."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_helpers import PEOPLE_CSV, REPO, Cli, cli_env


def test_rebuild_recreates_the_catalog_from_files(cli: Cli, people_csv: Path) -> None:
    version = cli.json("data", "add", people_csv)[0]["version"]
    (cli.home / "catalog.duckdb").unlink()
    assert cli.json("store", "rebuild") == {"catalog": str(cli.home / "catalog.duckdb"), "versions": 1}
    assert [(d["name"], d["latest_version"]) for d in cli.json("data", "list")] == [("people", version)]
    assert "1 version(s) indexed" in cli.ok("store", "rebuild").out


def test_check_passes_then_reports_a_damaged_snapshot(cli: Cli, people_csv: Path) -> None:
    version = cli.json("data", "add", people_csv)[0]["version"]
    assert cli.json("store", "check") == {"ok": True, "problems": []}

    snapshot = cli.home / "datasets" / "people" / f"{version}.parquet"
    with open(snapshot, "ab") as fh:
        fh.write(b"bit rot")
    human = cli("store", "check")
    assert human.rc == 1
    assert str(snapshot) in human.out and "fingerprint" in human.out
    assert human.err.startswith("mlops-tui: error: store check found 1 problem")

    as_json = cli("store", "check", "--json")
    assert as_json.rc == 1 and as_json.json()["ok"] is False
    assert len(as_json.json()["problems"]) == 1


def test_inbox_once_registers_good_files_and_rejects_bad_ones(cli: Cli) -> None:
    pytest.importorskip("tui_mlops.data.inbox")
    inbox = cli.home / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "good.csv").write_text(PEOPLE_CSV)
    (inbox / "bad.csv").write_text("")

    r = cli("inbox")
    assert r.rc == 2, r.err  # a rejected file makes the run fail, after the good ones are in
    lines = r.out.splitlines()
    good = [ln for ln in lines if ln.startswith("registered") and "good.csv" in ln]
    bad = [ln for ln in lines if ln.startswith("rejected") and "bad.csv" in ln]
    assert len(good) == 1 and "-> good@" in good[0] and "10 rows" in good[0]
    assert len(bad) == 1 and "empty" in bad[0]
    assert [d["name"] for d in cli.json("data", "list")] == ["good"]
    assert not (inbox / "good.csv").exists() and not (inbox / "bad.csv").exists()

    assert cli.json("inbox") == []  # nothing left to process


def test_inbox_watch_registers_a_dropped_file_until_ctrl_c(cli: Cli, tmp_path: Path) -> None:
    pytest.importorskip("tui_mlops.data.inbox")
    inbox = cli.home / "inbox"
    inbox.mkdir(parents=True)
    cmd = [sys.executable, "-m", "tui_mlops", "--home", str(cli.home), "inbox", "--watch"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=cli_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert b"watching" in _read_until(proc.stderr, b"watching", 30)
        # Written elsewhere and renamed in, so the watcher never sees a half-written file.
        staged = tmp_path / "late.csv"
        staged.write_text(PEOPLE_CSV)
        os.replace(staged, inbox / "late.csv")
        out = _read_until(proc.stdout, b"\n", 30)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert out.startswith(b"registered") and b"late.csv" in out and b"-> late@" in out, out
    assert proc.returncode == 0
    assert [d["name"] for d in cli.json("data", "list")] == ["late"]


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
