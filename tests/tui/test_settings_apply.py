"""Settings applied to the app: a keymap from a config file, the high-contrast theme, vim keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Input

from tui_mlops.errors import InputError
from tui_mlops.settings import HIGH_CONTRAST_THEME, Settings
from tui_mlops.store.home import Home
from tui_mlops.tui.app import MlopsApp
from tui_mlops.tui.settings_apply import (
    apply_settings, binding_catalog, load_app_settings, refresh_seconds, run_kwargs, theme_names,
)
from tui_mlops.tui.widgets.vim import VimDataTable, VimOptionList, VimSelectionList, VimTree
from tui_helpers import SIZE, wait_until


async def test_keymap_from_config_file_remaps_filter(tmp_path: Path, home: Home) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'theme = "{HIGH_CONTRAST_THEME}"\n[keymap]\n"experiments.filter" = "f"\n')
    settings = load_app_settings(cfg)
    app = MlopsApp(home, sample_data=False, watch=False)
    apply_settings(app, settings)
    async with app.run_test(size=SIZE) as pilot:
        assert app.theme == HIGH_CONTRAST_THEME
        assert str(app.current_theme.background).lower() == "#000000"
        await pilot.press("2")
        assert await wait_until(pilot, lambda: type(app.screen).__name__ == "ExperimentsScreen")
        box = app.screen.query_one("#runs-filter", Input)
        await pilot.press("slash")  # the old key no longer filters
        await pilot.pause()
        assert not box.has_focus
        await pilot.press("f")
        assert await wait_until(pilot, lambda: box.has_focus)


def test_unknown_binding_id_in_file_is_an_error(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[keymap]\n\n"experiments.filtr" = "f"\n')
    with pytest.raises(InputError, match=r"config\.toml, line 3: unknown binding id 'experiments\.filtr'"):
        load_app_settings(cfg)


def test_catalog_and_themes() -> None:
    ids = {b.id for b in binding_catalog()}
    assert {"app.quit", "experiments.filter", "table.down", "tree.vim_last"} <= ids
    assert HIGH_CONTRAST_THEME in theme_names() and "nord" in theme_names()
    assert run_kwargs(Settings(mouse=False)) == {"mouse": False}


async def test_settings_before_start_and_refresh(home: Home) -> None:
    app = MlopsApp(home, sample_data=False, watch=False)
    assert refresh_seconds(app, 1.0) == 1.0
    apply_settings(app, Settings(theme="nord", refresh_hz=4))
    assert refresh_seconds(app, 1.0) == 0.25
    async with app.run_test(size=SIZE):
        assert app.theme == "nord"
        assert HIGH_CONTRAST_THEME in app.available_themes


class Lists(App[None]):
    def compose(self) -> ComposeResult:
        yield VimOptionList(*[f"opt {i}" for i in range(5)], id="options")
        yield VimSelectionList[int](*[(f"sel {i}", i) for i in range(5)], id="selections")
        tree: VimTree[int] = VimTree("root", id="tree")
        for i in range(4):
            tree.root.add_leaf(f"leaf {i}")
        tree.root.expand()
        yield tree
        yield VimDataTable(id="table")

    def on_mount(self) -> None:
        table = self.query_one(VimDataTable)
        table.add_column("n")
        for i in range(5):
            table.add_row(str(i))


async def test_vim_keys_move_in_every_list() -> None:
    from tui_mlops.tui.screens.help import binding_rows

    app = Lists()
    async with app.run_test(size=SIZE) as pilot:
        for wid, pos in (("#options", lambda w: w.highlighted), ("#selections", lambda w: w.highlighted),
                         ("#tree", lambda w: w.cursor_line), ("#table", lambda w: w.cursor_row)):
            widget = app.query_one(wid)
            widget.focus()
            await pilot.pause()
            await pilot.press("G")
            last = pos(widget)
            assert last == 4, (wid, last)
            await pilot.press("k", "k")
            assert pos(widget) == 2, wid
            await pilot.press("j")
            assert pos(widget) == 3, wid
            await pilot.press("g")
            assert pos(widget) == 0, wid
            tips = [row[2] for row in binding_rows(app, app.screen)]
            assert "Move down (vim)" in tips and "Go to the last entry (vim)" in tips, wid
