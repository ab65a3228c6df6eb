"""Pilot tests of the Experiments screen: runs table, paging, sort, filter, group, columns, marks, forms."""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path

import pytest

from tui_mlops.store.home import Home
from tui_mlops.tracking.api import start_run
from tui_mlops.tui.app import MlopsApp
from tui_mlops.tui.screens.experiments import PAGE_SIZE, ExperimentsScreen
from tui_mlops.tui.widgets.run_grid import BEST_MARK, MARK

from tui_helpers import SIZE, notifications, settle, wait_until

N_RUNS = 300


def x_of(i: int) -> float:
    return ((i * 37) % N_RUNS) / N_RUNS  # a permutation: every run has its own x


def params_of(i: int) -> dict:
    params = {"p": i % 4, "seed": i % 5, "lr": (0.01, 0.1)[i % 2], "depth": 3 + i % 3}
    if i % 10 == 0:
        params["rare"] = "yes"  # on few runs: never among the default columns
    return params


def make_runs(home: Home, n: int = N_RUNS) -> list[str]:
    ids = []
    for i in range(n):
        with start_run("exp-b" if i % 3 == 0 else "exp-a", name=f"run-{i:03d}", params=params_of(i),
                       home=home) as run:
            run.log_metrics({"x": x_of(i), "loss": 1 - x_of(i)}, step=1)
            ids.append(run.run_id)
    return ids


@pytest.fixture(scope="module")
def runs_store(tmp_path_factory) -> tuple[Path, list[str]]:
    from tui_mlops.store.catalog import open_catalog

    root = tmp_path_factory.mktemp("runs") / "home"
    ids = make_runs(Home.open(root))
    with open_catalog(Home.open(root)):
        pass  # folded once here, so each test's copy opens with an index
    return root, ids


@pytest.fixture
def runs_home(runs_store, tmp_path) -> tuple[Home, list[str]]:
    """A private copy of the 300-run store (tests may fold, add runs, write edits)."""
    root, ids = runs_store
    shutil.copytree(root, tmp_path / "home")
    return Home.open(tmp_path / "home"), ids


async def open_experiments(pilot) -> ExperimentsScreen:
    await settle(pilot)
    await pilot.press("2")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ExperimentsScreen), f"key 2 showed {type(screen).__name__}"
    assert await wait_until(pilot, lambda: screen.page is not None, 20)
    await settle(pilot)
    return screen


async def type_text(pilot, text: str) -> None:
    await pilot.press(*text)


def first_ids(screen: ExperimentsScreen, n: int = 3) -> list[str]:
    return screen.row_ids[:n]


def column(screen: ExperimentsScreen, name: str) -> int:
    return screen.grid.columns.index(name)


def app_for(home: Home) -> MlopsApp:
    return MlopsApp(home, sample_data=False, watch=False)


async def test_table_shows_a_page_of_runs_newest_first_and_pages(runs_home) -> None:
    home, ids = runs_home
    async with app_for(home).run_test(size=SIZE) as pilot:
        screen = await open_experiments(pilot)
        grid = screen.grid
        assert grid.row_count == PAGE_SIZE
        assert screen.title_text.startswith(f"Runs 1–{PAGE_SIZE} of {N_RUNS}")
        assert grid.columns[:3] == ["run", "name", "status"]
        assert grid.columns[-5:] == ["experiment", "model", "dataset", "started", "duration"]
        assert {"x", "loss"} <= set(grid.columns[3:5])   # metrics next: on screen at 80 columns
        assert grid.cell_text(0, 0) == ids[-1][:8]          # newest first
        assert grid.cell_text(0, column(screen, "name")) == f"run-{N_RUNS - 1:03d}"
        assert grid.cell_text(0, column(screen, "status")) == "finished"
        assert grid.cell_style(0, column(screen, "status")) == "run-grid--finished"
        await pilot.press("pagedown")
        await settle(pilot)
        assert screen.title_text.startswith(f"Runs {PAGE_SIZE + 1}–{2 * PAGE_SIZE} of")
        assert grid.cell_text(0, 0) == ids[-1 - PAGE_SIZE][:8]
        await pilot.press("end")
        await settle(pilot)
        assert screen.title_text.startswith(f"Runs {2 * PAGE_SIZE + 1}–{N_RUNS} of")
        assert grid.cell_text(grid.cursor_row, 0) == ids[0][:8]  # cursor on the very last run
        await pilot.press("home")
        await settle(pilot)
        assert screen.title_text.startswith(f"Runs 1–{PAGE_SIZE} of")
        # Moving up from the first row of page 2 continues on page 1's last row.
        await pilot.press("pagedown")
        await settle(pilot)
        await pilot.press("up")
        await settle(pilot)
        assert screen.page_offset == 0 and grid.cursor_row == PAGE_SIZE - 1


