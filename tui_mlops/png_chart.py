"""PNG line charts for reports: the same layout as the SVG writer (series, axes, ticks, legend,
title, log scale), rasterised with Pillow and its bundled font (no system fonts, no downloads)."""

from __future__ import annotations

import io
from typing import Any

from tui_mlops.chart_layout import LEGEND_ROW, ChartLayout, layout_line_chart
from tui_mlops.errors import InputError

__all__ = ["line_chart_png", "layout_png"]

AXIS, GRID, TEXT = "#333333", "#dddddd", "#000000"


def line_chart_png(series: dict[str, tuple[Any, Any]], *, title: str = "", x_label: str = "step",
                   y_label: str = "", width: int = 800, height: int = 450, log_y: bool = False,
                   scale: int = 1) -> bytes:
    """PNG bytes of overlaid line charts of named (xs, ys) series (see `layout_line_chart`);
    `scale` multiplies every pixel size (2 for sharp figures on high-DPI screens and print).
    InputError when no series has a point to draw: an empty picture helps nobody's report."""
    lay = layout_line_chart(series, title=title, x_label=x_label, y_label=y_label, width=width,
                            height=height, log_y=log_y)
    if not lay.has_points:
        names = ", ".join(str(n) for n in series) or "no series"
        why = "no positive values for a log scale" if log_y and series else "no points to draw"
        raise InputError(f"chart of {names}: {why}")
    return layout_png(lay, scale)


def _font(size: int) -> Any:
    from PIL import ImageFont

    return ImageFont.load_default(size=size)  # Pillow's bundled font; a bitmap one without FreeType


def _text(draw: Any, xy: tuple[float, float], text: str, font: Any, anchor: str = "l") -> None:
    """Draw `text` with its vertical middle at y, left/middle/right of x by `anchor` ("l" "m" "r");
    measured with textbbox, so it works for the bitmap fallback font too (no anchor support)."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    w, h = right - left, bottom - top
    x = xy[0] - {"l": 0, "m": w / 2, "r": w}[anchor]
    draw.text((x - left, xy[1] - h / 2 - top), text, fill=TEXT, font=font)


def layout_png(lay: ChartLayout, scale: int = 1) -> bytes:
    """The PNG file of a laid-out chart, every size multiplied by `scale`."""
    from PIL import Image, ImageDraw

    k = max(1, int(scale))
    img = Image.new("RGB", (lay.width * k, lay.height * k), "white")
    draw = ImageDraw.Draw(img)
    font, big = _font(12 * k), _font(15 * k)
    x0, y0, top, right = lay.x0 * k, lay.y0 * k, lay.top * k, (lay.x0 + lay.plot_w) * k
    mid_x, mid_y = (lay.x0 + lay.plot_w / 2) * k, (lay.top + lay.plot_h / 2) * k
    if lay.title:
        _text(draw, (lay.width * k / 2, 17 * k), lay.title, big, "m")
    for y, label in lay.y_ticks:
        draw.line([(x0 - 5 * k, y * k), (right, y * k)], fill=GRID, width=k)
        _text(draw, (x0 - 8 * k, y * k), label, font, "r")
    draw.line([(x0, top), (x0, y0)], fill=AXIS, width=k)
    draw.line([(x0, y0), (right, y0)], fill=AXIS, width=k)
    for x, label in lay.x_ticks:
        draw.line([(x * k, y0), (x * k, y0 + 5 * k)], fill=AXIS, width=k)
        _text(draw, (x * k, y0 + 14 * k), label, font, "m")
    # Lines are clipped to the plot box: a 2 px stroke at the very edge must not cover the axes'
    # labels (it may cross the axes themselves, as in the SVG).
    plot = Image.new("RGBA", img.size, (0, 0, 0, 0))
    pen = ImageDraw.Draw(plot)
    for line in lay.lines:
        pts = [(x * k, y * k) for x, y in line.points]
        if len(pts) == 1:
            (x, y), r = pts[0], 2 * k
            pen.ellipse([(x - r, y - r), (x + r, y + r)], fill=line.colour)
        elif pts:
            pen.line(pts, fill=line.colour, width=2 * k, joint="curve")
    box = (x0 - 2 * k, top - 2 * k, right + 2 * k + 1, y0 + 2 * k + 1)
    img.paste(plot.crop(box), box[:2], plot.crop(box))
    if lay.empty:
        _text(draw, (mid_x, mid_y), lay.empty, font, "m")
    _text(draw, (mid_x, y0 + 34 * k), lay.x_label, font, "m")
    if lay.y_label:
        _vertical_text(img, (16 * k, mid_y), lay.y_label, font)
    for i, line in enumerate(lay.lines):
        y = (lay.legend_top + LEGEND_ROW * i) * k
        draw.line([(x0, y), (x0 + 24 * k, y)], fill=line.colour, width=3 * k)
        _text(draw, (x0 + 30 * k, y), line.name, font, "l")
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _vertical_text(img: Any, centre: tuple[float, float], text: str, font: Any) -> None:
    """`text` turned 90° anticlockwise (read bottom to top), centred on `centre`."""
    from PIL import Image, ImageDraw

    left, top, right, bottom = ImageDraw.Draw(img).textbbox((0, 0), text, font=font)
    label = Image.new("RGBA", (right - left + 2, bottom - top + 2), (255, 255, 255, 0))
    ImageDraw.Draw(label).text((1 - left, 1 - top), text, fill=TEXT, font=font)
    label = label.rotate(90, expand=True)
    img.paste(label, (int(centre[0] - label.width / 2), int(centre[1] - label.height / 2)), label)
