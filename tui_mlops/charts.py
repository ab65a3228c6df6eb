"""Text charts of profile columns (histograms, top values) drawn with plotext, for CLI and TUI.

Each call builds its own plotext figure object, so no plotext global state leaks between calls
or threads; output is plain text without ANSI colour codes.
"""

from __future__ import annotations

import math
import re
from typing import Any

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MIN_WIDTH, MIN_HEIGHT = 20, 5
MAX_LABEL = 18
# Marker names accepted by the chart functions: the config's chart_marker values ("braille",
# "block", "ascii") and plotext's own names. "block" is plotext's "hd" (quadrant blocks, in
# nearly every terminal font; "fhd" sextants are missing from many).
MARKERS = {"braille": "braille", "hd": "hd", "fhd": "fhd", "block": "hd", "sd": "sd",
           "dot": "dot", "ascii": "#"}
# plotext draws frames and ticks with box-drawing glyphs: "ascii" charts swap them (and our own
# ellipsis) for plain characters of the same width, for fonts that have none of these.
_ASCII_FRAME = str.maketrans({"─": "-", "│": "|", "┌": "+", "┐": "+", "└": "+", "┘": "+",
                              "┬": "+", "┴": "+", "├": "+", "┤": "+", "┼": "+", "…": "~",
                              "•": "o"})


def _figure(width: int, height: int) -> Any:
    from plotext._figure import _figure_class  # the class plotext's module-level API wraps

    fig = _figure_class()
    fig.plotsize(max(int(width), MIN_WIDTH), max(int(height), MIN_HEIGHT))
    fig.theme("clear")
    return fig


def bar_marker(style: str | None) -> str | None:
    """The marker bars use for a chart_marker style: solid blocks read better than braille dots
    in a bar, so "braille" bars are drawn as "block" ("hd") ones; "ascii" stays "ascii"."""
    return "block" if style == "braille" else style


def _plain(text: str, marker: str | None = None) -> str:
    lines = _ANSI.sub("", text).split("\n")
    text = "\n".join(line.rstrip() for line in lines).strip("\n")
    return text.translate(_ASCII_FRAME) if marker == "ascii" else text


def _check_marker(marker: str | None) -> None:
    if marker is not None and marker not in MARKERS:
        raise ValueError(f"unknown chart marker {marker!r}; use one of {', '.join(sorted(MARKERS))}")


