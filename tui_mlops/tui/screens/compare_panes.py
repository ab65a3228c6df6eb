"""Pieces of the Compare screen: the run-per-column table, the cells of each pane (metrics, params,
importance, evaluation) and the datasets line. The Curves pane is in compare_curves.py.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding

from tui_mlops.formatting import human_number
from tui_mlops.tui.screens import KeyedTable

BEST_MARK = "★"
BASE_MARK = "◆"
EMPTY = "–"
NAME_WIDTH = 16
CELL_STYLES = ("best", "better", "worse", "changed")
RESIDUAL_KEYS = ("mean", "std", "mae", "p05", "p50", "p95", "max_abs")


class CompareTable(KeyedTable):
    """One row per key, one column per run; the key column stays put while scrolling sideways."""

    COMPONENT_CLASSES: ClassVar[set[str]] = KeyedTable.COMPONENT_CLASSES | {
        "compare--best", "compare--better", "compare--worse", "compare--changed"}
    DEFAULT_CSS = """
    CompareTable {
        & > .compare--best { color: $text-success; text-style: bold; }
        & > .compare--better { color: $text-success; }
        & > .compare--worse { color: $text-error; }
        & > .compare--changed { color: $text-warning; }
    }
    """
    BINDINGS = [
        Binding("enter", "select_cursor", "Select", show=False, id="compare.table_select",
                tooltip="Select the highlighted row"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.header_height = 2
        self.fixed_columns = 1
        self.filled_for: Any = None  # what the table shows now (skip refilling the same thing)

    def styles_for_cells(self) -> dict[str, Style]:
        """Foreground and text style only: the row's own background (zebra, cursor) shows."""
        out = {}
        for name in CELL_STYLES:
            full = self.get_component_rich_style(f"compare--{name}", partial=True)
            out[name] = Style(color=full.color, bold=full.bold, italic=full.italic)
        return out

    def fill(self, key_title: str, headers: list[str], rows: list[tuple[str, list[Text]]]) -> None:
        """Replace columns and rows, keeping the cursor row (clamped) and the horizontal scroll."""
        cursor, scroll_x = self.cursor_row, self.scroll_x
        self.clear(columns=True)
        widths = [max([len(key_title)] + [len(k) for k, _c in rows])]
        for i, head in enumerate(headers):
            widths.append(max([len(line) for line in head.split("\n")]
                              + [c[i].cell_len for _k, c in rows]))
        self.add_column(key_title, width=min(widths[0], 36), key="__key__")
        for i, head in enumerate(headers):
            self.add_column(Text(head, justify="right"), width=widths[i + 1], key=f"run{i}")
        self.add_rows([Text(k, overflow="ellipsis", no_wrap=True), *cells] for k, cells in rows)
        if self.row_count:
            self.move_cursor(row=min(cursor, self.row_count - 1), animate=False)
        self.scroll_x = min(scroll_x, self.max_scroll_x)


# -- headers and cells ---------------------------------------------------------------------------
def short_name(name: str | None, width: int = NAME_WIDTH) -> str:
    name = " ".join((name or "-").split())
    return name if len(name) <= width else name[: width - 1] + "…"


def run_header(run: Any, is_base: bool) -> str:
    """Two header lines: the short id (◆ on the baseline) and the run's name."""
    return f"{BASE_MARK if is_base else ''}{run.run_id[:8]}\n{short_name(run.name)}"


def fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return human_number(int(value))
    return human_number(value, empty=EMPTY)


def fmt_delta(delta: float) -> str:
    if delta == 0:
        return "±0"
    text = human_number(abs(delta))
    return f"{'+' if delta > 0 else '-'}{text}"


def _best_index(values: list[float | None], higher_better: bool) -> int | None:
    found = [(v, i) for i, v in enumerate(values) if v is not None and not math.isnan(v)]
    if len(found) < 2:
        return None  # one value is no comparison: nothing to highlight
    pick = max if higher_better else min
    best = pick(v for v, _ in found)
    return next(i for v, i in found if v == best)


def _value_cells(values: list[float | None], best: int | None, styles: dict[str, Style],
                 deltas: list[float | None] | None, higher_better: bool,
                 baseline: int | None) -> list[Text]:
    cells = []
    for i, value in enumerate(values):
        text = fmt(value)
        style: Style | str = ""
        if best is not None and i == best:
            text, style = BEST_MARK + text, styles["best"]
        cell = Text(text, style=style, justify="right")
        delta = deltas[i] if deltas is not None and i < len(deltas) else None
        if baseline is not None and i != baseline and delta is not None and value is not None:
            good = (delta > 0) == higher_better
            cell.append(f" ({fmt_delta(delta)})",
                        style="" if delta == 0 else styles["better" if good else "worse"])
        cells.append(cell)
    return cells


def metric_rows(cmp: Any, styles: dict[str, Style], deltas_of: Any) -> list[tuple[str, list[Text]]]:
    """Per metric: its value per run (★ on the best, deltas against the baseline); step metrics
    get two more rows, the best value over the steps and the step it was reached at."""
    rows: list[tuple[str, list[Text]]] = []
    base = cmp.baseline
    for row in cmp.metrics:
        arrow = "↑" if row.higher_better else "↓"
        deltas = deltas_of(cmp, row) if base is not None else None
        best = row.best if row.best is not None and _countable(row.values) > 1 else None
        rows.append((f"{row.key} {arrow}", _value_cells(list(row.values), best, styles, deltas,
                                                          row.higher_better, base)))
        steps = list(row.steps or [])
        if any(s for s in steps):
            bests = [s.get("best") if s else None for s in steps]
            at = [s.get("best_step") if s else None for s in steps]
            best_deltas = None
            if base is not None and base < len(bests) and bests[base] is not None:
                best_deltas = [None if b is None else b - bests[base] for b in bests]
            rows.append((f"  best over steps {arrow}",
                         _value_cells(bests, _best_index(bests, row.higher_better), styles,
                                      best_deltas, row.higher_better, base)))
            rows.append(("  best at step", [Text(fmt(a), justify="right") for a in at]))
    return rows


