"""CLI for issue 5 (being written): see /work/contracts5.md."""

from __future__ import annotations

import argparse
from typing import Any


def add_parsers(sub: Any, common: list[argparse.ArgumentParser], home_opt: argparse.ArgumentParser | None = None) -> None:
    return None
