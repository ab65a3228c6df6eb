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
# Marker names accepted by `histogram_text` (plotext's own names, plus friendly aliases).
MARKERS = {"braille": "braille", "hd": "hd", "fhd": "fhd", "block": "sd", "sd": "sd",
           "dot": "dot", "ascii": "#"}


def _figure(width: int, height: int) -> Any:
    from plotext._figure import _figure_class  # the class plotext's module-level API wraps

    fig = _figure_class()
    fig.plotsize(max(int(width), MIN_WIDTH), max(int(height), MIN_HEIGHT))
    fig.theme("clear")
    return fig


def _plain(text: str) -> str:
    lines = _ANSI.sub("", text).split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n")


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


def _message(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 1)] + "…"


def histogram_text(col_profile: dict, width: int, height: int, marker: str | None = None) -> str:
    """A bar histogram of a numeric profile column; a one-line note when it has none."""
    hist = col_profile.get("histogram")
    name = str(col_profile.get("name", ""))
    if not hist or not hist.get("counts"):
        return _message(f"no histogram for {name!r} ({col_profile.get('kind', 'unknown')} column)", width)
    if marker is not None and marker not in MARKERS:
        raise ValueError(f"unknown chart marker {marker!r}; use one of {', '.join(sorted(MARKERS))}")
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
    return _plain(fig.build())


def top_values_text(col_profile: dict, width: int, height: int) -> str:
    """Horizontal bars of a column's most frequent values, the most frequent on top."""
    top = col_profile.get("top_values")
    name = str(col_profile.get("name", ""))
    if not top:
        return _message(f"no top values for {name!r} ({col_profile.get('kind', 'unknown')} column)", width)
    h = max(int(height), MIN_HEIGHT)
    # One bar per line at least: drop the rarest values that do not fit.
    shown = top[: max(1, h - 3)]
    labels = [_label(str(t["value"])) for t in shown][::-1]
    counts = [int(t["count"]) for t in shown][::-1]
    fig = _figure(width, h)
    fig.bar(labels, counts, orientation="horizontal", width=0.6)
    xt = _ticks(0.0, float(max(counts) or 1), 4 if width >= 40 else 2)
    fig.xticks(xt, [fmt_number(x) for x in xt])
    fig.xlabel(f"rows ({name})")
    return _plain(fig.build())


def _label(value: str) -> str:
    value = " ".join(value.split()) or "(empty)"
    return value if len(value) <= MAX_LABEL else value[: MAX_LABEL - 1].rstrip() + "…"
