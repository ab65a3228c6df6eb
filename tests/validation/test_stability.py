"""Stability: k-fold cross-validation refitting the run's pipeline and model (LightGBM and
scikit-learn), progress and cancel, metrics per slice with the worst named, noise sensitivity."""

from __future__ import annotations

import threading

import numpy as np
import polars as pl
import pytest

from validate_helpers import TOY_ROWS, ingest_text, toy_csv, train_here
from tui_mlops.errors import InputError
from tui_mlops.store.home import Home
from tui_mlops.training.artifacts import load_model
from tui_mlops.validation.stability import (
    ValidationCancelled, _folds, cross_validate, noise_sensitivity, slice_metrics, training_rows, worst_slice,
)

LEAKS = ["y_txt", "y_multi", "y_reg", "const", "nothing"]  # other targets: leave them out of the features


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stability")
    home = Home.open(tmp / "home")
    ingest_text(home, tmp, "toy", toy_csv())
    params = {"learning_rate": 0.2, "min_data_in_leaf": 5}
    binary = train_here(home, target="y_bin", drop=[c for c in LEAKS], params=params, num_boost_round=40)
    reg = train_here(home, target="y_reg", model="linear", drop=["y_bin", "y_txt", "y_multi", "const", "nothing", "ts"])
    return home, binary, reg


def test_cross_validate_lightgbm_folds_progress_and_determinism(trained):
    home, (run_id, spec, _), _ = trained
    calls = []
    cv = cross_validate(home, spec, k=3, progress=lambda *a: calls.append(a))
    assert calls == [(0, 3, "fold 1/3"), (1, 3, "fold 2/3"), (2, 3, "fold 3/3"), (3, 3, "done")]
    assert {"auc", "logloss", "accuracy", "f1"} <= set(cv)
    auc = cv["auc"]
    assert len(auc["folds"]) == 3 and all(0.7 < f <= 1.0 for f in auc["folds"])
    assert auc["mean"] == pytest.approx(np.mean(auc["folds"]))
    assert auc["std"] == pytest.approx(np.std(auc["folds"]))
    assert cross_validate(home, spec, k=3) == cv  # seeded: the same folds and fits again
    # The round count is used as given: one round gives another fit.
    one = cross_validate(home, spec, k=3, num_boost_round=1)
    assert one["logloss"]["folds"] != cv["logloss"]["folds"]


def test_cross_validate_sklearn_regression(trained):
    home, _, (run_id, spec, _) = trained
    cv = cross_validate(home, spec, k=4)
    assert set(cv) >= {"rmse", "mae", "r2"}
    assert len(cv["rmse"]["folds"]) == 4
    assert cv["r2"]["mean"] > 0.8  # y_reg is linear in x1, x2


def test_cross_validate_cancel_and_bad_k(trained):
    home, (run_id, spec, _), _ = trained
    cancel = threading.Event()
    calls = []

    def progress(done, total, what):
        calls.append(done)
        if done == 1:
            cancel.set()  # stop after the second fold starts: the third never runs

    with pytest.raises(ValidationCancelled):
        cross_validate(home, spec, k=3, progress=progress, cancel=cancel)
    assert calls == [0, 1]
    with pytest.raises(InputError, match="at least 2 folds"):
        cross_validate(home, spec, k=1)
    with pytest.raises(InputError, match=f"needs at least 1000 rows; the run has {TOY_ROWS}"):
        cross_validate(home, spec, k=1000)


def test_training_rows_are_train_plus_valid(trained):
    home, (run_id, spec, _), _ = trained
    rows, data = training_rows(home, spec)
    assert rows.height == data.train.height + data.valid.height == TOY_ROWS


def test_folds_are_stratified():
    y = np.array([0] * 90 + [1] * 30)
    folds = _folds(y, 3, 0, True)
    assert [int(y[va].sum()) for _, va in folds] == [10, 10, 10]
    assert sorted(np.concatenate([va for _, va in folds]).tolist()) == list(range(120))
    # a class rarer than k: plain folds, still covering every row once
    y2 = np.array([0] * 20 + [1])
    folds2 = _folds(y2, 3, 0, True)
    assert sorted(np.concatenate([va for _, va in folds2]).tolist()) == list(range(21))


def test_slice_metrics_names_the_worst_slice():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300).astype(float)
    pred = np.where(y == 1, 0.9, 0.1)
    slices = np.array(["good"] * 150 + ["bad"] * 140 + ["tiny"] * 10, dtype=object)
    pred[150:290] = rng.random(140)  # the "bad" slice is scored at random
    slices[5] = None
    out = slice_metrics("binary", y, pred, slices)
    by = {s["value"]: s for s in out}
    assert [s["value"] for s in out] == ["good", "bad", "tiny", None]
    assert by["good"]["n"] == 149 and by["good"]["metrics"]["auc"] == 1.0
    assert by["bad"]["metrics"]["auc"] < 0.7
    assert by["tiny"]["metrics"] == {} and by["tiny"]["too_small"] is True
    worst = worst_slice("binary", out)
    assert worst["value"] == "bad" and worst["metric"] == "auc" and worst["n"] == 140
    # regression: the worst slice has the largest rmse
    yr = np.arange(60, dtype=float)
    pr = yr + np.r_[np.zeros(30), np.full(30, 5.0)]
    reg = slice_metrics("regression", yr, pr, pl.Series(["x"] * 30 + ["y"] * 30))
    assert worst_slice("regression", reg)["value"] == "y"
    with pytest.raises(InputError, match="slice column has 3 values for 60 rows"):
        slice_metrics("regression", yr, pr, ["a", "b", "c"])


def test_noise_sensitivity(trained):
    home, (run_id, spec, _), (reg_id, _, _) = trained
    model = load_model(home, run_id)
    frame = pl.read_parquet(next((home.root / "datasets" / "toy").glob("*.parquet")))
    none = noise_sensitivity(model, frame, scale=0.0)
    assert none["flip_share"] == 0.0 and none["mean_abs_change"] == 0.0
    small = noise_sensitivity(model, frame, scale=0.05, seed=1)
    big = noise_sensitivity(model, frame, scale=2.0, seed=1)
    assert "x1" in big["columns"] and "cat" not in big["columns"] and "flag" not in big["columns"]
    assert 0.0 <= small["flip_share"] < big["flip_share"] <= 1.0
    assert noise_sensitivity(model, frame, scale=0.05, seed=1) == small
    rmodel = load_model(home, reg_id)
    r = noise_sensitivity(rmodel, frame, scale=0.5)
    assert "flip_share" not in r and r["mean_abs_change"] > 0
