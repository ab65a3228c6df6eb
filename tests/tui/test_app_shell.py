"""Pilot tests of the app shell: modes on number keys, help, palette, quit, bindings, start-up."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from textual.binding import Binding
from textual.command import CommandPalette
from textual.dom import DOMNode
from textual.widgets import Static

import tui_mlops.tui
from tui_mlops.tui.app import EXIT_AFTER_READY_ENV, MlopsApp
from tui_mlops.tui.screens import KeyedTable, ModeBar
from tui_mlops.tui.screens.datasets import DatasetsScreen
from tui_mlops.tui.screens.help import HelpScreen
from tui_mlops.tui.screens.monitor import MonitorScreen

from tui_helpers import SIZE, settle, table_column, wait_until


def shown_text(screen) -> str:
    return "\n".join(str(w.render()) for w in screen.query(Static))


async def test_number_keys_switch_modes_and_placeholders_say_not_built(home) -> None:
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, DatasetsScreen)
        # 2, 3, 4 and 6 are tested in tests/tui/test_jobs_screen.py; 5 is the Monitor screen,
        # which says how to create a monitor while there is none.
        await pilot.press("5")
        await wait_until(pilot, lambda: isinstance(app.screen, MonitorScreen)
                         and app.screen.loaded_count > 0)
        assert app.current_mode == "monitor"
        assert isinstance(app.screen, MonitorScreen)
        text = shown_text(app.screen)
        assert "No monitors yet" in text and "mlops-tui monitor create" in text
        assert app.screen.query_one(ModeBar).mode == "monitor"
        await pilot.press("1")
        await pilot.pause()
        assert isinstance(app.screen, DatasetsScreen)


async def test_mode_bar_shows_every_mode_and_the_home(home) -> None:
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        bar = str(app.screen.query_one(ModeBar).render())
        for label in ("1 Datasets", "2 Experiments", "3 Compare", "4 Models", "5 Monitor", "6 Jobs"):
            assert label in bar
        assert home.root.name in bar


async def test_help_lists_every_active_binding(home) -> None:
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        expected = {app.get_key_display(b.binding.with_key(k))
                    for k, b in app.screen.active_bindings.items() if b.binding.action != "help_quit"}
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one(KeyedTable)
        keys = set(table_column(table, 0))
        actions = table_column(table, 1)
        assert keys == expected
        for what in ("Quit", "Filter", "Add", "Remove", "Commands", "Datasets", "Jobs", "Keys"):
            assert what in actions, what
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DatasetsScreen)


async def test_ctrl_p_and_colon_open_the_palette_and_its_commands_work(home) -> None:
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert CommandPalette.is_open(app)
        await pilot.press("escape")
        await pilot.pause()
        assert not CommandPalette.is_open(app)
        await pilot.press("colon")
        await pilot.pause()
        assert CommandPalette.is_open(app)
        await pilot.press(*"go to models")
        assert await wait_until(pilot, lambda: app.screen.query_one("CommandList").option_count > 0,
                                timeout=5)
        await pilot.press("enter")
        assert await wait_until(pilot, lambda: app.current_mode == "models", timeout=5)


async def test_q_quits(home) -> None:
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
    assert not app.is_running


def _our_node_classes() -> list[type]:
    found = []
    for info in pkgutil.walk_packages(tui_mlops.tui.__path__, "tui_mlops.tui."):
        module = importlib.import_module(info.name)
        for _name, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, DOMNode) and obj.__module__ == module.__name__:
                found.append(obj)
    return found


def test_every_declared_binding_has_an_id_and_a_tooltip() -> None:
    classes = _our_node_classes()
    assert MlopsApp in classes and DatasetsScreen in classes
    missing = []
    for cls in classes:
        for b in cls.__dict__.get("BINDINGS", []):
            if not isinstance(b, Binding) or not b.id or not b.tooltip:
                missing.append(f"{cls.__module__}.{cls.__name__}: {b!r}")
    assert not missing, "\n".join(missing)


async def test_every_active_binding_on_the_datasets_screen_has_an_id(home) -> None:
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        active = app.screen.active_bindings
        assert "q" in active and "slash" in active
        assert [k for k, b in active.items() if not b.binding.id] == []


async def test_keymap_rebinds_by_id(home) -> None:
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.set_keymap({"app.mode_models": "m"})
        await pilot.press("m")
        await pilot.pause()
        assert app.current_mode == "models"


async def test_first_launch_registers_sample_data_after_the_first_screen(home) -> None:
    app = MlopsApp(home, sample_data=True, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#datasets-table", KeyedTable)
        assert await wait_until(pilot, lambda: "churn" in table_column(table), timeout=60)
        assert (home.root / ".sample-registered").exists()
        # ... and one sample training job is started, so the Experiments screen has a real run.
        assert await wait_until(pilot, lambda: any(home.runs_dir.glob("*/job.json")), timeout=60)


async def test_exit_after_ready_exits_once_the_list_is_shown(home, write_csv, monkeypatch) -> None:
    from tui_mlops.data.ingest import ingest_file

    ingest_file(home, write_csv("ready.csv"))
    monkeypatch.setenv(EXIT_AFTER_READY_ENV, "1")
    app = MlopsApp(home)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: not app.is_running, timeout=10)
    assert app.return_code == 0
    assert app.datasets_screen is not None and app.datasets_screen.loaded
    assert [d.name for d in app.datasets_screen.datasets] == ["ready"]
    assert not (home.root / ".sample-registered").exists()  # chores never started
