"""Pilot tests of the Datasets screen: list, filter, paging, add form, remove, inbox and watcher."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input

from tui_mlops.data.ingest import IngestOptions, ingest_file
from tui_mlops.store.records import DatasetSummary
from tui_mlops.tui.app import MlopsApp
from tui_mlops.tui.messages import DatasetsLoaded
from tui_mlops.tui.screens import KeyedTable
from tui_mlops.tui.screens.add_form import AddDatasetScreen, parse_types
from tui_mlops.tui.screens.confirm import ConfirmScreen
from tui_mlops.tui.screens.datasets import PAGE_SIZE, DatasetsScreen

from tui_helpers import SIZE, notifications, settle, table_column, wait_until


def tables(app) -> tuple[KeyedTable, KeyedTable]:
    screen = app.datasets_screen
    return screen.query_one("#datasets-table", KeyedTable), screen.query_one("#versions-table", KeyedTable)


def committed(home) -> set[str]:
    return {p.stem for p in home.datasets_dir.glob("*/*.json")}


@pytest.fixture
def populated(home, write_csv):
    """customers (2 versions), orders, order_items: registered through the real ingest."""
    first = ingest_file(home, write_csv("customers.csv", rows=3)).version
    second = ingest_file(home, write_csv("customers.csv", rows=5)).version  # changed bytes: new version
    ingest_file(home, write_csv("orders.csv", rows=4))
    ingest_file(home, write_csv("order_items.csv", rows=2))
    return home, first, second


async def test_lists_datasets_and_the_versions_of_the_highlighted_one(populated) -> None:
    home, first, second = populated
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        datasets, versions = tables(app)
        assert table_column(datasets) == ["customers", "order_items", "orders"]
        assert datasets.get_row("customers")[1] == "2"   # versions
        assert datasets.get_row("customers")[2] == "5"   # rows of the newest
        assert table_column(versions) == [second.short, first.short]
        await pilot.press("down")
        await pilot.pause()
        assert table_column(versions) == [app.datasets_screen.versions["order_items"][0].short]


async def test_filter_narrows_live_and_escape_clears(populated) -> None:
    home, *_ = populated
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        datasets, _ = tables(app)
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press("o", "r", "d")
        await pilot.pause()
        assert table_column(datasets) == ["order_items", "orders"]
        await pilot.press("e", "r", "underscore")
        await pilot.pause()
        assert table_column(datasets) == ["order_items"]
        await pilot.press("escape")
        await pilot.pause()
        assert table_column(datasets) == ["customers", "order_items", "orders"]
        assert app.focused is datasets


async def test_enter_moves_to_versions_then_opens_the_version(populated) -> None:
    from tui_mlops.tui.screens.version import VersionScreen

    home, _first, second = populated
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        datasets, versions = tables(app)
        assert app.focused is datasets
        await pilot.press("enter")
        await pilot.pause()
        assert app.focused is versions
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, VersionScreen)
        assert app.screen.version.version == second.version
        await settle(pilot)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DatasetsScreen)


async def test_add_form_registers_a_typed_path_and_selects_it(home, write_csv, monkeypatch) -> None:
    src = write_csv("fresh data.csv", rows=6)
    monkeypatch.chdir(src.parent.parent)  # typing a short relative path keeps the test quick
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, AddDatasetScreen)
        await pilot.press(*"src/fresh data.csv")
        await pilot.press("tab", *"people", "tab", *"age=DOUBLE")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DatasetsScreen)
        datasets, versions = tables(app)
        assert table_column(datasets) == ["people"]
        new = app.datasets_screen.versions["people"][0]
        assert dict((c.name, c.type) for c in new.columns)["age"] == "DOUBLE"
        assert app.focused is versions and app.datasets_screen.selected_version() == new
        assert ("information", f"Registered fresh data.csv as people@{new.short}") in notifications(app)


@pytest.mark.parametrize("content, expect", [
    (b"", "empty"),
    (b"\x00\x01\x02binary\xff\xfe garbage\x00" * 20, ""),
], ids=["empty", "binary"])
async def test_add_form_bad_file_shows_an_error_naming_the_file(home, tmp_path, monkeypatch,
                                                                content, expect) -> None:
    (tmp_path / "broken.csv").write_bytes(content)
    monkeypatch.chdir(tmp_path)  # a relative path, resolved against the working directory
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a", *"broken.csv", "enter")
        await settle(pilot)
        errors = [m for sev, m in notifications(app) if sev == "error"]
        assert len(errors) == 1 and "broken.csv" in errors[0] and expect in errors[0]
        assert "\n" not in errors[0]
        assert isinstance(app.screen, AddDatasetScreen)   # the form stays open to fix the path
        assert committed(home) == set()
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DatasetsScreen)
        assert table_column(tables(app)[0]) == []


async def test_add_form_rejects_a_malformed_type_override(home, write_csv, monkeypatch) -> None:
    monkeypatch.chdir(write_csv("t.csv").parent)
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a", *"t.csv", "tab", "tab", *"age", "enter")
        await settle(pilot)
        assert ("error", "type overrides: expected COLUMN=TYPE, got 'age'") in notifications(app)
        assert committed(home) == set()


def test_parse_types_keeps_parenthesised_commas() -> None:
    assert parse_types("price=DECIMAL(10,2), age = INTEGER,") == {"price": "DECIMAL(10,2)", "age": "INTEGER"}
    assert parse_types("  ") == {}


async def test_path_completion_suggests_the_file(home, write_csv, monkeypatch) -> None:
    src = write_csv("unique_name_for_completion.csv")
    (src.parent / "sub").mkdir()
    monkeypatch.chdir(src.parent.parent)
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a", *"sr")
        box = app.screen.query_one("#add-path", Input)
        assert await wait_until(pilot, lambda: box._suggestion == "src/", timeout=5)
        await pilot.press("right", *"un")
        assert await wait_until(pilot, lambda: box._suggestion == "src/unique_name_for_completion.csv",
                                timeout=5)
        await pilot.press("right")
        assert box.value == "src/unique_name_for_completion.csv"


async def test_remove_asks_first_and_removes_only_on_yes(populated) -> None:
    home, first, second = populated
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter", "down")   # versions of customers, the older one
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        assert first.version in committed(home)
        await pilot.press("d", "y")
        await settle(pilot)
        assert first.version not in committed(home) and second.version in committed(home)
        assert table_column(tables(app)[1]) == [second.short]
        assert ("information", f"Removed customers@{first.short}") in notifications(app)


async def test_unbounded_lists_are_paged(home) -> None:
    many = [DatasetSummary(f"ds{i:05d}", 1, "0" * 16, "2026-01-01T00:00:00Z", i, 3, 100)
            for i in range(PAGE_SIZE * 2 + 10)]
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.datasets_screen.post_message(DatasetsLoaded(many, []))
        await pilot.pause()
        datasets, _ = tables(app)
        assert datasets.row_count == PAGE_SIZE
        assert table_column(datasets)[0] == "ds00000"
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert table_column(datasets)[0] == f"ds{PAGE_SIZE:05d}"
        await pilot.press("right_square_bracket", "right_square_bracket")
        await pilot.pause()
        assert datasets.row_count == 10
        title = str(app.datasets_screen.query_one("#datasets-title").render())
        assert f"{2 * PAGE_SIZE + 1:,}-{2 * PAGE_SIZE + 10:,}" in title


async def test_a_version_registered_by_another_writer_appears_without_a_key(home, write_csv) -> None:
    app = MlopsApp(home, sample_data=False, watch=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        datasets, _ = tables(app)
        assert table_column(datasets) == []
        ingest_file(home, write_csv("elsewhere.csv"), IngestOptions())
        assert await wait_until(pilot, lambda: table_column(datasets) == ["elsewhere"])
        assert app.focused is datasets   # the first data of an empty home takes the keys


async def test_inbox_drop_appears_on_screen_without_a_key(home, write_csv) -> None:
    app = MlopsApp(home, sample_data=False, watch=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        datasets, _ = tables(app)
        src = write_csv("dropped.csv", rows=7)
        Path(src).rename(home.inbox_dir / "dropped.csv")
        assert await wait_until(pilot, lambda: table_column(datasets) == ["dropped"], timeout=20)
        v = app.datasets_screen.versions["dropped"][0]
        assert await wait_until(
            pilot, lambda: ("information", f"Registered inbox/dropped.csv as dropped@{v.short}")
            in notifications(app), timeout=10)


async def test_a_bad_inbox_drop_shows_its_error_and_adds_nothing(home, tmp_path) -> None:
    app = MlopsApp(home, sample_data=False, watch=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        staged = tmp_path / "bad_drop.csv"
        staged.write_text("only,a,header\n")
        staged.rename(home.inbox_dir / "bad_drop.csv")

        def rejected() -> list[str]:
            return [m for sev, m in notifications(app) if sev == "error" and "bad_drop.csv" in m]

        assert await wait_until(pilot, lambda: bool(rejected()), timeout=20)
        assert "no data rows" in rejected()[0]
        assert committed(home) == set() and table_column(tables(app)[0]) == []


async def test_escape_cancels_a_running_ingest_and_nothing_is_added(home, tmp_path, monkeypatch) -> None:
    import duckdb

    big = tmp_path / "big.csv"
    con = duckdb.connect()
    con.execute(f"COPY (SELECT range AS id, range % 97 AS a, 'text ' || range AS s FROM range(2000000)) "
                f"TO '{big}' (HEADER)")
    con.close()
    monkeypatch.chdir(tmp_path)
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a", *"big.csv")
        form = app.screen
        assert isinstance(form, AddDatasetScreen)
        # Submit without pressing enter: a Pilot key press waits until the app is quiet, and a
        # running ingest keeps posting progress, so escape would only arrive after it finished.
        form.submit()
        assert form.running
        await pilot.press("escape")
        await settle(pilot)
        assert ("warning", "Ingest cancelled; nothing was added.") in notifications(app)
        assert app.screen is form and not form.running   # still open: escape again closes it
        assert committed(home) == set()
        assert not any(p.name.startswith(".tmp-") for p in home.datasets_dir.rglob("*"))
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DatasetsScreen)


async def test_escape_steps_back_from_versions_then_clears_the_filter(populated) -> None:
    home, *_ = populated
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        datasets, versions = tables(app)
        await pilot.press("slash", *"orders", "enter", "enter")
        await pilot.pause()
        assert app.focused is versions and table_column(datasets) == ["orders"]
        await pilot.press("escape")
        await pilot.pause()
        assert app.focused is datasets and table_column(datasets) == ["orders"]
        await pilot.press("escape")
        await pilot.pause()
        assert table_column(datasets) == ["customers", "order_items", "orders"]
        assert datasets.get_row_at(datasets.cursor_row)[0] == "orders"   # the cursor stays put
