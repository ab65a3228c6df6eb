"""Pilot tests of the training and sweep forms opened from the Experiments screen (real jobs)."""

from __future__ import annotations

import time

import pytest
from textual.widgets import Input, Select

from tui_mlops.data.ingest import ingest_file
from tui_mlops.tui.app import MlopsApp
from tui_mlops.tui.screens.experiments import ExperimentsScreen
from tui_mlops.tui.screens.sweep_form import SweepForm
from tui_mlops.tui.screens.train_form import TrainForm, parse_transforms
from tui_mlops.tui.widgets.run_grid import BEST_MARK

from tui_helpers import SIZE, notifications, settle, wait_until

PARAMS = "num_threads=1, min_data_in_leaf=5, verbose=-1"


@pytest.fixture
def tiny(home, tmp_path):
    """120 rows: two numeric features, a category, a binary target and a one-class column."""
    lines = ["a,b,city,const,y"]
    for i in range(120):
        lines.append(f"{i % 17},{(i * 7) % 23},c{i % 3},1,{int((i % 17) + (i * 7) % 23 > 19)}")
    path = tmp_path / "tiny.csv"
    path.write_text("\n".join(lines) + "\n")
    return home, ingest_file(home, path).version


async def open_form(pilot, key: str):
    await settle(pilot)
    await pilot.press("2")
    screen = pilot.app.screen
    assert isinstance(screen, ExperimentsScreen)
    assert await wait_until(pilot, lambda: screen.page is not None, 20)
    await pilot.press(key)
    form = pilot.app.screen
    assert isinstance(form, TrainForm if key == "n" else SweepForm)
    assert await wait_until(pilot, lambda: bool(form.versions), 20)  # datasets loaded
    return screen, form


async def fill(pilot, form, version, target: str, params: str = PARAMS, rounds: str = "10") -> None:
    """Selects by value (their overlays are Textual's own), text fields by typing."""
    form.query_one("#form-dataset", Select).value = version.ref
    await pilot.pause()
    form.query_one("#form-target", Select).value = target
    for name, text in (("params", params), ("rounds", rounds), ("experiment", "form-test")):
        box = form.query_one(f"#form-{name}", Input)
        box.focus()
        box.value = ""
        await pilot.press(*text)


def run_dirs(home) -> list[str]:
    return sorted(p.name for p in home.runs_dir.iterdir() if p.is_dir()) if home.runs_dir.exists() else []


async def wait_for_status(pilot, screen: ExperimentsScreen, run_id: str, done: set[str],
                          timeout: float = 120.0) -> str:
    """Reload (key r) until the run shows one of `done` statuses; bounded by `timeout`."""
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        await pilot.press("r")
        await settle(pilot)
        if run_id in screen.row_ids:
            status = screen.grid.cell_text(screen.row_ids.index(run_id), screen.grid.columns.index("status"))
            if status in done:
                return status
        await pilot.pause(0.3)
    return status


async def test_the_form_starts_a_real_training_and_the_run_appears(tiny) -> None:
    home, version = tiny
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        screen, form = await open_form(pilot, "n")
        # The device line says what the GPU check found (here or on a GPU box), never a crash.
        gpu = form.query_one("#form-gpu")
        assert await wait_until(pilot, lambda: str(gpu.content).startswith("gpu: "), 40)
        await fill(pilot, form, version, "y")
        await pilot.press("ctrl+s")
        assert await wait_until(pilot, lambda: not form.is_attached, 60), notifications(app)
        await settle(pilot)
        runs = run_dirs(home)
        assert len(runs) == 1
        run_id = runs[0]
        assert any(f"Started training run {run_id}" in m for _s, m in notifications(app))
        # Shown as soon as the job has written its first events (queued or running).
        assert await wait_until(pilot, lambda: run_id in screen.row_ids, 20)
        status = await wait_for_status(pilot, screen, run_id, {"finished", "failed", "crashed"})
        assert status == "finished", (status, (home.runs_dir / run_id / "job.log").read_text()[-2000:])
        row = screen.row_ids.index(run_id)
        assert screen.grid.cell_text(row, screen.grid.columns.index("model")) == "lightgbm"
        assert any(c.startswith("valid/") for c in screen.grid.columns), screen.grid.columns
        # R re-runs the highlighted run: same spec and seed, so the same metrics.
        screen.grid.move_cursor(row)
        await pilot.press("R")
        assert await wait_until(pilot, lambda: len(run_dirs(home)) == 2, 30), notifications(app)
        again = (set(run_dirs(home)) - {run_id}).pop()
        assert await wait_until(pilot, lambda: again in screen.row_ids, 20)
        status = await wait_for_status(pilot, screen, again, {"finished", "failed", "crashed"})
        assert status == "finished"
        cols = [i for i, c in enumerate(screen.grid.columns) if c.startswith("valid/")]
        first, second = screen.row_ids.index(run_id), screen.row_ids.index(again)
        assert [screen.grid.cell_text(first, c).lstrip(BEST_MARK) for c in cols] == \
               [screen.grid.cell_text(second, c).lstrip(BEST_MARK) for c in cols]


@pytest.mark.parametrize("target, params, expect", [
    ("const", PARAMS, "class"),                       # a target with one class
    ("y", "num_leavez=7, num_threads=1", "num_leavez"),  # an unknown LightGBM param
    ("y", "num_leaves", "name=value"),                # not k=v at all
])
async def test_bad_form_input_shows_one_error_and_starts_nothing(tiny, target, params, expect) -> None:
    home, version = tiny
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        _screen, form = await open_form(pilot, "n")
        await fill(pilot, form, version, target, params=params)
        await pilot.press("ctrl+s")
        assert await wait_until(
            pilot, lambda: any(s == "error" for s, _m in notifications(app)), 30)
        await settle(pilot)
        errors = [m for s, m in notifications(app) if s == "error"]
        assert expect in errors[-1] and "\n" not in errors[-1]
        assert form.is_attached and not form.busy  # still open, to be fixed
        assert run_dirs(home) == []


async def test_the_sweep_form_rejects_a_bad_space_and_starts_a_sweep(tiny) -> None:
    home, version = tiny
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        screen, form = await open_form(pilot, "w")
        await fill(pilot, form, version, "y", rounds="5")
        space = form.query_one("#form-space", Input)
        space.focus()
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "space" in [m for s, m in notifications(app) if s == "error"][-1]
        await pilot.press(*"num_leaves=3,5")
        form.query_one("#form-trials", Input).value = "2"
        await pilot.press("ctrl+s")
        assert await wait_until(pilot, lambda: not form.is_attached, 60), notifications(app)
        await settle(pilot)
        parent = next(m for _s, m in notifications(app) if m.startswith("Started sweep")).split()[-1]
        assert await wait_until(pilot, lambda: parent in screen.row_ids, 20)
        status = await wait_for_status(pilot, screen, parent, {"finished", "failed", "crashed"})
        assert status == "finished"
        assert await wait_until(pilot, lambda: len(run_dirs(home)) == 3, 30)  # parent + 2 trials


def test_transforms_text_parses_to_spec_transforms() -> None:
    assert parse_transforms("log:a; bins:b:4; date_parts:t:year,month; ratio:a:b:r") == [
        {"op": "log", "column": "a"}, {"op": "bins", "column": "b", "bins": 4},
        {"op": "date_parts", "column": "t", "parts": ["year", "month"]},
        {"op": "ratio", "num": "a", "den": "b", "name": "r"}]
    assert parse_transforms("  ") == []
    with pytest.raises(Exception, match="not one of"):
        parse_transforms("sqrt:a")
