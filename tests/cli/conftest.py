"""Fixtures for the CLI tests: each test gets its own store home under tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_helpers import PEOPLE_CSV, Cli


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "home")


@pytest.fixture
def people_csv(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(PEOPLE_CSV)
    return path
