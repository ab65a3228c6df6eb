"""List widgets with vim keys (j/k/g/G, hidden from the footer, listed by `?`), each binding with an id."""

from __future__ import annotations

from typing import ClassVar, Generic, TypeVar

from textual.binding import Binding, BindingType
from textual.widgets import DataTable, OptionList, SelectionList, Tree

T = TypeVar("T")


def _vim(prefix: str, first: str = "first", last: str = "last") -> list[BindingType]:
    return [
        Binding("k", "cursor_up", "Up", show=False, id=f"{prefix}.vim_up", tooltip="Move up (vim)"),
        Binding("j", "cursor_down", "Down", show=False, id=f"{prefix}.vim_down",
                tooltip="Move down (vim)"),
        Binding("g", first, "First", show=False, id=f"{prefix}.vim_first",
                tooltip="Go to the first entry (vim)"),
        Binding("G", last, "Last", show=False, id=f"{prefix}.vim_last",
                tooltip="Go to the last entry (vim)"),
    ]


class VimOptionList(OptionList):
    """An OptionList that also moves with j/k and jumps with g/G."""

    BINDINGS: ClassVar[list[BindingType]] = _vim("optionlist")


class VimSelectionList(SelectionList[T], Generic[T]):
    """A SelectionList that also moves with j/k and jumps with g/G (space still ticks)."""

    BINDINGS: ClassVar[list[BindingType]] = _vim("selectionlist")


class VimTree(Tree[T], Generic[T]):
    """A Tree that also moves with j/k and jumps to the first/last visible line with g/G."""

    BINDINGS: ClassVar[list[BindingType]] = _vim("tree")

    def action_first(self) -> None:
        self.cursor_line = 0

    def action_last(self) -> None:
        self.cursor_line = max(0, self.last_line)


class VimDataTable(DataTable):
    """A plain DataTable with j/k and g/G (prefer KeyedTable, which has them with ids already)."""

    BINDINGS: ClassVar[list[BindingType]] = _vim("datatable", "scroll_top", "scroll_bottom")
