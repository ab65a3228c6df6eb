"""Line charts of metric histories: min/max reduction keeps spikes, text charts stay plain."""

from __future__ import annotations

import math
import time

import pytest

from tui_mlops.charts import line_chart_text, minmax_reduce


def test_a_single_spike_survives_reducing_a_million_points() -> None:
    n = 1_000_000
    xs = list(range(n))
    ys = [math.sin(i / 5000.0) for i in range(n)]
    ys[654_321] = 25.0  # up
    ys[123_456] = -40.0  # and down
    started = time.perf_counter()
    rx, ry = minmax_reduce(xs, ys, 80)
    took = time.perf_counter() - started
    assert len(rx) == len(ry) <= 160
    assert max(ry) == 25.0 and rx[ry.index(25.0)] == 654_321
    assert min(ry) == -40.0 and rx[ry.index(-40.0)] == 123_456
    assert rx == sorted(rx)  # in their input order
    assert took < 2.0, f"reducing 1M points took {took:.2f} s"


def test_every_column_keeps_its_min_and_its_max() -> None:
    xs = list(range(1000))
    ys = [float((i * 7919) % 1000) for i in range(1000)]
    rx, ry = minmax_reduce(xs, ys, 10)
    assert len(rx) == 20
    for col in range(10):
        bucket = ys[col * 100:(col + 1) * 100]
        kept = [y for x, y in zip(rx, ry) if col * 100 <= x < (col + 1) * 100]
        assert sorted(kept) == [min(bucket), max(bucket)]


def test_short_series_come_back_whole_and_non_finite_points_are_dropped() -> None:
    assert minmax_reduce([1, 2, 3], [0.5, 0.25, 0.125], 10) == ([1.0, 2.0, 3.0], [0.5, 0.25, 0.125])
    xs = list(range(100))
    ys = [float("nan") if i % 2 else float(i) for i in range(100)]
    rx, ry = minmax_reduce(xs, ys, 100)
    assert all(math.isfinite(y) for y in ry) and len(ry) == 50
    rx, ry = minmax_reduce(list(range(10_000)), [float("inf")] * 5000 + [1.0] * 5000, 4)
    assert ry and all(y == 1.0 for y in ry)
    # Every x equal: one bucket, its min and its max.
    rx, ry = minmax_reduce([5] * 100, [float(i) for i in range(100)], 3)
    assert ry == [0.0, 99.0] and rx == [5.0, 5.0]


def test_line_chart_is_plain_text_with_a_legend_of_series_names() -> None:
    xs = list(range(1, 201))
    text = line_chart_text({"valid/logloss": (xs, [1 / x for x in xs]),
                            "train/logloss": (xs, [0.5 / x for x in xs])}, 70, 16)
    assert "\x1b" not in text
    assert "valid/logloss" in text and "train/logloss" in text
    lines = text.splitlines()
    assert len(lines) <= 16 and all(len(line) <= 70 for line in lines)
    assert "200" in lines[-1] and "1" in lines[-1]  # x ticks: whole steps
    # Two series in plain text: each has its own marker, shown in the legend.
    legend = [line for line in lines if "logloss" in line]
    assert len({line.split("┤")[-1].strip()[:2] for line in legend}) == 2


def test_line_chart_keeps_a_spike_visible() -> None:
    n = 200_000
    ys = [0.0] * n
    ys[150_000] = 1000.0
    text = line_chart_text({"loss": (list(range(n)), ys)}, 60, 12)
    assert "1k" in text.splitlines()[0] or "1000" in text  # the y axis reaches the spike


def test_log_scale_draws_positive_values_and_says_what_it_left_out() -> None:
    xs = list(range(1, 101))
    text = line_chart_text({"loss": (xs, [10 ** (-i / 20) for i in xs])}, 60, 14, log_y=True)
    assert "loss" in text and "not shown" not in text
    mixed = line_chart_text({"delta": (xs, [float(i - 50) for i in xs])}, 60, 14, log_y=True)
    assert "values <= 0 not shown" in mixed
    none = line_chart_text({"delta": ([1, 2], [-1.0, 0.0])}, 60, 14, log_y=True)
    assert none == "delta: no positive values for a log scale"


def test_empty_series_and_markers() -> None:
    assert line_chart_text({"auc": ([], [])}, 60, 12) == "auc: no points yet"
    assert line_chart_text({}, 60, 12) == "no metric: no points yet"
    one = line_chart_text({"auc": ([3], [0.5])}, 40, 10, marker="ascii")
    assert "auc" in one and "#" in one
    with pytest.raises(ValueError, match="unknown chart marker"):
        line_chart_text({"auc": ([1], [1.0])}, 40, 10, marker="sparkles")
