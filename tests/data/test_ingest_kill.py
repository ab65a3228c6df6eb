"""SIGKILL an ingest at several points: the store stays valid, the version is whole or absent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import duckdb
import pytest

from ingest_helpers import make_big_csv
from tui_mlops.data import versions as V
from tui_mlops.data.ingest import ingest_file
from tui_mlops.store.catalog import open_catalog
from tui_mlops.store.home import TMP_PREFIX, Home

ROWS = 200_000
SCRIPT = ("import sys; from tui_mlops.store.home import Home; from tui_mlops.data.ingest import ingest_file; "
          "ingest_file(Home.open(sys.argv[1]), sys.argv[2])")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory) -> Path:
    return make_big_csv(tmp_path_factory.mktemp("kill") / "big.csv", ROWS)


def _committed(folder: Path, suffix: str) -> bool:
    return folder.is_dir() and any(not p.name.startswith(TMP_PREFIX) for p in folder.glob(f"*{suffix}"))


# When to kill: each a state of the files on disk, polled for (never a blind sleep).
POINTS: dict[str, Callable[[Path], bool]] = {
    "reading": lambda d: any(d.glob(f"{TMP_PREFIX}*")),
    "committing": lambda d: (d / "big").is_dir(),
    "snapshot-renamed": lambda d: _committed(d / "big", ".parquet"),
    "sidecar-renamed": lambda d: _committed(d / "big", ".json"),
}


def _kill_when(home_dir: Path, src: Path, ready: Callable[[Path], bool]) -> int | None:
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(home_dir), str(src)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    datasets = home_dir / "datasets"
    deadline = time.monotonic() + 60
    tick = threading.Event()
    while proc.poll() is None and not ready(datasets) and time.monotonic() < deadline:
        tick.wait(0.0002)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    err = proc.stderr.read().decode() if proc.stderr else ""
    proc.stderr.close()
    assert proc.returncode in (0, -signal.SIGKILL), err
    return proc.returncode


def _snapshot_rows(home: Home, v) -> int:
    con = duckdb.connect()
    try:
        return con.execute("SELECT count(*) FROM read_parquet(?)", [str(V.snapshot_path(home, v))]).fetchone()[0]
    finally:
        con.close()


@pytest.mark.parametrize("point", list(POINTS))
def test_sigkill_leaves_a_valid_store(tmp_path, csv_file, point):
    home_dir = tmp_path / "home"
    Home.open(home_dir)
    rc = _kill_when(home_dir, csv_file, POINTS[point])
    if point == "reading":
        assert rc == -signal.SIGKILL, "the ingest finished before it could be killed mid-read"

    home = Home.open(home_dir)
    with open_catalog(home):
        pass  # the next open folds in what was committed and clears the dead writer's temps
    assert V.check_store(home) == []
    assert [p for p in home.datasets_dir.rglob(f"{TMP_PREFIX}*")] == []
    present = V.list_versions(home)
    if present:  # whole: indexed, resolvable, every row there
        (v,) = present
        assert V.resolve(home, "big") == v and v.rows == ROWS and _snapshot_rows(home, v) == ROWS
    else:  # absent: no trace of it
        assert not any((home.datasets_dir / "big").glob("*.parquet"))

    again = ingest_file(home, csv_file)
    assert again.version.rows == ROWS and _snapshot_rows(home, again.version) == ROWS
    assert again.created == (not present)
    assert V.check_store(home) == []
    assert len(V.list_versions(home, "big")) == 1
