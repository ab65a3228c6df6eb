"""The tab panes of the version screen: schema, profile (table + chart) and lineage.

Each pane owns its widgets and its thread workers; the screen only tells it when it is shown.
"""

from __future__ import annotations

import threading
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, ProgressBar, Static, Tree
from textual.worker import get_current_worker

from tui_mlops.errors import MlopsError
from tui_mlops.store.home import Home
from tui_mlops.store.records import DatasetVersion
from tui_mlops.tui.screens import KeyedTable
from tui_mlops.tui.screens.version_info import Hop, describe_operation, fmt_number, fmt_share
from tui_mlops.tui.widgets.charts import ColumnChart
from tui_mlops.tui.widgets.vim import VimTree

QUANTILES = ("p1", "p5", "p25", "p50", "p75", "p95", "p99")


class StatsTable(KeyedTable):
    """A KeyedTable whose rows only inform (enter opens nothing, so the footer does not offer it)."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Select", show=False, id="version.stats_select",
                tooltip="Select the highlighted row"),
    ]


class ProfileLoaded(Message):
    """A profile is available (stored or freshly computed)."""

    def __init__(self, profile: dict[str, Any]) -> None:
        super().__init__()
        self.profile = profile


class SchemaPane(Vertical):
    """Column, type, and nulls/distinct once a profile exists."""

    def __init__(self, version: DatasetVersion, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.version = version

    def compose(self) -> ComposeResult:
        yield StatsTable(id="schema-table")
        yield Static("", id="schema-note", classes="pane-note")

    def on_mount(self) -> None:
        table = self.query_one("#schema-table", DataTable)
        table.add_columns("#", "column", "type", "nulls", "null %", "distinct")
        self.show_profile(None)

    def show_profile(self, profile: dict[str, Any] | None) -> None:
        by_name = {c.get("name"): c for c in (profile or {}).get("columns", [])}
        table = self.query_one("#schema-table", DataTable)
        table.clear()
        for i, col in enumerate(self.version.columns, start=1):
            p = by_name.get(col.name, {})
            table.add_row(Text(str(i), style="dim"), Text(col.name), Text(col.type),
                          fmt_number(p.get("nulls")), fmt_share(p.get("null_share")),
                          fmt_number(p.get("distinct")))
        note = (f"{len(self.version.columns)} columns"
                + ("" if profile else "  ·  nulls and distinct counts appear once profiled (press f)"))
        self.query_one("#schema-note", Static).update(note)


class ProfilePane(Vertical):
    """Per-column statistics, computed once in a worker and kept in the version's sidecar."""

    class _Progressed(Message):
        def __init__(self, fraction: float) -> None:
            super().__init__()
            self.fraction = fraction

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, ProfilePane._Progressed)

    class _Failed(Message):
        def __init__(self, message: str, cancelled: bool) -> None:
            super().__init__()
            self.message = message
            self.cancelled = cancelled

    def __init__(self, home: Home, version: DatasetVersion, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.home = home
        self.version = version
        self.profile: dict[str, Any] | None = None
        self.state = "idle"  # idle | loading | computing | ready | failed | cancelled
        self._cancel = threading.Event()

    def compose(self) -> ComposeResult:
        yield Static("", id="profile-note", classes="pane-note")
        yield ProgressBar(total=100, show_eta=False, id="profile-progress")
        yield StatsTable(id="profile-table")
        yield ColumnChart(id="profile-chart")

    def on_mount(self) -> None:
        # Table and chart appear with the profile; until then the note and progress bar say why.
        for selector in ("#profile-progress", "#profile-table", "#profile-chart"):
            self.query_one(selector).display = False
        table = self.query_one("#profile-table", DataTable)
        table.add_columns("column", "type", "nulls", "null %", "distinct", "min", "max", "mean",
                          "std", *QUANTILES)

    def on_unmount(self) -> None:
        # A profile still computing for a screen that is gone would only burn CPU.
        self._cancel.set()

    def ensure(self) -> None:
        """Show the profile: the stored one at once, else compute it (escape cancels)."""
        if self.state in ("idle", "failed", "cancelled"):
            self._cancel = threading.Event()
            self.state = "loading"
            self._set_note("reading the stored profile…")
            self._run(self._cancel)

    def cancel(self) -> bool:
        if self.state != "computing":
            return False
        self._cancel.set()
        self._set_note("cancelling…")
        return True

    def _set_note(self, text: str) -> None:
        self.query_one("#profile-note", Static).update(text)

    @work(thread=True, exclusive=True, group="profile", exit_on_error=False)
    def _run(self, cancel: threading.Event) -> None:
        from tui_mlops.data import profile as P

        try:
            stored = P.get_profile(self.home, self.version)
            if stored is None:
                self.post_message(self._Progressed(0.0))
                stored = P.compute_profile(
                    self.home, self.version, cancel=cancel,
                    progress=lambda f: self.post_message(self._Progressed(float(f))))
        except MlopsError as exc:
            self.post_message(self._Failed(str(exc), cancel.is_set()))
            return
        except Exception as exc:  # noqa: BLE001 - shown to the user, never a crash
            self.post_message(self._Failed(f"profiling failed: {exc}", cancel.is_set()))
            return
        if cancel.is_set() or get_current_worker().is_cancelled:
            self.post_message(self._Failed("profile cancelled", True))
            return
        self.post_message(ProfileLoaded(stored))

    @on(_Progressed)
    def _progressed(self, event: _Progressed) -> None:
        event.stop()
        if self.state not in ("loading", "computing"):
            return
        if self.state == "loading":
            self.state = "computing"
            self._set_note(f"profiling {self.version.rows:,} rows… (escape cancels)")
            self.query_one(ProgressBar).display = True
        self.query_one(ProgressBar).update(progress=max(0.0, min(1.0, event.fraction)) * 100)

    @on(_Failed)
    def _failed(self, event: _Failed) -> None:
        event.stop()
        self.query_one(ProgressBar).display = False
        self.state = "cancelled" if event.cancelled else "failed"
        if event.cancelled:
            self._set_note("profile cancelled; press f to compute it again")
        else:
            self._set_note(f"error: {event.message}  ·  press f to try again")
            self.notify(event.message, severity="error", markup=False)

    @on(ProfileLoaded)
    def _loaded(self, event: ProfileLoaded) -> None:
        # Not stopped: the screen hears it too and fills the schema's null/distinct columns.
        self.show_profile(event.profile)

    def show_profile(self, profile: dict[str, Any]) -> None:
        self.profile = profile
        self.state = "ready"
        self.query_one(ProgressBar).display = False
        self.query_one("#profile-chart").display = True
        table = self.query_one("#profile-table", DataTable)
        table.display = True
        table.clear()
        for col in profile.get("columns", []):
            q = col.get("quantiles") or {}
            table.add_row(Text(str(col.get("name"))), Text(str(col.get("type", ""))),
                          fmt_number(col.get("nulls")), fmt_share(col.get("null_share")),
                          fmt_number(col.get("distinct")), fmt_number(col.get("min")),
                          fmt_number(col.get("max")), fmt_number(col.get("mean")),
                          fmt_number(col.get("std")), *(fmt_number(q.get(k)) for k in QUANTILES))
        when = str(profile.get("computed_at", ""))[:16].replace("T", " ")
        self._set_note(f"{fmt_number(profile.get('rows'))} rows profiled {when}  ·  "
                       "↑↓ picks the column to chart")
        self._show_chart(0)

    def _show_chart(self, index: int) -> None:
        cols = (self.profile or {}).get("columns", [])
        self.query_one(ColumnChart).show_column(cols[index] if 0 <= index < len(cols) else None)

    @on(DataTable.RowHighlighted, "#profile-table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_chart(event.cursor_row)


class LineagePane(Vertical):
    """The version's ancestors down to it, and its children; enter opens one."""

    class OpenRequested(Message):
        def __init__(self, version: DatasetVersion) -> None:
            super().__init__()
            self.version = version

    def __init__(self, version: DatasetVersion, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.version = version

    def compose(self) -> ComposeResult:
        tree: Tree[DatasetVersion | None] = VimTree("lineage", id="lineage-tree")
        tree.auto_expand = False
        tree.show_root = False
        yield tree
        yield Static("enter opens the highlighted version", id="lineage-note", classes="pane-note")

    def show(self, chain: list[Hop], children: list[DatasetVersion]) -> None:
        tree = self.query_one(Tree)
        tree.clear()
        node = tree.root
        for hop in reversed(chain):  # root first, down to this version
            node = node.add(Text(hop.label), data=hop.version, expand=True)
        v = self.version
        this = node.add(Text.assemble((f"{v.name}@{v.short}", "bold"),
                                      f" ({describe_operation(v)})  ◀ this version"),
                        data=None, expand=True)
        for child in children:
            this.add_leaf(Text(f"{child.name}@{child.short} ({describe_operation(child)})"),
                          data=child)
        if not children:
            this.add_leaf(Text("no derived versions yet (C cleans, S splits)", style="dim"))
        tree.move_cursor(this)
        self.query_one("#lineage-note", Static).update(
            f"{len(chain)} ancestor(s), {len(children)} derived version(s)  ·  "
            "enter opens the highlighted version")

    @on(Tree.NodeSelected)
    def _selected(self, event: Tree.NodeSelected) -> None:
        event.stop()
        if isinstance(event.node.data, DatasetVersion):
            self.post_message(self.OpenRequested(event.node.data))
