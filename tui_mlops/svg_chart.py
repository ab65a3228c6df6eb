"""A small SVG line-chart writer (no dependency): one polyline per series over min/max-reduced
points, with axes, ticks, a title and a legend; every text escaped, so names cannot break the XML."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from tui_mlops.chart_layout import COLOURS, LEGEND_ROW, ChartLayout, layout_line_chart

__all__ = ["line_chart_svg", "layout_svg", "COLOURS"]


def _attr(text: Any) -> str:
    return escape(str(text), {'"': "&quot;"})


def line_chart_svg(series: dict[str, tuple[Any, Any]], *, title: str = "", x_label: str = "step",
                   y_label: str = "", width: int = 800, height: int = 450, log_y: bool = False) -> str:
    """An SVG document of overlaid line charts of named (xs, ys) series (see `layout_line_chart`)."""
    return layout_svg(layout_line_chart(series, title=title, x_label=x_label, y_label=y_label,
                                        width=width, height=height, log_y=log_y))


def layout_svg(lay: ChartLayout) -> str:
    """The SVG document of a laid-out chart."""
    width, total_h, x0, y0, top = lay.width, lay.height, lay.x0, lay.y0, lay.top
    mid_x, mid_y = x0 + lay.plot_w / 2, top + lay.plot_h / 2
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{total_h}" '
           f'viewBox="0 0 {width} {total_h}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{total_h}" fill="white"/>']
    if lay.title:
        out.append(f'<text x="{width / 2:.1f}" y="22" text-anchor="middle" font-size="15">{escape(lay.title)}</text>')
    out.append(f'<line x1="{x0}" y1="{top}" x2="{x0}" y2="{y0}" stroke="#333"/>')
    out.append(f'<line x1="{x0}" y1="{y0}" x2="{x0 + lay.plot_w}" y2="{y0}" stroke="#333"/>')
    for x, label in lay.x_ticks:
        out.append(f'<line x1="{x:.2f}" y1="{y0}" x2="{x:.2f}" y2="{y0 + 5}" stroke="#333"/>')
        out.append(f'<text x="{x:.2f}" y="{y0 + 18}" text-anchor="middle">{escape(label)}</text>')
    for y, label in lay.y_ticks:
        out.append(f'<line x1="{x0 - 5}" y1="{y:.2f}" x2="{x0 + lay.plot_w}" y2="{y:.2f}" stroke="#ddd"/>')
        out.append(f'<text x="{x0 - 8}" y="{y + 4:.2f}" text-anchor="end">{escape(label)}</text>')
    for line in lay.lines:
        if line.points:
            coords = " ".join(f"{x:.2f},{y:.2f}" for x, y in line.points)
            out.append(f'<polyline data-series="{_attr(line.series)}" fill="none" stroke="{line.colour}" '
                       f'stroke-width="1.5" points="{coords}"/>')
    if lay.empty:
        out.append(f'<text x="{mid_x:.1f}" y="{mid_y:.1f}" text-anchor="middle">{escape(lay.empty)}</text>')
    out.append(f'<text x="{mid_x:.1f}" y="{y0 + 38}" text-anchor="middle">{escape(lay.x_label)}</text>')
    if lay.y_label:
        out.append(f'<text x="16" y="{mid_y:.1f}" text-anchor="middle" '
                   f'transform="rotate(-90 16 {mid_y:.1f})">{escape(lay.y_label)}</text>')
    for i, line in enumerate(lay.lines):
        y = lay.legend_top + LEGEND_ROW * i
        out.append(f'<line x1="{x0}" y1="{y}" x2="{x0 + 24}" y2="{y}" stroke="{line.colour}" stroke-width="3"/>')
        out.append(f'<text x="{x0 + 30}" y="{y + 4}">{escape(line.name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
