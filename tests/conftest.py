"""Shared fixtures: a fresh store home per test, and a helper that writes input files."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Callable

import pytest

from tui_mlops.store.home import Home

WriteFn = Callable[[str, "str | bytes"], Path]


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read the developer's own config file (keymap, theme, job limit)."""
    monkeypatch.setenv("MLOPS_TUI_CONFIG", str(tmp_path_factory.getbasetemp() / "no-config.toml"))


@pytest.fixture
def home(tmp_path: Path) -> Home:
    """An empty store under tmp_path/home (created with the real layout)."""
    return Home.open(tmp_path / "home")


@pytest.fixture
def write(tmp_path: Path) -> WriteFn:
    """`write("a.csv", "x,y\\n1,2\\n")` -> tmp_path/"files"/a.csv; a name ending in .gz is gzip'd."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / "files" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
        return path

    return _write
