"""Training records artifacts/evaluation.json (kind "report"): the holdout's confusion matrix
(classification) or residual summary (regression), matching what the stored model predicts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from train_helpers import of_type, train_here
from tui_mlops.training.artifacts import load_model, recorded_artifacts, verified_bytes
from tui_mlops.training.runner import evaluation, load_data


FEATURES = ["x1", "x2", "cat", "flag", "neg"]  # not the other targets of the toy data


def _evaluation(home, run_id):
    run_dir = home.runs_dir / run_id
    recorded = recorded_artifacts(run_dir)
    assert recorded["artifacts/evaluation.json"]["kind"] == "report"
    return json.loads(verified_bytes(run_dir, recorded, "artifacts/evaluation.json"))


@pytest.mark.parametrize("model, target, labels", [
    ("lightgbm", "y_bin", ["0", "1"]),
    ("logistic", "y_txt", ["neg", "pos"]),
    ("lightgbm", "y_multi", ["hi", "lo", "mid"]),
])
def test_classification_confusion_matrix(home, toy, model, target, labels):
    from sklearn.metrics import confusion_matrix

    run_id, spec, evs = train_here(home, model=model, target=target, num_boost_round=15,
                                   features=FEATURES)
    ev = _evaluation(home, run_id)
    assert ev["task"] == spec.task and ev["labels"] == labels and ev["threshold"] == 0.5
    loaded = load_model(home, run_id)
    valid = load_data(home, spec).valid
    y = loaded.pipeline.encode_target(valid).astype(int)
    scores = np.asarray(loaded.score(valid))
    predicted = (scores >= 0.5).astype(int) if spec.task == "binary" else scores.argmax(axis=1)
    expected = confusion_matrix(y, predicted, labels=list(range(len(labels)))).tolist()
    assert ev["confusion"] == expected
    rows_valid = of_type(evs, "params")[0]["params"]["rows_valid"]
    assert sum(map(sum, ev["confusion"])) == rows_valid
    # Right answers on the diagonal: this toy data is learnable.
    assert np.trace(np.array(ev["confusion"])) > rows_valid / 2


def test_regression_residuals(home, toy):
    run_id, spec, _ = train_here(home, target="y_reg", num_boost_round=20, features=FEATURES)
    ev = _evaluation(home, run_id)
    assert ev["task"] == "regression" and set(ev) == {"task", "residuals"}
    loaded = load_model(home, run_id)
    valid = load_data(home, spec).valid
    r = loaded.pipeline.encode_target(valid) - loaded.score(valid)
    want = {"mean": r.mean(), "std": r.std(), "mae": np.abs(r).mean(), "p05": np.percentile(r, 5),
            "p50": np.median(r), "p95": np.percentile(r, 95), "max_abs": np.abs(r).max()}
    assert ev["residuals"] == pytest.approx(want, rel=1e-9, abs=1e-12)
    assert ev["residuals"]["p05"] < ev["residuals"]["p50"] < ev["residuals"]["p95"]


def test_evaluation_edge_cases():
    # A binary holdout that holds one class only still gives a 2 x 2 matrix with both labels.
    ev = evaluation("binary", [1.0, 1.0, 1.0], [0.9, 0.2, 0.5], [True])
    assert ev["labels"] == ["True", "1"] and ev["confusion"] == [[0, 0], [1, 2]]
    ev = evaluation("multiclass", [0, 2, 1, 2], [[0.8, 0.1, 0.1], [0.1, 0.1, 0.8], [0.5, 0.4, 0.1],
                                                [0.2, 0.7, 0.1]], ["a", "b", "c"])
    assert ev["confusion"] == [[1, 0, 0], [1, 0, 0], [0, 1, 1]]
    ev = evaluation("regression", [3.0, 1.0], [1.0, 2.0], None)
    assert ev["residuals"]["mean"] == 0.5 and ev["residuals"]["max_abs"] == 2.0
    assert ev["residuals"]["mae"] == 1.5
