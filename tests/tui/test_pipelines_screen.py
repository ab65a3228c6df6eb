"""Pilot tests of the Pipelines screen (Jobs, then P) with real `pipeline run` processes: live stage
states and logs, cancel, re-run from a stage, and the trigger watcher started from the app."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from tui_mlops.pipeline.records import list_runs
from tui_mlops.pipeline.run import run_pipeline
from tui_mlops.store.home import Home
from tui_mlops.tui.app import MlopsApp
from tui_mlops.tui.screens.confirm import ConfirmScreen
from tui_mlops.tui.screens.pipelines import PipelinesScreen
from tui_mlops.tui.screens.pipelines_panes import cli_argv, stop_pipeline_watchers

from tui_helpers import SIZE, settle, wait_until

# `wait` holds until the test creates the marker file `go`: a stage that is "running" while we look.
PIPELINE = """\
[pipeline]
name = "demo"

[stages.hello]
kind = "shell"
command = "echo hello-out"

[stages.wait]
kind = "shell"
command = "echo waiting-for-go; while [ ! -f go ]; do sleep 0.05; done; echo went"
after = ["hello"]

[stages.last]
kind = "shell"
command = "echo last-out"
after = ["wait"]

[triggers]
watch = ["incoming"]
settle = "0.2s"
"""


@pytest.fixture
def project(tmp_path: Path, home: Home) -> Iterator[Path]:
    """The pipeline file; afterwards every run still going is released and killed."""
    folder = tmp_path / "proj"
    folder.mkdir()
    path = folder / "mlops.toml"
    path.write_text(PIPELINE)
    yield path
    (folder / "go").touch()
    for run in list_runs(home, "demo"):
        if run.status == "running" and run.pid and run.pid != os.getpid():
            try:
                os.killpg(run.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def start_run(home: Home, path: Path) -> subprocess.Popen:
    return subprocess.Popen(cli_argv(home, str(path)), cwd=str(path.parent), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


async def open_pipelines(pilot) -> PipelinesScreen:
    await settle(pilot)
    await pilot.press("6")
    await pilot.pause()
    await pilot.press("P")
    assert await wait_until(pilot, lambda: isinstance(pilot.app.screen, PipelinesScreen)
                            and pilot.app.screen.loaded, timeout=10)
    return pilot.app.screen


def stage_status(screen: PipelinesScreen, stage: str) -> str | None:
    return next((r[2] for r in screen.stage_texts() if r[0] == stage), None)


async def select_stage(pilot, screen: PipelinesScreen, stage: str) -> None:
    table = screen.query_one("#pipe-stages")
    table.focus()
    names = [r[0] for r in screen.stage_texts()]
    table.move_cursor(row=names.index(stage))
    await pilot.pause()


async def test_a_running_pipeline_shows_live_states_dag_and_stage_log(home: Home, project: Path) -> None:
    proc = start_run(home, project)
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_pipelines(pilot)
        assert await wait_until(pilot, lambda: stage_status(screen, "wait") == "running")
        row = screen.row_texts()[0]
        assert row[0] == "demo" and row[2] == "running"
        assert stage_status(screen, "hello") == "ok" and stage_status(screen, "last") == "pending"
        assert "[wait: running]" in screen.dag_plain() and "[hello: ok]" in screen.dag_plain()
        assert screen.check_action("cancel_run", ()) and "x" in app.screen.active_bindings
        # enter on a stage tails its log, live
        await select_stage(pilot, screen, "wait")
        await pilot.press("enter")
        assert await wait_until(pilot, lambda: "waiting-for-go" in screen.log_text())
        (project.parent / "go").touch()
        assert await wait_until(pilot, lambda: "went" in screen.log_text())
        assert await wait_until(pilot, lambda: screen.row_texts()[0][2] == "ok")
        assert [stage_status(screen, s) for s in ("hello", "wait", "last")] == ["ok", "ok", "ok"]
        assert screen.row_texts()[0][5] == "3/0/0"
        assert "[last: ok]" in screen.dag_plain()
        assert not screen.check_action("cancel_run", ())
    assert proc.wait(10) == 0


async def test_x_cancels_a_running_pipeline_run(home: Home, project: Path) -> None:
    proc = start_run(home, project)
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_pipelines(pilot)
        assert await wait_until(pilot, lambda: stage_status(screen, "wait") == "running")
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        assert await wait_until(pilot, lambda: screen.row_texts()[0][2] == "cancelled")
        assert stage_status(screen, "wait") == "cancelled" and stage_status(screen, "last") == "cancelled"
        assert stage_status(screen, "hello") == "ok"
    assert proc.wait(10) != 0
    assert list_runs(home, "demo")[0].status == "cancelled"
    # The stage's shell command was stopped too (SIGTERM would have left it running).
    import psutil

    def stage_alive() -> bool:
        for p in psutil.process_iter(["cmdline", "cwd"]):
            if "waiting-for-go" in " ".join(p.info["cmdline"] or []) and p.info["cwd"] == str(project.parent):
                return True
        return False

    assert not stage_alive()


async def test_declined_cancel_leaves_the_run_going(home: Home, project: Path) -> None:
    start_run(home, project)
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_pipelines(pilot)
        assert await wait_until(pilot, lambda: stage_status(screen, "wait") == "running")
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("n")
        await settle(pilot)
        assert app.screen is screen and list_runs(home, "demo")[0].status == "running"


async def test_R_reruns_from_the_selected_stage_as_a_new_run(home: Home, project: Path) -> None:
    (project.parent / "go").touch()
    first = run_pipeline(home, project)
    assert first.status == "ok"
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_pipelines(pilot)
        assert await wait_until(pilot, lambda: len(screen.row_texts()) == 1 and screen.stage_texts())
        await select_stage(pilot, screen, "wait")
        assert screen.check_action("rerun_from", ())
        await pilot.press("R")
        assert await wait_until(pilot, lambda: len(screen.row_texts()) == 2
                                and screen.row_texts()[0][2] == "ok", timeout=20)
        newest = screen.row_texts()[0][1]
        assert newest != first.run_id
    run = list_runs(home, "demo")[0]
    assert run.run_id == newest and run.options["rerun_from"] == "wait"
    # hello is upstream: reused from the cache; wait and what follows ran again.
    assert {n: r.status for n, r in run.stages.items()} == {"hello": "cached", "wait": "ok", "last": "ok"}


async def test_w_starts_the_watcher_a_dropped_file_runs_the_pipeline_and_w_stops_it(
        home: Home, project: Path) -> None:
    (project.parent / "go").touch()
    run_pipeline(home, project)
    app = MlopsApp(home, sample_data=False, watch=False)
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_pipelines(pilot)
            assert await wait_until(pilot, lambda: len(screen.row_texts()) == 1)
            await pilot.press("w")
            assert await wait_until(pilot, lambda: screen.watcher_for(str(project)) is not None)
            watcher = screen.watcher_for(str(project))
            assert await wait_until(pilot, lambda: "watcher on: mlops.toml" in str(
                screen.query_one("#pipe-title").content))
            (project.parent / "incoming" / "batch-1.csv").write_text("a,b\n1,2\n")
            assert await wait_until(pilot, lambda: len(screen.row_texts()) == 2
                                    and screen.row_texts()[0][2] == "ok", timeout=20)
            await pilot.press("w")
            assert await wait_until(pilot, lambda: screen.watcher_for(str(project)) is None)
            await settle(pilot)
            assert watcher.runs == 1 and watcher._observer is None
            assert not any(t.is_alive() for t in watcher._threads)
    finally:
        stop_pipeline_watchers(app)
    newest = list_runs(home, "demo")[0]
    assert newest.status == "ok" and {r.status for r in newest.stages.values()} == {"cached"}


async def test_empty_home_says_how_to_record_runs(home: Home) -> None:
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_pipelines(pilot)
        assert "No pipeline runs yet" in str(screen.query_one("#pipe-title").content)
        assert not screen.check_action("cancel_run", ()) and not screen.check_action("toggle_watcher", ())
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, PipelinesScreen)