async def test_sort_by_a_metric_via_the_picker_and_reverse(runs_home) -> None:
    home, ids = runs_home
    best = max(range(N_RUNS), key=x_of)
    worst = min(range(N_RUNS), key=x_of)
    async with app_for(home).run_test(size=SIZE) as pilot:
        screen = await open_experiments(pilot)
        assert screen.row_ids[0] == ids[-1]
        await pilot.press("o")
        await pilot.pause()
        await type_text(pilot, "metric x")
        await pilot.press("enter")
        await settle(pilot)
        assert screen.view.order_by == "metrics.x" and screen.view.descending
        assert screen.row_ids[0] == ids[best]
        assert "sort metrics.x ↓" in screen.title_text
        await pilot.press("O")
        await settle(pilot)
        assert screen.row_ids[0] == ids[worst]
        # A loss sorts lowest (best) first.
        await pilot.press("o")
        await pilot.pause()
        await type_text(pilot, "metric loss")
        await pilot.press("enter")
        await settle(pilot)
        assert screen.view.order_by == "metrics.loss" and not screen.view.descending
        assert screen.row_ids[0] == ids[best]


async def test_filter_with_the_query_language_narrows_and_escape_clears(runs_home) -> None:
    home, ids = runs_home
    query = "metrics.x > 0.5 and params.p in (1, 2)"
    expected = {ids[i] for i in range(N_RUNS) if x_of(i) > 0.5 and params_of(i)["p"] in (1, 2)}
    async with app_for(home).run_test(size=SIZE) as pilot:
        screen = await open_experiments(pilot)
        await pilot.press("slash")
        await type_text(pilot, query)
        await pilot.press("enter")
        await settle(pilot)
        assert screen.page.total == len(expected)
        assert screen.title_text.startswith(f"Runs 1–{len(expected)} of {len(expected)}")
        assert f"filter {query}" in screen.title_text
        assert set(screen.row_ids) == expected
        assert screen.focused is screen.grid
        await pilot.press("escape")
        await settle(pilot)
        assert screen.page.total == N_RUNS and screen.view.query is None


async def test_a_bad_query_is_one_error_line_with_the_position(runs_home) -> None:
    home, _ids = runs_home
    async with app_for(home).run_test(size=SIZE) as pilot:
        screen = await open_experiments(pilot)
        await pilot.press("slash")
        await type_text(pilot, "metrics.x > and")
        await pilot.press("enter")
        await settle(pilot)
        errors = [m for sev, m in notifications(pilot.app) if sev == "error"]
        assert errors and "position" in errors[-1] and "\n" not in errors[-1]
        assert screen.page.total == N_RUNS and screen.view.query is None
        box = screen.query_one("#runs-filter")
        assert screen.focused is box and box.value == "metrics.x > and"   # back to be fixed


async def test_group_by_a_param_shows_count_mean_and_std(runs_home) -> None:
    home, _ids = runs_home
    async with app_for(home).run_test(size=SIZE) as pilot:
        screen = await open_experiments(pilot)
        await pilot.press("g")
        await pilot.pause()
        await type_text(pilot, "seed")
        await pilot.press("enter")
        await pilot.pause()
        await type_text(pilot, "x")
        await pilot.press("enter")
        await settle(pilot)
        groups = screen.query_one("#runs-groups")
        assert groups.display and not screen.grid.display
        assert groups.grid.columns == ["value", "count", "mean", "std", "best"]
        assert groups.grid.row_count == 5
        assert groups.title_text.startswith("params.seed: 5 groups, 300 runs · metrics.x")
        for r in range(groups.grid.row_count):
            seed = int(groups.grid.cell_text(r, 0))
            xs = [x_of(i) for i in range(N_RUNS) if i % 5 == seed]
            assert groups.grid.cell_text(r, 1) == str(len(xs))
            assert groups.grid.cell_text(r, 2).lstrip(BEST_MARK) == format(statistics.mean(xs), ".5g")
            assert float(groups.grid.cell_text(r, 3)) == pytest.approx(statistics.stdev(xs), rel=1e-3)
        await pilot.press("escape")
        await pilot.pause()
        assert screen.grid.display and not groups.display


