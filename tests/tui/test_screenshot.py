"""ctrl+s saves the screen as an SVG under <home>/exports/ and says where (a small app with the
binding and action as MlopsApp registers them)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from textual.app import App, ComposeResult
from textual.widgets import Static

from tui_mlops.tui.screenshot import SCREENSHOT_BINDING, save_screenshot, screenshot_dir

from tui_helpers import settle


class ShotApp(App):
    BINDINGS = [SCREENSHOT_BINDING]

    def __init__(self, home) -> None:
        super().__init__()
        self.home = home

    def compose(self) -> ComposeResult:
        yield Static("valid/auc <chart> & more", id="chart")

    def action_save_screenshot(self) -> None:
        save_screenshot(self, self.home)


async def test_ctrl_s_writes_an_svg_and_notifies(home) -> None:
    app = ShotApp(home)
    async with app.run_test(size=(80, 20)) as pilot:
        await pilot.press("ctrl+s")
        await settle(pilot)
        files = list(screenshot_dir(home).glob("*.svg"))
        assert len(files) == 1 and files[0].name.startswith("mlops-tui-")
        root = ET.parse(files[0]).getroot()
        assert root.tag.endswith("svg")
        assert "valid/auc" in files[0].read_text() and "&lt;chart&gt;" in files[0].read_text()
        notes = [n.message for n in app._notifications]
        assert notes == [f"screenshot saved to {files[0]}"]


async def test_unwritable_exports_folder_is_reported(home) -> None:
    screenshot_dir(home).parent.mkdir(parents=True, exist_ok=True)
    screenshot_dir(home).write_text("a file where the folder should be")
    app = ShotApp(home)
    async with app.run_test(size=(80, 20)) as pilot:
        await pilot.press("ctrl+s")
        await settle(pilot)
        notes = [(n.message, n.severity) for n in app._notifications]
        assert len(notes) == 1 and notes[0][0].startswith("could not save the screenshot to ")
        assert notes[0][1] == "error"
