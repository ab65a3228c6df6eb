"""Chart widgets: a column's histogram or top values, drawn as plotext text sized to the widget
(with the config's chart_marker)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widget import Widget


class ColumnChart(Widget):
    """Histogram (numeric) or top values (categorical/boolean) of one profiled column.

    The text comes from tui_mlops.charts (shared with the CLI), redrawn only when the column or
    the widget's size changes; plotext runs on the UI thread but takes a few ms for one chart.
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._column: dict[str, Any] | None = None
        self._cache: tuple[tuple[Any, ...], str] | None = None

    @property
    def column(self) -> dict[str, Any] | None:
        return self._column

    def show_column(self, column: dict[str, Any] | None) -> None:
        self._column = column
        self._cache = None
        self.refresh()

    def chart_text(self, width: int, height: int) -> str:
        from tui_mlops.tui.settings_apply import chart_marker

        col = self._column
        if col is None:
            return "select a column to see its distribution"
        marker = chart_marker(self.app)
        key = (col.get("name"), width, height, marker)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        text = _draw(col, width, height, marker)
        self._cache = (key, text)
        return text

    def render(self) -> Text:
        size = self.content_size
        return Text(self.chart_text(size.width, size.height), no_wrap=True, overflow="crop")


def _draw(col: dict[str, Any], width: int, height: int, marker: str | None = None) -> str:
    from tui_mlops import charts

    name = col.get("name", "?")
    if width < 20 or height < 5:
        return f"{name}: too small to draw (make the terminal larger)"
    try:
        if col.get("histogram"):
            return charts.histogram_text(col, width, height, charts.bar_marker(marker))
        if col.get("top_values"):
            return charts.top_values_text(col, width, height, charts.bar_marker(marker))
    except Exception as exc:  # noqa: BLE001 - a chart that fails to draw must not crash the screen
        return f"{name}: cannot draw chart ({exc})"
    return f"{name}: no histogram or top values for this {col.get('kind', '?')} column"
