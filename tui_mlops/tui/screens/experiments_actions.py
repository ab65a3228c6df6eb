"""Mixins of the Experiments screen: the keys that open pickers, forms and other screens, and the
live refresh on RunsChanged.

The screen holds the state (`view`, the page on screen); these change the view and ask for a new
page, or start work (re-run) in a thread worker.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from textual import work

from tui_mlops.errors import MlopsError
from tui_mlops.tui.screens.experiments_groups import GroupView
from tui_mlops.tui.settings_apply import refresh_seconds
from tui_mlops.tui.widgets.run_grid import column_keys

if TYPE_CHECKING:
    from tui_mlops.store.home import Home

REFRESH_EVERY = 0.5  # seconds: live updates redraw the page at most 2 Hz (settings: refresh_hz)
STALE_AFTER = 2.0    # seconds away after which coming back re-reads the page
EXPECT_FOR = 15.0    # seconds to keep looking for a run just started
EXPECT_EVERY = 0.3


@dataclass(frozen=True)
class View:
    """What the table shows: one `search_runs` call (plus which columns) per page."""

    query: str | None = None
    order_by: str = "start_ts"
    descending: bool = True
    experiment: str | None = None
    params: tuple[str, ...] | None = None   # None: the most common ones of the page
    metrics: tuple[str, ...] | None = None



def _model_name_problem(text: str) -> str | None:
    from tui_mlops.store.home import check_name

    try:
        check_name(text.strip(), "model name")
    except MlopsError as exc:
        return str(exc)
    return None


class RunActions:
    """Sort, columns, experiment, group, open, mark, compare, register, re-run, train and sweep
    (needs the screen's state)."""

    home: Home
    view: View
    page: Any
    shown_params: list[str]
    shown_metrics: list[str]
    row_ids: list[str]
    app: Any
    expecting: tuple[str, float] | None = None  # (run id, deadline) of a run just started

    # -- sort, columns, experiment, group ----------------------------------------------------------
    def _keys(self) -> tuple[list[str], list[str]]:
        page = self.page
        return (list(page.param_keys), list(page.metric_keys)) if page is not None else ([], [])

    def action_sort(self) -> None:
        from tui_mlops.tui.screens.run_pickers import SortPicker

        params, metrics = self._keys()
        self.app.push_screen(SortPicker(params, metrics, self.view.order_by), self._sorted)

    def _sorted(self, choice: tuple[str, bool] | None) -> None:
        if choice is None:
            return
        key, descending = choice
        self.view = replace(self.view, order_by=key, descending=descending)
        self.load("sort", offset=0)

    def action_reverse(self) -> None:
        self.view = replace(self.view, descending=not self.view.descending)
        self.load("sort", offset=0)

    def action_columns(self) -> None:
        from tui_mlops.tui.screens.run_pickers import ColumnsPicker

        params, metrics = self._keys()
        chosen = column_keys(self.shown_params, self.shown_metrics)
        self.app.push_screen(ColumnsPicker(params, metrics, chosen), self._columns_chosen)

    def _columns_chosen(self, chosen: list[str] | None) -> None:
        if chosen is None:
            return
        if chosen == ["*auto*"]:
            self.view = replace(self.view, params=None, metrics=None)
        else:
            self.view = replace(
                self.view,
                params=tuple(k.split(".", 1)[1] for k in chosen if k.startswith("params.")),
                metrics=tuple(k.split(".", 1)[1] for k in chosen if k.startswith("metrics.")))
        self._reload_keep("columns")

    def action_experiment(self) -> None:
        from tui_mlops.tui.screens.run_pickers import ExperimentPicker

        self.app.push_screen(ExperimentPicker(self.home, self.view.experiment), self._experiment_chosen)

    def _experiment_chosen(self, choice: str | None) -> None:
        if choice is None:
            return
        self.view = replace(self.view, experiment=choice or None)
        self.load("experiment", offset=0)

    def action_group(self) -> None:
        from tui_mlops.tui.screens.run_pickers import KeyPicker

        params, _metrics = self._keys()
        if not params:
            self.notify("No params to group by: these runs logged none.", severity="warning")
            return
        options = [(p, f"params.{p}") for p in params]
        self.app.push_screen(KeyPicker("Group runs by param", options), self._group_by_chosen)

    def _group_by_chosen(self, by: str | None) -> None:
        from tui_mlops.tui.screens.run_pickers import KeyPicker

        if by is None:
            return
        _params, metrics = self._keys()
        if not metrics:
            self.notify("No metrics to summarise: these runs logged none.", severity="warning")
            return
        default = self.view.order_by if self.view.order_by.startswith("metrics.") else (
            f"metrics.{self.shown_metrics[0]}" if self.shown_metrics else None)
        options = [(m, f"metrics.{m}") for m in metrics if not m.startswith("system/")] or \
                  [(m, f"metrics.{m}") for m in metrics]
        self.app.push_screen(KeyPicker(f"Summarise which metric per {by}?", options, default),
                             lambda metric: self._grouped(by, metric))

    def _grouped(self, by: str, metric: str | None) -> None:
        if metric is None:
            return
        groups = self.query_one(GroupView)
        groups.display = True
        self.grid.display = False
        groups.show(by=by, metric=metric, query=self.view.query, experiment=self.view.experiment)
        groups.grid.focus()

    # -- runs: open, mark, rerun, new ------------------------------------------------------------
    def action_open(self) -> None:
        run_id = self.highlighted_run()
        if run_id is None or not self.grid.display:
            return
        try:
            from tui_mlops.tui.screens.run_detail import RunDetailScreen
        except ImportError:
            self.notify("The run detail view is not available in this build.", severity="warning")
            return
        self.app.push_screen(RunDetailScreen(self.home, run_id))

    def action_mark(self) -> None:
        run_id = self.highlighted_run()
        if run_id is None or not self.grid.display:
            return
        marks = self.marked
        marks.symmetric_difference_update({run_id})
        index = self.row_ids.index(run_id)
        self.grid.set_label(index, self._labels()[index])
        self._update_title()
        if index + 1 < len(self.row_ids):
            self.grid.move_cursor(index + 1)  # marking several runs in a row is one key each

    async def action_compare(self) -> None:
        await self.app.switch_mode("compare")

    def action_register(self) -> None:
        from tui_mlops.tui.screens.run_detail_panes import TextPrompt

        run_id = self.highlighted_run()
        if run_id is None or not self.grid.display:
            self.notify("No run highlighted to register.", severity="warning")
            return
        row = next((r for r in self.page.rows if r.run_id == run_id), None) if self.page else None
        self.app.push_screen(
            TextPrompt(f"Register the model of run {run_id[:8]} as", placeholder="model name",
                       value=row.experiment if row is not None else "", check=_model_name_problem),
            lambda name: self._register(run_id, name.strip()) if name else None)

    @work(thread=True, exit_on_error=False, group="runs-register")
    def _register(self, run_id: str, name: str) -> None:
        try:
            from tui_mlops.registry.models import register_model

            mv = register_model(self.home, run_id, name)
        except ImportError:
            self.notify("The model registry is not available in this build.", severity="error")
            return
        except MlopsError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        self.notify(f"Registered {mv.name} v{mv.version} from run {run_id[:8]}",
                    markup=False)

    def action_reload(self) -> None:
        self._reload_keep("reload")

    def action_rerun(self) -> None:
        run_id = self.highlighted_run()
        if run_id is None:
            self.notify("No run highlighted to re-run.", severity="warning")
            return
        self._rerun(run_id)

    @work(thread=True, exit_on_error=False, group="runs-rerun")
    def _rerun(self, run_id: str) -> None:
        try:
            from tui_mlops.training.train import rerun

            new_id = rerun(self.home, run_id)
        except ImportError:
            self.notify("Training is not available in this build.", severity="error")
            return
        except MlopsError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        except Exception as exc:  # noqa: BLE001 - one line to the user, never a crash
            self.notify(f"re-run failed: {' '.join(str(exc).split())}", severity="error", markup=False)
            return
        self.notify(f"Re-running {run_id[:8]} as run {new_id}", markup=False)
        self.app.call_from_thread(self.expect_run, new_id)

    def action_train(self) -> None:
        from tui_mlops.tui.screens.train_form import TrainForm

        self.app.push_screen(TrainForm(self.home, experiment=self.view.experiment), self._started)

    def action_sweep(self) -> None:
        from tui_mlops.tui.screens.sweep_form import SweepForm

        self.app.push_screen(SweepForm(self.home, experiment=self.view.experiment), self._started)

    def _started(self, run_id: str | None) -> None:
        if run_id:
            # The job's process writes the run's first events a moment after the submit: keep
            # looking for it for a while (the runs watcher, when on, shows it too).
            self.expect_run(run_id)

    def expect_run(self, run_id: str, within: float = EXPECT_FOR) -> None:
        self.expecting = (run_id, time.monotonic() + within)
        # Newest first shows it at the top; other orders keep their place.
        self.load("started", offset=0 if self.view.order_by == "start_ts" else None, keep_run=run_id)

    def check_expected(self) -> None:
        """After each page: look again shortly if an expected new run is not on it yet."""
        if self.expecting is None:
            return
        run_id, deadline = self.expecting
        if run_id in self.row_ids or time.monotonic() > deadline:
            self.expecting = None
            return
        self.set_timer(EXPECT_EVERY, lambda: self.load(
            "started", offset=0 if self.view.order_by == "start_ts" else None, keep_run=run_id))


class LiveRefresh:
    """Redraws the page when runs change (messages.RunsChanged from the app's runs watcher)."""

    page: Any
    _dirty: bool
    _last_refresh: float
    _refresh_timer: Any
    _pending: tuple
    _shown_request: int

    def on_runs_changed(self, _message: Any) -> None:
        """Runs were added or changed (messages.RunsChanged): redraw the page, at most 2 Hz."""
        self._dirty = True
        if self.is_current:
            self._schedule_refresh()

    def on_screen_resume(self) -> None:
        # Back from another mode or a run's detail: RunsChanged went to the screens shown then.
        if self.page is not None and (self._dirty or self._stale()):
            self._schedule_refresh()

    def _stale(self) -> bool:
        return time.monotonic() - self._last_refresh > STALE_AFTER

    def _schedule_refresh(self) -> None:
        if self._refresh_timer is not None:
            return
        every = refresh_seconds(self.app, REFRESH_EVERY)  # type: ignore[attr-defined]
        wait = max(0.05, self._last_refresh + every - time.monotonic())
        self._refresh_timer = self.set_timer(wait, self._refresh_now)

    def _refresh_now(self) -> None:
        self._refresh_timer = None
        if self._pending[0] != self._shown_request:
            # A page the user asked for (sort, filter, a picker's choice) is on its way: it
            # reads the runs afresh anyway; superseding it would only delay it.
            if self._dirty:
                self._schedule_refresh()
            return
        if not self._dirty and not self._stale():
            return
        self._last_refresh = time.monotonic()
        self._dirty = False
        if self.query_one(GroupView).display:
            self.query_one(GroupView).reload()
        self._reload_keep("live")
