"""The Monitor screen (mode 5): a monitor's header, live per-feature drift table, alerts and system.

The app keeps one MonitorRunner per monitor (started when this screen is first shown); a runner's
callbacks post messages from its thread, and the screen re-reads monitor_state in a thread worker
at most twice a second. A 1 s poll (only while the mode is shown) catches writers in other
processes (`mlops-tui monitor run`) and samples CPU, RAM and GPU.
"""

from __future__ import annotations

import os
import time
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Static

from tui_mlops.errors import MlopsError
from tui_mlops.store.home import Home
from tui_mlops.tui.screens import KeyedTable, ShellScreen
from tui_mlops.tui.screens.monitor_live import MonitorLive
from tui_mlops.tui.screens.monitor_panes import (
    FEATURE_COLUMNS, alert_text, empty_text, feature_cells, feature_names, get, header_lines,
    severity, system_text,
)
from tui_mlops.tui.screens.run_detail_panes import set_line
from tui_mlops.tui.settings_apply import refresh_seconds

# Defaults without settings; with them both are 1/refresh_hz (the poll also redraws System).
POLL_S = 1.0
MIN_GAP_S = 0.5  # at most ~2 state reads a second, however fast batches land


def _bind(key: str, action: str, label: str, name: str, tip: str, show: bool = True) -> Binding:
    return Binding(key, action, label, show=show, id=f"monitor.{name}", tooltip=tip)


class MonitorLoaded(Message):
    """A worker read the monitors and the state of `name` (None when there is none)."""

    def __init__(self, request: int, names: list[str], name: str | None, state: Any,
                 profile: Any, signature: Any, error: str | None = None) -> None:
        super().__init__()
        self.request, self.names, self.name, self.state = request, names, name, state
        self.profile, self.signature, self.error = profile, signature, error


class SystemSampled(Message):
    """CPU, RAM (and GPU where NVML works) of this machine, and the GPUs NVML sees."""

    def __init__(self, sample: dict[str, float], gpus: list[dict] | None) -> None:
        super().__init__()
        self.sample, self.gpus = sample, gpus


