"""Plain helpers of the version screen (no Pilot): lineage walking, descriptions, cell text."""

from __future__ import annotations

from test_version_screen import make_version

from tui_mlops.data import versions as V
from tui_mlops.data.clean import CleanStep, clean
from tui_mlops.store.home import Home
from tui_mlops.tui.screens.version_info import ancestors, describe_operation, lineage_line
from tui_mlops.tui.widgets.paged_table import format_cell, page_status


def test_lineage_helpers_describe_hops_and_survive_a_removed_parent(home: Home) -> None:
    root = make_version(home)
    child, _ = clean(home, root, [CleanStep("filter", {"expr": "id < 500"})])
    grandchild, _ = clean(home, child, [CleanStep("drop_columns", {"columns": ["name"]})], into="small")
    assert describe_operation(child) == "clean filter id < 500"
    chain = ancestors(home, grandchild)
    assert [h.version.version for h in chain if h.version] == [child.version, root.version]
    line = lineage_line(grandchild, chain)
    assert line.startswith(f"small@{grandchild.short} (clean drop_columns name) ← people@{child.short}")
    assert line.endswith(f"people@{root.short} (ingest people.csv)")

    V.remove(home, child.ref)
    chain = ancestors(home, grandchild)
    assert len(chain) == 1 and chain[0].version is None
    assert chain[0].label == f"people@{child.short} (removed)"


def test_cells_are_plain_text_never_markup() -> None:
    assert format_cell("[bold]x[/bold]").text == "[bold]x[/bold]"
    assert format_cell(None) == ("null", False, True)
    assert format_cell("a\tb\nc").text == "a⏎b⏎c"
    assert format_cell("a" * 100).text == "a" * 39 + "…"
    assert page_status(1_000_000, 100, 10_000_000) == "rows 1,000,001–1,000,100 of 10,000,000"
