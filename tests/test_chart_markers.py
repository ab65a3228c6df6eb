"""The chart_marker setting's three styles in every plotext chart: braille draws line charts in
braille dots (bars in solid blocks), block draws quadrant blocks and no braille, ascii is pure
ASCII (marker, frame and ticks)."""

from __future__ import annotations

import pytest

from tui_mlops.charts import bar_marker, histogram_text, line_chart_text, top_values_text
from tui_mlops.settings import CHART_MARKERS

XS = list(range(1, 121))
LINES = {"valid/auc": (XS, [1 - 1 / x for x in XS]), "train/auc": (XS, [1 - 0.5 / x for x in XS])}
HIST = {"name": "age", "histogram": {"edges": [0.0, 20.0, 40.0, 60.0, 80.0, 100.0],
                                     "counts": [5, 40, 1200, 30, 2]}}
TOP = {"name": "city", "top_values": [{"value": "Berlin", "count": 900},
                                      {"value": "a very long city name indeed", "count": 300}]}
BOX = set("─│┌┐└┘┬┴├┤┼")


def braille(text: str) -> bool:
    return any("\u2800" <= ch <= "\u28ff" for ch in text)


def quadrants(text: str) -> bool:
    return any("\u2580" <= ch <= "\u259f" for ch in text)


def charts(style: str) -> dict[str, str]:
    """Each kind of chart drawn in a chart_marker style, as the app and CLI draw them."""
    return {"line": line_chart_text(LINES, 70, 16, marker=style),
            "log": line_chart_text(LINES, 70, 16, log_y=True, marker=style),
            "hist": histogram_text(HIST, 50, 10, marker=bar_marker(style)),
            "top": top_values_text(TOP, 50, 8, marker=bar_marker(style))}


def test_the_setting_names_exactly_these_styles() -> None:
    assert CHART_MARKERS == ("braille", "block", "ascii")


def test_braille_draws_lines_in_braille_and_bars_in_blocks() -> None:
    drawn = charts("braille")
    assert braille(drawn["line"]) and braille(drawn["log"])
    assert "valid/auc" in drawn["line"] and "train/auc" in drawn["line"]
    for bars in (drawn["hist"], drawn["top"]):
        assert "█" in bars and not braille(bars)
    # Asked for by plotext's own name, bars are braille dots (the library keeps its meaning).
    assert braille(histogram_text(HIST, 50, 10, marker="braille"))


def test_block_draws_blocks_and_no_braille() -> None:
    drawn = charts("block")
    for name, text in drawn.items():
        assert not braille(text), name
        assert quadrants(text), name  # plotext "hd": quadrant blocks, in nearly every font
    assert "valid/auc" in drawn["line"]


def test_ascii_is_pure_ascii_and_still_a_chart() -> None:
    drawn = charts("ascii")
    for name, text in drawn.items():
        assert text.isascii(), (name, sorted({ch for ch in text if not ch.isascii()}))
        assert "#" in text, name
    lines = drawn["line"].splitlines()
    assert lines[0].lstrip().startswith("+-") and lines[0].rstrip().endswith("+")  # the frame
    assert any("|" in line for line in lines) and "valid/auc" in drawn["line"] and "train/auc" in drawn["line"]
    # Two series without colour: each keeps a marker of its own in the legend.
    legend = [line for line in lines if "/auc" in line]
    assert len({line.split("/auc")[0].split()[-1] for line in legend}) == 2
    assert "a very long city~" in drawn["top"]  # our ellipsis too
    assert "120" in lines[-1]  # x ticks survive


def test_box_drawing_stays_for_the_unicode_styles() -> None:
    for marker in ("braille", "block"):
        assert BOX & set(charts(marker)["line"])


@pytest.mark.parametrize("marker", CHART_MARKERS)
def test_short_notes_follow_the_style(marker: str) -> None:
    note = line_chart_text({"a rather long metric name": ([], [])}, 20, 10, marker=marker)
    assert len(note) == 20 and (note.isascii() or marker != "ascii")