async def test_columns_chooser_adds_a_param_column(runs_home) -> None:
    home, _ids = runs_home
    async with app_for(home).run_test(size=SIZE) as pilot:
        screen = await open_experiments(pilot)
        assert "rare" not in screen.grid.columns          # on a tenth of the runs only
        assert "x" in screen.grid.columns and "loss" in screen.grid.columns
        await pilot.press("e")
        await pilot.pause()
        await type_text(pilot, "rare")
        await pilot.press("space", "enter")
        await settle(pilot)
        assert "rare" in screen.grid.columns
        rare = column(screen, "rare")
        shown = {screen.grid.cell_text(r, rare) for r in range(screen.grid.row_count)}
        assert shown == {"yes", "-"}


async def test_the_best_value_of_each_metric_column_is_highlighted(runs_home) -> None:
    home, ids = runs_home
    best = ids[max(range(N_RUNS), key=x_of)]
    async with app_for(home).run_test(size=SIZE) as pilot:
        screen = await open_experiments(pilot)
        await pilot.press("o")
        await pilot.pause()
        await type_text(pilot, "metric x")
        await pilot.press("enter")
        await settle(pilot)
        grid, x_col, loss_col = screen.grid, column(screen, "x"), column(screen, "loss")
        assert screen.row_ids[0] == best
        assert grid.cell_style(0, x_col) == "run-grid--best"
        assert grid.cell_text(0, x_col).startswith(BEST_MARK)
        assert grid.cell_style(0, loss_col) == "run-grid--best"   # the lowest loss is best
        assert all(grid.cell_style(r, x_col) is None for r in range(1, grid.row_count))


async def test_space_marks_and_unmarks_runs(runs_home) -> None:
    home, ids = runs_home
    async with app_for(home).run_test(size=SIZE) as pilot:
        screen = await open_experiments(pilot)
        await pilot.press("space")
        await pilot.pause()
        assert pilot.app.marked_runs == {ids[-1]}
        assert screen.grid.labels[0].startswith(MARK) and screen.grid.cursor_row == 1
        assert "1 marked" in screen.title_text
        await pilot.press("space")
        await pilot.press("up", "up", "space")
        await pilot.pause()
        assert pilot.app.marked_runs == {ids[-2]}
        assert not screen.grid.labels[0].startswith(MARK)
        # Marks survive a new page and coming back.
        await pilot.press("pagedown")
        await settle(pilot)
        await pilot.press("pageup")
        await settle(pilot)
        assert screen.grid.labels[1].startswith(MARK)


async def test_experiment_picker_shows_one_experiment(runs_home) -> None:
    home, _ids = runs_home
    async with app_for(home).run_test(size=SIZE) as pilot:
        screen = await open_experiments(pilot)
        await pilot.press("E")
        await settle(pilot)
        await type_text(pilot, "exp-b")
        await pilot.press("enter")
        await settle(pilot)
        assert screen.view.experiment == "exp-b"
        assert screen.page.total == len(range(0, N_RUNS, 3))
        exp = column(screen, "experiment")
        assert {screen.grid.cell_text(r, exp) for r in range(screen.grid.row_count)} == {"exp-b"}


async def test_new_runs_appear_on_runs_changed(runs_home) -> None:
    from tui_mlops.tui.messages import RunsChanged

    home, _ids = runs_home
    async with app_for(home).run_test(size=SIZE) as pilot:
        screen = await open_experiments(pilot)
        with start_run("exp-a", name="late-run", params={"p": 9}, home=home) as run:
            run.log_metric("x", 0.25)
        screen.post_message(RunsChanged(frozenset({run.run_id})))
        assert await wait_until(pilot, lambda: screen.page.total == N_RUNS + 1, 10)
        assert screen.row_ids[0] == run.run_id


async def test_empty_store_explains_how_to_start(home) -> None:
    async with app_for(home).run_test(size=SIZE) as pilot:
        screen = await open_experiments(pilot)
        empty = screen.query_one("#runs-empty")
        assert empty.display and not screen.query_one("#runs-body").display
        text = str(empty.content)
        assert "No runs yet" in text and "press n" in text and "mlops-tui train" in text
        assert "start_run" in text


async def test_enter_opens_the_run_detail(runs_home) -> None:
    from tui_mlops.tui.screens.run_detail import RunDetailScreen

    home, ids = runs_home
    async with app_for(home).run_test(size=SIZE) as pilot:
        await open_experiments(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert isinstance(pilot.app.screen, RunDetailScreen)
        assert pilot.app.screen.run_id == ids[-2]
