"""Training tests: a small seeded toy dataset with every kind of target, and clean-up of any job
processes a test leaves behind."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Iterator

import pytest

from train_helpers import ingest_text, toy_csv
from tui_mlops.store.home import Home


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    from tui_mlops.jobs.state import CACHE, process_alive

    h = Home.open(tmp_path / "home")
    yield h
    for st in CACHE.scan(h):
        if st.is_job and st.pid and process_alive(st.pid, st.pid_started):
            try:
                os.killpg(st.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


@pytest.fixture
def toy(home: Home, tmp_path: Path):
    return ingest_text(home, tmp_path, "toy", toy_csv())
