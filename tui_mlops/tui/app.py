"""The Textual app: modes on number keys 1-6, help, command palette, inbox and store watching.

Start-up stays fast: nothing heavy (polars, duckdb, plotext, lightgbm) is imported here; the
catalog is read in a thread worker, and the chores (sample data on a first launch, the inbox and
store watchers) start only after the first dataset list is on screen.

Environment: `MLOPS_TUI_EXIT_AFTER_READY=1` makes the app exit as soon as its first screen is
mounted and the dataset list has been loaded and shown, without starting those chores; it is how
bench/startup.py times a cold start to the first interactive screen.
"""

from __future__ import annotations

import os
import threading
from functools import partial
from pathlib import Path
from typing import Any, Iterable

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.timer import Timer

from tui_mlops.errors import MlopsError
from tui_mlops.store.home import TMP_PREFIX, Home
from tui_mlops.tui.chart_export import CHART_BINDING, ChartSaving
from tui_mlops.tui.commands import MlopsCommands
from tui_mlops.tui.messages import (
    DatasetListShown, DatasetsChanged, InboxProcessed, RunsChanged, StoreFilesChanged, TaskFinished,
)
from tui_mlops.tui.screens import MODES
from tui_mlops.tui.screens.datasets import DatasetsScreen
from tui_mlops.tui.screens.placeholders import PlaceholderScreen
from tui_mlops.tui.screenshot import SCREENSHOT_BINDING, save_screenshot

EXIT_AFTER_READY_ENV = "MLOPS_TUI_EXIT_AFTER_READY"
SAMPLE_MARKER = ".sample-registered"


def _mode_binding(mode: str, key: str, label: str) -> Binding:
    return Binding(key, f"switch_mode('{mode}')", label, show=False, id=f"app.mode_{mode}",
                   tooltip=f"Go to the {label} screen")


