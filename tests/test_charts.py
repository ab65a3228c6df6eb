"""Text charts of profile columns: labels and ticks present, no colour codes, no shared state."""

from __future__ import annotations

import pytest

from tui_mlops.charts import MARKERS, fmt_number, histogram_text, top_values_text

HIST = {"name": "age", "kind": "numeric",
        "histogram": {"edges": [0.0, 20.0, 40.0, 60.0, 80.0, 100.0], "counts": [5, 40, 1200, 30, 2]}}
TOP = {"name": "city", "kind": "categorical",
       "top_values": [{"value": "Berlin", "count": 900}, {"value": "Paris", "count": 300},
                      {"value": "a very long city name indeed", "count": 12}]}


def test_histogram_has_axis_label_ticks_and_no_colour_codes() -> None:
    text = histogram_text(HIST, 60, 14)
    assert "\x1b" not in text
    lines = text.splitlines()
    assert lines[-1].strip() == "age"  # the x label under the axis
    assert "0" in lines[-2] and "100" in lines[-2] and "40" in lines[-2]  # edge ticks
    assert "1200" in lines[1]  # the tallest bar's count tops the y axis
    assert all(len(line) <= 60 for line in lines)
    assert 10 <= len(lines) <= 14


def test_histogram_markers() -> None:
    braille = histogram_text(HIST, 50, 10, marker="braille")
    assert any("\u2800" <= ch <= "\u28ff" for ch in braille)
    ascii_ = histogram_text(HIST, 50, 10, marker="ascii")
    assert "#" in ascii_ and "█" not in ascii_
    assert set(MARKERS) >= {"braille", "block", "hd", "ascii", "dot"}
    with pytest.raises(ValueError, match="unknown chart marker"):
        histogram_text(HIST, 50, 10, marker="sparkles")


def test_top_values_most_frequent_first_with_truncated_labels() -> None:
    text = top_values_text(TOP, 60, 10)
    assert "\x1b" not in text
    assert text.index("Berlin") < text.index("Paris")
    assert "a very long city…" in text
    assert "rows (city)" in text and "900" in text


def test_columns_without_a_chart_get_a_one_line_note() -> None:
    assert histogram_text(TOP, 60, 10) == "no histogram for 'city' (categorical column)"
    assert top_values_text(HIST, 60, 10) == "no top values for 'age' (numeric column)"


def test_calls_do_not_share_plot_state() -> None:
    import plotext

    first = top_values_text(TOP, 50, 8)
    hist = histogram_text(HIST, 50, 10)
    assert "Berlin" not in hist and "age" in hist
    assert top_values_text(TOP, 50, 8) == first
    # plotext's module-level figure is untouched.
    assert "Berlin" not in plotext.build()


def test_tiny_sizes_still_render() -> None:
    assert "age" in histogram_text(HIST, 5, 2)


@pytest.mark.parametrize("value,text", [(0, "0"), (975013, "975k"), (1666667, "1.67M"), (12.5, "12.5"),
                                        (3333.3, "3333"), (100, "100"), (-25.0, "-25"), (3.2e-7, "3.20e-07")])
def test_number_format(value: float, text: str) -> None:
    assert fmt_number(value) == text
