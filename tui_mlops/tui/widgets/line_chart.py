"""A line chart widget: named (x, y) series overlaid, drawn as plotext text sized to the widget.

Reduction (min/max per column) and plotting run in a thread worker, so a long history never
blocks a key press; the newest request wins. Callers redraw at most 1-2 times a second.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.message import Message
from textual.widget import Widget

Series = dict[str, tuple[list[float], list[float]]]


class LineChart(Widget):
    """`plot(series, log_y=...)` shows the series; `text` is what is drawn now (for tests too).

    Drawn with the config's chart_marker; `title` and `x_label` name the chart when it is saved
    as a file (ctrl+e); without a title the series' names stand in.
    """

    class Drawn(Message):
        """The chart's text for one request is ready."""

        def __init__(self, text: str, request: int) -> None:
            super().__init__()
            self.text = text
            self.request = request

    def __init__(self, empty_text: str = "nothing to chart yet", *, title: str = "",
                 x_label: str = "step", id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.empty_text = empty_text
        self.title = title
        self.x_label = x_label
        self.series: Series = {}
        self.log_y = False
        self._text = empty_text
        self._request = 0
        self._drawn_for: tuple[Any, ...] | None = None

    @property
    def text(self) -> str:
        return self._text

    def plot(self, series: Series, log_y: bool = False, *, force: bool = False) -> None:
        """Draw `series` (name -> (xs, ys)); skipped when nothing changed since the last draw."""
        self.series = series
        self.log_y = log_y
        self._redraw(force)

    def clear(self, empty_text: str | None = None) -> None:
        if empty_text is not None:
            self.empty_text = empty_text
        self.plot({}, self.log_y, force=True)

    def on_resize(self) -> None:
        self._redraw(False)

    def _redraw(self, force: bool) -> None:
        from tui_mlops.tui.settings_apply import chart_marker

        size = self.content_size
        marker = chart_marker(self.app)
        signature = (tuple((k, len(v[1])) for k, v in self.series.items()), self.log_y,
                     size.width, size.height, self.empty_text, marker)
        if not force and signature == self._drawn_for:
            return
        self._drawn_for = signature
        self._request += 1
        if not self.series:
            self._text = self.empty_text
            self.refresh()
            return
        if size.width < 20 or size.height < 5:
            self._text = "too small to draw (make the terminal larger)"
            self.refresh()
            return
        self._draw(dict(self.series), self.log_y, size.width, size.height, marker, self._request)

    @work(thread=True, exclusive=True, group="line-chart", exit_on_error=False)
    def _draw(self, series: Series, log_y: bool, width: int, height: int, marker: str,
              request: int) -> None:
        from tui_mlops.charts import line_chart_text

        try:
            text = line_chart_text(series, width, height, log_y=log_y, marker=marker)
        except Exception as exc:  # noqa: BLE001 - a chart that fails to draw must not crash the app
            text = f"cannot draw the chart: {' '.join(str(exc).split())}"
        self.post_message(self.Drawn(text, request))

    @on(Drawn)
    def _drawn(self, event: Drawn) -> None:
        event.stop()
        if event.request == self._request:
            self._text = event.text
            self.refresh()

    def render(self) -> Text:
        return Text(self._text, no_wrap=True, overflow="crop")
