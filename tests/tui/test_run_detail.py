"""Pilot tests of the run detail screen with real runs (tracking API in-process, real jobs)."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading

from rich.text import Text
from textual.widgets import SelectionList, TabbedContent

from tui_mlops.jobs import manager
from tui_mlops.store.home import Home
from tui_mlops.tracking.api import start_run
from tui_mlops.tui.app import MlopsApp
from tui_mlops.tui.screens import KeyedTable
from tui_mlops.tui.screens.confirm import ConfirmScreen
from tui_mlops.tui.screens.run_detail import RunDetailScreen
from tui_mlops.tui.screens.run_detail_panes import ChartsPane, TextPrompt
from tui_mlops.tui.widgets.line_chart import LineChart

from tui_helpers import SIZE, settle, table_column, wait_until




def finished_run(home: Home) -> str:
    with start_run("churn", name="lgbm-a", home=home, params={"num_leaves": 31, "lr": 0.1, "expr": "[b]raw[/b]"},
                   tags={"team": "risk"}, spec={"model": "lightgbm", "seed": 7}) as run:
        for step, (auc, loss) in enumerate([(0.61, 0.69), (0.83, 0.41), (0.79, 0.45)], start=1):
            run.log_metrics({"valid/auc": auc, "valid/logloss": loss}, step=step)
        run.log_artifact_bytes("model.txt", b"tree\n" * 100, kind="model")
    return run.run_id


def text(widget) -> str:
    return str(widget.render())


async def open_detail(pilot, home: Home, run_id: str) -> RunDetailScreen:
    await settle(pilot)
    screen = RunDetailScreen(home, run_id)
    await pilot.app.push_screen(screen)
    assert await wait_until(pilot, lambda: screen.detail is not None, timeout=10)
    return screen


def chart(screen: RunDetailScreen) -> LineChart:
    return screen.query_one(ChartsPane).chart


async def test_detail_shows_header_params_metrics_artifacts_and_spec(home: Home) -> None:
    run_id = finished_run(home)
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_detail(pilot, home, run_id[:6])  # a prefix is enough
        title = text(screen.query_one("#run-title"))
        assert run_id[:8] in title and "lgbm-a" in title and "finished" in title and "churn" in title
        assert re.search(r"finished \d+(\.\d)?s", title)  # status, then how long it took
        meta = text(screen.query_one("#run-meta"))
        assert re.search(r"started \d\d:\d\d:\d\d", meta) and "data" not in meta  # no dataset
        assert not screen.query_one("#run-problem").display
        # Charts: a validation metric is picked first, drawn with its name in the legend.
        assert await wait_until(pilot, lambda: "valid/auc" in chart(screen).text)
        assert screen.query_one(SelectionList).selected == ["valid/auc"]
        params = screen.query_one("#params-table", KeyedTable)
        rows = [tuple(str(c) for c in params.get_row_at(r)) for r in range(params.row_count)]
        assert ("param", "num_leaves", "31") in rows and ("param", "lr", "0.1") in rows
        # Users' values are never read as markup (DataTable renders a str cell as markup).
        shown = [[c.plain if isinstance(c, Text) else Text.from_markup(str(c)).plain
                  for c in params.get_row_at(r)] for r in range(params.row_count)]
        assert ["param", "expr", "[b]raw[/b]"] in shown
        assert ("tag", "team", "risk") in rows
        await pilot.press("m")
        assert screen.query_one(TabbedContent).active == "tab-metrics"
        metrics = screen.query_one("#metrics-table", KeyedTable)
        assert await wait_until(pilot, lambda: "valid/auc" in table_column(metrics, 0))
        auc = [str(c) for c in metrics.get_row_at(table_column(metrics, 0).index("valid/auc"))]
        loss = [str(c) for c in metrics.get_row_at(table_column(metrics, 0).index("valid/logloss"))]
        # metric, last, min, max, best, best step, last step, points
        assert auc == ["valid/auc", "0.79", "0.61", "0.83", "0.83", "2", "3", "3"]
        assert loss[4:6] == ["0.41", "2"]  # a loss is best at its minimum
        await pilot.press("a")
        assert screen.query_one(TabbedContent).active == "tab-artifacts"
        arts = screen.query_one("#artifacts-table", KeyedTable)
        row = [str(c) for c in arts.get_row_at(0)]
        assert row[0] == "artifacts/model.txt" and row[1] == "model" and row[2] == "500 B"
        assert len(row[3]) == 12 and all(ch in "0123456789abcdef" for ch in row[3])
        await pilot.press("S")
        assert screen.query_one(TabbedContent).active == "tab-spec"
        assert json.loads(str(screen.query_one("#spec-text").render())) == {"model": "lightgbm", "seed": 7}
        assert not screen.check_action("cancel_run", ())  # a finished run has nothing to cancel
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, RunDetailScreen)


async def test_space_overlays_metrics_and_L_switches_to_a_log_scale(home: Home) -> None:
    run_id = finished_run(home)
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_detail(pilot, home, run_id)
        assert await wait_until(pilot, lambda: "valid/auc" in chart(screen).text)
        picker = screen.query_one(SelectionList)
        picker.focus()
        picker.highlighted = 1  # valid/logloss
        await pilot.press("space")
        assert await wait_until(pilot, lambda: "valid/logloss" in chart(screen).text
                                and "valid/auc" in chart(screen).text)
        linear = chart(screen).text
        await pilot.press("L")
        assert await wait_until(pilot, lambda: chart(screen).text != linear)
        assert screen.log_y and "log y" in text(screen.query_one("#charts .metric-hint"))


async def test_chart_and_summary_update_live_while_points_arrive(home: Home) -> None:
    run = start_run("live", name="streaming", home=home)
    try:
        for step in range(1, 6):
            run.log_metric("train/loss", 1.0 / step, step=step)
        run.flush()
        app = MlopsApp(home, sample_data=False, watch=False)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_detail(pilot, home, run.run_id)
            assert "running" in text(screen.query_one("#run-title"))
            assert await wait_until(pilot, lambda: "train/loss" in chart(screen).text)
            assert "7777" not in chart(screen).text
            spike_written = threading.Event()

            def write_more() -> None:  # another thread of the "script" keeps logging
                for step in range(6, 400):
                    run.log_metric("train/loss", 7777.0 if step == 300 else 1.0 / step, step=step)
                run.flush()
                spike_written.set()

            writer = threading.Thread(target=write_more)
            writer.start()
            # The y axis grows to the spike: new points reached the chart, reduced, spike kept.
            assert await wait_until(pilot, lambda: "7777" in chart(screen).text, timeout=10)
            writer.join()
            assert spike_written.is_set()
            await pilot.press("m")
            metrics = screen.query_one("#metrics-table", KeyedTable)
            assert await wait_until(pilot, lambda: metrics.row_count == 1
                                    and str(metrics.get_row_at(0)[7]) == "399")
            assert str(metrics.get_row_at(0)[3]) == "7,777.0"  # max
            run.end()
            assert await wait_until(pilot, lambda: "finished" in text(screen.query_one("#run-title")))
    finally:
        run.end()


async def test_tag_and_note_keys_write_edits_that_show_up(home: Home) -> None:
    run_id = finished_run(home)
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_detail(pilot, home, run_id)
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, TextPrompt)
        await pilot.press(*"oops", "enter")
        await pilot.pause()
        assert "expected key=value" in text(app.screen.query_one("#prompt-error"))
        await pilot.press(*["backspace"] * 4, *"stage=prod", "enter")
        params = screen.query_one("#params-table", KeyedTable)
        assert await wait_until(pilot, lambda: "stage" in table_column(params, 1))
        rows = [tuple(str(c) for c in params.get_row_at(r)) for r in range(params.row_count)]
        assert ("tag", "stage", "prod") in rows and ("tag", "team", "risk") in rows
        await pilot.press("N")
        await pilot.pause()
        await pilot.press(*"more leaves helped", "enter")
        assert await wait_until(pilot, lambda: "more leaves helped" in text(screen.query_one("#run-note")))
        edits = (home.runs_dir / run_id / "edits.jsonl").read_text()
        assert '"stage":"prod"' in edits and "more leaves helped" in edits
        await pilot.press("N")
        await pilot.pause()
        assert app.screen.query_one("#prompt-input").value == "more leaves helped"
        await pilot.press("escape")  # cancelled: nothing written
        await pilot.pause()
        assert (home.runs_dir / run_id / "edits.jsonl").read_text() == edits


async def test_a_crashed_job_shows_its_error_and_last_log_lines(jobs_home: Home) -> None:
    script = "import time; print('loading data', flush=True); print('fatal: out of cheese', flush=True); time.sleep(120)"
    run_id = manager.submit(jobs_home, "command", {"argv": [sys.executable, "-c", script]}, name="doomed")
    log = jobs_home.runs_dir / run_id / "job.log"
    app = MlopsApp(jobs_home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_detail(pilot, jobs_home, run_id)
        await pilot.press("l")
        assert await wait_until(pilot, lambda: "out of cheese" in log.read_text()
                                and any("out of cheese" in str(ln) for ln in screen.query_one("#run-log").lines))
        assert await wait_until(pilot, lambda: manager.get_job(jobs_home, run_id).status == "running")
        os.killpg(manager.get_job(jobs_home, run_id).pid, signal.SIGKILL)
        await app.run_action("find_crashes")  # what the app's watcher does every 5 s
        problem = screen.query_one("#run-problem")
        assert await wait_until(pilot, lambda: problem.display and "CRASHED" in text(problem), timeout=15)
        shown = text(problem)
        assert "exited without finishing" in shown and "fatal: out of cheese" in shown
        assert "loading data" in shown  # the last lines, not just the last one
        assert "crashed" in text(screen.query_one("#run-title"))


async def test_x_cancels_a_running_job_after_confirming(jobs_home: Home) -> None:
    script = "import time; print('working', flush=True); time.sleep(120)"
    run_id = manager.submit(jobs_home, "command", {"argv": [sys.executable, "-c", script]}, name="stop-me")
    app = MlopsApp(jobs_home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_detail(pilot, jobs_home, run_id)
        assert await wait_until(pilot, lambda: screen.detail.status == "running", timeout=15)
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        assert await wait_until(pilot, lambda: "cancelled" in text(screen.query_one("#run-title")),
                                timeout=15)
        # The System tab: the job worker sampled CPU and RAM; this machine has no GPU to chart.
        await pilot.press("s")
        note = screen.query_one(".system-note")
        assert await wait_until(pilot, lambda: "samples" in text(note))
        charts = list(screen.query(".system-chart").results(LineChart))
        assert await wait_until(pilot, lambda: "cpu_percent" in charts[0].text and "ram_mb" in charts[1].text)
        if not screen.query_one(".system-gpu").display:  # no GPU samples: the note says why
            assert "No GPU metrics" in text(note)


async def test_R_reruns_a_training_and_opens_the_new_run(jobs_home: Home, tmp_path) -> None:
    from test_jobs_screen import toy_dataset
    from tui_helpers import notifications

    from tui_mlops.training.spec import TrainSpec
    from tui_mlops.training.train import start_training

    spec = TrainSpec(dataset=toy_dataset(jobs_home, tmp_path, rows=300), target="y",
                     num_boost_round=5, name="small", params={"num_threads": 1, "verbose": -1})
    first = start_training(jobs_home, spec)
    script = finished_run(jobs_home)
    app = MlopsApp(jobs_home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_detail(pilot, jobs_home, script)
        await pilot.press("R")  # a script run has no spec to train again
        assert await wait_until(pilot, lambda: any("can be re-run" in m for _s, m in notifications(app)))
        assert app.screen is screen
        await pilot.press("escape")
        screen = await open_detail(pilot, jobs_home, first)
        assert await wait_until(pilot, lambda: screen.detail.status == "finished", timeout=60)
        await pilot.press("R")
        assert await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen)
                                and app.screen is not screen and app.screen.detail is not None)
        again = app.screen
        assert again.run_id != first and (again.detail.tags or {}).get("rerun_of") == first
        assert any(f"started as {again.run_id[:8]}" in m for _s, m in notifications(app))
        assert await wait_until(pilot, lambda: again.detail.status == "finished", timeout=60)


async def test_every_tab_key_works_whatever_has_focus(home: Home) -> None:
    from test_jobs_screen import key_latency

    from tui_mlops.tui.screens.run_detail import TABS

    run_id = finished_run(home)
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_detail(pilot, home, run_id)
        tabs = screen.query_one(TabbedContent)
        # From each focused widget that has keys of its own: metric list, info table, log.
        starts = [t for t in TABS if t[1] in "cpl"]
        for pane, key, _title, _focus in starts:
            for other, other_key, _t, _f in TABS:
                await key_latency(pilot, key, lambda pane=pane: tabs.active == pane)
                # ... and from the widget that key focused (a table, a list, the log):
                await key_latency(pilot, other_key, lambda other=other: tabs.active == other)
