"""Confidence-based performance estimation: a hand-worked case, closeness to the realised metrics on
a large same-distribution batch, a drop under a low-confidence covariate shift, and edge cases."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tui_mlops.errors import InputError
from tui_mlops.monitoring import cbpe
from tui_mlops.validation.metrics import holdout_metrics


def draw(n: int, seed: int, *, loc: float = 0.0, sd: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """True P(y=1|x) = sigmoid(2x); the model's score sigmoid(4x + 0.5) ranks well but is
    miscalibrated (over-confident and shifted), so calibration has real work to do."""
    r = np.random.default_rng(seed)
    x = r.normal(loc, sd, size=n)
    y = (r.random(n) < 1 / (1 + np.exp(-2 * x))).astype(int)
    return y, 1 / (1 + np.exp(-4 * x - 0.5))


@pytest.fixture(scope="module")
def calibration() -> dict:
    y, s = draw(20_000, 1)
    return cbpe.fit_calibration(y, s)


def test_hand_worked_expected_confusion_matrix():
    identity = {"thresholds": [0.0, 1.0], "values": [0.0, 1.0]}
    got = cbpe.estimate(identity, [0.9, 0.2])
    tp, fp, tn, fn = 0.9, 0.1, 0.8, 0.2
    assert (got["tp"], got["fp"], got["tn"], got["fn"]) == pytest.approx((tp, fp, tn, fn))
    assert got["accuracy"] == pytest.approx(0.85)
    assert got["precision"] == pytest.approx(0.9)
    assert got["recall"] == pytest.approx(0.9 / 1.1)
    assert got["f1"] == pytest.approx(1.8 / 2.1)
    # thresholds 0.9 then 0.2: (FPR, TPR) = (0, 0), (0.1/0.9, 0.9/1.1), (1, 1)
    f1, t1 = 0.1 / 0.9, 0.9 / 1.1
    assert got["auc"] == pytest.approx(f1 * t1 / 2 + (1 - f1) * (t1 + 1) / 2)
    assert got["rows"] == 2 and got["positive_rate"] == pytest.approx(0.55)


def test_calibration_is_json_monotone_and_equals_isotonic_regression(calibration):
    from sklearn.isotonic import IsotonicRegression

    again = json.loads(json.dumps(calibration, allow_nan=False))
    assert again["method"] == "isotonic" and again["rows"] == 20_000
    assert 0.4 < again["positive_rate"] < 0.6
    assert np.all(np.diff(again["values"]) >= 0) and np.all(np.diff(again["thresholds"]) >= 0)
    y, s = draw(20_000, 1)
    iso = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(s, y)
    probe = np.r_[-1.0, np.linspace(0, 1, 501), 2.0]
    assert np.allclose(cbpe.calibrate(again, probe), iso.predict(probe), atol=1e-12)


def test_estimates_match_realised_metrics_on_a_large_batch(calibration):
    y, s = draw(100_000, 2)
    est = cbpe.estimate(calibration, s)
    real = holdout_metrics("binary", y, s)
    for metric in cbpe.METRICS:
        assert est[metric] == pytest.approx(real[metric], abs=0.03), (metric, est[metric], real[metric])
    # The raw scores alone (uncalibrated) would be far off: calibration is doing the work.
    raw = cbpe.estimate({"thresholds": [0.0, 1.0], "values": [0.0, 1.0]}, s)
    assert abs(raw["accuracy"] - real["accuracy"]) > 0.05


def test_shift_to_low_confidence_region_lowers_estimated_accuracy(calibration):
    y0, s0 = draw(100_000, 3)
    y1, s1 = draw(100_000, 4, sd=0.3)   # rows crowd around the decision boundary
    before, after = cbpe.estimate(calibration, s0), cbpe.estimate(calibration, s1)
    assert after["accuracy"] < before["accuracy"] - 0.1
    assert after["auc"] < before["auc"] - 0.1
    real = holdout_metrics("binary", y1, s1)
    assert after["accuracy"] == pytest.approx(real["accuracy"], abs=0.03)
    assert after["auc"] == pytest.approx(real["auc"], abs=0.03)


def test_empty_and_missing_scores(calibration):
    empty = cbpe.estimate(calibration, [])
    assert empty["rows"] == 0 and all(empty[m] is None for m in cbpe.METRICS)
    assert cbpe.estimate(calibration, np.array([np.nan, np.nan]))["accuracy"] is None
    some = cbpe.estimate(calibration, [0.9, None, float("nan"), 0.1])
    assert some["rows"] == 2 and 0 < some["accuracy"] <= 1


def test_degenerate_batches_give_zero_not_errors():
    certain = {"thresholds": [0.0, 1.0], "values": [0.0, 0.0]}   # everything surely negative
    got = cbpe.estimate(certain, [0.7, 0.8, 0.2])
    assert got["auc"] is None                       # no expected positives: AUC undefined
    assert got["recall"] == 0.0 and got["precision"] == 0.0 and got["f1"] == 0.0
    assert got["accuracy"] == pytest.approx(1 / 3)


def test_reference_with_one_class_is_refused_with_a_clear_message():
    with pytest.raises(InputError, match=r"every reference label is 1; calibration needs both classes 0 and 1"):
        cbpe.fit_calibration([1, 1, 1], [0.2, 0.5, 0.9])
    with pytest.raises(InputError, match="every reference label is 0"):
        cbpe.fit_calibration([0, 0, None], [0.2, 0.5, 0.9])


def test_bad_reference_inputs_are_named():
    with pytest.raises(InputError, match="3 reference labels but 2 scores"):
        cbpe.fit_calibration([0, 1, 0], [0.1, 0.2])
    with pytest.raises(InputError, match="reference label 2 is not 0 or 1"):
        cbpe.fit_calibration([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(InputError, match="no rows with both a label and a score"):
        cbpe.fit_calibration([None, 1], [0.3, float("nan")])
    with pytest.raises(InputError, match="reference scores are not numbers"):
        cbpe.fit_calibration([0, 1], ["low", "high"])