class MonitorScreen(MonitorLive, ShellScreen):
    """Mode 5. enter on a feature: histograms and score over time; m / M: next / previous monitor."""

    MODE = "monitor"
    CSS_PATH = "monitor.tcss"
    AUTO_FOCUS = "#monitor-features"
    BINDINGS: ClassVar[list[BindingType]] = [
        _bind("m", "next_monitor(1)", "Next monitor", "next", "Show the next monitor"),
        _bind("M", "next_monitor(-1)", "Prev monitor", "previous", "Show the previous monitor",
              show=False),
        _bind("s", "toggle_sort", "Sort", "sort",
              "Sort features by drift (drifted and highest scores first) or back to spec order"),
        _bind("r", "reload", "Reload", "reload", "Read the monitor's state again now", show=False),
    ]

    def __init__(self, home: Home) -> None:
        super().__init__(id="mode-monitor")
        self.home = home
        self.names: list[str] = []
        self.selected: str | None = None
        self.state: Any = None
        self.profiles: dict[str, Any] = {}
        self.loaded_count = 0          # states shown (tests wait on it)
        self.sort_by_drift = False
        self.last_load_s = 0.0         # seconds the last state read took (bench / tests)
        self._request = 0
        self._signature: Any = None
        self._last_load = 0.0
        self._refresh_timer: Any = None
        self._poll_timer: Any = None
        self._feature_keys: list[str] = []
        self._gpus: list[dict] | None = None
        self.init_live()

    # -- layout -------------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        with Horizontal(id="monitor-body"):
            with Vertical(id="monitor-left"):
                yield Static("Monitors", classes="section-title", markup=False)
                yield KeyedTable(id="monitor-list")
            with Vertical(id="monitor-main"):
                for i in (1, 2, 3):
                    yield Static("", id=f"monitor-head{i}", classes="monitor-head", markup=False)
                yield KeyedTable(id="monitor-features")
                with Horizontal(id="monitor-bottom"):
                    with Vertical(id="monitor-alerts-box"):
                        yield Static("Alerts (newest first)", classes="section-title", markup=False)
                        yield Static("", id="monitor-alerts", markup=False)
                    with Vertical(id="monitor-system-box"):
                        yield Static("System", classes="section-title", markup=False)
                        yield Static("", id="monitor-system", markup=False)
        yield Static("Reading the monitors …", id="monitor-empty", markup=False)

    def on_mount(self) -> None:
        table = self.query_one("#monitor-features", KeyedTable)
        for label, key in FEATURE_COLUMNS:
            table.add_column(label, key=key)
        self.query_one("#monitor-list", KeyedTable).add_column("monitor", key="name")
        self.query_one("#monitor-body").display = False
        self.query_one("#monitor-left").display = False
        self._poll_timer = self.set_interval(refresh_seconds(self.app, POLL_S), self._poll,
                                             name="monitor-poll")
        self.reload()
        self._poll()

    @property
    def live(self) -> bool:
        """The mode is shown (this screen, or a feature screen on top of it)."""
        return self.app.current_mode == self.MODE and self.is_attached

    def on_screen_suspend(self) -> None:
        if self._poll_timer is not None:
            self._poll_timer.pause()  # nobody sees the system panel: no polling

    def on_screen_resume(self) -> None:
        if self._poll_timer is not None:
            self._poll_timer.resume()
        self.reload()

    # -- loading ------------------------------------------------------------------------------
    def reload(self) -> None:
        """Read the monitors and the selected one's state in a thread; the newest request wins."""
        if self._refresh_timer is not None:
            self._refresh_timer.stop()
            self._refresh_timer = None
        self._last_load = time.monotonic()
        self._request += 1
        self._load(self._request, self.selected)

    def request_refresh(self) -> None:
        """Reload now, or in a moment if the last read was under MIN_GAP_S ago (rate limit)."""
        if not self.live:
            self._signature = None  # read again when shown
            return
        wait = self._last_load + refresh_seconds(self.app, MIN_GAP_S) - time.monotonic()
        if wait <= 0:
            self.reload()
        elif self._refresh_timer is None:
            self._refresh_timer = self.set_timer(wait, self.reload)

    def action_reload(self) -> None:
        self.reload()

    def _stat(self, name: str | None) -> Any:
        """What the poll compares: the monitors (folders with a monitor.json) and the shown
        monitor's spec and logs."""
        root = self.home.monitors_dir
        try:
            names = tuple(sorted(e.name for e in os.scandir(root) if e.is_dir()
                                 and os.path.exists(os.path.join(e.path, "monitor.json"))))
        except OSError:
            names = ()
        sigs = []
        for file in ("monitor.json", "events.jsonl", "alerts.jsonl") if name else ():
            try:
                st = os.stat(root / name / file)
                sigs.append((st.st_size, st.st_mtime_ns))
            except OSError:
                sigs.append(None)
        return names, tuple(sigs)

    @work(thread=True, exclusive=True, exit_on_error=False, group="monitor-load")
    def _load(self, request: int, name: str | None) -> None:
        started = time.perf_counter()
        names: list[str] = []
        try:
            from tui_mlops.monitoring.spec import list_monitors
            from tui_mlops.monitoring.state import monitor_state

            names = [s.name for s in list_monitors(self.home)]
            if name not in names:
                name = names[0] if names else None
            signature = self._stat(name)  # before reading: a write after it shows on the next poll
            state = monitor_state(self.home, name) if name else None
            profile = _read_profile(self.home, name) if name else None  # cached by the engine
        except (MlopsError, OSError, ValueError) as exc:
            why = " ".join(str(exc).split())
            self.post_message(MonitorLoaded(request, names, name, None, None, None,
                                            f"monitor {name}: {why}" if name else why))
            return
        except ImportError:
            self.post_message(MonitorLoaded(request, [], None, None, None, None,
                                            "monitoring is not available in this build"))
            return
        self.last_load_s = time.perf_counter() - started
        self.post_message(MonitorLoaded(request, names, name, state, profile, signature))

    @on(MonitorLoaded)
    def _loaded(self, event: MonitorLoaded) -> None:
        event.stop()
        if event.request != self._request:
            return
        self._signature = event.signature
        if event.error:
            self.app.notify(event.error, severity="error", markup=False)
            self.names, self.selected, self.state = event.names, event.name, None
            self.loaded_count += 1
            self._show(event.error)
            return
        if getattr(self.app, "watch_files", True) and sorted(event.names) != sorted(self.runners()):
            self.sync_runners(list(event.names))
        self.names, self.selected, self.state = event.names, event.name, event.state
        if event.name and event.profile is not None:
            self.profiles[event.name] = event.profile
        self.notify_new_alerts(event.name, get(event.state, "alerts") or [])
        self.loaded_count += 1
        self._show()
        from tui_mlops.tui.screens.monitor_feature import FeatureScreen

        top = self.app.screen
        if isinstance(top, FeatureScreen) and top.monitor == event.name:
            top.show_state(event.state, self.profiles.get(event.name))

    # -- live facts ---------------------------------------------------------------------------
    def _poll(self) -> None:
        if self.live:
            self._check(self._signature, self.selected)

    @work(thread=True, exclusive=True, exit_on_error=False, group="monitor-poll")
    def _check(self, shown: Any, name: str | None) -> None:
        if shown is not None and self._stat(name) != shown:
            self.post_message(self._Changed())
        from tui_mlops.monitoring import system

        if self._gpus is None:
            self._gpus = system.gpu_info() or []
        self.post_message(SystemSampled(system.sample(), self._gpus))

    class _Changed(Message):
        """The monitors folder or the shown monitor's logs changed since the last read."""

    @on(_Changed)
    def _changed(self, event: _Changed) -> None:
        event.stop()
        self.request_refresh()

    @on(SystemSampled)
    def _system_sampled(self, event: SystemSampled) -> None:
        event.stop()
        set_line(self.query_one("#monitor-system", Static), system_text(event.sample, event.gpus))

    # -- rendering ----------------------------------------------------------------------------
    def _show(self, error: str | None = None) -> None:
        body, empty = self.query_one("#monitor-body"), self.query_one("#monitor-empty", Static)
        if not self.names or self.state is None:
            body.display = False
            empty.display = True
            text = empty_text(self.home.monitors_dir)
            if error and len(self.names) > 1:
                text = "Press m for the next monitor, r to read this one again."
            empty.update(f"{error}\n\n{text}" if error else text)
            return
        empty.display = False
        body.display = True
        with self.app.batch_update():
            self._show_list()
            for i, line in enumerate(header_lines(self.state), 1):
                set_line(self.query_one(f"#monitor-head{i}", Static), line)
            self._show_features()
            set_line(self.query_one("#monitor-alerts", Static), alert_text(get(self.state, "alerts") or []))

    def on_resize(self) -> None:
        if self.names:
            self.query_one("#monitor-left").display = self._list_shown()

    def _list_shown(self) -> bool:
        # Narrow terminals keep the width for the features; `m` still switches monitors.
        return len(self.names) > 1 and self.size.width >= 100

    def _show_list(self) -> None:
        left = self.query_one("#monitor-left")
        left.display = self._list_shown()
        table = self.query_one("#monitor-list", KeyedTable)
        keys = [str(k.value) for k in table.rows]
        if keys != self.names:
            table.clear()
            for name in self.names:
                table.add_row(name, key=name)
        if self.selected in self.names and table.cursor_row != self.names.index(self.selected):
            table.move_cursor(row=self.names.index(self.selected))

    def feature_order(self) -> list[str]:
        names = feature_names(self.state)
        if not self.sort_by_drift:
            return names
        return sorted(names, key=lambda n: severity(self.state, n))

    def _show_features(self) -> None:
        table = self.query_one("#monitor-features", KeyedTable)
        keys = self.feature_order()
        if keys != self._feature_keys:
            current = self.selected_feature()
            table.clear()
            for key in keys:
                table.add_row(*feature_cells(self.state, key), key=key)
            self._feature_keys = keys
            if current in keys:
                table.move_cursor(row=keys.index(current))
            return
        for key in keys:  # cell by cell: the cursor and scroll position stay put
            for (_label, col), cell in zip(FEATURE_COLUMNS, feature_cells(self.state, key)):
                if table.get_cell(key, col) != cell:
                    table.update_cell(key, col, cell)

    def rows(self) -> list[list[str]]:
        """The features table as plain text (tests)."""
        table = self.query_one("#monitor-features", KeyedTable)
        return [[str(c) for c in table.get_row_at(r)] for r in range(table.row_count)]

    def header_text(self) -> str:
        return "\n".join(str(self.query_one(f"#monitor-head{i}", Static).content) for i in (1, 2, 3))

    def selected_feature(self) -> str | None:
        table = self.query_one("#monitor-features", KeyedTable)
        if table.row_count == 0:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    # -- actions ------------------------------------------------------------------------------
    def action_next_monitor(self, step: int) -> None:
        if len(self.names) < 2:
            self.app.notify("Only one monitor: create more with `mlops-tui monitor create`.",
                            markup=False, timeout=3)
            return
        index = self.names.index(self.selected) if self.selected in self.names else 0
        self.select_monitor(self.names[(index + step) % len(self.names)])

    def select_monitor(self, name: str) -> None:
        if name != self.selected:
            self.selected = name
            self._feature_keys = []
            self.reload()

    def action_toggle_sort(self) -> None:
        self.sort_by_drift = not self.sort_by_drift
        if self.state is not None:
            self._show_features()

    @on(KeyedTable.RowHighlighted, "#monitor-list")
    def _monitor_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        event.stop()
        if event.cursor_row == event.data_table.cursor_row and event.row_key.value:
            self.select_monitor(str(event.row_key.value))

    @on(KeyedTable.RowSelected, "#monitor-list")
    def _monitor_selected(self, event: KeyedTable.RowSelected) -> None:
        event.stop()
        self.query_one("#monitor-features", KeyedTable).focus()

    @on(KeyedTable.RowSelected, "#monitor-features")
    def _feature_selected(self, event: KeyedTable.RowSelected) -> None:
        event.stop()
        self.open_feature(str(event.row_key.value))

    def open_feature(self, column: str) -> None:
        from tui_mlops.tui.screens.monitor_feature import FeatureScreen

        if self.selected is None or self.state is None:
            return
        self.app.push_screen(FeatureScreen(self, self.selected, column))


def _read_profile(home: Home, name: str) -> Any:
    """The monitor's cached reference (reference.json), or None when unreadable."""
    from tui_mlops.monitoring.reference import load_reference

    try:
        return load_reference(home, name)
    except (MlopsError, OSError, ValueError):
        return None
