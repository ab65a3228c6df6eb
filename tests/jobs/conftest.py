"""Job tests run real worker processes: stop any a test leaves behind, whatever its outcome."""

from __future__ import annotations

import os
import signal
from typing import Iterator

import pytest

from tui_mlops.jobs.state import CACHE, process_alive
from tui_mlops.store.home import Home


@pytest.fixture
def home(tmp_path) -> Iterator[Home]:
    h = Home.open(tmp_path / "home")
    yield h
    for st in CACHE.scan(h):
        if st.is_job and st.pid and process_alive(st.pid, st.pid_started):
            try:
                os.killpg(st.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


@pytest.fixture(autouse=True)
def _one_slot_default(monkeypatch) -> None:
    # Tests choose their own limit; an inherited MLOPS_TUI_MAX_JOBS must not change them.
    monkeypatch.delenv("MLOPS_TUI_MAX_JOBS", raising=False)
