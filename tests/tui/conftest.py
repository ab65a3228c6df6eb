"""Fixtures for Pilot tests: a real home in tmp_path and a small-CSV writer."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tui_mlops.store.home import Home


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home.open(tmp_path / "home")


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """write_csv("name.csv", rows=3, offset=0) -> a small well-formed CSV in tmp_path/src."""

    def write(filename: str, rows: int = 3, offset: int = 0, folder: Path | None = None) -> Path:
        target = (folder or tmp_path / "src") / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        lines = ["id,age,city"] + [f"{i},{20 + i % 50},c{i % 3}" for i in range(offset, offset + rows)]
        target.write_text("\n".join(lines) + "\n")
        return target

    return write


@pytest.fixture
def jobs_home(home: Home) -> Iterator[Home]:
    """The home; afterwards any job still alive is killed so no test leaves processes behind."""
    from tui_mlops.jobs import manager

    yield home
    for job in manager.list_jobs(home, active_only=True):
        if job.pid:
            try:
                os.killpg(job.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
