"""Every model on every task it supports, trained in-process under a real tracking run with real
LightGBM / scikit-learn on tiny data: metrics, artifacts, determinism, and loading the model back
(hash-checked) to predict exactly what the run measured."""

from __future__ import annotations

import polars as pl
import pytest

from train_helpers import finals, of_type, train_here
from tui_mlops.training.artifacts import load_model
from tui_mlops.training.runner import final_metrics, load_data

FINALS = {"binary": {"auc", "logloss", "accuracy", "f1", "precision", "recall"},
          "multiclass": {"accuracy", "logloss", "f1_macro"}, "regression": {"rmse", "mae", "r2"}}
CASES = [("lightgbm", "y_bin"), ("lightgbm", "y_multi"), ("lightgbm", "y_reg"),
         ("random_forest", "y_txt"), ("random_forest", "y_multi"), ("random_forest", "y_reg"),
         ("hist_gb", "y_bin"), ("hist_gb", "y_multi"), ("hist_gb", "y_reg"),
         ("logistic", "y_bin"), ("logistic", "y_multi"), ("linear", "y_reg")]
SMALL = {"random_forest": {"n_estimators": 20}, "hist_gb": {"max_iter": 15}}


@pytest.mark.parametrize("model, target", CASES)
def test_model_trains_logs_and_loads_back(home, toy, model, target):
    run_id, spec, evs = train_here(home, model=model, target=target, num_boost_round=40,
                                   transforms=[{"op": "date_parts", "column": "ts", "parts": ["month", "hour"]}],
                                   drop=["const", "nothing"], params=SMALL.get(model, {}))
    got = finals(evs)
    valid = {k.split("/", 1)[1] for k in got if k.startswith("valid/")}
    assert FINALS[spec.task] <= valid
    assert of_type(evs, "device")[0]["device"] == "cpu"
    paths = {a["path"]: a["kind"] for a in of_type(evs, "artifact")}
    model_file = "artifacts/model.txt" if model == "lightgbm" else "artifacts/model.skops"
    assert paths == {model_file: "model", "artifacts/features.json": "features",
                     "artifacts/importance.json": "importance", "artifacts/environment.json": "environment",
                     "artifacts/spec.json": "file", "artifacts/evaluation.json": "report"}
    # The loaded model replays the stored pipeline on the same held-out rows: same metrics.
    loaded = load_model(home, run_id[:6])
    data = load_data(home, spec)
    y = loaded.pipeline.encode_target(data.valid)
    again = final_metrics(spec.task, y, loaded.score(data.valid), len(loaded.classes or []))
    for key in FINALS[spec.task]:
        assert again[key] == pytest.approx(got[f"valid/{key}"], rel=1e-9, abs=1e-12), key
    preds = loaded.predict(data.valid.head(5))
    if spec.task == "regression":
        assert preds.dtype.kind == "f"
    else:
        assert set(preds.tolist()) <= set(loaded.classes)


def test_lightgbm_streams_train_and_valid_metrics_every_round_and_stops_early(home, toy):
    run_id, spec, evs = train_here(home, target="y_bin", num_boost_round=300, early_stopping_rounds=5,
                                   params={"learning_rate": 0.3})
    rounds = [e for e in of_type(evs, "metrics") if "train/auc" in e["values"]]
    steps = [e["step"] for e in rounds]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) < 300  # stopped early
    assert {"train/auc", "train/binary_logloss", "valid/auc", "valid/binary_logloss"} <= set(rounds[0]["values"])
    params = {}
    for e in of_type(evs, "params"):
        params.update(e["params"])
    best = params["best_iteration"]
    assert len(steps) == best + 5
    got = finals(evs)
    assert got["valid/auc"] > 0.75
    # the final valid/auc is the best round's (logged at that step), not the last round's
    assert got["valid/auc"] == pytest.approx(rounds[best - 1]["values"]["valid/auc"], rel=1e-6)


def test_same_seed_same_metrics_and_model(home, toy):
    kw = dict(target="y_multi", num_boost_round=30, params={"bagging_fraction": 0.7, "bagging_freq": 1,
                                                           "feature_fraction": 0.8})
    a_id, _, a = train_here(home, **kw)
    b_id, _, b = train_here(home, **kw)
    c_id, _, c = train_here(home, seed=99, **kw)
    def metrics(evs):
        return {k: v for k, v in finals(evs).items() if k != "train_seconds"}

    assert metrics(a) == metrics(b) and "valid/logloss" in metrics(a)
    assert (home.runs_dir / a_id / "artifacts/model.txt").read_bytes() == \
        (home.runs_dir / b_id / "artifacts/model.txt").read_bytes()
    assert finals(c)["valid/logloss"] != finals(a)["valid/logloss"]  # the seed does matter
    r1 = metrics(train_here(home, model="random_forest", target="y_reg", params={"n_estimators": 10})[2])
    r2 = metrics(train_here(home, model="random_forest", target="y_reg", params={"n_estimators": 10})[2])
    assert r1 == r2 and "valid/rmse" in r1


def test_unseen_category_and_filter_at_predict_time(home, toy):
    run_id, spec, _ = train_here(home, target="y_bin", filter="x2 >= 1", num_boost_round=20)
    loaded = load_model(home, run_id)
    data = load_data(home, spec)
    assert data.train["x2"].min() >= 1 and data.valid["x2"].min() >= 1
    rows = data.valid.head(4).with_columns(pl.Series("cat", ["zzz", None, "a", "b"]))
    proba = loaded.predict_proba(rows)
    assert proba.shape == (4, 2) and ((proba >= 0) & (proba <= 1)).all()


def test_gpu_request_falls_back_to_cpu_and_says_so(home, toy):
    """Bypassing prepare's check (as if the GPU vanished between submit and start)."""
    from tui_mlops.tracking.api import start_run
    from tui_mlops.training.devices import detect
    from tui_mlops.training.runner import run_train
    from tui_mlops.training.spec import TrainSpec, prepare

    if detect().gpu_usable:
        pytest.skip("this machine has a usable GPU; the fallback path needs one without")
    spec = prepare(home, TrainSpec(dataset="toy", target="y_bin", params={"num_threads": 1}, num_boost_round=5))
    spec = spec.replace(device="gpu")
    with start_run("tests", home=home, kind="train", spec=spec.to_dict()) as run:
        run_train(run, spec.to_dict())
    from train_helpers import events

    evs = events(home, run.run_id)
    dev = of_type(evs, "device")
    assert dev[0]["device"] == "cpu" and "GPU training failed" in dev[0]["detail"]
    assert "trained on the CPU instead" in of_type(evs, "note")[0]["text"]
    assert "valid/auc" in finals(evs)
