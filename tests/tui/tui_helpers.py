"""Helpers for Pilot tests: bounded waits, notifications, table text (imported by the tests)."""

from __future__ import annotations

import time
from typing import Callable

SIZE = (100, 30)


async def settle(pilot) -> None:
    """Let every running worker finish and the messages they posted be handled."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def wait_until(pilot, predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    """Poll `predicate` between message-loop turns until it holds or `timeout` passes.

    For facts that arrive from outside the app (watchdog, another writer): synchronisation with
    a deadline, not a sleep that hopes.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await pilot.pause(0.05)
    return predicate()


def notifications(app) -> list[tuple[str, str]]:
    """(severity, message) of the notifications the app currently holds."""
    return [(n.severity, n.message) for n in app._notifications]


def table_column(table, index: int = 0) -> list[str]:
    """The plain text of one column of a DataTable, top to bottom."""
    return [str(table.get_row_at(r)[index]) for r in range(table.row_count)]
