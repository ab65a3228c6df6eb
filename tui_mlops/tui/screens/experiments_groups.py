"""The grouped view of the Experiments screen: runs grouped by a param, a metric summarised per group."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from tui_mlops.errors import MlopsError
from tui_mlops.tui.widgets.run_grid import BEST_MARK, RunCell, RunGrid, fmt_number, short_text

if TYPE_CHECKING:
    from tui_mlops.store.home import Home

GROUP_COLUMNS = ["value", "count", "mean", "std", "best"]


def group_cells(groups: list[Any], direction: str) -> tuple[list[list[RunCell]], int | None]:
    """Formatted rows of GroupRows, and the index of the group with the best mean (highlighted)."""
    means = [(g.mean, i) for i, g in enumerate(groups) if g.mean is not None]
    top = None
    if means:
        top = (max(means) if direction == "max" else min(means))[1]
    rows = []
    for i, g in enumerate(groups):
        mean = fmt_number(g.mean)
        rows.append([
            RunCell(short_text(g.value, 30)),
            RunCell(f"{g.count:,}", right=True),
            RunCell(f"{BEST_MARK}{mean}" if i == top else mean, right=True, null=g.mean is None,
                    style="run-grid--best" if i == top else None),
            RunCell(fmt_number(g.std), right=True, null=g.std is None),
            RunCell(fmt_number(g.best), right=True, null=g.best is None),
        ])
    return rows, top


class GroupsShown(Message):
    """The grouped view shows `count` groups (or `error`)."""

    def __init__(self, count: int, error: str | None = None) -> None:
        super().__init__()
        self.count, self.error = count, error


class _GroupsLoaded(Message):
    def __init__(self, request: int, groups: list[Any], cells: list, top: int | None,
                 direction: str, error: str | None = None) -> None:
        super().__init__()
        self.request, self.groups, self.cells, self.top = request, groups, cells, top
        self.direction, self.error = direction, error


class GroupView(Vertical):
    """A title line and a grid of groups: value, count, mean, std and best of the chosen metric."""

    def __init__(self, home: Home, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.home = home
        self.by: str | None = None
        self.metric: str | None = None
        self.query_text: str | None = None
        self.experiment: str | None = None
        self.groups: list[Any] = []
        self._request = 0

    def compose(self) -> ComposeResult:
        yield Static("", id="groups-title", classes="section-title", markup=False)
        yield RunGrid(id="groups-grid")

    @property
    def grid(self) -> RunGrid:
        return self.query_one("#groups-grid", RunGrid)

    @property
    def title_text(self) -> str:
        return str(self.query_one("#groups-title", Static).content)

    def show(self, *, by: str | None = None, metric: str | None = None, query: str | None = None,
             experiment: str | None = None) -> None:
        """Group again (by/metric keep their values when not given)."""
        self.by = by or self.by
        self.metric = metric or self.metric
        self.query_text, self.experiment = query, experiment
        self.query_one("#groups-title", Static).update(f"Grouping by {self.by} …")
        self.reload()

    def reload(self) -> None:
        if self.by and self.metric:
            self._request += 1
            self._load(self._request, self.by, self.metric, self.query_text, self.experiment)

    @work(thread=True, exclusive=True, group="runs-groups", exit_on_error=False)
    def _load(self, request: int, by: str, metric: str, query: str | None,
              experiment: str | None) -> None:
        try:
            from tui_mlops.tracking.query import group_runs, metric_direction

            groups = group_runs(self.home, by, metric, query=query, experiment=experiment)
            direction = metric_direction(metric.split(".", 1)[-1])
        except ImportError:
            self.post_message(_GroupsLoaded(request, [], [], None, "max",
                                            "run tracking is not available in this build"))
            return
        except MlopsError as exc:
            self.post_message(_GroupsLoaded(request, [], [], None, "max", str(exc)))
            return
        except Exception as exc:  # noqa: BLE001 - one line to the user, never a crash
            self.post_message(_GroupsLoaded(request, [], [], None, "max",
                                            f"cannot group runs: {' '.join(str(exc).split())}"))
            return
        cells, top = group_cells(groups, direction)
        self.post_message(_GroupsLoaded(request, groups, cells, top, direction))

    @on(_GroupsLoaded)
    def _loaded(self, event: _GroupsLoaded) -> None:
        event.stop()
        if event.request != self._request:
            return
        if event.error is not None:
            self.notify(event.error, severity="error", markup=False)
            self.query_one("#groups-title", Static).update(f"Grouping failed: {event.error}")
            self.post_message(GroupsShown(0, event.error))
            return
        self.groups = event.groups
        cursor = self.grid.cursor_row
        self.grid.set_page(GROUP_COLUMNS, event.cells, [str(i + 1) for i in range(len(event.cells))],
                           cursor_row=cursor)
        better = "higher" if event.direction == "max" else "lower"
        runs = sum(g.count for g in event.groups)
        scope = f" · filter {self.query_text}" if self.query_text else ""
        self.query_one("#groups-title", Static).update(
            f"{self.by}: {len(event.groups):,} groups, {runs:,} runs · {self.metric} "
            f"({better} is better) · escape: runs{scope}", layout=False)
        self.post_message(GroupsShown(len(event.groups)))

