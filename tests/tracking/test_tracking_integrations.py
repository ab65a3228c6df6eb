"""The LightGBM callback and the scikit-learn helper log what a fit produced."""

from __future__ import annotations

import numpy as np
import pytest

import tui_mlops as mt
from tui_mlops.store.home import Home
from tui_mlops.tracking.query import get_run, metric_history


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + rng.normal(size=300) * 0.5 > 0).astype(int)
    return X, y


def test_lightgbm_callback_logs_every_round_with_early_stopping(home: Home, data) -> None:
    lgb = pytest.importorskip("lightgbm")
    X, y = data
    train = lgb.Dataset(X[:200], y[:200])
    valid = lgb.Dataset(X[200:], y[200:], reference=train)
    with mt.start_run("lgb", home=home) as run:
        booster = lgb.train(
            {"objective": "binary", "metric": ["auc", "binary_logloss"], "num_threads": 1, "verbose": -1,
             "learning_rate": 0.3}, train, num_boost_round=200, valid_sets=[train, valid],
            valid_names=["train", "valid"],
            callbacks=[mt.lightgbm_callback(run), lgb.early_stopping(3, verbose=False)])
    rounds = booster.current_iteration()
    d = get_run(home, run.run_id)
    assert set(d.metrics) == {"train/auc", "train/binary_logloss", "valid/auc", "valid/binary_logloss"}
    steps, values = metric_history(home, run.run_id, "valid/auc")
    # early stopping ran 3 rounds past the best one, and each of them was logged (steps 1..n)
    assert steps == [float(i) for i in range(1, rounds + 4)] and len(values) == rounds + 3
    assert values[rounds - 1] == pytest.approx(booster.best_score["valid"]["auc"])


def test_lightgbm_callback_period(home: Home, data) -> None:
    lgb = pytest.importorskip("lightgbm")
    X, y = data
    with mt.start_run("lgb", home=home) as run:
        lgb.train({"objective": "binary", "num_threads": 1, "verbose": -1}, lgb.Dataset(X, y), num_boost_round=10,
                  valid_sets=[lgb.Dataset(X, y)], valid_names=["valid"], callbacks=[mt.lightgbm_callback(run, 4)])
    assert metric_history(home, run.run_id, "valid/binary_logloss")[0] == [4.0, 8.0, 10.0]


def test_log_sklearn_final_metrics_and_staged_curves(home: Home, data) -> None:
    from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression

    X, y = data
    with mt.start_run("sk", home=home) as run:
        final = mt.log_sklearn(run, LogisticRegression().fit(X[:200], y[:200]), X[200:], y[200:])
    assert set(final) == {"valid/accuracy", "valid/f1", "valid/logloss", "valid/auc"}
    assert get_run(home, run.run_id).metrics == pytest.approx(final)
    with mt.start_run("sk", home=home) as run:
        model = GradientBoostingClassifier(n_estimators=7, random_state=0).fit(X[:200], y[:200])
        final = mt.log_sklearn(run, model, X[200:], y[200:], prefix="test")
    steps, values = metric_history(home, run.run_id, "test/logloss")
    assert steps == [float(i) for i in range(1, 8)] and values[-1] == pytest.approx(final["test/logloss"])
    with mt.start_run("sk", home=home) as run:
        reg = GradientBoostingRegressor(n_estimators=5, random_state=0).fit(X[:200], X[:200, 1])
        final = mt.log_sklearn(run, reg, X[200:], X[200:, 1])
    assert set(final) == {"valid/rmse", "valid/mae", "valid/r2"}
    assert get_run(home, run.run_id).metric_summary["valid/rmse"]["n"] == 5
