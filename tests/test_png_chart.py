"""PNG line charts (Pillow) share the SVG's layout: a real PNG of the asked size, each series
drawn in its colour inside the plot box, log scale, and a clear error when there is nothing to draw."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

from tui_mlops.chart_layout import COLOURS, layout_line_chart
from tui_mlops.errors import InputError
from tui_mlops.png_chart import line_chart_png
from tui_mlops.svg_chart import line_chart_svg

SVG = "{http://www.w3.org/2000/svg}"


def rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def pixels_in(img: Image.Image, box: tuple[int, int, int, int], colour: str) -> list[tuple[int, int]]:
    want = rgb(colour)
    x0, y0, x1, y1 = box
    px = img.load()
    return [(x, y) for x in range(x0, x1) for y in range(y0, y1) if px[x, y][:3] == want]


def has_black(img: Image.Image) -> bool:
    return (0, 0, 0) in [colour[:3] for _n, colour in img.convert("RGB").getcolors(1 << 20)]


def test_png_is_a_real_png_with_each_series_in_its_colour_in_the_plot_box() -> None:
    xs = list(range(5000))
    spike = [0.0] * 5000
    spike[2500] = 100.0
    series = {"spiky": (xs, spike), "ramp": ([0, 4999], [10.0, 20.0])}
    data = line_chart_png(series, title="valid/auc", y_label="auc", width=600, height=300)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    img = Image.open(io.BytesIO(data))
    img.load()
    lay = layout_line_chart(series, title="valid/auc", y_label="auc", width=600, height=300)
    assert img.format == "PNG" and img.size == (600, lay.height) and lay.height > 300  # legend below
    plot = (lay.x0 + 1, lay.top, lay.x0 + lay.plot_w, lay.y0 - 1)
    first = pixels_in(img, plot, COLOURS[0])
    second = pixels_in(img, plot, COLOURS[1])
    assert len(first) > 100 and len(second) > 100
    # The spike survives min/max reduction: the first colour reaches the top of the plot, at
    # the middle (step 2500 of 5000), and nowhere else near the top.
    top_hits = [x for x, y in first if y < lay.top + 10]
    assert top_hits and all(abs(x - (lay.x0 + lay.plot_w / 2)) < 5 for x in top_hits)
    # The legend: a swatch of each colour under the plot.
    legend = (lay.x0, lay.legend_top - 3, lay.x0 + 25, lay.height)
    assert pixels_in(img, legend, COLOURS[0]) and pixels_in(img, legend, COLOURS[1])
    # Title and tick labels are drawn (dark text pixels above the plot and left of the axis).
    assert has_black(img.crop((0, 0, 600, lay.top - 5)))
    assert has_black(img.crop((0, lay.top, lay.x0 - 6, lay.y0)))


def test_png_matches_svg_layout_and_scales() -> None:
    series = {"a": ([1, 2, 3], [0.5, 0.7, 0.6])}
    small = Image.open(io.BytesIO(line_chart_png(series, width=400, height=250)))
    big = Image.open(io.BytesIO(line_chart_png(series, width=400, height=250, scale=2)))
    assert big.size == (small.size[0] * 2, small.size[1] * 2)
    root = ET.fromstring(line_chart_svg(series, width=400, height=250))
    assert (int(root.get("width")), int(root.get("height"))) == small.size
    lay = layout_line_chart(series, width=400, height=250)
    svg_points = [tuple(map(float, p.split(","))) for p in root.find(f"{SVG}polyline").get("points").split()]
    assert svg_points == pytest.approx([(round(x, 2), round(y, 2)) for x, y in lay.lines[0].points], abs=0.01)
    # Every pixel of the line in the PNG lies within a few pixels of the SVG's polyline points' x range.
    hits = pixels_in(small, (0, 0, small.size[0], lay.y0), COLOURS[0])
    assert hits and min(x for x, _ in hits) >= svg_points[0][0] - 2 and max(x for x, _ in hits) <= svg_points[-1][0] + 2


def test_log_scale_ticks_and_left_out_values() -> None:
    xs = list(range(1, 101))
    series = {"loss": (xs, [10 ** (-i / 25) for i in xs]), "delta": (xs, [i - 50.0 for i in xs])}
    lay = layout_line_chart(series, y_label="loss", log_y=True)
    labels = [label for _y, label in lay.y_ticks]
    assert {"0.01", "0.1", "1", "10"} <= set(labels)
    assert lay.y_label == "loss (log scale)"
    assert [line.name for line in lay.lines] == ["loss", "delta (values <= 0 not shown)"]
    img = Image.open(io.BytesIO(line_chart_png(series, log_y=True)))
    plot = (lay.x0 + 1, lay.top, lay.x0 + lay.plot_w, lay.y0 - 1)
    assert pixels_in(img, plot, COLOURS[0]) and pixels_in(img, plot, COLOURS[1])
    texts = [t.text for t in ET.fromstring(line_chart_svg(series, log_y=True)).iter(f"{SVG}text")]
    assert "0.01" in texts and "delta (values <= 0 not shown)" in texts


def test_points_are_joined_in_x_order() -> None:
    # A step logged again later (a resumed run) must not draw a line back across the chart.
    lay = layout_line_chart({"auc": ([1, 2, 3, 2.5], [0.1, 0.2, 0.3, 0.25])})
    xs = [x for x, _y in lay.lines[0].points]
    assert xs == sorted(xs)


def test_nothing_to_draw_is_an_error_not_an_empty_picture() -> None:
    with pytest.raises(InputError, match=r"^chart of auc, loss: no points to draw$"):
        line_chart_png({"auc": ([], []), "loss": ([1.0], [float("nan")])})
    with pytest.raises(InputError, match="chart of delta: no positive values for a log scale"):
        line_chart_png({"delta": ([1, 2], [-1.0, 0.0])}, log_y=True)
    with pytest.raises(InputError, match="chart of no series: no points to draw"):
        line_chart_png({})


def test_names_are_drawn_not_interpreted() -> None:
    # Markup-like and non-Latin names render (the bundled font has no such glyphs for some, but
    # drawing must not fail).
    data = line_chart_png({"run <1> & 'ü' 数据": ([1, 2], [1.0, 2.0])}, title="a/b [x]")
    assert Image.open(io.BytesIO(data)).format == "PNG"
