"""One monitored feature: reference vs current histograms and its drift score over the windows,
with the threshold line. Opened with `enter` on the Monitor screen; follows new batches live."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Static

from tui_mlops.tui.screens import ShellScreen
from tui_mlops.tui.screens.monitor_hist import histogram_pair
from tui_mlops.tui.screens.monitor_panes import (
    feature_history, get, latest_window, num, verdict, window_columns,
)
from tui_mlops.tui.screens.run_detail_panes import set_line
from tui_mlops.tui.settings_apply import chart_marker
from tui_mlops.tui.widgets.line_chart import LineChart

if TYPE_CHECKING:
    from tui_mlops.tui.screens.monitor import MonitorScreen


def _bind(key: str, action: str, label: str, name: str, tip: str, show: bool = True) -> Binding:
    return Binding(key, action, label, show=show, id=f"monitor.feature_{name}", tooltip=tip)


class FeatureScreen(ShellScreen):
    """Histograms of the reference and the latest window, and the score over time."""

    MODE = "monitor"
    CSS_PATH = "monitor.tcss"
    AUTO_FOCUS = None
    BINDINGS: ClassVar[list[BindingType]] = [
        _bind("escape", "back", "Back", "back", "Back to the monitor's features"),
        _bind("n", "step(1)", "Next feature", "next", "Show the next feature"),
        _bind("p", "step(-1)", "Prev feature", "previous", "Show the previous feature"),
    ]

    class HistogramsDrawn(Message):
        def __init__(self, request: int, ref: str, cur: str) -> None:
            super().__init__()
            self.request, self.ref, self.cur = request, ref, cur

    def __init__(self, parent: MonitorScreen, monitor: str, column: str) -> None:
        super().__init__(id="monitor-feature")
        self.owner = parent
        self.monitor = monitor
        self.column = column
        self.state: Any = parent.state
        self.profile: Any = parent.profiles.get(monitor)
        self.drawn_count = 0      # histogram pairs shown (tests wait on it)
        self._request = 0
        self._drawn_for: Any = None

    def compose_body(self) -> ComposeResult:
        yield Static("", id="feature-title", markup=False)
        with Horizontal(id="feature-hists"):
            yield Static("drawing …", id="feature-ref", markup=False)
            yield Static("drawing …", id="feature-cur", markup=False)
        yield LineChart("no window yet: the score over time appears with the first batch",
                        x_label="window", id="feature-score")

    def on_mount(self) -> None:
        self.show_state(self.state, self.profile)

    def on_resize(self) -> None:
        self._drawn_for = None
        self.call_after_refresh(self.show_state, self.state, self.profile)

    # -- data ---------------------------------------------------------------------------------
    def show_state(self, state: Any, profile: Any) -> None:
        """Show `state` (called by the Monitor screen when a new state was read)."""
        self.state, self.profile = state, profile
        window = latest_window(state)
        col = window_columns(window).get(self.column) or {}
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append(f"{self.monitor} · {self.column}", style="bold")
        title.append(f" · {col.get('method', '–')} · score {num(col.get('score'))} "
                     f"vs threshold {num(col.get('threshold'))} · ")
        title.append_text(verdict(col.get("drifted") if col else None))
        title.append(f" · window of {num(get(window, 'rows'))} rows")
        set_line(self.query_one("#feature-title", Static), title)
        self._plot_scores(col.get("threshold"))
        pane = self.query_one("#feature-cur", Static).content_size
        size = (pane.width, pane.height)
        marker = chart_marker(self.app)
        signature = (len(get(state, "windows") or []), get(state, "rows"), self.column, size, marker)
        if signature != self._drawn_for:
            self._drawn_for = signature
            self._request += 1
            self._draw(self._request, size, marker)

    def _plot_scores(self, threshold: Any) -> None:
        scores, _flags = feature_history(self.state, self.column)
        chart = self.query_one("#feature-score", LineChart)
        chart.title = f"{self.monitor} · {self.column} drift score"  # n / p change the column
        if not scores:
            chart.clear()
            return
        xs = [float(i + 1) for i in range(len(scores))]
        series = {f"{self.column} score by window": (xs, scores)}
        if isinstance(threshold, (int, float)):
            series[f"threshold {num(threshold)}"] = ([xs[0], xs[-1]] if len(xs) > 1 else [xs[0], xs[0] + 1],
                                                     [float(threshold)] * 2)
        chart.plot(series, force=True)

    @work(thread=True, exclusive=True, exit_on_error=False, group="monitor-feature-draw")
    def _draw(self, request: int, size: tuple[int, int], marker: str) -> None:
        try:
            ref, cur = histogram_pair(self.owner.home, self.monitor, self.profile, self.state,
                                      self.column, *size, marker=marker)
        except Exception as exc:  # noqa: BLE001 - a chart that fails must not crash the screen
            ref = cur = f"cannot draw: {' '.join(str(exc).split())}"
        self.post_message(self.HistogramsDrawn(request, ref, cur))

    @on(HistogramsDrawn)
    def _drawn(self, event: HistogramsDrawn) -> None:
        event.stop()
        if event.request != self._request:
            return
        self.query_one("#feature-ref", Static).update(event.ref)
        self.query_one("#feature-cur", Static).update(event.cur)
        self.drawn_count += 1

    # -- actions ------------------------------------------------------------------------------
    def action_step(self, step: int) -> None:
        names = self.owner.feature_order() if self.owner.state is not None else [self.column]
        if self.column not in names:
            return
        self.column = names[(names.index(self.column) + step) % len(names)]
        self._drawn_for = None
        self.show_state(self.state, self.profile)

    def histogram_texts(self) -> tuple[str, str]:
        """What the two histogram panes show (tests)."""
        return (str(self.query_one("#feature-ref", Static).content),
                str(self.query_one("#feature-cur", Static).content))
