"""Pilot tests of the Compare screen: marks from Experiments, best values, differences only,
baseline deltas, overlaid curves, importance and evaluation, 1 and 50 runs, bad comparisons."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tui_mlops.store.home import Home
from tui_mlops.tracking.api import start_run
from tui_mlops.tui.app import MlopsApp
from tui_mlops.tui.screens.compare import CompareScreen
from tui_mlops.tui.screens.compare_panes import BASE_MARK, BEST_MARK, CompareTable
from tui_mlops.tui.screens.experiments import ExperimentsScreen

from tui_helpers import SIZE, notifications, settle, wait_until

# train_helpers lives in tests/training, on sys.path only once pytest collects that folder.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "training"))
from train_helpers import ingest_text, toy_csv, train_here  # noqa: E402


def app_for(home: Home) -> MlopsApp:
    return MlopsApp(home, sample_data=False, watch=False)


def make_run(home: Home, name: str, *, lr: float, seed: int = 1, auc_end: float = 0.9,
             steps: int = 20, task: str | None = "binary", dataset: str | None = None,
             extra: dict | None = None) -> str:
    spec = {"task": task} if task else None
    with start_run("cmp", name=name, params={"lr": lr, "seed": seed}, home=home, spec=spec,
                   dataset=dataset) as run:
        for s in range(steps):
            frac = (s + 1) / steps
            run.log_metrics({"valid/auc": 0.5 + (auc_end - 0.5) * frac,
                             "train/loss": 1.0 - 0.9 * frac * auc_end}, step=s)
        if extra:
            run.log_metrics(extra)
    return run.run_id


@dataclass
class Store:
    """One home for the module (built once): each test marks the runs it compares."""

    home: Home
    trained: tuple[str, str]
    fifty: list[str]
    tasks: tuple[str, str]
    data: tuple[str, str]
    one: str
    pair: tuple[str, str]   # made last: the two newest runs, first on the Experiments screen


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    root = tmp_path_factory.mktemp("compare")
    home = Home.open(root / "home")
    ingest_text(home, root, "toy", toy_csv())
    drop = ["const", "nothing", "ts"]
    trained = tuple(train_here(home, target="y_bin", num_boost_round=8, drop=drop,
                               params={"num_leaves": leaves})[0] for leaves in (7, 3))
    extra = [f"m{k:02d}" for k in range(30)]   # 30 more metric rows: more than a screenful
    fifty = [make_run(home, f"r{i:02d}", lr=0.001 * (i + 1), seed=i, auc_end=0.6 + i / 200,
                      steps=5, extra={k: float(i + j) for j, k in enumerate(extra)})
             for i in range(50)]
    tasks = (make_run(home, "clf", lr=0.1, task="binary"),
             make_run(home, "reg", lr=0.1, task="regression"))
    data = (make_run(home, "a", lr=0.1, dataset="churn@1111111111111111"),
            make_run(home, "b", lr=0.2, dataset="churn@2222222222222222"))
    one = make_run(home, "alone", lr=0.05, steps=3)
    low = make_run(home, "low-lr", lr=0.01, seed=3, auc_end=0.8)
    high = make_run(home, "high-lr", lr=0.1, seed=3, auc_end=0.9)
    return Store(home, trained, fifty, tasks, data, one, (low, high))


async def started(app: MlopsApp, pilot, marks) -> None:
    await settle(pilot)
    app.marked_runs.update(marks)


async def open_compare(pilot, key: str = "3") -> CompareScreen:
    await pilot.press(key)
    screen = pilot.app.screen
    assert isinstance(screen, CompareScreen), f"key {key} showed {type(screen).__name__}"
    assert await wait_until(pilot, lambda: screen.shown_count > 0 or screen.error is not None
                            or not screen.refs, 20)
    await settle(pilot)
    return screen


def row_of(table: CompareTable, label: str) -> list:
    for r in range(table.row_count):
        cells = table.get_row_at(r)
        if str(cells[0]).strip() == label:
            return cells
    raise AssertionError(f"no row {label!r} in {[str(table.get_row_at(r)[0]) for r in range(table.row_count)]}")


def headers(table: CompareTable) -> list[str]:
    return [str(c.label) for c in table.columns.values()]


def keys_column(table: CompareTable) -> list[str]:
    return [str(table.get_row_at(r)[0]).strip() for r in range(table.row_count)]


async def test_no_marked_runs_shows_how_to_mark(home) -> None:
    async with app_for(home).run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await open_compare(pilot)
        empty = screen.query_one("#cmp-empty")
        assert empty.display and not screen.query_one("#cmp-tabs").display
        text = str(empty.render())
        assert "space" in text and "press 3" in text and "press 2" in text
        await pilot.press("escape")
        await pilot.pause()
        assert pilot.app.current_mode == "experiments"


async def test_marks_from_experiments_two_columns_best_highlighted(store) -> None:
    low, high = store.pair
    async with app_for(store.home).run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2")
        experiments = pilot.app.screen
        assert isinstance(experiments, ExperimentsScreen)
        assert await wait_until(pilot, lambda: experiments.page is not None)
        await settle(pilot)
        await pilot.press("space", "space")  # the two newest runs (marking moves the cursor down)
        await pilot.pause()
        assert pilot.app.marked_runs == {low, high}
        screen = await open_compare(pilot)
        assert screen.query_one("#cmp-tabs").display and not screen.query_one("#cmp-empty").display
        table = screen.query_one("#cmp-metrics", CompareTable)
        assert table.has_focus
        heads = headers(table)
        assert len(heads) == 3 and heads[0] == "metric"
        order = [h.split("\n")[0] for h in heads[1:]]
        assert set(order) == {low[:8], high[:8]}
        assert {h.split("\n")[1] for h in heads[1:]} == {"low-lr", "high-lr"}
        hi, lo = 1 + order.index(high[:8]), 1 + order.index(low[:8])
        best_style = table.styles_for_cells()["best"]
        auc = row_of(table, "valid/auc ↑")
        assert str(auc[hi]).startswith(BEST_MARK) and auc[hi].style == best_style
        assert not str(auc[lo]).startswith(BEST_MARK) and auc[lo].style != best_style
        loss = row_of(table, "train/loss ↓")    # lower is better: high-lr's loss is lower
        assert str(loss[hi]).startswith(BEST_MARK)
        # Step metrics: the best over the steps and the step it was reached at.
        assert str(row_of(table, "best at step")[hi]) == "19"
        title = str(screen.query_one("#cmp-title").render())
        assert "Compare 2 runs" in title and "task binary" in title
        await pilot.press("escape")
        await pilot.pause()
        assert pilot.app.screen is experiments


async def test_differences_only_toggle_and_baseline_deltas(store) -> None:
    a, b = store.pair
    app = app_for(store.home)
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot, {a, b})
        screen = await open_compare(pilot)
        await pilot.press("p")
        await pilot.pause()
        params = screen.query_one("#cmp-params", CompareTable)
        assert params.has_focus
        assert keys_column(params) == ["lr"]                  # seed is the same: hidden
        assert "1 of 2 params differ" in str(screen.query_one("#cmp-params-note").render())
        await pilot.press("d")
        await pilot.pause()
        assert keys_column(params) == ["lr", "seed"]
        await pilot.press("d")
        await pilot.pause()
        assert keys_column(params) == ["lr"]

        # Baseline: pick run a in the picker (type its id to narrow, enter).
        await pilot.press("b")
        await pilot.pause()
        await pilot.press(*a[:8], "enter")
        await settle(pilot)
        assert screen.baseline_id == a and screen.cmp.baseline is not None
        assert f"baseline {BASE_MARK}{a[:8]}" in str(screen.query_one("#cmp-title").render())
        lr = row_of(params, "lr")  # with a baseline, values that differ from it are coloured
        heads = [h.split("\n")[0] for h in headers(params)[1:]]
        base_col, other = 1 + heads.index(BASE_MARK + a[:8]), 1 + heads.index(b[:8])
        assert lr[other].style == params.styles_for_cells()["changed"] and not lr[base_col].style
        await pilot.press("m")
        await pilot.pause()
        table = screen.query_one("#cmp-metrics", CompareTable)
        auc = row_of(table, "valid/auc ↑")
        assert "(" not in str(auc[base_col])
        assert str(auc[other]).endswith("(+0.1)")          # 0.9 - 0.8
        better = table.styles_for_cells()["better"]
        assert any(span.style == better for span in auc[other].spans)
        assert str(row_of(table, "train/loss ↓")[other]).endswith("(-0.09)")  # lower: better
        # No baseline again.
        await pilot.press("b")
        await pilot.pause()
        await pilot.press(*"no baseline", "enter")
        await settle(pilot)
        assert screen.cmp.baseline is None
        assert "(" not in str(row_of(table, "valid/auc ↑")[other])


async def test_curves_overlay_every_run_with_a_legend_and_log_scale(store) -> None:
    a, b = store.pair
    app = app_for(store.home)
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot, {a, b})
        screen = await open_compare(pilot)
        await pilot.press("c")
        assert await wait_until(pilot, lambda: screen.curves_pane.drawn_count > 0)
        await settle(pilot)
        chart = screen.query_one("#cmp-chart")
        assert screen.curves_pane.key == "valid/auc"           # the validation curve first
        assert f"{a[:8]} low-lr" in chart.text and f"{b[:8]} high-lr" in chart.text
        assert screen.query_one("#cmp-curve-keys").has_focus
        linear = chart.text
        await pilot.press("l")
        assert await wait_until(pilot, lambda: chart.text != linear)
        assert "log y" in str(screen.query_one("#cmp-curves-note").render())
        # Another metric from the list (sorted): up moves to train/loss.
        drawn = screen.curves_pane.drawn_count
        await pilot.press("up")
        assert await wait_until(pilot, lambda: screen.curves_pane.drawn_count > drawn
                                and screen.curves_pane.key == "train/loss")
        await settle(pilot)
        assert "train/loss: 2 of 2 runs drawn" in str(screen.query_one("#cmp-curves-note").render())


async def test_open_fills_only_the_shown_pane_reads_curves_after_and_r_compares_again(store) -> None:
    a, b = store.pair
    app = app_for(store.home)
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot, {a, b})
        screen = await open_compare(pilot)
        assert screen.shown_count == 1
        metrics = screen.query_one("#cmp-metrics", CompareTable)
        assert metrics.row_count > 0
        assert screen.query_one("#cmp-params", CompareTable).row_count == 0   # filled when shown
        # The default metric's curves are read once the comparison is drawn, drawn when shown.
        assert await wait_until(pilot, lambda: screen.curves_pane.curves is not None)
        assert screen.curves_pane.key == "valid/auc" and len(screen.curves_pane.curves.series) == 2
        assert screen.curves_pane.drawn_count == 0
        await pilot.press("p")
        await settle(pilot)
        assert keys_column(screen.query_one("#cmp-params", CompareTable)) == ["lr"]
        # r compares again; leaving and coming back with the same finished runs does not.
        await pilot.press("m", "r")
        assert await wait_until(pilot, lambda: screen.shown_count == 2)
        await settle(pilot)
        assert metrics.row_count > 0 and str(row_of(metrics, "best at step")[1]) == "19"
        await pilot.press("escape")
        await settle(pilot)
        assert await open_compare(pilot) is screen and screen.shown_count == 2


async def test_one_run_is_shown_without_a_best(store) -> None:
    app = app_for(store.home)
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot, {store.one})
        screen = await open_compare(pilot)
        table = screen.query_one("#cmp-metrics", CompareTable)
        assert len(table.columns) == 2 and headers(table)[1].startswith(store.one[:8])
        assert not any(BEST_MARK in str(c) for r in range(table.row_count) for c in table.get_row_at(r))
        assert "Compare 1 run " in str(screen.query_one("#cmp-title").render())


async def test_fifty_runs_scroll_and_tab_moves_between_panes(store) -> None:
    ids = store.fifty
    app = app_for(store.home)
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot, ids)
        screen = await open_compare(pilot)
        table = screen.query_one("#cmp-metrics", CompareTable)
        assert len(table.columns) == 51
        auc = row_of(table, "valid/auc ↑")
        col = [h.split("\n")[0] for h in headers(table)[1:]].index(ids[-1][:8]) + 1
        assert str(auc[col]).startswith(BEST_MARK)   # the highest auc
        assert table.cursor_row == 0 and table.row_count > 30
        await pilot.press("pagedown")
        await pilot.pause()
        assert table.cursor_row > 5 and table.scroll_y > 0
        await pilot.press("down")
        await pilot.pause()
        assert table.cursor_row > 6
        await pilot.press(*["right"] * 30)
        await pilot.pause()
        assert table.scroll_x > 0                    # sideways through 50 run columns
        # tab: the next pane (params, its table focused), shift+tab back.
        await pilot.press("tab")
        await pilot.pause()
        params = screen.query_one("#cmp-params", CompareTable)
        assert params.has_focus and len(params.columns) == 51
        assert keys_column(params) == ["lr", "seed"]
        await pilot.press("tab")
        await pilot.pause()
        assert screen.query_one("#cmp-curve-keys").has_focus
        assert await wait_until(pilot, lambda: screen.curves_pane.drawn_count > 0)
        assert "valid/auc: 50 of 50 runs drawn" in str(screen.query_one("#cmp-curves-note").render())
        await pilot.press("shift+tab", "shift+tab")
        await pilot.pause()
        assert table.has_focus


async def test_runs_on_different_tasks_are_refused(store) -> None:
    clf, reg = store.tasks
    app = app_for(store.home)
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot, {clf, reg})
        screen = await open_compare(pilot)
        assert screen.error is not None
        assert screen.error.startswith("runs on different tasks")
        assert "binary" in screen.error and "regression" in screen.error
        assert ("error", screen.error) in notifications(app)
        line = screen.query_one("#cmp-error")
        assert line.display and "runs on different tasks" in str(line.render())
        assert not screen.query_one("#cmp-tabs").display
        # Unmark one: the next show compares the other alone.
        app.marked_runs.discard(reg)
        await pilot.press("2")
        await settle(pilot)
        screen = await open_compare(pilot)
        assert screen.error is None and not screen.query_one("#cmp-error").display
        assert len(screen.query_one("#cmp-metrics", CompareTable).columns) == 2


async def test_different_data_is_a_warning_on_the_data_line(store) -> None:
    app = app_for(store.home)
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot, store.data)
        screen = await open_compare(pilot)
        line = screen.query_one("#cmp-data")
        text = str(line.render())
        assert "different data" in text and "churn@11111111" in text and "churn@22222222" in text
        assert line.has_class("-warning")


async def test_importance_and_confusion_matrices_of_trained_runs(store) -> None:
    app = app_for(store.home)
    async with app.run_test(size=SIZE) as pilot:
        await started(app, pilot, store.trained)
        screen = await open_compare(pilot)
        data = screen.query_one("#cmp-data")
        assert "data: toy@" in str(data.render()) and not data.has_class("-warning")
        await pilot.press("i")
        await pilot.pause()
        imp = screen.query_one("#cmp-importance", CompareTable)
        assert imp.has_focus
        features = keys_column(imp)
        assert "x1" in features and len(features) == len(screen.cmp.importance)
        assert all(str(c).lstrip(BEST_MARK).endswith("%") for c in row_of(imp, "x1")[1:])
        await pilot.press("e")
        await pilot.pause()
        ev = screen.query_one("#cmp-evaluation", CompareTable)
        rows = keys_column(ev)
        assert rows[0] == "share right (diagonal) ↑"
        cells = {f"true {t} → pred {p}" for t in "01" for p in "01"}
        assert cells <= set(rows)
        for col in (1, 2):
            shown = sum(int(str(row_of(ev, c)[col])) for c in cells)
            assert shown == sum(sum(r) for r in screen.cmp.evaluation[col - 1]["confusion"])
        assert "confusion counts" in str(screen.query_one("#cmp-eval-note").render())
