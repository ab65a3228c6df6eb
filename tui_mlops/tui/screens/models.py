"""The Models screen (mode 4): registered models, the selected model's versions and its alias history.

Everything is read in thread workers through registry.models; a 1 s timer (paused on hidden
screens) looks at the registry's events file and reloads when it changed, so a version registered
from a shell shows up without a key press.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Static

from tui_mlops.errors import MlopsError
from tui_mlops.registry.models import EVENTS_FILE
from tui_mlops.store.home import Home
from tui_mlops.tui.screens import KeyedTable, ShellScreen
from tui_mlops.tui.screens.models_actions import VersionActions
from tui_mlops.tui.screens.models_panes import (
    EMPTY_TEXT, HISTORY_COLUMNS, MODEL_COLUMNS, VERSION_COLUMNS, ValidationLine,
    history_cells, metric_keys, metric_label, model_cells, version_cells,
)
from tui_mlops.tui.screens.run_detail_panes import set_line
from tui_mlops.tui.settings_apply import refresh_seconds

POLL_S = 1.0  # without settings; with them 1/refresh_hz (how soon a registry change shows)


def _bind(key: str, action: str, label: str, name: str, tip: str, show: bool = True) -> Binding:
    return Binding(key, action, label, show=show, id=f"models.{name}", tooltip=tip)


class ModelsLoaded(Message):
    """A worker read the registry: every model, and the versions and alias history of `name`."""

    def __init__(self, request: int, signature: Any, models: list[Any], name: str | None,
                 versions: list[Any], history: list[Any], error: str | None = None) -> None:
        super().__init__()
        self.request, self.signature, self.models, self.name = request, signature, models, name
        self.versions, self.history, self.error = versions, history, error


class ModelsScreen(VersionActions, ShellScreen):
    """Mode 4. Keys on a version: a alias, A remove alias, v validate, enter report, e export."""

    MODE = "models"
    CSS_PATH = "models.tcss"
    AUTO_FOCUS = "#models-list"
    BINDINGS: ClassVar[list[BindingType]] = [
        _bind("a", "set_alias", "Alias", "set_alias",
              "Move an alias (staging, production, …) to the highlighted version"),
        _bind("A", "remove_alias", "Remove alias", "remove_alias",
              "Remove one of the highlighted version's aliases"),
        _bind("v", "validate", "Validate", "validate",
              "Validate the highlighted version (holdout, CV, bootstrap, drift, gates)"),
        _bind("e", "export", "Export", "export",
              "Export the highlighted version as a self-contained bundle in a folder"),
        _bind("x", "cancel_validation", "Cancel", "cancel",
              "Stop the running validation (shown while one runs)"),
        _bind("escape", "cancel_validation", "Cancel", "cancel_escape",
              "Stop the running validation", show=False),
        _bind("r", "reload", "Reload", "reload", "Read the registry again now", show=False),
    ]

    def __init__(self, home: Home) -> None:
        super().__init__(id="mode-models")
        self.home = home
        self.models: list[Any] = []
        self.selected: str | None = None      # the model whose versions are shown
        self.versions: list[Any] = []
        self.history: list[Any] = []
        self.loaded_count = 0                  # registry reads shown (tests wait on it)
        self.live = False
        self._request = 0
        self._signature: Any = None            # (size, mtime) of the events file last shown
        self._timer: Any = None
        self._metric_keys: list[str] | None = None
        self._version_keys: list[str] = []
        self._model_keys: list[str] = []
        self.init_actions()

    # -- layout -------------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        with Horizontal(id="models-body"):
            with Vertical(id="models-left"):
                yield Static("Models", id="models-title", classes="section-title", markup=False)
                yield KeyedTable(id="models-list")
            with Vertical(id="models-right"):
                yield Static("Versions", id="models-versions-title", classes="section-title",
                             markup=False)
                yield KeyedTable(id="models-versions")
                yield ValidationLine(id="models-validation")
                yield Static("Alias history", id="models-history-title", classes="section-title",
                             markup=False)
                yield KeyedTable(id="models-history")
        yield Static("Reading the registry …", id="models-empty", markup=False)

    def on_mount(self) -> None:
        table = self.query_one("#models-list", KeyedTable)
        for label, key in MODEL_COLUMNS:
            table.add_column(label, key=key)
        history = self.query_one("#models-history", KeyedTable)
        for key, label in HISTORY_COLUMNS:
            history.add_column(label, key=key)
        self.query_one("#models-body").display = False
        self._timer = self.set_interval(refresh_seconds(self.app, POLL_S), self._poll, name="models-poll")
        self.live = self.is_current
        self.reload()

    def on_screen_suspend(self) -> None:
        self.live = False
        if self._timer is not None:
            self._timer.pause()  # nobody sees it: no polling

    def on_screen_resume(self) -> None:
        self.live = True
        if self._timer is not None:
            self._timer.resume()
        self.reload()

    # -- loading ------------------------------------------------------------------------------
    @property
    def events_path(self) -> str:
        return os.fspath(self.home.registry_dir / EVENTS_FILE)

    def reload(self) -> None:
        """Read the registry in a thread; the newest request wins."""
        self._request += 1
        self._load(self._request, self.selected)

    def _poll(self) -> None:
        if self.live:
            self._check(self._signature)

    def action_reload(self) -> None:
        self.reload()

    def _stat(self) -> Any:
        try:
            st = os.stat(self.events_path)
        except OSError:
            return None
        return (st.st_size, st.st_mtime_ns)

    @work(thread=True, exclusive=True, exit_on_error=False, group="models-poll")
    def _check(self, shown: Any) -> None:
        if self._stat() != shown:
            self.post_message(self._Changed())

    class _Changed(Message):
        """The registry's events file changed since the last read shown."""

    @on(_Changed)
    def _changed(self, event: _Changed) -> None:
        event.stop()
        self.reload()

    @work(thread=True, exclusive=True, exit_on_error=False, group="models-load")
    def _load(self, request: int, name: str | None) -> None:
        signature = self._stat()  # before reading: a write after it shows on the next poll
        try:
            from tui_mlops.registry import models as R

            models = R.list_models(self.home)
            names = [m.name for m in models]
            if name not in names:
                name = names[0] if names else None
            versions = R.get_versions(self.home, name) if name else []
            history = R.alias_history(self.home, name) if name else []
        except (MlopsError, OSError) as exc:
            self.post_message(ModelsLoaded(request, signature, [], name, [], [], str(exc)))
            return
        except ImportError:
            self.post_message(ModelsLoaded(request, signature, [], None, [], [],
                                           "the model registry is not available in this build"))
            return
        self.post_message(ModelsLoaded(request, signature, models, name, versions, history))

    @on(ModelsLoaded)
    def _loaded(self, event: ModelsLoaded) -> None:
        event.stop()
        if event.request != self._request:
            return  # a newer read is on its way (another model was chosen meanwhile)
        self._signature = event.signature  # an error is shown once, not on every poll
        if event.error:
            self.notify(event.error, severity="error", markup=False)
            return
        self.models, self.selected = event.models, event.name
        self.versions, self.history = event.versions, event.history
        self.loaded_count += 1
        self._show()

    # -- rendering ----------------------------------------------------------------------------
    def _show(self) -> None:
        body, empty = self.query_one("#models-body"), self.query_one("#models-empty", Static)
        if not self.models:
            body.display = False
            empty.display = True
            empty.update(EMPTY_TEXT)
            return
        empty.display = False
        body.display = True
        with self.app.batch_update():
            self._show_models()
            self._show_versions()
            self._show_history()
        if self.focused is None:
            self.query_one("#models-list", KeyedTable).focus()

    def _show_models(self) -> None:
        table = self.query_one("#models-list", KeyedTable)
        keys = [m.name for m in self.models]
        if keys != self._model_keys:
            table.clear()
            for m in self.models:
                table.add_row(*model_cells(m), key=m.name)
            self._model_keys = keys
        else:
            for m in self.models:
                for (_label, col), cell in zip(MODEL_COLUMNS, model_cells(m)):
                    if str(table.get_cell(m.name, col)) != str(cell):
                        table.update_cell(m.name, col, cell, update_width=True)
        if self.selected in keys and table.cursor_row != keys.index(self.selected):
            table.move_cursor(row=keys.index(self.selected))
        set_line(self.query_one("#models-title", Static), f"Models ({len(keys)})")

    def _show_versions(self) -> None:
        table = self.query_one("#models-versions", KeyedTable)
        current = self.selected_version()
        metrics = metric_keys(self.versions)
        # Newest first: the version just registered is the one people act on.
        rows = list(reversed(self.versions))
        keys = [f"{v.name}@{v.version}" for v in rows]
        if metrics != self._metric_keys:
            table.clear(columns=True)
            for label, key in VERSION_COLUMNS:
                table.add_column(label, key=key)
            for key in metrics:
                table.add_column(metric_label(key), key=f"metric:{key}")
            self._metric_keys = metrics
            self._version_keys = []
        if keys != self._version_keys:
            table.clear()
            for key, v in zip(keys, rows):
                table.add_row(*version_cells(v, metrics), key=key)
            self._version_keys = keys
        else:
            columns = [k for _l, k in VERSION_COLUMNS] + [f"metric:{m}" for m in metrics]
            for key, v in zip(keys, rows):
                for col, cell in zip(columns, version_cells(v, metrics)):
                    if str(table.get_cell(key, col)) != str(cell):
                        table.update_cell(key, col, cell, update_width=True)
        if current is not None:
            key = f"{current.name}@{current.version}"
            if key in keys and table.cursor_row != keys.index(key):
                table.move_cursor(row=keys.index(key))
        count = len(rows)
        set_line(self.query_one("#models-versions-title", Static),
                 f"Versions of {self.selected} ({count}), newest first")

    def _show_history(self) -> None:
        table = self.query_one("#models-history", KeyedTable)
        table.clear()
        for move in reversed(self.history):  # newest first
            table.add_row(*history_cells(move))
        set_line(self.query_one("#models-history-title", Static),
                 f"Alias history of {self.selected} ({len(self.history)} moves, newest first)")

    # -- selection ----------------------------------------------------------------------------
    @on(KeyedTable.RowHighlighted, "#models-list")
    def _model_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        event.stop()
        if event.cursor_row != event.data_table.cursor_row:
            return  # a stale event from a rebuild: the cursor has moved on
        name = event.row_key.value
        if name and name != self.selected:
            self.selected = name
            self.reload()

    @on(KeyedTable.RowSelected, "#models-list")
    def _model_selected(self, event: KeyedTable.RowSelected) -> None:
        event.stop()
        self.query_one("#models-versions", KeyedTable).focus()

    @on(KeyedTable.RowSelected, "#models-versions")
    def _version_selected(self, event: KeyedTable.RowSelected) -> None:
        event.stop()
        self.action_open_report()

    def selected_version(self) -> Any:
        """The highlighted version (a registry ModelVersion), or None."""
        table = self.query_one("#models-versions", KeyedTable)
        if table.row_count == 0 or not self.versions:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((v for v in self.versions if f"{v.name}@{v.version}" == key), None)

    def select_version(self, version: int) -> None:
        """Move the versions cursor to `version` of the shown model (tests, palette)."""
        key = f"{self.selected}@{version}"
        if key in self._version_keys:
            self.query_one("#models-versions", KeyedTable).move_cursor(
                row=self._version_keys.index(key))

    def rows(self, table_id: str) -> list[list[str]]:
        """A table's rows as plain text, top to bottom (tests)."""
        table = self.query_one(f"#{table_id}", KeyedTable)
        return [[str(c) for c in table.get_row_at(r)] for r in range(table.row_count)]

    def column(self, table_id: str, label: str) -> list[str]:
        table = self.query_one(f"#{table_id}", KeyedTable)
        index = [str(c.label) for c in table.columns.values()].index(label)
        return [row[index] for row in self.rows(table_id)]
