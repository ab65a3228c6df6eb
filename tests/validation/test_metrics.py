"""Holdout metrics, calibration curve, confusion matrix and residual summary against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as M
from sklearn.calibration import calibration_curve as sk_calibration

from tui_mlops.errors import InputError
from tui_mlops.training.runner import final_metrics
from tui_mlops.validation.metrics import (CLASSIFICATION, MULTICLASS, REGRESSION, calibration_curve,
                                          confusion_matrix, higher_is_better, holdout_metrics,
                                          residual_summary)


def binary_data(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    p = np.clip(rng.random(n) * 0.7 + y * 0.25, 0, 1)
    return y, p


def test_binary_metrics_equal_sklearn_at_the_threshold() -> None:
    y, p = binary_data()
    got = holdout_metrics("binary", y, p, threshold=0.6)
    assert tuple(got) == CLASSIFICATION
    labels = (p >= 0.6).astype(int)
    assert got["auc"] == pytest.approx(M.roc_auc_score(y, p), abs=1e-12)
    assert got["logloss"] == pytest.approx(M.log_loss(y, np.clip(p, 1e-15, 1 - 1e-15)), abs=1e-12)
    assert got["accuracy"] == pytest.approx(M.accuracy_score(y, labels))
    assert got["precision"] == pytest.approx(M.precision_score(y, labels))
    assert got["recall"] == pytest.approx(M.recall_score(y, labels))
    assert got["f1"] == pytest.approx(M.f1_score(y, labels))
    assert got["brier"] == pytest.approx(M.brier_score_loss(y, p))
    # The threshold moves the label metrics, not the ranking or probability ones.
    other = holdout_metrics("binary", y, p, threshold=0.3)
    assert other["recall"] > got["recall"] and other["auc"] == got["auc"] and other["logloss"] == got["logloss"]


def test_binary_metrics_agree_with_what_training_recorded() -> None:
    y, p = binary_data(seed=3)
    p[:3] = [0.0, 1.0, 1.0]   # exact 0 and 1: both clip the same way
    ours, trained = holdout_metrics("binary", y, p), final_metrics("binary", y, p, 2)
    for key in trained:
        assert ours[key] == pytest.approx(trained[key], abs=1e-12), key


def test_binary_with_one_class_has_no_auc() -> None:
    got = holdout_metrics("binary", np.ones(5), [0.9, 0.8, 0.2, 0.6, 0.7])
    assert "auc" not in got
    assert got["recall"] == pytest.approx(0.8) and got["precision"] == 1.0


def test_multiclass_metrics() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    proba = rng.dirichlet([1, 1, 1], 300)
    proba[np.arange(300), y] += 0.5
    proba /= proba.sum(axis=1, keepdims=True)
    got = holdout_metrics("multiclass", y.astype(float), proba)
    assert tuple(got) == MULTICLASS
    labels = proba.argmax(axis=1)
    assert got["logloss"] == pytest.approx(M.log_loss(y, proba, labels=[0, 1, 2]), abs=1e-12)
    assert got["accuracy"] == pytest.approx(M.accuracy_score(y, labels))
    assert got["f1_macro"] == pytest.approx(M.f1_score(y, labels, average="macro"))
    assert got == pytest.approx(final_metrics("multiclass", y, proba, 3))


def test_regression_metrics_and_mape_only_without_zero_labels() -> None:
    rng = np.random.default_rng(2)
    y = rng.normal(10, 3, 200)
    pred = y + rng.normal(0, 1, 200)
    got = holdout_metrics("regression", y, pred)
    assert tuple(got) == REGRESSION
    assert got["rmse"] == pytest.approx(np.sqrt(M.mean_squared_error(y, pred)))
    assert got["mae"] == pytest.approx(M.mean_absolute_error(y, pred))
    assert got["r2"] == pytest.approx(M.r2_score(y, pred))
    assert got["mape"] == pytest.approx(M.mean_absolute_percentage_error(y, pred))
    y[7] = 0.0
    assert "mape" not in holdout_metrics("regression", y, pred)


def test_calibration_curve_matches_sklearn_bins() -> None:
    y, p = binary_data(n=1000, seed=4)
    p[:2] = [0.0, 1.0]
    curve = calibration_curve(y, p, bins=8)
    frac, mean = sk_calibration(y, p, n_bins=8)
    assert [c["frac_pos"] for c in curve] == pytest.approx(list(frac))
    assert [c["mean_pred"] for c in curve] == pytest.approx(list(mean))
    assert sum(c["n"] for c in curve) == 1000
    assert curve[0]["bin_lo"] == 0.0 and curve[-1]["bin_hi"] == 1.0
    assert all(c["bin_lo"] <= c["mean_pred"] <= c["bin_hi"] for c in curve)
    # Empty bins are left out.
    assert [c["bin_lo"] for c in calibration_curve([0, 1], [0.05, 0.95], bins=10)] == [0.0, pytest.approx(0.9)]
    with pytest.raises(InputError, match="calibration bins must be at least 1"):
        calibration_curve(y, p, bins=0)


def test_confusion_matrix_rows_are_true_classes() -> None:
    assert confusion_matrix([0, 0, 1, 2, 2], [0, 1, 1, 2, 0], 3) == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
    assert confusion_matrix([0, 0], [0, 0], 2) == [[2, 0], [0, 0]]
    with pytest.raises(InputError, match=r"row 1: predicted label 3 is outside 0..2"):
        confusion_matrix([0, 1], [0, 3], 3)


def test_residual_summary() -> None:
    y = np.arange(1, 101, dtype=float)
    pred = y - np.linspace(-1, 1, 100)     # residuals -1 .. 1
    r = residual_summary(y, pred)
    assert r["mean"] == pytest.approx(0.0, abs=1e-12) and r["p50"] == pytest.approx(0.0, abs=1e-12)
    assert r["max_abs"] == pytest.approx(1.0) and r["p05"] == pytest.approx(-0.9, abs=0.01)
    assert r["p95"] == pytest.approx(0.9, abs=0.01) and r["mae"] == pytest.approx(np.abs(y - pred).mean())
    assert r["std"] == pytest.approx(np.std(y - pred))


def test_higher_is_better() -> None:
    for m in ("auc", "accuracy", "precision", "recall", "f1", "f1_macro", "r2", "valid/auc"):
        assert higher_is_better(m), m
    for m in ("logloss", "brier", "rmse", "mae", "mape", "valid/rmse", "train_loss"):
        assert not higher_is_better(m), m


@pytest.mark.parametrize("task,y,pred,message", [
    ("binary", [0, 1, 1], [0.2, 0.4], "3 labels but 2 predictions"),
    ("binary", [], [], "no rows to evaluate"),
    ("binary", [0, 2, 1], [0.2, 0.4, 0.5], "row 1: binary label 2 is not 0 or 1"),
    ("binary", [0, 1, 1], [0.2, 1.4, 0.5], r"row 1: probability 1.4 is outside \[0, 1\]"),
    ("binary", [0, 1, 1], [0.2, np.nan, 0.5], "row 1: prediction is not a finite number"),
    ("regression", [1.0, np.nan], [1.0, 2.0], "row 1: label nan is not a finite number"),
    ("multiclass", [0, 1], [0.2, 0.4], r"multiclass predictions must be an \(n, k\) probability matrix"),
    ("multiclass", [0, 3], [[0.5, 0.5], [0.1, 0.9]], "row 1: class label 3 is not an integer in 0..1"),
    ("ranking", [0, 1], [0.2, 0.4], "unknown task 'ranking'"),
])
def test_bad_input_is_named(task: str, y: list, pred: list, message: str) -> None:
    with pytest.raises(InputError, match=message):
        holdout_metrics(task, y, pred)
