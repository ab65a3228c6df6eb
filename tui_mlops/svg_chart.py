"""A small SVG line-chart writer (no dependency): one polyline per series over min/max-reduced
points, with axes, ticks, a title and a legend; every text escaped, so names cannot break the XML."""

from __future__ import annotations

import math
from typing import Any
from xml.sax.saxutils import escape

from tui_mlops.charts import fmt_number, minmax_reduce

__all__ = ["line_chart_svg", "COLOURS"]

# Distinguishable on white and for the common colour-vision deficiencies (Okabe-Ito).
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 40, 50
LEGEND_ROW = 18


def _attr(text: Any) -> str:
    return escape(str(text), {'"': "&quot;"})


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
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


def line_chart_svg(series: dict[str, tuple[Any, Any]], *, title: str = "", x_label: str = "step",
                   y_label: str = "", width: int = 800, height: int = 450) -> str:
    """An SVG document of overlaid line charts of named (xs, ys) series (non-finite points
    dropped, each series reduced by `minmax_reduce` to the plot's width in pixels)."""
    plot_w = max(100, width - LEFT - RIGHT)
    reduced = [(str(name), *minmax_reduce(xs, ys, plot_w)) for name, (xs, ys) in series.items()]
    legend_h = LEGEND_ROW * len(reduced) + 10
    total_h = height + legend_h
    plot_h = max(60, height - TOP - BOTTOM)
    points = [(x, y) for _n, rx, ry in reduced for x, y in zip(rx, ry)]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{total_h}" '
           f'viewBox="0 0 {width} {total_h}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{total_h}" fill="white"/>']
    if title:
        out.append(f'<text x="{width / 2:.1f}" y="22" text-anchor="middle" font-size="15">{escape(title)}</text>')
    x0, y0 = LEFT, TOP + plot_h
    out.append(f'<line x1="{x0}" y1="{TOP}" x2="{x0}" y2="{y0}" stroke="#333"/>')
    out.append(f'<line x1="{x0}" y1="{y0}" x2="{x0 + plot_w}" y2="{y0}" stroke="#333"/>')
    if points:
        x_lo, x_hi = min(p[0] for p in points), max(p[0] for p in points)
        y_lo, y_hi = min(p[1] for p in points), max(p[1] for p in points)
        if x_hi == x_lo:
            x_lo, x_hi = x_lo - 1, x_hi + 1
        if y_hi == y_lo:
            pad = abs(y_lo) * 0.05 or 1.0
            y_lo, y_hi = y_lo - pad, y_hi + pad

        def px(x: float) -> float:
            return x0 + (x - x_lo) / (x_hi - x_lo) * plot_w

        def py(y: float) -> float:
            return y0 - (y - y_lo) / (y_hi - y_lo) * plot_h

        for t in _nice_ticks(x_lo, x_hi, 6):
            out.append(f'<line x1="{px(t):.2f}" y1="{y0}" x2="{px(t):.2f}" y2="{y0 + 5}" stroke="#333"/>')
            out.append(f'<text x="{px(t):.2f}" y="{y0 + 18}" text-anchor="middle">{escape(fmt_number(t))}</text>')
        for t in _nice_ticks(y_lo, y_hi, 5):
            out.append(f'<line x1="{x0 - 5}" y1="{py(t):.2f}" x2="{x0 + plot_w}" y2="{py(t):.2f}" '
                       f'stroke="#ddd"/>')
            out.append(f'<text x="{x0 - 8}" y="{py(t) + 4:.2f}" text-anchor="end">{escape(fmt_number(t))}</text>')
        for i, (name, rx, ry) in enumerate(reduced):
            colour = COLOURS[i % len(COLOURS)]
            coords = " ".join(f"{px(x):.2f},{py(y):.2f}" for x, y in zip(rx, ry))
            out.append(f'<polyline data-series="{_attr(name)}" fill="none" stroke="{colour}" stroke-width="1.5" '
                       f'points="{coords}"/>')
    else:
        out.append(f'<text x="{x0 + plot_w / 2:.1f}" y="{TOP + plot_h / 2:.1f}" text-anchor="middle">'
                   f'no points</text>')
    out.append(f'<text x="{x0 + plot_w / 2:.1f}" y="{y0 + 38}" text-anchor="middle">{escape(x_label)}</text>')
    if y_label:
        out.append(f'<text x="16" y="{TOP + plot_h / 2:.1f}" text-anchor="middle" '
                   f'transform="rotate(-90 16 {TOP + plot_h / 2:.1f})">{escape(y_label)}</text>')
    for i, (name, rx, _ry) in enumerate(reduced):
        y = height + LEGEND_ROW * i + 4
        colour = COLOURS[i % len(COLOURS)]
        note = "" if rx else " (no points)"
        out.append(f'<line x1="{x0}" y1="{y}" x2="{x0 + 24}" y2="{y}" stroke="{colour}" stroke-width="3"/>')
        out.append(f'<text x="{x0 + 30}" y="{y + 4}">{escape(name + note)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
