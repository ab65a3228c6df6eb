"""Pilot tests of the version detail screen: preview paging, schema, profile, validate, clean, split."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.widgets import DataTable, Static, Tree

from tui_mlops import tui as tui_package
from tui_mlops.data import versions as V
from tui_mlops.store.home import Home
from tui_mlops.store.records import DatasetVersion
from tui_mlops.tui.screens.version import VersionScreen
from tui_mlops.tui.widgets.charts import ColumnChart
from tui_mlops.tui.widgets.page_grid import PageGrid
from tui_mlops.tui.widgets.paged_table import PagedTable

ROWS = 1_050
SIZE = (100, 30)


def make_version(home: Home, name: str = "people", rows: int = ROWS) -> DatasetVersion:
    """A version with an id, a text column with nulls, a numeric score and a 3-class group."""
    import duckdb

    def write(tmp: Path) -> None:
        con = duckdb.connect()
        try:
            con.execute(
                f"""COPY (SELECT i AS id,
                          CASE WHEN i % 10 = 0 THEN NULL ELSE 'name ' || i END AS name,
                          ((i % 97) * 1.5)::DOUBLE AS score,
                          ['a', 'b', 'c'][(i % 3) + 1] AS grp
                   FROM range({int(rows)}) t(i) ORDER BY i) TO '{tmp}' (FORMAT parquet)"""
            )
        finally:
            con.close()

    version, _ = V.commit_version(home, name, V.fingerprint(name, rows), write,
                                  operation="ingest", params={}, source={"path": f"/data/{name}.csv"})
    return version


class VersionApp(App):
    """The smallest app that shows a VersionScreen (and has `home` and styles, as MlopsApp has)."""

    CSS_PATH = Path(tui_package.__file__).parent / "app.tcss"

    def __init__(self, home: Home, version: DatasetVersion) -> None:
        super().__init__()
        self.home = home
        self.version = version

    def on_mount(self) -> None:
        self.push_screen(VersionScreen(self.home, self.version))


async def settle(app: App, pilot, rounds: int = 3) -> None:
    """Let workers finish and their messages be handled (workers may start more workers)."""
    for _ in range(rounds):
        await app.workers.wait_for_complete()
        await pilot.pause()


def text_of(widget: Static) -> str:
    return str(widget.content)


def cell(table: DataTable | PageGrid, row: int, col: int) -> str:
    if isinstance(table, PageGrid):
        return table.cell_text(row, col)
    return str(table.get_cell_at((row, col)))


def column_of(table: DataTable, col: int) -> list[str]:
    return [cell(table, r, col) for r in range(table.row_count)]


def notes(app: App) -> list[tuple[str, str]]:
    return [(str(n.message), n.severity) for n in app._notifications]


async def test_preview_pages_through_rows(home: Home) -> None:
    v = make_version(home)
    app = VersionApp(home, v)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, VersionScreen)
        paged = screen.query_one(PagedTable)
        status = screen.query_one("#page-status", Static)
        grid = paged.grid
        assert text_of(status).startswith("rows 1–100 of 1,050")
        assert grid.row_count == 100 and cell(grid, 0, 0) == "0"

        await pilot.press("pagedown")
        await settle(app, pilot)
        assert text_of(status).startswith("rows 101–200 of 1,050")
        assert cell(grid, 0, 0) == "100" and cell(grid, 99, 0) == "199"

        await pilot.press("end")
        await settle(app, pilot)
        assert text_of(status).startswith("rows 1,001–1,050 of 1,050")
        assert grid.row_count == 50 and cell(grid, 49, 0) == "1049"

        await pilot.press("pageup")
        await settle(app, pilot)
        assert text_of(status).startswith("rows 901–1,000 of 1,050")

        await pilot.press("g")
        await settle(app, pilot)
        assert text_of(status).startswith("rows 1–100 of 1,050")
        # What is drawn: the header, then row 1 with its number, values and null.
        assert grid.render_line(0).text.split() == ["id", "name", "score", "grp"]
        assert grid.render_line(1).text.split() == ["1", "0", "null", "0", "a"]

        await pilot.press("G")
        await settle(app, pilot)
        assert text_of(status).startswith("rows 1,001–1,050")

        # Go to row 555 (1-based): its page is 501-600 and the cursor lands on it.
        await pilot.press("number_sign", "5", "5", "5", "enter")
        await settle(app, pilot)
        assert text_of(status).startswith("rows 501–600 of 1,050")
        assert cell(grid, grid.cursor_row, 0) == "554"
        assert app.focused is grid

        # Down past a page's last row continues on the next page.
        await pilot.press("ctrl+end", "down")
        await settle(app, pilot)
        assert text_of(status).startswith("rows 601–700")
        assert cell(grid, grid.cursor_row, 0) == "600"

        # Null cells show as null; the rows are plain text (no markup parsing).
        assert cell(grid, 0, 1) == "null" and cell(grid, 1, 1) == "name 601"


async def test_goto_rejects_non_numbers_and_escape_closes_prompt(home: Home) -> None:
    v = make_version(home)
    app = VersionApp(home, v)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        await pilot.press("ctrl+g")
        goto = screen.query_one("#page-goto")
        assert goto.display and app.focused is goto
        await pilot.press("0", "enter")
        await pilot.pause()
        assert any("not a row number" in m and s == "error" for m, s in notes(app))
        await pilot.press("escape")
        await pilot.pause()
        assert not goto.display
        assert app.screen is screen  # escape closed the prompt, not the screen
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, VersionScreen)


async def test_header_and_schema_show_columns(home: Home) -> None:
    v = make_version(home)
    app = VersionApp(home, v)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        title = text_of(screen.query_one("#version-title", Static))
        assert f"people@{v.short}" in title and "1,050 rows × 4 cols" in title and "ingest" in title
        lineage = text_of(screen.query_one("#version-lineage", Static))
        assert "ingest people.csv" in lineage and "(root)" in lineage

        await pilot.press("s")
        await settle(app, pilot)
        table = screen.query_one("#schema-table", DataTable)
        assert app.focused is table
        assert column_of(table, 1) == ["id", "name", "score", "grp"]
        assert column_of(table, 2) == ["BIGINT", "VARCHAR", "DOUBLE", "VARCHAR"]
        assert column_of(table, 3) == ["–"] * 4  # no profile yet


async def test_profile_computes_stats_and_charts_columns(home: Home) -> None:
    v = make_version(home)
    app = VersionApp(home, v)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        await pilot.press("f")
        await settle(app, pilot)
        table = screen.query_one("#profile-table", DataTable)
        assert app.focused is table
        assert column_of(table, 0) == ["id", "name", "score", "grp"]
        # id: 0..1049, no nulls, all distinct; name: every 10th row null.
        assert [cell(table, 0, c) for c in (2, 3, 4, 5, 6)] == ["0", "0.0%", "1,050", "0", "1,049"]
        assert [cell(table, 1, c) for c in (2, 3)] == ["105", "10.0%"]
        chart = screen.query_one(ColumnChart)
        assert chart.column is not None and chart.column["name"] == "id"
        drawn = chart.chart_text(60, 12)
        assert drawn.count("\n") >= 5 and "too small" not in drawn and "cannot" not in drawn

        await pilot.press("down", "down", "down")
        await pilot.pause()
        assert chart.column["name"] == "grp"
        assert "a" in chart.chart_text(60, 12)

        # The profile was stored: the schema shows nulls/distinct, and a new screen reads it at once.
        await pilot.press("s")
        schema = screen.query_one("#schema-table", DataTable)
        assert cell(schema, 1, 3) == "105" and cell(schema, 3, 5) == "3"
        assert V.sidecar(home, v)["profile"] is not None


async def test_validate_shows_pass_and_fail_with_examples(home: Home) -> None:
    v = make_version(home)
    (home.rules_dir / "people.toml").write_text(
        '[[rule]]\ntype = "not_null"\ncolumn = "id"\n\n'
        '[[rule]]\ntype = "not_null"\ncolumn = "name"\n\n'
        '[[rule]]\ntype = "allowed_values"\ncolumn = "grp"\nvalues = ["a", "b", "c"]\n'
    )
    app = VersionApp(home, v)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        await pilot.press("v")
        await settle(app, pilot)
        table = screen.query_one("#validate-table", DataTable)
        assert column_of(table, 0) == ["PASS", "FAIL", "PASS"]
        assert cell(table, 1, 3) == "105"
        summary = text_of(screen.query_one("#validate-summary", Static))
        assert "FAILED" in summary and "2 of 3 rules passed" in summary

        await pilot.press("down")
        await pilot.pause()
        examples = screen.query_one("#validate-examples", DataTable)
        assert examples.display and examples.row_count > 0
        headers = [str(c.label) for c in examples.columns.values()]
        assert "name" in headers
        assert set(column_of(examples, headers.index("name"))) == {"null"}

        # Edit the rules file and press r: the verdicts follow the file.
        (home.rules_dir / "people.toml").write_text('[[rule]]\ntype = "not_null"\ncolumn = "id"\n')
        await pilot.press("r")
        await settle(app, pilot)
        assert column_of(table, 0) == ["PASS"]
        assert "PASSED" in text_of(screen.query_one("#validate-summary", Static))
        assert not examples.display


async def test_validate_without_rules_explains_and_writes_starter(home: Home) -> None:
    v = make_version(home)
    app = VersionApp(home, v)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        await pilot.press("v")
        await settle(app, pilot)
        summary = text_of(screen.query_one("#validate-summary", Static))
        assert "No validation rules" in summary
        assert str(home.rules_dir / "people.toml") in summary
        assert "mlops-tui data rules people --init" in summary

        await pilot.press("i")
        await settle(app, pilot)
        assert (home.rules_dir / "people.toml").exists()
        table = screen.query_one("#validate-table", DataTable)
        assert table.row_count == 5 and set(column_of(table, 0)) == {"PASS"}


async def test_clean_form_drops_a_column_into_a_new_version(home: Home) -> None:
    v = make_version(home)
    app = VersionApp(home, v)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        first = app.screen
        await pilot.press("C")
        await pilot.pause()
        # The operation Select has focus: open it, move to "Drop columns", pick it.
        await pilot.press("enter", "down", "enter")
        await pilot.press("tab", *"name", "enter")
        await settle(app, pilot, rounds=4)

        screen = app.screen
        assert isinstance(screen, VersionScreen) and screen is not first
        new = screen.version
        assert [c.name for c in new.columns] == ["id", "score", "grp"]
        assert new.parent_ref == v.ref and new.operation == "clean"
        lineage = text_of(screen.query_one("#version-lineage", Static))
        assert f"people@{v.short}" in lineage and "drop_columns name" in lineage
        assert any(f"created people@{new.short}" in m for m, _ in notes(app))
        assert len(V.list_versions(home, "people")) == 2

        # Back on the parent, its lineage tree lists the new version; enter opens it.
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.screen is first
        await pilot.press("l")
        await settle(app, pilot)
        tree = first.query_one(Tree)
        assert app.focused is tree
        labels = [str(n.label) for n in tree.root.children[0].children]
        assert any(f"people@{new.short}" in lab for lab in labels)
        await pilot.press("down", "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, VersionScreen) and app.screen.version.version == new.version


async def test_clean_form_bad_filter_shows_error_and_creates_nothing(home: Home) -> None:
    v = make_version(home)
    app = VersionApp(home, v)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("C")
        await pilot.pause()
        form = app.screen
        await pilot.press("enter", *(["down"] * 5), "enter")
        await pilot.press("tab", *"nosuch >= 3", "enter")
        await settle(app, pilot)
        assert app.screen is form  # the form stays open for a fix
        errors = [m for m, s in notes(app) if s == "error"]
        assert errors and "nosuch" in errors[-1] and "\n" not in errors[-1]
        assert [x.version for x in V.list_versions(home, "people")] == [v.version]
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, VersionScreen)


async def test_split_form_creates_train_valid_test(home: Home) -> None:
    v = make_version(home)
    app = VersionApp(home, v)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        await pilot.press("S")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await settle(app, pilot, rounds=4)
        assert app.screen is screen
        names = {d.name: d for d in V.list_datasets(home)}
        assert {"people.train", "people.valid", "people.test"} <= set(names)
        assert sum(names[f"people.{p}"].rows for p in ("train", "valid", "test")) == ROWS
        message = [m for m, _ in notes(app) if "train:" in m][-1]
        assert "valid:" in message and "test:" in message
        # The lineage tab is shown, with the three splits under this version.
        assert app.focused is screen.query_one(Tree)
        children = [str(n.label) for n in screen.query_one(Tree).root.children[0].children]
        assert sum("split" in c for c in children) == 3


async def test_split_form_rejects_bad_ratios(home: Home) -> None:
    v = make_version(home)
    app = VersionApp(home, v)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("S")
        await pilot.pause()
        await pilot.press("tab", "ctrl+u", *"0.5, 0.6", "enter")
        await settle(app, pilot)
        assert any("ratios" in m and s == "error" for m, s in notes(app))
        assert [d.name for d in V.list_datasets(home)] == ["people"]


async def test_through_the_app_open_clean_and_see_the_new_version_listed(home: Home) -> None:
    from tui_mlops.tui.app import MlopsApp

    v = make_version(home)
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        datasets = app.screen
        await pilot.press("enter")  # the dataset: its versions
        await settle(app, pilot)
        await pilot.press("enter")  # the version: its detail screen
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, VersionScreen) and screen.version.version == v.version
        assert text_of(screen.query_one("#page-status", Static)).startswith("rows 1–100 of 1,050")

        await pilot.press("C", "enter", "down", "enter", "tab", *"grp", "enter")
        await settle(app, pilot, rounds=4)
        assert isinstance(app.screen, VersionScreen) and app.screen is not screen
        new = app.screen.version
        await pilot.press("escape", "escape")
        await settle(app, pilot)
        assert app.screen is datasets
        versions = datasets.query_one("#versions-table", DataTable)
        shown = " ".join(str(c) for r in range(versions.row_count) for c in versions.get_row_at(r))
        assert new.short in shown and v.short in shown