def fmt_number(x: float) -> str:
    """Short tick label: 1234567 -> 1.2M, 0.000123 -> 0.000123, 12.5 -> 12.5."""
    if x == 0:
        return "0"
    ax = abs(x)
    for limit, div, suffix in ((1e12, 1e12, "T"), (1e9, 1e9, "G"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if ax >= limit:
            return f"{x / div:.3g}{suffix}"
    if ax >= 1 and float(x).is_integer():
        return str(int(x))
    return f"{x:.4g}" if ax >= 1e-3 else f"{x:.2e}"


def _ticks(lo: float, hi: float, n: int) -> list[float]:
    if n < 2 or hi <= lo:
        return [lo]
    return [lo + (hi - lo) * i / (n - 1) for i in range(n)]


def _message(text: str, width: int, marker: str | None = None) -> str:
    ellipsis = "~" if marker == "ascii" else "…"
    return text if len(text) <= width else text[: max(width - 1, 1)] + ellipsis


def histogram_text(col_profile: dict, width: int, height: int, marker: str | None = None) -> str:
    """A bar histogram of a numeric profile column; a one-line note when it has none."""
    hist = col_profile.get("histogram")
    name = str(col_profile.get("name", ""))
    if not hist or not hist.get("counts"):
        return _message(f"no histogram for {name!r} ({col_profile.get('kind', 'unknown')} column)", width,
                        marker)
    _check_marker(marker)
    edges = [float(e) for e in hist["edges"]]
    counts = [int(c) for c in hist["counts"]]
    centers = [(a + b) / 2 for a, b in zip(edges, edges[1:])]
    fig = _figure(width, height)
    kwargs: dict[str, Any] = {"width": 1.0}
    if marker is not None:
        kwargs["marker"] = MARKERS[marker]
    fig.bar(centers, counts, **kwargs)
    # Edge ticks at most every ~10 columns, so labels never run together.
    plot_w = max(int(width), MIN_WIDTH) - 8
    n_x = max(2, min(len(edges), plot_w // 10 + 1))
    step = max(1, math.ceil((len(edges) - 1) / (n_x - 1)))
    xt = edges[::step]
    if xt[-1] != edges[-1]:
        xt.append(edges[-1])
    fig.xticks(xt, [fmt_number(x) for x in xt])
    yt = _ticks(0.0, float(max(counts) or 1), max(2, min(5, max(int(height), MIN_HEIGHT) // 3)))
    fig.yticks(yt, [fmt_number(y) for y in yt])
    fig.xlabel(name)
    return _plain(fig.build(), marker)


def top_values_text(col_profile: dict, width: int, height: int, marker: str | None = None) -> str:
    """Horizontal bars of a column's most frequent values, the most frequent on top."""
    top = col_profile.get("top_values")
    name = str(col_profile.get("name", ""))
    if not top:
        return _message(f"no top values for {name!r} ({col_profile.get('kind', 'unknown')} column)", width,
                        marker)
    _check_marker(marker)
    h = max(int(height), MIN_HEIGHT)
    # One bar per line at least: drop the rarest values that do not fit.
    shown = top[: max(1, h - 3)]
    labels = [_label(str(t["value"])) for t in shown][::-1]
    counts = [int(t["count"]) for t in shown][::-1]
    fig = _figure(width, h)
    kwargs: dict[str, Any] = {"orientation": "horizontal", "width": 0.6}
    if marker is not None:
        kwargs["marker"] = MARKERS[marker]
    fig.bar(labels, counts, **kwargs)
    xt = _ticks(0.0, float(max(counts) or 1), 4 if width >= 40 else 2)
    fig.xticks(xt, [fmt_number(x) for x in xt])
    fig.xlabel(f"rows ({name})")
    return _plain(fig.build(), marker)


def _label(value: str) -> str:
    value = " ".join(value.split()) or "(empty)"
    return value if len(value) <= MAX_LABEL else value[: MAX_LABEL - 1].rstrip() + "…"


# -- line charts of metric histories ----------------------------------------------------------
# Markers of overlaid series, in order: without colour (plain text) each series needs its own.
LINE_MARKERS = ("hd", "•", "x", "+", "o", "*", "=", "#")
ASCII_LINE_MARKERS = ("#", "x", "+", "o", "*", "=", "%", "@")


def minmax_reduce(xs: Any, ys: Any, width: int) -> tuple[list[float], list[float]]:
    """Bucket points by x into `width` equal columns and keep each column's min and max point.

    At most 2*width points come back, in their input order, so a single spike among a million
    points survives (sampling would drop it). Points with a non-finite x or y are dropped.
    """
    width = max(1, int(width))
    n = min(len(xs), len(ys))
    if n <= 2 * width:
        pairs = [(float(x), float(y)) for x, y in zip(xs, ys)
                 if math.isfinite(float(x)) and math.isfinite(float(y))]
        return [p[0] for p in pairs], [p[1] for p in pairs]
    import numpy as np

    x = np.asarray(xs[:n], dtype=float)
    y = np.asarray(ys[:n], dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.all():
        x, y = x[ok], y[ok]
    if len(x) <= 2 * width:
        return x.tolist(), y.tolist()
    lo, hi = float(x.min()), float(x.max())
    if hi > lo:
        bucket = np.minimum(((x - lo) * (width / (hi - lo))).astype(np.int64), width - 1)
    else:
        bucket = np.zeros(len(x), dtype=np.int64)
    # Sort by bucket, then by y (stable, so equal values keep their order): each bucket's first
    # entry is its min and its last its max.
    order = np.lexsort((y, bucket))
    sorted_bucket = bucket[order]
    starts = np.flatnonzero(np.r_[True, sorted_bucket[1:] != sorted_bucket[:-1]])
    ends = np.r_[starts[1:], len(order)] - 1
    keep = np.unique(np.concatenate((order[starts], order[ends])))
    return x[keep].tolist(), y[keep].tolist()


def line_chart_text(series: dict[str, tuple[Any, Any]], width: int, height: int,
                    log_y: bool = False, marker: str | None = None) -> str:
    """Overlaid line charts of named (xs, ys) series, as plain text with a legend of the names.

    Each series is reduced by `minmax_reduce` to the plot's resolution first. With `log_y`,
    points whose value is not positive cannot be drawn and are left out (the legend says so).
    """
    _check_marker(marker)
    width, height = max(int(width), MIN_WIDTH), max(int(height), MIN_HEIGHT)
    # The drawable area: the frame and the y tick labels take about 10 columns; "hd" and
    # braille markers draw 2 points per column.
    columns = max(8, (width - 10) * 2)
    reduced: list[tuple[str, list[float], list[float]]] = []
    for name, (xs, ys) in series.items():
        rx, ry = minmax_reduce(xs, ys, columns)
        label = str(name)
        if log_y:
            kept = [(a, b) for a, b in zip(rx, ry) if b > 0]
            if len(kept) < len(rx):
                label += " (values <= 0 not shown)"
            rx, ry = [a for a, _ in kept], [b for _, b in kept]
        if rx:
            reduced.append((label, rx, ry))
    if not reduced:
        names = ", ".join(str(n) for n in series) or "no metric"
        why = "no positive values for a log scale" if log_y and series else "no points yet"
        return _message(f"{names}: {why}", width, marker)
    fig = _figure(width, height)
    first = MARKERS[marker] if marker is not None else LINE_MARKERS[0]
    others = ASCII_LINE_MARKERS if marker == "ascii" else LINE_MARKERS
    markers = (first,) + tuple(m for m in others if m != first)
    for i, (label, rx, ry) in enumerate(reduced):
        fig.plot(rx, ry, label=label, marker=markers[i % len(markers)])
    x_lo = min(min(rx) for _l, rx, _y in reduced)
    x_hi = max(max(rx) for _l, rx, _y in reduced)
    n_x = max(2, min(6, (width - 10) // 12 + 1))
    xt = _ticks(x_lo, x_hi, n_x) if x_hi > x_lo else [x_lo]
    fig.xticks(xt, [fmt_number(_round_tick(x, x_hi - x_lo)) for x in xt])
    if log_y:
        fig.yscale("log")
    else:
        y_lo = min(min(ry) for _l, _x, ry in reduced)
        y_hi = max(max(ry) for _l, _x, ry in reduced)
        yt = _ticks(y_lo, y_hi, max(2, min(5, height // 3))) if y_hi > y_lo else [y_lo]
        fig.yticks(yt, [fmt_number(y) for y in yt])
    return _plain(fig.build(), marker)


def _round_tick(x: float, span: float) -> float:
    # Ticks need only the precision their spacing shows: 50.75 reads worse than 51 on an axis
    # of 200 steps, and 0.04386 worse than 0 on one of 14 seconds.
    if span >= 10:
        return float(round(x))
    if span >= 1:
        return round(x, 1)
    return x
