"""Where everything of a line chart goes, in pixels: axes, ticks, lines, legend, title. The SVG
and PNG writers both draw from one `ChartLayout`, so the two files of a chart always agree."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tui_mlops.charts import fmt_number, minmax_reduce

__all__ = ["COLOURS", "ChartLayout", "Line", "layout_line_chart", "nice_ticks"]

# Distinguishable on white and for the common colour-vision deficiencies (Okabe-Ito).
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 40, 50
LEGEND_ROW = 18


@dataclass(frozen=True)
class Line:
    name: str          # the legend text, with a note when points were left out
    series: str        # the series' own name
    colour: str
    points: tuple[tuple[float, float], ...]  # pixels


@dataclass(frozen=True)
class ChartLayout:
    width: int
    height: int        # the whole image, legend included
    title: str
    x_label: str
    y_label: str
    x0: int            # the plot box: left edge ...
    top: int           # ... top edge ...
    plot_w: int
    plot_h: int
    x_ticks: tuple[tuple[float, str], ...]  # (pixel x, label)
    y_ticks: tuple[tuple[float, str], ...]  # (pixel y, label)
    lines: tuple[Line, ...]
    legend_top: int    # y of the first legend row
    empty: str         # "" when there are points, else what to print in the plot box
    log_y: bool

    @property
    def y0(self) -> int:
        return self.top + self.plot_h

    @property
    def has_points(self) -> bool:
        return any(line.points for line in self.lines)


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5, 5 x 10^k apart) from `lo` to `hi`, about `n` of them."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    ticks, t = [], first
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    return ticks


def _log_ticks(lo: float, hi: float) -> list[float]:
    """Ticks of a log axis whose limits are log10 values: decades, or 1-2-5 when few decades."""
    first, last = math.floor(lo), math.ceil(hi)
    mults = (1.0,) if last - first > 3 else (1.0, 2.0, 5.0)
    step = max(1, math.ceil((last - first) / 8))
    out = [d + math.log10(m) for d in range(first, last + 1, step) for m in mults]
    inside = [t for t in out if lo - 1e-9 <= t <= hi + 1e-9]
    return inside or [lo]


def _log_label(v: float) -> str:
    v = float(f"{v:.6g}")
    return fmt_number(v) if v >= 1e-3 else f"{v:g}"  # 1e-05, not 1.00e-05


def layout_line_chart(series: dict[str, tuple[Any, Any]], *, title: str = "", x_label: str = "step",
                      y_label: str = "", width: int = 800, height: int = 450,
                      log_y: bool = False) -> ChartLayout:
    """Lay out overlaid line charts of named (xs, ys) series: non-finite points dropped (with
    `log_y`, values <= 0 too, and the legend says so), each series reduced by `minmax_reduce`
    to the plot's width in pixels and joined in x order."""
    plot_w = max(100, width - LEFT - RIGHT)
    plot_h = max(60, height - TOP - BOTTOM)
    reduced: list[tuple[str, str, list[float], list[float]]] = []
    for name, (xs, ys) in series.items():
        rx, ry = minmax_reduce(xs, ys, plot_w)
        if any(b < a for a, b in zip(rx, rx[1:])):  # a line joins points in x order (a re-logged
            pairs = sorted(zip(rx, ry), key=lambda p: p[0])  # step would draw a loop otherwise)
            rx, ry = [p[0] for p in pairs], [p[1] for p in pairs]
        label = str(name)
        if log_y:
            kept = [(a, math.log10(b)) for a, b in zip(rx, ry) if b > 0]
            if len(kept) < len(rx):
                label += " (values <= 0 not shown)"
            rx, ry = [a for a, _ in kept], [b for _, b in kept]
        reduced.append((label if rx else label + " (no points)", str(name), rx, ry))
    x0, y0 = LEFT, TOP + plot_h
    xy = [(x, y) for _l, _n, rx, ry in reduced for x, y in zip(rx, ry)]
    x_ticks: list[tuple[float, str]] = []
    y_ticks: list[tuple[float, str]] = []
    lines: list[Line] = []
    if xy:
        x_lo, x_hi = min(p[0] for p in xy), max(p[0] for p in xy)
        y_lo, y_hi = min(p[1] for p in xy), max(p[1] for p in xy)
        if x_hi == x_lo:
            x_lo, x_hi = x_lo - 1, x_hi + 1
        if y_hi == y_lo:
            pad = 0.5 if log_y else (abs(y_lo) * 0.05 or 1.0)
            y_lo, y_hi = y_lo - pad, y_hi + pad

        def px(x: float) -> float:
            return x0 + (x - x_lo) / (x_hi - x_lo) * plot_w

        def py(y: float) -> float:
            return y0 - (y - y_lo) / (y_hi - y_lo) * plot_h

        x_ticks = [(px(t), fmt_number(t)) for t in nice_ticks(x_lo, x_hi, 6)]
        if log_y:
            y_ticks = [(py(t), _log_label(10 ** t)) for t in _log_ticks(y_lo, y_hi)]
        else:
            y_ticks = [(py(t), fmt_number(t)) for t in nice_ticks(y_lo, y_hi, 5)]
        for i, (label, name, rx, ry) in enumerate(reduced):
            lines.append(Line(label, name, COLOURS[i % len(COLOURS)],
                              tuple((px(x), py(y)) for x, y in zip(rx, ry))))
    else:
        lines = [Line(label, name, COLOURS[i % len(COLOURS)], ())
                 for i, (label, name, _x, _y) in enumerate(reduced)]
    legend_h = LEGEND_ROW * len(reduced) + 10
    return ChartLayout(width=width, height=height + legend_h, title=title, x_label=x_label,
                       y_label=y_label + (" (log scale)" if log_y and y_label else ""), x0=x0, top=TOP,
                       plot_w=plot_w, plot_h=plot_h, x_ticks=tuple(x_ticks), y_ticks=tuple(y_ticks),
                       lines=tuple(lines), legend_top=height + 4,
                       empty="" if xy else "no points", log_y=log_y)
