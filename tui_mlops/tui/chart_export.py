"""`ctrl+e` on a screen with line charts: save each chart shown (run curves, compare curves, a
monitored feature's score) as a PNG and an SVG under <home>/exports/, named like ctrl+s's
screenshots. The series are copied on the UI thread; a thread worker renders and writes them.
The key is active (and listed by `?`) only on screens that have a line chart."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.binding import Binding

from tui_mlops.tui.screenshot import screenshot_dir

__all__ = ["CHART_BINDING", "ChartSaving", "ChartSnapshot", "charts_on_screen", "save_charts"]

CHART_BINDING = Binding("ctrl+e", "save_chart", "Save chart (PNG+SVG)", show=False, id="app.save_chart",
                        tooltip="Save the line charts on screen as PNG and SVG files in <home>/exports/")


class ChartSaving:
    """Mixed into the app (before App): the `save_chart` action, enabled only while the screen
    on top has a line chart, so screens without one neither list nor take the key."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "save_chart":
            from tui_mlops.tui.widgets.line_chart import LineChart

            try:
                return bool(self.screen.query(LineChart))  # type: ignore[attr-defined]
            except Exception:  # noqa: BLE001 - no screen yet (start-up, shut-down)
                return False
        return super().check_action(action, parameters)  # type: ignore[misc]

    def action_save_chart(self) -> None:
        """Save the line charts on screen as PNG + SVG under <home>/exports/."""
        save_charts(self, self.home, self.screen)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ChartSnapshot:
    """What one chart shows, copied so the worker never reads a widget."""

    series: dict[str, tuple[list[float], list[float]]]
    title: str
    x_label: str
    log_y: bool


def charts_on_screen(screen: Any) -> list[ChartSnapshot]:
    """A snapshot of each LineChart with data that the screen shows now (not in hidden tabs)."""
    from tui_mlops.tui.widgets.line_chart import LineChart

    found = []
    for chart in screen.query(LineChart):
        if not chart.series or not chart.is_on_screen:
            continue
        series = {name: (list(xs), list(ys)) for name, (xs, ys) in chart.series.items()}
        title = chart.title or ", ".join(series)
        found.append(ChartSnapshot(series, title, chart.x_label, chart.log_y))
    return found


def _stem(screen: Any) -> str:
    name = type(screen).__name__.removesuffix("Screen").lower() or "screen"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"mlops-tui-{name}-chart-{stamp}-{time.time_ns() % 1_000_000_000:09d}"


def save_charts(app: Any, home: Any, screen: Any) -> None:
    """Write the screen's charts as PNG + SVG from a worker; notifies the paths (or why not)."""
    charts = charts_on_screen(screen)
    if not charts:
        app.notify("no chart with data on this screen to save", severity="warning")
        return
    stem = _stem(screen)
    folder = screenshot_dir(home)
    targets = [folder / (stem + (f"-{i + 1}" if len(charts) > 1 else "")) for i in range(len(charts))]

    def write() -> None:
        from tui_mlops.errors import MlopsError

        try:
            written = [_write(chart, target) for chart, target in zip(charts, targets)]
        except OSError as exc:
            app.notify(f"could not save the chart to {folder}: {exc.strerror or exc}", severity="error")
            return
        except MlopsError as exc:
            app.notify(f"could not save the chart: {exc}", severity="error")
            return
        if len(written) == 1:
            app.notify(f"chart saved to {written[0]} and {written[0].with_suffix('.svg')}", title="Saved")
        else:
            app.notify(f"{len(written)} charts saved to {folder}: "
                       + ", ".join(p.name for p in written) + " (and .svg)", title="Saved")

    app.run_worker(write, thread=True, group="save-chart", exit_on_error=False, name="save chart")


def _write(chart: ChartSnapshot, stem: Path) -> Path:
    from tui_mlops.chart_layout import layout_line_chart
    from tui_mlops.png_chart import line_chart_png
    from tui_mlops.store.home import atomic_write_bytes
    from tui_mlops.svg_chart import layout_svg

    kwargs = {"title": chart.title, "x_label": chart.x_label, "log_y": chart.log_y}
    png = line_chart_png(chart.series, **kwargs)  # raises first when there is nothing to draw
    svg = layout_svg(layout_line_chart(chart.series, **kwargs))
    target = stem.with_name(stem.name + ".png")
    atomic_write_bytes(target, png)
    atomic_write_bytes(target.with_suffix(".svg"), svg.encode("utf-8"))
    return target