class MlopsApp(ChartSaving, App[int], inherit_bindings=False):
    """mlops-tui. `MlopsApp(home).run()`; see `run_app`."""

    CSS_PATH = "app.tcss"
    TITLE = "mlops-tui"
    DEFAULT_MODE = "datasets"
    COMMANDS = App.COMMANDS | {MlopsCommands}
    BINDINGS = [
        *(_mode_binding(*m) for m in MODES),
        Binding("question_mark", "help", "Keys", id="app.help",
                tooltip="List every key active on this screen"),
        Binding("colon", "command_palette", "Commands", show=False, id="app.palette",
                tooltip="Open the command palette"),
        Binding("ctrl+p", "command_palette", "Commands", show=False, priority=True,
                id="app.palette_ctrl_p", tooltip="Open the command palette"),
        Binding("q", "quit", "Quit", id="app.quit", tooltip="Leave mlops-tui"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True, id="app.quit_now",
                tooltip="Leave mlops-tui from anywhere, even a text field"),
        Binding("escape", "back", "Back", show=False, id="app.back",
                tooltip="Close the view on top and go back"),
        SCREENSHOT_BINDING, CHART_BINDING,
        Binding("ctrl+c", "help_quit", show=False, system=True, id="app.help_quit",
                tooltip="Explains that ctrl+q (or q) quits"),
    ]

    def __init__(self, home: Home | Path | str, *, sample_data: bool = True,
                 watch: bool = True) -> None:
        super().__init__()
        self.home = home if isinstance(home, Home) else Home.open(home)
        self.sample_data = sample_data
        self.watch_files = watch
        self.exit_after_ready = os.environ.get(EXIT_AFTER_READY_ENV) == "1"
        self.datasets_screen: DatasetsScreen | None = None
        self._chores_started = False
        self._closing = False
        self._watch_lock = threading.Lock()
        self._inbox: Any = None
        self._observer: Any = None
        self._store_timer: Timer | None = None
        self._runs_watcher: Any = None
        # Runs marked with `space` on the Experiments screen, for Compare.
        self.marked_runs: set[str] = set()
        self.runs_changes = 0  # RunsChanged messages handled (tests and benches wait on it)
        # One MonitorRunner per monitor, started by the Monitor screen when first shown.
        self.monitor_runners: dict[str, Any] = {}
        self.monitor_lock = threading.Lock()  # starting/stopping runners (app start, Monitor screen)
        self.monitor_screen: Screen | None = None
        built = {"datasets": self._make_datasets_screen,
                 "experiments": self._make_experiments_screen, "jobs": self._make_jobs_screen,
                 "models": self._make_models_screen, "compare": self._make_compare_screen,
                 "monitor": self._make_monitor_screen}
        for mode, _key, _label in MODES:
            self.add_mode(mode, built.get(mode, partial(PlaceholderScreen, mode)))

    def _make_datasets_screen(self) -> Screen:
        self.datasets_screen = DatasetsScreen(self.home)
        return self.datasets_screen

    def _make_experiments_screen(self) -> Screen:
        # Imported when first shown: start-up pays only for the first screen.
        from tui_mlops.tui.screens.experiments import ExperimentsScreen

        return ExperimentsScreen(self.home)

    def _make_jobs_screen(self) -> Screen:
        from tui_mlops.tui.screens.jobs import JobsScreen

        return JobsScreen(self.home)

    def _make_compare_screen(self) -> Screen:
        from tui_mlops.tui.screens.compare import CompareScreen

        return CompareScreen(self.home)

    def _make_models_screen(self) -> Screen:
        from tui_mlops.tui.screens.models import ModelsScreen

        return ModelsScreen(self.home)

    def _make_monitor_screen(self) -> Screen:
        from tui_mlops.tui.screens.monitor import MonitorScreen

        self.monitor_screen = MonitorScreen(self.home)
        return self.monitor_screen

    # -- start-up chores ----------------------------------------------------------------------
    def on_dataset_list_shown(self, _message: DatasetListShown) -> None:
        if self.exit_after_ready:
            self.call_after_refresh(self.exit, 0)
            return
        if not self._chores_started:
            self._chores_started = True
            self.start_chores()

    def needs_sample_data(self) -> bool:
        """A first launch: no marker yet, and the home holds no data but (part of) the samples."""
        if not self.sample_data or (self.home.root / SAMPLE_MARKER).exists():
            return False
        try:
            from tui_mlops.sample import SAMPLE_NAMES
        except ImportError:
            return False  # a build without the sample module: nothing to register
        from tui_mlops.store.catalog import scan_sidecars

        return not {name for name, _v in scan_sidecars(self.home)} - SAMPLE_NAMES

    @work(thread=True, exclusive=True, exit_on_error=False, group="startup")
    def start_chores(self) -> None:
        if self.watch_files:
            self._start_watchers()
            from tui_mlops.tui.monitor_watch import start_runners

            start_runners(self)  # batches are recorded and alerts shown whichever screen is open
        if self.needs_sample_data():
            self._register_sample_data()
        self._warm_runs_mirror()

    def _warm_runs_mirror(self) -> None:
        """Build the in-memory copy of the runs index now, off the UI thread, so the first
        Experiments page does not pay for it (0.1-0.2 s with 30,000 runs)."""
        from tui_mlops.tracking.mirror import warm

        try:
            warm(self.home)
        except MlopsError:
            pass  # the Experiments screen reports a store problem when it is opened

    def _register_sample_data(self) -> None:
        from tui_mlops.sample import ensure_sample_data

        self.notify("Registering sample data …", timeout=3)
        try:
            results = ensure_sample_data(self.home)
        except MlopsError as exc:
            self.notify(f"Sample data not registered: {exc}", severity="error", markup=False)
            return
        if results:
            self.notify(f"Registered {len(results)} sample datasets.", markup=False)
            self.post_message(DatasetsChanged())
            self._start_sample_training()

    def _start_sample_training(self) -> None:
        from tui_mlops.sample import start_sample_training

        try:
            run_id = start_sample_training(self.home)
        except MlopsError as exc:
            self.notify(f"Sample training not started: {exc}", severity="warning", markup=False)
            return
        self.notify(f"Started a sample training run {run_id[:8]} (press 2 to watch it).", markup=False)

    def _start_watchers(self) -> None:
        with self._watch_lock:
            if self._closing:
                return
            try:
                from tui_mlops.data.inbox import InboxWatcher

                self._inbox = InboxWatcher(self.home, lambda ev: self.post_message(InboxProcessed(ev)))
                self._inbox.start()
            except ImportError:
                self._inbox = None
            except Exception as exc:  # the app stays useful without the inbox
                self._inbox = None
                self.notify(f"Inbox not watched: {' '.join(str(exc).split())}", severity="warning",
                            markup=False)
            self._observer = _watch_datasets(self.home, lambda: self.post_message(StoreFilesChanged()))
            from tui_mlops.tui.runs_watch import RunsWatcher

            self._runs_watcher = RunsWatcher(
                self.home, lambda ids: self.post_message(RunsChanged(ids)),
                on_error=lambda msg: self.notify(msg, severity="warning", markup=False))
            self._runs_watcher.start()

    def action_save_screenshot(self) -> None:
        """Save the screen (charts included) as an SVG under <home>/exports/."""
        save_screenshot(self, self.home)

    def on_monitor_fact(self, fact: Any) -> None:
        from tui_mlops.tui.monitor_watch import deliver

        deliver(self, fact)

    def on_unmount(self) -> None:
        with self._watch_lock:
            self._closing = True
            with self.monitor_lock:  # a runner being started now sees _closing, or is in the list
                runners = list(self.monitor_runners.values())
                self.monitor_runners.clear()
            from tui_mlops.tui.screens.pipelines_panes import stop_pipeline_watchers

            stop_pipeline_watchers(self)
            for stopper in (self._inbox, self._observer, self._runs_watcher, *runners):
                if stopper is not None:
                    try:
                        stopper.stop()
                    except Exception:
                        pass

    # -- facts from workers and other screens -------------------------------------------------
    def on_inbox_processed(self, message: InboxProcessed) -> None:
        ev = message.event
        name = Path(ev.path).name
        if ev.ok and ev.version is not None:
            ref = f"{ev.version.name}@{ev.version.short}"
            if "already registered" in (ev.message or ""):
                self.notify(f"inbox/{name} was already registered as {ref}", markup=False)
            else:
                self.notify(f"Registered inbox/{name} as {ref}", markup=False)
            self._reload_datasets()
        else:
            self.notify(ev.message or f"inbox/{name}: not registered", severity="error", markup=False)

    def on_datasets_changed(self, message: DatasetsChanged) -> None:
        v = message.select
        self._reload_datasets((v.name, v.version) if v is not None else None)

    def on_store_files_changed(self, _message: StoreFilesChanged) -> None:
        # Debounce: a commit writes several files; reload once things are quiet.
        if self._store_timer is not None:
            self._store_timer.stop()
        self._store_timer = self.set_timer(0.3, self._reload_datasets)

    def on_runs_changed(self, message: RunsChanged) -> None:
        # Every screen of the current mode hears it; hidden ones catch up when shown again.
        self.runs_changes += 1
        for screen in self.screen_stack:
            screen.post_message(RunsChanged(message.run_ids))

    def on_task_finished(self, message: TaskFinished) -> None:
        self.notify(message.note, severity=message.severity, markup=False)  # type: ignore[arg-type]
        if message.reload:
            self._reload_datasets()

    def _reload_datasets(self, select: tuple[str, str] | None = None) -> None:
        if self.datasets_screen is not None and self.datasets_screen.is_mounted:
            self.datasets_screen.reload(select)

    # -- actions ------------------------------------------------------------------------------
    def action_help(self) -> None:
        from tui_mlops.tui.screens.help import HelpScreen, binding_rows

        if isinstance(self.screen, HelpScreen):
            return
        title = next((label for mode, _k, label in MODES if mode == self.current_mode), self.current_mode)
        if len(self.screen_stack) > 1:
            title = type(self.screen).__name__.removesuffix("Screen") or title
        self.push_screen(HelpScreen(binding_rows(self, self.screen), title))

    async def action_add_dataset(self) -> None:
        await self.switch_mode("datasets")
        if self.datasets_screen is not None:
            self.datasets_screen.action_add()

    async def action_mode_action(self, mode: str, action: str) -> None:
        """Go to `mode` and run one of its screen's actions (palette: new training, sweep)."""
        await self.switch_mode(mode)
        if len(self.screen_stack) > 1:
            await self.pop_screen()  # a detail open on that mode: back to the mode's own screen
        await self.run_action(action, self.screen)

    async def action_show_jobs(self, active_only: bool) -> None:
        await self.switch_mode("jobs")
        screen = self.screen_stack[0] if self.screen_stack else None
        if screen is not None and hasattr(screen, "active_only"):
            screen.active_only = active_only  # type: ignore[attr-defined]
            screen.reload()  # type: ignore[attr-defined]

    @work(thread=True, exit_on_error=False, group="store-chores")
    def action_find_crashes(self) -> None:
        from tui_mlops.jobs.manager import detect_crashes

        try:
            crashed = detect_crashes(self.home)
        except MlopsError as exc:
            self.post_message(TaskFinished(str(exc), "error"))
            return
        if crashed:
            self.post_message(TaskFinished(
                f"Marked {len(crashed)} run(s) as crashed: {', '.join(r[:8] for r in crashed)}",
                "warning"))
            self.post_message(RunsChanged(frozenset(crashed)))
        else:
            self.post_message(TaskFinished("No crashed runs: every unfinished run's process is alive."))

    @work(thread=True, exit_on_error=False, group="store-chores")
    def action_process_inbox(self) -> None:
        try:
            from tui_mlops.data.inbox import process_inbox_once

            events = process_inbox_once(self.home)
        except ImportError:
            self.post_message(TaskFinished("The inbox is not available in this build.", "warning"))
            return
        except MlopsError as exc:
            self.post_message(TaskFinished(str(exc), "error"))
            return
        for ev in events:
            self.post_message(InboxProcessed(ev))
        if not events:
            self.post_message(TaskFinished(f"The inbox is empty ({self.home.inbox_dir})."))

    @work(thread=True, exit_on_error=False, group="store-chores")
    def action_rebuild_catalog(self) -> None:
        from tui_mlops.data.versions import rebuild_catalog

        try:
            count = rebuild_catalog(self.home)
        except MlopsError as exc:
            self.post_message(TaskFinished(str(exc), "error"))
            return
        self.post_message(TaskFinished(f"Catalog rebuilt from the files: {count} versions indexed.",
                                       reload=True))

    @work(thread=True, exit_on_error=False, group="store-chores")
    def action_check_store(self) -> None:
        from tui_mlops.data.versions import check_store

        self.notify("Checking the store …", timeout=2)
        try:
            problems = check_store(self.home)
        except MlopsError as exc:
            self.post_message(TaskFinished(str(exc), "error"))
            return
        if not problems:
            self.post_message(TaskFinished("Store check: every snapshot matches its fingerprint."))
        else:
            more = f" (+{len(problems) - 1} more; run `mlops-tui store check`)" if len(problems) > 1 else ""
            self.post_message(TaskFinished(f"Store check: {problems[0]}{more}", "error"))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        # Quit and Keys come from our own provider (our help lists every binding).
        for cmd in super().get_system_commands(screen):
            if cmd.title not in ("Quit", "Keys"):
                yield cmd


class _SidecarEvents:
    """A watchdog handler (duck-typed: watchdog only calls `dispatch`) for committed sidecars."""

    def __init__(self, notify: Any) -> None:
        self.notify = notify

    def dispatch(self, event: Any) -> None:
        for path in (getattr(event, "src_path", ""), getattr(event, "dest_path", "")):
            name = os.path.basename(os.fsdecode(path or ""))
            if name.endswith(".json") and not name.startswith(TMP_PREFIX):
                self.notify()
                return


def _watch_datasets(home: Home, notify: Any) -> Any:
    """Reload when any process commits or removes a version (their sidecars come and go)."""
    try:
        from watchdog.observers import Observer

        observer = Observer()
        observer.schedule(_SidecarEvents(notify), str(home.datasets_dir), recursive=True)
        observer.daemon = True
        observer.start()
        return observer
    except Exception:
        return None  # no inotify slots, say: the refresh key still works


def run_app(home: Path | str) -> int:
    """Open the store at `home` and run the app, with the user's config file (theme, keymap, mouse)
    applied and a clean exit when the terminal hangs up, until the user quits; returns the exit code."""
    from tui_mlops.tui.settings_apply import run_configured

    return run_configured(home)
