"""The Datasets screen: every dataset, and the versions of the highlighted one.

The catalog is read in a thread worker; the tables show one page (PAGE_SIZE rows) at a time, so
thousands of datasets or versions never cost more than one page of DataTable rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from tui_mlops.errors import MlopsError
from tui_mlops.tui.messages import (
    DatasetListShown, DatasetsLoaded, DatasetsLoadFailed, TaskFinished,
)
from tui_mlops.tui.screens import KeyedTable, ShellScreen, human_size, short_time

if TYPE_CHECKING:
    from tui_mlops.store.home import Home
    from tui_mlops.store.records import DatasetSummary, DatasetVersion

PAGE_SIZE = 500


class DatasetsScreen(ShellScreen):
    """Mode 1. Keys: `/` filter, `a` add, `d` remove a version, `r` reload, `[` `]` page."""

    MODE = "datasets"
    AUTO_FOCUS = "#datasets-table"
    BINDINGS = [
        Binding("slash", "filter", "Filter", id="datasets.filter",
                tooltip="Filter datasets by name, live as you type (escape clears)"),
        Binding("a", "add", "Add", id="datasets.add",
                tooltip="Register a file or folder as a dataset"),
        Binding("d", "remove", "Remove", id="datasets.remove",
                tooltip="Remove the highlighted version (asks first)"),
        Binding("r", "reload", "Reload", id="datasets.reload",
                tooltip="Read the catalog again"),
        Binding("right_square_bracket", "page(1)", "Next page", show=False, id="datasets.page_next",
                tooltip="Show the next page of the focused table"),
        Binding("left_square_bracket", "page(-1)", "Previous page", show=False,
                id="datasets.page_previous", tooltip="Show the previous page of the focused table"),
        Binding("escape", "escape", "Back", show=False, id="datasets.escape",
                tooltip="Clear the filter, or go back from versions to datasets"),
    ]

    def __init__(self, home: Home) -> None:
        super().__init__(id="mode-datasets")
        self.home = home
        self.datasets: list[DatasetSummary] = []
        self.versions: dict[str, list[DatasetVersion]] = {}
        self.filter_text = ""
        self.dataset_page = 0
        self.version_page = 0
        self.current: str | None = None  # the dataset whose versions are shown
        self.loaded = False

    # -- layout ------------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        with Vertical(id="datasets-body"):
            yield Input(id="datasets-filter", compact=True,
                        placeholder="filter datasets by name (enter keeps it, escape clears)")
            yield Static("Datasets", id="datasets-title", classes="section-title", markup=False)
            yield KeyedTable(id="datasets-table")
            yield Static("Versions", id="versions-title", classes="section-title", markup=False)
            yield KeyedTable(id="versions-table")
        yield Static("Loading datasets …", id="datasets-empty", markup=False)

    def on_mount(self) -> None:
        self.query_one("#datasets-table", KeyedTable).add_columns(
            "name", "versions", "rows", "cols", "size", "created")
        self.query_one("#versions-table", KeyedTable).add_columns(
            "version", "rows", "cols", "size", "created", "operation", "parent")
        self.query_one("#datasets-body").display = False
        self.reload()

    # -- loading -----------------------------------------------------------------------------
    def reload(self, select: tuple[str, str] | None = None) -> None:
        """Read the catalog again (in a thread); `select` = (name, version) to move the cursor to."""
        self.load(select)

    @work(thread=True, exclusive=True, exit_on_error=False, group="datasets-load")
    def load(self, select: tuple[str, str] | None) -> None:
        from tui_mlops.store.catalog import open_catalog

        try:
            with open_catalog(self.home) as cat:
                datasets = cat.list_datasets()
                versions = cat.list_versions()
        except MlopsError as exc:
            self.post_message(DatasetsLoadFailed(str(exc)))
            return
        except Exception as exc:  # a damaged catalog must not take the app down
            self.post_message(DatasetsLoadFailed(f"cannot read the catalog: {' '.join(str(exc).split())}"))
            return
        self.post_message(DatasetsLoaded(datasets, versions, select))

    def on_datasets_loaded(self, message: DatasetsLoaded) -> None:
        by_name: dict[str, list[DatasetVersion]] = {}
        for v in message.versions:
            by_name.setdefault(v.name, []).append(v)
        self.datasets = message.datasets
        self.versions = by_name
        keep_version = None
        if message.select is not None:
            self.current, keep_version = message.select
        else:
            keep_version = self._highlighted_version_id()
        self._show_datasets(focus_name=self.current, focus_version=keep_version)
        if message.select is not None:
            self.query_one("#versions-table", KeyedTable).focus()
        if not self.loaded:
            self.loaded = True
            self.app.post_message(DatasetListShown())

    def on_datasets_load_failed(self, message: DatasetsLoadFailed) -> None:
        self.notify(message.message, severity="error", markup=False)
        if not self.loaded:
            self.loaded = True
            self.query_one("#datasets-empty", Static).update(f"Could not read the catalog: {message.message}")
            self.app.post_message(DatasetListShown())

    # -- rendering ---------------------------------------------------------------------------
    def filtered(self) -> list[DatasetSummary]:
        needle = self.filter_text.lower()
        return [d for d in self.datasets if needle in d.name.lower()] if needle else self.datasets

    def _show_datasets(self, focus_name: str | None = None, focus_version: str | None = None) -> None:
        shown = self.filtered()
        empty = self.query_one("#datasets-empty", Static)
        body = self.query_one("#datasets-body")
        if not self.datasets:
            body.display = False
            empty.display = True
            empty.update(
                "No datasets yet.\n\nPress a to register a CSV, TSV, Parquet or JSON file, or drop one into "
                f"{self.home.inbox_dir} and it appears here by itself."
            )
            return
        body.display = True
        empty.display = False
        if self.focused is None:
            # The first data of an empty home (inbox, add form): give the keys a target.
            self.query_one("#datasets-table", KeyedTable).focus()
        names = [d.name for d in shown]
        if focus_name in names:
            self.dataset_page = names.index(focus_name) // PAGE_SIZE
        pages = max(1, -(-len(shown) // PAGE_SIZE))
        self.dataset_page = min(max(self.dataset_page, 0), pages - 1)
        start = self.dataset_page * PAGE_SIZE
        page = shown[start:start + PAGE_SIZE]
        table = self.query_one("#datasets-table", KeyedTable)
        table.clear()
        for d in page:
            table.add_row(d.name, f"{d.versions:,}", f"{d.rows:,}", str(d.n_columns),
                          human_size(d.size_bytes), short_time(d.latest_created_at), key=d.name)
        title = f"Datasets ({len(self.datasets):,})"
        if self.filter_text:
            title = f"Datasets matching {self.filter_text!r}: {len(shown):,} of {len(self.datasets):,}"
        if pages > 1:
            title += f" · rows {start + 1:,}-{start + len(page):,} · [ ] pages"
        self.query_one("#datasets-title", Static).update(title)
        page_names = [d.name for d in page]
        target = focus_name if focus_name in page_names else (page_names[0] if page_names else None)
        if target is not None:
            table.move_cursor(row=page_names.index(target))
        self._show_versions(target, focus_version)

    def _show_versions(self, name: str | None, focus_version: str | None = None) -> None:
        if name != self.current:
            self.version_page = 0
        self.current = name
        versions = self.versions.get(name, []) if name else []
        table = self.query_one("#versions-table", KeyedTable)
        table.clear()
        ids = [v.version for v in versions]
        if focus_version in ids:
            self.version_page = ids.index(focus_version) // PAGE_SIZE
        pages = max(1, -(-len(versions) // PAGE_SIZE))
        self.version_page = min(max(self.version_page, 0), pages - 1)
        start = self.version_page * PAGE_SIZE
        page = versions[start:start + PAGE_SIZE]
        for v in page:
            parent = f"{v.parent_name}@{v.parent_version[:8]}" if v.parent_name and v.parent_version else "-"
            table.add_row(v.short, f"{v.rows:,}", str(len(v.columns)), human_size(v.size_bytes),
                          short_time(v.created_at), v.operation, parent, key=v.version)
        title = f"Versions of {name} ({len(versions):,}), newest first" if name else "Versions"
        if pages > 1:
            title += f" · rows {start + 1:,}-{start + len(page):,} · [ ] pages"
        self.query_one("#versions-title", Static).update(title)
        page_ids = [v.version for v in page]
        if focus_version in page_ids:
            table.move_cursor(row=page_ids.index(focus_version))

    def _highlighted_version_id(self) -> str | None:
        table = self.query_one("#versions-table", KeyedTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return key.value

    def selected_version(self) -> DatasetVersion | None:
        vid = self._highlighted_version_id()
        return next((v for v in self.versions.get(self.current or "", []) if v.version == vid), None)

    # -- events ------------------------------------------------------------------------------
    @on(KeyedTable.RowHighlighted, "#datasets-table")
    def dataset_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        if event.cursor_row != event.data_table.cursor_row:
            return  # stale: a rebuild moved the cursor again since this was posted
        name = event.row_key.value
        if name != self.current:
            self._show_versions(name)

    @on(KeyedTable.RowSelected, "#datasets-table")
    def dataset_selected(self, event: KeyedTable.RowSelected) -> None:
        if event.row_key.value != self.current:
            self._show_versions(event.row_key.value)
        self.query_one("#versions-table", KeyedTable).focus()

    @on(KeyedTable.RowSelected, "#versions-table")
    def version_selected(self, event: KeyedTable.RowSelected) -> None:
        v = next((v for v in self.versions.get(self.current or "", []) if v.version == event.row_key.value), None)
        if v is None:
            return
        try:
            from tui_mlops.tui.screens.version import VersionScreen
        except ImportError:
            self.notify("The version view is not available in this build.", severity="warning")
            return
        self.app.push_screen(VersionScreen(self.home, v))

    @on(Input.Changed, "#datasets-filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self.dataset_page = 0
        self._show_datasets(focus_name=self.current)

    @on(Input.Submitted, "#datasets-filter")
    def filter_submitted(self) -> None:
        self.query_one("#datasets-table", KeyedTable).focus()

    # -- actions -----------------------------------------------------------------------------
    def action_filter(self) -> None:
        box = self.query_one("#datasets-filter", Input)
        box.add_class("-shown")
        box.focus()

    def action_escape(self) -> None:
        """Step back one level: versions -> datasets, then clear the filter."""
        box = self.query_one("#datasets-filter", Input)
        if self.query_one("#versions-table", KeyedTable).has_focus:
            self.query_one("#datasets-table", KeyedTable).focus()
        elif box.has_focus or self.filter_text:
            box.value = ""
            self.filter_text = ""
            box.remove_class("-shown")
            self._show_datasets(focus_name=self.current)
            self.query_one("#datasets-table", KeyedTable).focus()

    def action_reload(self) -> None:
        self.reload()
        self.notify("Reloading datasets …", timeout=1.5)

    def action_page(self, step: int) -> None:
        if self.query_one("#versions-table", KeyedTable).has_focus:
            self.version_page += step
            self._show_versions(self.current)
        else:
            self.dataset_page += step
            self._show_datasets()

    def action_add(self, path: str = "") -> None:
        from tui_mlops.tui.screens.add_form import AddDatasetScreen

        self.app.push_screen(AddDatasetScreen(self.home, path), self._added)

    def _added(self, results: list | None) -> None:
        if not results:
            return
        for r in results:
            src = r.source.rsplit("/", 1)[-1]
            verb = "Registered" if r.created else "Already registered:"
            self.notify(f"{verb} {src} as {r.version.name}@{r.version.short}", markup=False)
        last = results[-1].version
        self.reload(select=(last.name, last.version))

    def action_remove(self) -> None:
        from tui_mlops.tui.screens.confirm import ConfirmScreen

        v = self.selected_version()
        if v is None:
            self.notify("No version highlighted to remove.", severity="warning")
            return
        detail = f"{v.rows:,} rows, {human_size(v.size_bytes)}, created {short_time(v.created_at)}. " \
                 "Its snapshot and sidecar are deleted; versions made from it keep their own data."
        self.app.push_screen(ConfirmScreen(f"Remove version {v.name}@{v.short}?", detail),
                             lambda yes: self._remove(v) if yes else None)

    @work(thread=True, exit_on_error=False, group="datasets-remove")
    def _remove(self, v: DatasetVersion) -> None:
        from tui_mlops.data.versions import remove

        try:
            remove(self.home, v.ref)
        except MlopsError as exc:
            self.post_message(TaskFinished(str(exc), "error", reload=True))
            return
        self.post_message(TaskFinished(f"Removed {v.name}@{v.short}", reload=True))

    def on_task_finished(self, message: TaskFinished) -> None:
        message.stop()
        self.notify(message.note, severity=message.severity, markup=False)  # type: ignore[arg-type]
        if message.reload:
            self.reload()
