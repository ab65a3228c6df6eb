"""The version detail screen: header, lineage, and tabs for preview, schema, profile, validate, lineage."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Static, TabbedContent, TabPane

from tui_mlops.errors import MlopsError
from tui_mlops.store.home import Home
from tui_mlops.store.records import DatasetVersion
from tui_mlops.tui.screens import ShellScreen, human_size, short_time
from tui_mlops.tui.screens.version_info import Hop, ancestors, children, lineage_line
from tui_mlops.tui.screens.version_panes import LineagePane, ProfileLoaded, ProfilePane, SchemaPane
from tui_mlops.tui.screens.version_validate import ValidatePane
from tui_mlops.tui.widgets.paged_table import PagedTable

# (tab pane id, key, title, selector of the widget to focus when the tab is shown)
TABS: tuple[tuple[str, str, str, str], ...] = (
    ("tab-preview", "p", "Preview", "#page-grid"),
    ("tab-schema", "s", "Schema", "#schema-table"),
    ("tab-profile", "f", "Profile", "#profile-table"),
    ("tab-validate", "v", "Validate", "#validate-table"),
    ("tab-lineage", "l", "Lineage", "#lineage-tree"),
)


def default_page_size(n_columns: int) -> int:
    """100 rows a page; fewer for wide data, since DataTable measures every cell it is given."""
    return max(20, min(100, 5000 // max(1, n_columns)))


class LineageLoaded(Message):
    def __init__(self, chain: list[Hop], children: list[DatasetVersion], error: str | None) -> None:
        super().__init__()
        self.chain = chain
        self.children = children
        self.error = error


class VersionScreen(ShellScreen):
    """One dataset version. Pushed by the Datasets screen (enter) and by itself (lineage, clean)."""

    MODE = "datasets"
    CSS_PATH = "version.tcss"
    AUTO_FOCUS = "#page-grid"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="version.back",
                tooltip="Back to the previous screen (cancels a running profile first)"),
        *(Binding(key, f"show_tab('{pane}')", title, show=False, id=f"version.tab_{title.lower()}",
                  tooltip=f"Show the {title} tab") for pane, key, title, _ in TABS),
        Binding("C", "clean", "Clean", id="version.clean",
                tooltip="Clean this version into a new one (drop, rename, cast, fill, filter)"),
        Binding("S", "split", "Split", id="version.split",
                tooltip="Split this version into train/valid/test versions"),
        Binding("r", "revalidate", "Re-run", id="version.revalidate",
                tooltip="Validate again (after editing the rules file)"),
        Binding("i", "init_rules", "Starter rules", id="version.init_rules",
                tooltip="Write a starter rules file for this dataset"),
    ]

    def __init__(self, home: Home, version: DatasetVersion, *, page_size: int | None = None) -> None:
        super().__init__()
        self.home = home
        self.version = version
        self.page_size = page_size or default_page_size(len(version.columns))
        self.chain: list[Hop] = []
        self.derived: list[DatasetVersion] = []

    def compose_body(self) -> ComposeResult:
        v = self.version
        yield Static(self._title_text(), id="version-title", markup=False)
        yield Static(f"lineage: {v.name}@{v.short} …", id="version-lineage", markup=False)
        with TabbedContent(id="version-tabs"):
            with TabPane("Preview p", id="tab-preview"):
                yield PagedTable(self._fetch_page, v.rows, page_size=self.page_size, id="preview")
            with TabPane("Schema s", id="tab-schema"):
                yield SchemaPane(v, id="schema")
            with TabPane("Profile f", id="tab-profile"):
                yield ProfilePane(self.home, v, id="profile")
            with TabPane("Validate v", id="tab-validate"):
                yield ValidatePane(self.home, v, id="validate")
            with TabPane("Lineage l", id="tab-lineage"):
                yield LineagePane(v, id="lineage")

    def _title_text(self) -> str:
        v = self.version
        return (f"{v.name}@{v.short}  {v.rows:,} rows × {len(v.columns)} cols  "
                f"{human_size(v.size_bytes)}  {short_time(v.created_at)}  {v.operation}")

    def _fetch_page(self, offset: int, limit: int) -> Any:
        from tui_mlops.data.preview import read_page  # imported lazily: it pulls in DuckDB

        return read_page(self.home, self.version, offset, limit)

    def on_mount(self) -> None:
        self.load_lineage()
        self._load_stored_profile()

    # -- lineage and stored profile ---------------------------------------------------------
    @work(thread=True, exclusive=True, group="lineage", exit_on_error=False)
    def load_lineage(self) -> None:
        chain = ancestors(self.home, self.version)
        try:
            kids = children(self.home, self.version)
            error = None
        except MlopsError as exc:
            kids, error = [], str(exc)
        self.post_message(LineageLoaded(chain, kids, error))

    @on(LineageLoaded)
    def _lineage_loaded(self, event: LineageLoaded) -> None:
        self.chain, self.derived = event.chain, event.children
        line = lineage_line(self.version, event.chain)
        if not event.chain:
            line += "  (root)"
        if event.children:
            line += f"  ·  {len(event.children)} derived"
        self.query_one("#version-lineage", Static).update("lineage: " + line)
        self.query_one(LineagePane).show(event.chain, event.children)
        if event.error:
            self.notify(f"derived versions unavailable: {event.error}", severity="warning",
                        markup=False)

    @work(thread=True, exclusive=True, group="stored-profile", exit_on_error=False)
    def _load_stored_profile(self) -> None:
        from tui_mlops.data.profile import get_profile

        try:
            stored = get_profile(self.home, self.version)
        except (MlopsError, OSError, ValueError):
            return  # the Profile tab reports problems when the user opens it
        if stored is not None:
            self.post_message(ProfileLoaded(stored))

    @on(ProfileLoaded)
    def _profile_loaded(self, event: ProfileLoaded) -> None:
        self.query_one(SchemaPane).show_profile(event.profile)
        profile = self.query_one(ProfilePane)
        if profile.state != "ready":
            profile.show_profile(event.profile)

    # -- tabs ---------------------------------------------------------------------------------
    def action_show_tab(self, pane: str) -> None:
        tabs = self.query_one(TabbedContent)
        if tabs.active == pane:
            self._tab_shown(pane)  # pressing the key again retries a failed/cancelled profile
        tabs.active = pane
        focus = next(sel for pid, _, _, sel in TABS if pid == pane)
        self.query_one(focus).focus()

    @on(TabbedContent.TabActivated, "#version-tabs")
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id:
            self._tab_shown(event.pane.id)
        self.refresh_bindings()

    def _tab_shown(self, pane: str) -> None:
        if pane == "tab-profile":
            self.query_one(ProfilePane).ensure()
        elif pane == "tab-validate":
            self.query_one(ValidatePane).ensure()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("revalidate", "init_rules"):
            try:
                on_validate = self.query_one(TabbedContent).active == "tab-validate"
                state = self.query_one(ValidatePane).state
            except Exception:  # noqa: BLE001 - before compose finished: keys simply not offered
                return False
            if not on_validate:
                return False
            if action == "init_rules":
                return state == "missing"
            return state != "running"
        return True

    # -- actions ------------------------------------------------------------------------------
    def action_back(self) -> None:
        tabs = self.query_one(TabbedContent)
        if tabs.active == "tab-profile" and self.query_one(ProfilePane).cancel():
            return
        self.dismiss()

    def action_revalidate(self) -> None:
        self.query_one(ValidatePane).run()
        self.refresh_bindings()

    def action_init_rules(self) -> None:
        self.query_one(ValidatePane).init_rules()

    def action_clean(self) -> None:
        from tui_mlops.tui.screens.clean_form import CleanForm

        self.app.push_screen(CleanForm(self.home, self.version), self._after_clean)

    def _after_clean(self, result: DatasetVersion | None) -> None:
        if result is None:
            return
        self.load_lineage()
        self.app.push_screen(VersionScreen(self.home, result, page_size=self.page_size))

    def action_split(self) -> None:
        from tui_mlops.tui.screens.split_form import SplitForm

        self.app.push_screen(SplitForm(self.home, self.version), self._after_split)

    def _after_split(self, result: dict[str, DatasetVersion] | None) -> None:
        if not result:
            return
        self.load_lineage()
        self.action_show_tab("tab-lineage")

    @on(LineagePane.OpenRequested)
    def _open_version(self, event: LineagePane.OpenRequested) -> None:
        event.stop()
        self.app.push_screen(VersionScreen(self.home, event.version, page_size=self.page_size))