def _countable(values: list[Any]) -> int:
    return sum(1 for v in values if v is not None)


def param_rows(cmp: Any, styles: dict[str, Style], diff_only: bool) -> list[tuple[str, list[Text]]]:
    """Params (and the run facts C adds as params) per run; with a baseline, values that differ
    from the baseline's are coloured."""
    base = cmp.baseline
    rows = []
    for row in cmp.params:
        if diff_only and not row.differs:
            continue
        values = list(row.values)
        cells = []
        for i, value in enumerate(values):
            text = EMPTY if value is None else " ".join(str(value).split())
            changed = base is not None and i != base and value != values[base]
            cells.append(Text(text if len(text) <= 40 else text[:39] + "…",
                              style=styles["changed"] if changed else "", justify="right"))
        rows.append((row.key, cells))
    return rows


def importance_rows(cmp: Any, styles: dict[str, Style]) -> list[tuple[str, list[Text]]]:
    """Feature x run: each run's share of its total importance (compare_runs gives shares of
    the union of the top features); ★ marks each feature's largest share."""
    rows = []
    for feature, values in cmp.importance.items():
        vals = list(values)
        best = _best_index(vals, True)
        cells = []
        for i, v in enumerate(vals):
            text = EMPTY if v is None else f"{100 * v:.1f}%"
            if i == best:
                cells.append(Text(BEST_MARK + text, style=styles["best"], justify="right"))
            else:
                cells.append(Text(text, justify="right"))
        rows.append((feature, cells))
    return rows


def evaluation_rows(cmp: Any, styles: dict[str, Style]) -> list[tuple[str, list[Text]]]:
    """Confusion counts (true → predicted, one row per cell of the matrix) and the share right,
    or the residual summary, per run; `–` where a run recorded no evaluation."""
    evals = list(cmp.evaluation or [])
    rows: list[tuple[str, list[Text]]] = []
    labels: list[str] = []
    for ev in evals:
        for label in (ev or {}).get("labels") or []:
            if str(label) not in labels:
                labels.append(str(label))
    if any(ev and ev.get("confusion") for ev in evals):
        cells: dict[tuple[str, str], list[Text]] = {}
        right: list[float | None] = []
        for ev in evals:
            matrix = (ev or {}).get("confusion")
            names = [str(x) for x in (ev or {}).get("labels") or []]
            counts = {}
            if matrix:
                for t, row in enumerate(matrix):
                    for p, count in enumerate(row):
                        tl = names[t] if t < len(names) else str(t)
                        pl = names[p] if p < len(names) else str(p)
                        counts[(tl, pl)] = count
                total = sum(counts.values())
                right.append(sum(c for (t, p), c in counts.items() if t == p) / total if total else None)
            else:
                right.append(None)
            for t in labels:
                for p in labels:
                    value = counts.get((t, p)) if matrix else None
                    cells.setdefault((t, p), []).append(Text(fmt(value), justify="right"))
        best = _best_index(right, True)
        rows.append(("share right (diagonal) ↑", [
            Text((BEST_MARK if i == best else "") + ("–" if r is None else f"{100 * r:.1f}%"),
                 style=styles["best"] if i == best else "", justify="right")
            for i, r in enumerate(right)]))
        for (t, p), row_cells in cells.items():
            rows.append((f"true {t} → pred {p}", row_cells))
    if any(ev and ev.get("residuals") for ev in evals):
        keys = list(RESIDUAL_KEYS)
        for ev in evals:
            for k in (ev or {}).get("residuals") or {}:
                if k not in keys:
                    keys.append(k)
        for k in keys:
            values = [((ev or {}).get("residuals") or {}).get(k) for ev in evals]
            lower = k in ("std", "mae", "max_abs")
            best = _best_index(values, False) if lower else None
            rows.append((f"residual {k}" + (" ↓" if lower else ""),
                         _value_cells(values, best, styles, None, False, None)))
    return rows


def evaluation_note(cmp: Any) -> str:
    """The line over the Evaluation table: what its rows are, and how many runs recorded none."""
    evals = [ev for ev in (cmp.evaluation or []) if ev]
    kind = ("confusion counts (true → predicted)" if any(ev.get("confusion") for ev in evals)
            else "residuals (actual − predicted)" if evals else "")
    missing = sum(1 for ev in (cmp.evaluation or []) if not ev)
    note = "evaluation on each run's holdout" + (f": {kind}" if kind else "")
    return note + (f" · {missing} run(s) recorded none" if missing else "")


def datasets_line(cmp: Any) -> tuple[str, bool]:
    """The data versions the runs used, and whether they differ (then it is a warning)."""
    counts: dict[str, int] = {}
    for ref in cmp.datasets:
        key = ref or "(no dataset)"
        counts[key] = counts.get(key, 0) + 1
    if not counts:
        return "data: -", False
    if len(counts) == 1:
        (ref, _n), = counts.items()
        return f"data: {_short_ref(ref)} (every run)", False
    parts = ", ".join(f"{_short_ref(r)} ×{n}" for r, n in counts.items())
    if len([r for r in cmp.datasets if r]) and len({r for r in cmp.datasets if r}) == 1:
        return f"data: {parts}", False  # one dataset; the others logged none (script runs)
    return f"⚠ the runs used different data: {parts}", True


def _short_ref(ref: str) -> str:
    if "@" not in ref:
        return ref
    name, _, version = ref.rpartition("@")
    return f"{name}@{version[:8]}"
