"""Bands: reference chunking, mean +/- sigma * std over chunk values, and what counts as outside."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tui_mlops.monitoring import bands


def test_chunks_by_window_size_drop_the_incomplete_remainder():
    got = bands.chunks(10_500, chunk_rows=5_000)
    assert got == [slice(0, 5_000), slice(5_000, 10_000)]


def test_chunks_fall_back_to_equal_chunks_when_the_window_fits_less_than_twice():
    got = bands.chunks(1_003, chunk_rows=600)
    assert len(got) == 10
    sizes = [s.stop - s.start for s in got]
    assert sizes == [101, 101, 101] + [100] * 7
    assert got[0].start == 0 and got[-1].stop == 1_003
    assert all(a.stop == b.start for a, b in zip(got, got[1:]))


def test_chunks_small_and_empty_references():
    assert bands.chunks(4, n_chunks=10) == [slice(i, i + 1) for i in range(4)]
    assert bands.chunks(0) == []
    assert bands.chunks(30, chunk_rows=0, n_chunks=3) == [slice(0, 10), slice(10, 20), slice(20, 30)]


def test_chunk_bands_match_nannyml_standard_deviation_threshold():
    # NannyML's documented example: range(10) with multiplier 2 -> lower -1.2445626465380286.
    band = bands.chunk_bands(list(range(10)), sigma=2.0)
    assert band["mean"] == pytest.approx(4.5)
    assert band["std"] == pytest.approx(float(np.std(np.arange(10))))   # ddof=0
    assert band["lower"] == pytest.approx(-1.2445626465380286, abs=1e-12)
    assert band["upper"] == pytest.approx(4.5 + 2 * math.sqrt(8.25))
    assert band["sigma"] == 2.0 and band["chunks"] == 10
    json.dumps(band, allow_nan=False)


def test_chunk_bands_skip_missing_values_and_clip_to_limits():
    band = bands.chunk_bands([0.8, None, float("nan"), 0.9, 1.0], lower_limit=0.0, upper_limit=1.0)
    assert band["chunks"] == 3
    assert band["mean"] == pytest.approx(0.9)
    assert band["upper"] == 1.0                     # 0.9 + 3 * 0.0816 clipped to the metric's range
    assert band["lower"] == pytest.approx(0.9 - 3 * float(np.std([0.8, 0.9, 1.0])))
    empty = bands.chunk_bands([None, float("nan")])
    assert empty["chunks"] == 0 and empty["lower"] is None and empty["upper"] is None
    assert not bands.outside(empty, 123.0)


def test_outside_is_strict_and_ignores_missing_values():
    band = bands.chunk_bands([1.0, 2.0, 3.0], sigma=1.0)
    lo, hi = band["lower"], band["upper"]
    assert not bands.outside(band, lo) and not bands.outside(band, hi) and not bands.outside(band, 2.0)
    assert bands.outside(band, hi + 1e-9) and bands.outside(band, lo - 1e-9)
    assert not bands.outside(band, None) and not bands.outside(band, float("nan"))
    assert not bands.outside(None, 5.0)
    assert bands.outside({"lower": None, "upper": 1.0}, 2.0)
    assert not bands.outside({"lower": None, "upper": 1.0}, -50.0)


def test_constant_chunk_values_make_any_change_outside():
    band = bands.chunk_bands([0.5] * 10)
    assert band["std"] == 0.0
    assert not bands.outside(band, 0.5)
    assert bands.outside(band, 0.5001)


def test_chunk_values_means_per_slice():
    per_row = np.array([1.0, 3.0, np.nan, 5.0, 7.0, np.nan])
    got = bands.chunk_values(per_row, [slice(0, 2), slice(2, 3), slice(3, 6)])
    assert got == [2.0, None, 6.0]
