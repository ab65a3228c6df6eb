"""Artifacts load only when their bytes match the hash the run recorded, and skops models only
with scikit-learn / numpy types (no arbitrary pickle)."""

from __future__ import annotations

import fractions

import pytest

from train_helpers import train_here
from tui_mlops.errors import NotFoundError, StoreError
from tui_mlops.tracking.api import start_run
from tui_mlops.training.artifacts import load_model


def test_tampered_model_or_features_are_refused(home, toy):
    run_id, _, _ = train_here(home, target="y_bin", num_boost_round=10)
    assert load_model(home, run_id).kind == "lightgbm"
    model = home.runs_dir / run_id / "artifacts" / "model.txt"
    model.write_text(model.read_text().replace("num_leaves=", "num_leaves=1", 1))
    with pytest.raises(StoreError) as err:
        load_model(home, run_id)
    assert str(err.value) == (f"artifact artifacts/model.txt of run {run_id} does not match its recorded hash; "
                              f"refusing to load")

    run_id, _, _ = train_here(home, model="random_forest", target="y_bin", params={"n_estimators": 5})
    features = home.runs_dir / run_id / "artifacts" / "features.json"
    features.write_bytes(features.read_bytes() + b" ")
    with pytest.raises(StoreError, match="artifacts/features.json of run .* does not match its recorded hash"):
        load_model(home, run_id)
    features.unlink()
    with pytest.raises(StoreError, match="artifact artifacts/features.json of run .* is missing"):
        load_model(home, run_id)


def test_skops_with_foreign_types_is_refused(home, toy):
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    good_id, _, _ = train_here(home, model="logistic", target="y_bin")
    assert load_model(home, good_id).kind == "sklearn"
    src = home.runs_dir / good_id / "artifacts"
    evil = LogisticRegression()
    evil.extra = fractions.Fraction(1, 3)  # any non-scikit-learn type stands for arbitrary code
    with start_run("tests", home=home, kind="train") as run:
        run.log_artifact_bytes("model.skops", sio.dumps(evil), kind="model")
        run.log_artifact(src / "features.json", kind="features")
        run.log_artifact(src / "spec.json", kind="file")
    with pytest.raises(StoreError) as err:
        load_model(home, run.run_id)
    assert str(err.value) == (f"artifacts/model.skops of run {run.run_id} contains types outside "
                              f"scikit-learn/numpy (fractions.Fraction); refusing to load it")


def test_a_run_without_a_model(home):
    with start_run("tests", home=home) as run:
        run.log_metric("loss", 1.0)
    with pytest.raises(NotFoundError, match=f"run {run.run_id} has no model artifact"):
        load_model(home, run.run_id)
