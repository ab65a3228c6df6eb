"""The Compare screen's Curves pane: a metric picker and every compared run's history of it
overlaid, read off the UI thread in one catalog query, reduced (min/max per column) in the query.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui_mlops.tui.screens.compare_panes import short_name
from tui_mlops.tui.screens.run_detail_panes import default_pick, set_line
from tui_mlops.tui.widgets.line_chart import LineChart, Series
from tui_mlops.tui.widgets.vim import VimOptionList

MIN_COLUMNS = 100


class CurveChart(LineChart):
    """The overlay chart; tells the pane when the text for the newest request is ready."""

    class CurvesDrawn(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    @on(LineChart.Drawn)
    def _report(self, event: LineChart.Drawn) -> None:
        # Runs before LineChart's own handler (subclass first), which stores the text.
        if event.request == self._request:
            self.post_message(self.CurvesDrawn(event.text))


def run_legend(run: Any) -> str:
    return f"{run.run_id[:8]} {short_name(run.name)}"


def curve_keys(cmp: Any) -> list[str]:
    """Metrics logged over steps by at least one run (those have curves); else every metric."""
    stepped = [row.key for row in cmp.metrics if any(s for s in (row.steps or []))]
    return stepped or [row.key for row in cmp.metrics]


# -- reading (thread worker side) -----------------------------------------------------------------
@dataclass
class CurveCache:
    """Reduced histories by (run id, key), valid while the run's log keeps its size and mtime and
    the reduction its column count."""

    entries: dict[tuple[str, str], tuple[tuple[int, int, int], list[float], list[float]]] = field(
        default_factory=dict)


@dataclass
class Curves:
    key: str
    series: Series
    missing: list[str]   # runs without a point of the key
    problems: list[str]  # runs whose log could not be read
    load_ms: float = 0.0


def load_curves(home: Any, runs: list[tuple[str, str]], key: str, columns: int,
                cache: CurveCache) -> Curves:
    """One metric's history for each (run id, legend label), min/max-reduced to `columns`.

    Only `key` is read, for every run not in `cache` in one catalog query
    (`query.metric_histories`, reduced there: the full histories never reach Python).
    Runs in a thread worker, never on the UI thread.
    """
    from tui_mlops.errors import MlopsError
    from tui_mlops.tracking.query import metric_histories

    started = time.perf_counter()
    results: dict[str, tuple[list[float], list[float]] | str] = {}
    stamps: dict[str, tuple[int, int, int]] = {}
    for rid, _label in runs:
        try:
            st = os.stat(home.runs_dir / rid / "events.jsonl")
        except OSError as exc:
            results[rid] = f"{rid[:8]}: {exc.strerror or exc}"
            continue
        stamps[rid] = (st.st_mtime_ns, st.st_size, columns)
        hit = cache.entries.get((rid, key))
        if hit is not None and hit[0] == stamps[rid]:
            results[rid] = (hit[1], hit[2])
    todo = [rid for rid in stamps if rid not in results]
    if todo:
        try:
            found = metric_histories(home, todo, key, columns=columns)
        except MlopsError as exc:
            results.update({rid: f"{rid[:8]}: {exc}" for rid in todo})
        except Exception as exc:  # noqa: BLE001 - a damaged catalog must not take the screen down
            results.update({rid: f"{rid[:8]}: {' '.join(str(exc).split())}" for rid in todo})
        else:
            for rid in todo:
                xs, ys = found.get(rid, ([], []))
                cache.entries[(rid, key)] = (stamps[rid], xs, ys)
                results[rid] = (xs, ys)
    series: Series = {}
    missing: list[str] = []
    problems: list[str] = []
    for rid, label in runs:
        res = results.get(rid, f"{rid[:8]}: not read")
        if isinstance(res, str):
            problems.append(res)
        elif not res[0]:
            missing.append(rid[:8])
        else:
            series[label] = res
    return Curves(key, series, missing, problems, (time.perf_counter() - started) * 1000)


# -- the pane -------------------------------------------------------------------------------------
class CurvesPane(Vertical):
    """Pick a metric (↑↓); each run's curve of it overlaid. `show_comparison` starts reading the
    default metric's histories; the chart is drawn only while `active` (its tab is shown)."""

    class _Loaded(Message):
        def __init__(self, request: int, curves: Curves) -> None:
            super().__init__()
            self.request, self.curves = request, curves

    def __init__(self, home: Any, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.home = home
        self.cmp: Any = None
        self.key: str | None = None
        self.curves: Curves | None = None
        self.log_y = False
        self.active = False
        self.ready_at = 0.0    # perf_counter when the newest histories were read and reduced
        self.drawn_count = 0   # overlays drawn (tests and the bench wait on it) ...
        self.drawn_at = 0.0    # ... the newest at this perf_counter
        self._request = 0
        self._cache = CurveCache()

    def compose(self) -> ComposeResult:
        with Horizontal(id="cmp-curves"):
            with Vertical(id="cmp-curve-side"):
                yield Static("metric (↑↓)", classes="cmp-note")
                yield VimOptionList(id="cmp-curve-keys")
            yield CurveChart("pick a metric", id="cmp-chart")
        yield Static("", id="cmp-curves-note", classes="cmp-note", markup=False)

    def show_comparison(self, cmp: Any) -> None:
        """A new comparison: list its metrics and read the chosen (or default) one's curves."""
        self.cmp = cmp
        self.curves = None
        keys = curve_keys(cmp)
        picker = self.query_one("#cmp-curve-keys", OptionList)
        picker.clear_options()
        picker.add_options([Option(k, id=k) for k in keys])
        if not keys:
            self.key = None
            self.query_one(CurveChart).clear("no metrics logged by these runs")
            return
        key = self.key if self.key in keys else default_pick(keys)
        picker.highlighted = keys.index(key)  # posts OptionHighlighted: same key, no second read
        self._load(key)

    @on(OptionList.OptionHighlighted, "#cmp-curve-keys")
    def _pick(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        key = event.option.id
        if key and self.cmp is not None and key != self.key:
            self._load(key)

    def _load(self, key: str) -> None:
        self.key = key
        self._request += 1
        # Reduced to twice the terminal's width (braille has 2 dots per cell): enough for any chart
        # width that fits, so showing the pane or resizing it never reads again.
        columns = max(MIN_COLUMNS, 2 * self.app.size.width)
        runs = [(r.run_id, run_legend(r)) for r in self.cmp.runs]
        self._read(self._request, runs, key, columns)

    @work(thread=True, exclusive=True, group="compare-curves", exit_on_error=False)
    def _read(self, request: int, runs: list[tuple[str, str]], key: str, columns: int) -> None:
        curves = load_curves(self.home, runs, key, columns, self._cache)
        self.post_message(self._Loaded(request, curves))

    @on(_Loaded)
    def _loaded(self, event: _Loaded) -> None:
        if event.request != self._request:
            return
        self.curves = event.curves
        self.ready_at = time.perf_counter()
        self.plot()

    def plot(self) -> None:
        """Draw the curves read (when the pane is shown): the chart and the note under it."""
        curves = self.curves
        if curves is None or not self.active or self.cmp is None:
            return
        chart = self.query_one(CurveChart)
        chart.empty_text = f"{curves.key}: no run logged it over steps"
        chart.title = curves.key  # names the saved file's chart (ctrl+e)
        chart.plot(curves.series, self.log_y)
        notes = [f"{curves.key}: {len(curves.series)} of {len(self.cmp.runs)} runs drawn",
                 "log y" if self.log_y else "linear y", "l toggles"]
        if curves.missing:
            notes.append(f"no points: {', '.join(curves.missing[:6])}"
                         + (" …" if len(curves.missing) > 6 else ""))
        if curves.problems:
            notes.append(f"unreadable: {curves.problems[0]}")
        set_line(self.query_one("#cmp-curves-note", Static), " · ".join(notes))

    @on(CurveChart.CurvesDrawn)
    def _drawn(self, event: CurveChart.CurvesDrawn) -> None:
        event.stop()
        self.drawn_count += 1
        self.drawn_at = time.perf_counter()
