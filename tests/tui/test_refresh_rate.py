"""The `refresh_hz` setting drives every live view's timer: Jobs, Pipelines, Models, Monitor (poll
and the rate limit on reads), a run's detail (charts, log) and the Experiments live rows."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tui_mlops.settings import Settings
from tui_mlops.store.home import Home
from tui_mlops.tracking.api import start_run
from tui_mlops.tui.app import MlopsApp
from tui_mlops.tui.messages import RunsChanged
from tui_mlops.tui.screens import experiments_actions, jobs, models, monitor, pipelines, run_detail
from tui_mlops.tui.screens.experiments import ExperimentsScreen
from tui_mlops.tui.screens.jobs import JobsScreen
from tui_mlops.tui.screens.models import ModelsScreen
from tui_mlops.tui.screens.monitor import MonitorScreen
from tui_mlops.tui.screens.pipelines import PipelinesScreen
from tui_mlops.tui.screens.run_detail import RunDetailScreen
from tui_helpers import SIZE, settle, wait_until

SLOW_HZ = 0.2  # 5 s: unlike every built-in default (0.5 s and 1 s), so a view that ignores it fails


def interval(timer: Any) -> float:
    assert timer is not None, "the view started no timer"
    return timer._interval  # Textual's Timer keeps its period here


async def timers_of_every_view(pilot, home: Home, run_id: str) -> dict[str, float]:
    """Visit each live view and read the period of the timer that redraws or polls it."""
    found: dict[str, float] = {}
    await settle(pilot)
    await pilot.press("4")
    assert await wait_until(pilot, lambda: isinstance(pilot.app.screen, ModelsScreen))
    found["models"] = interval(pilot.app.screen._timer)
    await pilot.press("5")
    assert await wait_until(pilot, lambda: isinstance(pilot.app.screen, MonitorScreen))
    found["monitor"] = interval(pilot.app.screen._poll_timer)
    await pilot.press("6")
    assert await wait_until(pilot, lambda: isinstance(pilot.app.screen, JobsScreen)
                            and pilot.app.screen.loaded)
    found["jobs"] = interval(pilot.app.screen._timer)
    await pilot.press("P")
    assert await wait_until(pilot, lambda: isinstance(pilot.app.screen, PipelinesScreen)
                            and pilot.app.screen.loaded)
    found["pipelines"] = interval(pilot.app.screen._timer)
    screen = RunDetailScreen(home, run_id)
    await pilot.app.push_screen(screen)
    assert await wait_until(pilot, lambda: screen.detail is not None)
    found["run_detail"] = interval(screen._timer)
    return found


def a_run(home: Home) -> str:
    with start_run("rate", name="r", home=home) as run:
        run.log_metric("loss", 0.5, step=1)
    return run.run_id


async def test_views_keep_their_defaults_without_settings(home: Home) -> None:
    run_id = a_run(home)
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        found = await timers_of_every_view(pilot, home, run_id)
    assert found == {"models": models.POLL_S, "monitor": monitor.POLL_S, "jobs": jobs.REFRESH_S,
                     "pipelines": pipelines.REFRESH_S, "run_detail": run_detail.TICK_S}


@pytest.mark.parametrize("hz", [SLOW_HZ, 4.0])
async def test_every_live_view_ticks_at_refresh_hz(home: Home, hz: float) -> None:
    from tui_mlops.tui.settings_apply import apply_settings

    run_id = a_run(home)
    app = MlopsApp(home, sample_data=False, watch=False)
    apply_settings(app, Settings(refresh_hz=hz))
    async with app.run_test(size=SIZE) as pilot:
        found = await timers_of_every_view(pilot, home, run_id)
    assert found == dict.fromkeys(("models", "monitor", "jobs", "pipelines", "run_detail"), 1 / hz)


async def scheduled_wait(pilot, screen: Any, last: float, ask) -> tuple[float, float, float]:
    """Ask for a rate-limited redraw; (earliest, latest) it may wait for and what it waits."""
    before = time.monotonic()
    ask()
    assert await wait_until(pilot, lambda: screen._refresh_timer is not None, timeout=5), \
        "the redraw was not deferred: the rate limit did not apply"
    after = time.monotonic()
    return before - last, after - last, interval(screen._refresh_timer)


async def test_rate_limited_redraws_follow_refresh_hz(home: Home) -> None:
    """Experiments' live rows and Monitor's reads, asked for right after a redraw, wait out the
    rest of 1/refresh_hz (5 s here, against 0.5 s by default)."""
    from tui_mlops.tui.settings_apply import apply_settings

    app = MlopsApp(home, sample_data=False, watch=False)
    apply_settings(app, Settings(refresh_hz=SLOW_HZ))
    every = 1 / SLOW_HZ
    assert every > 2 * max(experiments_actions.REFRESH_EVERY, monitor.MIN_GAP_S)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2")
        assert await wait_until(pilot, lambda: isinstance(pilot.app.screen, ExperimentsScreen)
                                and pilot.app.screen.page is not None, 20)
        await settle(pilot)
        exp = pilot.app.screen
        since_min, since_max, wait = await scheduled_wait(
            pilot, exp, exp._last_refresh, lambda: exp.post_message(RunsChanged(None)))
        assert since_max < every - 1, f"the page was shown {since_max:.1f} s ago: too slow to tell"
        assert every - since_max - 0.01 <= wait <= every - since_min + 0.01, (wait, since_min)

        await pilot.press("5")
        assert await wait_until(pilot, lambda: isinstance(pilot.app.screen, MonitorScreen)
                                and pilot.app.screen.loaded_count > 0)
        mon = pilot.app.screen
        mon.reload()
        since_min, since_max, wait = await scheduled_wait(pilot, mon, mon._last_load,
                                                          mon.request_refresh)
        assert every - since_max - 0.01 <= wait <= every - since_min + 0.01, (wait, since_min)
