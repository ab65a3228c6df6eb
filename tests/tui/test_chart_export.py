"""ctrl+e saves the line charts on screen as PNG + SVG under <home>/exports/ (only screens with a
chart offer the key), and chart_marker decides how charts draw on screen."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from PIL import Image
from textual.app import App, ComposeResult

from tui_mlops.settings import Settings
from tui_mlops.store.home import Home
from tui_mlops.tracking.api import start_run
from tui_mlops.tui.app import MlopsApp
from tui_mlops.tui.chart_export import CHART_BINDING, ChartSaving
from tui_mlops.tui.screens.help import binding_rows
from tui_mlops.tui.screens.run_detail import RunDetailScreen
from tui_mlops.tui.screens.run_detail_panes import ChartsPane
from tui_mlops.tui.screenshot import screenshot_dir
from tui_mlops.tui.settings_apply import apply_settings
from tui_mlops.tui.widgets.line_chart import LineChart

from tui_helpers import SIZE, notifications, settle, wait_until

BLUE = (0x00, 0x72, 0xB2)


def braille(text: str) -> bool:
    return any("\u2800" <= ch <= "\u28ff" for ch in text)


def finished_run(home: Home) -> str:
    with start_run("churn", name="lgbm-a", home=home) as run:
        for step in range(1, 31):
            run.log_metrics({"valid/auc": 1 - 1 / step, "valid/logloss": 1 / step}, step=step)
    return run.run_id


async def open_detail(pilot, home: Home, run_id: str) -> RunDetailScreen:
    await settle(pilot)
    screen = RunDetailScreen(home, run_id)
    await pilot.app.push_screen(screen)
    chart = screen.query_one(ChartsPane).chart
    assert await wait_until(pilot, lambda: "valid/auc" in chart.text, timeout=15)
    return screen


def save_rows(app, screen) -> list[tuple[str, str, str, str]]:
    return [row for row in binding_rows(app, screen) if row[1].startswith("Save chart")]


async def test_ctrl_e_saves_the_run_chart_as_png_and_svg(home: Home) -> None:
    run_id = finished_run(home)
    app = MlopsApp(home, sample_data=False, watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # The Datasets screen has no line chart: the key is neither listed nor taken.
        assert save_rows(app, app.screen) == []
        await pilot.press("ctrl+e")
        await settle(pilot)
        assert not screenshot_dir(home).exists() and notifications(app) == []

        screen = await open_detail(pilot, home, run_id)
        assert save_rows(app, screen) == [("^e", "Save chart (PNG+SVG)", CHART_BINDING.tooltip, "everywhere")]
        await pilot.press("ctrl+e")
        await settle(pilot)
        pngs = list(screenshot_dir(home).glob("*.png"))
        assert len(pngs) == 1 and pngs[0].name.startswith("mlops-tui-rundetail-chart-")
        svg = pngs[0].with_suffix(".svg")
        assert notifications(app) == [("information", f"chart saved to {pngs[0]} and {svg}")]
        img = Image.open(pngs[0])
        assert img.format == "PNG" and img.width == 800
        assert BLUE in {c for _n, c in img.convert("RGB").getcolors(1 << 20)}  # the curve is drawn
        root = ET.parse(svg).getroot()
        texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
        assert "valid/auc" in texts and "step" in texts


class OneChart(ChartSaving, App):
    """A chart the test fills, with the key and action as MlopsApp has them."""

    BINDINGS = [CHART_BINDING]

    def __init__(self, home: Home, series: dict, log_y: bool = False) -> None:
        super().__init__()
        self.home, self.series, self.log_y = home, series, log_y

    def compose(self) -> ComposeResult:
        yield LineChart(title="loss <x>", x_label="epoch")

    def on_mount(self) -> None:
        self.query_one(LineChart).plot(self.series, self.log_y)


async def test_saved_chart_keeps_title_axis_and_log_scale(home: Home) -> None:
    series = {"loss": ([1.0, 2.0, 3.0], [1.0, 0.1, 0.01])}
    app = OneChart(home, series, log_y=True)
    async with app.run_test(size=(80, 20)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+e")
        await settle(pilot)
        svgs = list(screenshot_dir(home).glob("*.svg"))
        assert len(svgs) == 1 and svgs[0].with_suffix(".png").exists()
        texts = [t.text for t in ET.parse(svgs[0]).getroot().iter("{http://www.w3.org/2000/svg}text")]
        assert "loss <x>" in texts and "epoch" in texts and "0.01" in texts and "0.1" in texts


async def test_a_chart_with_nothing_to_draw_says_so(home: Home) -> None:
    app = OneChart(home, {"delta": ([1.0, 2.0], [-1.0, 0.0])}, log_y=True)
    async with app.run_test(size=(80, 20)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+e")
        await settle(pilot)
        assert notifications(app) == [
            ("error", "could not save the chart: chart of delta: no positive values for a log scale")]
        assert not list(screenshot_dir(home).glob("*.png"))


async def test_unwritable_exports_folder_is_reported(home: Home) -> None:
    screenshot_dir(home).parent.mkdir(parents=True, exist_ok=True)
    screenshot_dir(home).write_text("a file where the folder should be")
    app = OneChart(home, {"loss": ([1.0, 2.0], [2.0, 1.0])})
    async with app.run_test(size=(80, 20)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+e")
        await settle(pilot)
        notes = notifications(app)
        assert len(notes) == 1 and notes[0][0] == "error"
        assert notes[0][1].startswith(f"could not save the chart to {screenshot_dir(home)}: ")


async def test_chart_marker_ascii_draws_no_braille_on_screen(home: Home) -> None:
    run_id = finished_run(home)
    for marker in ("braille", "ascii"):
        app = MlopsApp(home, sample_data=False, watch=False)
        apply_settings(app, Settings(chart_marker=marker))
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_detail(pilot, home, run_id)
            text = screen.query_one(ChartsPane).chart.text
            shown = app.export_screenshot()  # what the terminal shows, every widget included
            if marker == "braille":
                assert braille(text) and braille(shown)
            else:
                assert text.isascii() and "#" in text and not braille(shown)


class ColumnApp(App):
    def compose(self) -> ComposeResult:
        from tui_mlops.tui.widgets.charts import ColumnChart

        yield ColumnChart()


async def test_column_charts_follow_chart_marker() -> None:
    from tui_mlops.tui.widgets.charts import ColumnChart

    col = {"name": "age", "kind": "numeric", "histogram": {"edges": [0.0, 20.0, 40.0, 60.0],
                                                           "counts": [5, 40, 12]}}
    drawn = {}
    for marker in ("braille", "block", "ascii"):
        app = ColumnApp()
        apply_settings(app, Settings(chart_marker=marker))
        async with app.run_test(size=(60, 16)) as pilot:
            chart = app.query_one(ColumnChart)
            chart.show_column(col)
            await pilot.pause()
            drawn[marker] = str(chart.render())
    assert all("age" in text for text in drawn.values())
    assert "█" in drawn["braille"] and "█" in drawn["block"]  # bars stay solid blocks ...
    assert not braille(drawn["braille"] + drawn["block"])     # ... not braille dots
    assert drawn["ascii"].isascii() and "#" in drawn["ascii"]
