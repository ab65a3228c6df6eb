"""TrainSpec, param parsing, task inference, and every pre-job check of prepare() with its message."""

from __future__ import annotations

import pytest

from train_helpers import ingest_text
from tui_mlops.errors import InputError, NotFoundError
from tui_mlops.training.devices import detect
from tui_mlops.training.spec import TrainSpec, infer_task, parse_params, prepare


def test_parse_params_types():
    assert parse_params(["num_leaves=31", "learning_rate=0.05", "boost_from_average=false",
                         "metric=auc,binary_logloss", " extra = none "]) == {
        "num_leaves": 31, "learning_rate": 0.05, "boost_from_average": False,
        "metric": "auc,binary_logloss", "extra": None}
    with pytest.raises(InputError, match=r"invalid param 'num_leaves': expected KEY=VALUE"):
        parse_params(["num_leaves"])


def test_spec_round_trip_and_unknown_field():
    spec = TrainSpec(dataset="d@1234", target="y", features=["a"], transforms=[{"op": "log", "column": "a"}],
                     params={"num_leaves": 7}, tags={"team": "risk"})
    assert TrainSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(InputError, match="unknown train spec field 'colour'"):
        TrainSpec.from_dict({**spec.to_dict(), "colour": 1})
    with pytest.raises(InputError, match="needs 'target'"):
        TrainSpec.from_dict({"dataset": "d"})


@pytest.mark.parametrize("dtype, distinct, task", [
    ("BIGINT", 2, "binary"), ("DOUBLE", 2, "binary"), ("BOOLEAN", 2, "binary"), ("VARCHAR", 2, "binary"),
    ("VARCHAR", 5, "multiclass"), ("BIGINT", 7, "multiclass"), ("INTEGER", 20, "multiclass"),
    ("BIGINT", 21, "regression"), ("DOUBLE", 3, "regression"), ("DECIMAL(10,2)", 50, "regression"),
])
def test_infer_task(dtype, distinct, task):
    assert infer_task(dtype, distinct) == task


def test_prepare_resolves_infers_and_fixes_threads(home, toy):
    spec = prepare(home, TrainSpec(dataset="toy", target="y_bin"))
    assert spec.dataset == toy.ref and spec.task == "binary"
    assert spec.params["num_threads"] >= 1  # fixed in the spec so a re-run uses the same
    assert prepare(home, TrainSpec(dataset=f"toy@{toy.version[:6]}", target="y_multi")).task == "multiclass"
    assert prepare(home, TrainSpec(dataset="toy", target="y_reg")).task == "regression"
    assert prepare(home, TrainSpec(dataset="toy", target="y_txt")).task == "binary"
    # the task can be set, and LightGBM aliases in params move into the spec's own fields
    spec = prepare(home, TrainSpec(dataset="toy", target="x2", task="regression",
                                   params={"n_estimators": 30, "seed": 5, "early_stopping_round": 3}))
    assert (spec.task, spec.num_boost_round, spec.seed, spec.early_stopping_rounds) == ("regression", 30, 5, 3)
    assert "n_estimators" not in spec.params


def _bad(home, **kw) -> str:
    kw.setdefault("dataset", "toy")
    kw.setdefault("target", "y_bin")
    with pytest.raises(InputError) as err:
        prepare(home, TrainSpec(**kw))
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_unknown_columns_name_the_column_and_dataset(home, toy):
    assert _bad(home, target="churn").startswith(f"unknown target column 'churn' in {toy.ref} (columns: x1, x2")
    assert f"unknown feature column 'x9' in {toy.ref}" in _bad(home, features=["x1", "x9"])
    assert f"unknown drop column 'zz' in {toy.ref}" in _bad(home, drop=["zz"])
    assert f"unknown ratio transform column 'x7' in {toy.ref}" in _bad(
        home, transforms=[{"op": "ratio", "num": "x1", "den": "x7"}])
    assert _bad(home, features=["x1", "y_bin"]) == "target 'y_bin' cannot also be a feature"


def test_target_problems(home, toy):
    assert _bad(home, target="const") == (f"target 'const' has only one class (1) in {toy.ref}: "
                                          f"a classifier needs at least two")
    assert _bad(home, target="nothing") == f"target 'nothing' is null in every row of {toy.ref}"
    assert _bad(home, target="y_multi", task="regression") == (
        f"target 'y_multi' of {toy.ref} is VARCHAR, not numeric: regression needs a numeric target "
        f"(use task binary or multiclass)")
    assert _bad(home, target="y_multi", task="binary") == (
        f"task binary needs exactly 2 classes, but target 'y_multi' has 3 in {toy.ref}; use multiclass")
    assert _bad(home, target="ts").startswith("target 'ts' of")
    assert _bad(home, target="y_bin", filter="x2 = 3 and y_bin = 1").startswith(
        "target 'y_bin' has only one class (1)")


def test_filters(home, toy):
    assert _bad(home, filter="x1 > 1000") == f"filter 'x1 > 1000' leaves no rows of {toy.ref}"
    assert "at position" in _bad(home, filter="x1 >")
    assert "unknown column" in _bad(home, filter="zz > 1")
    spec = prepare(home, TrainSpec(dataset="toy", target="y_bin", filter="x2 >= 2"))
    assert spec.filter == "x2 >= 2"


def test_unknown_params_surface_the_libraries_message(home, toy):
    assert _bad(home, params={"num_leavs": 7}) == "LightGBM rejected the params: Unknown parameter: num_leavs"
    assert _bad(home, params={"num_leaves": "many"}) == (
        'LightGBM rejected the params: Parameter num_leaves should be of type int, got "many"')
    assert _bad(home, model="random_forest", params={"n_trees": 5}).startswith(
        "scikit-learn rejected the params: Invalid parameter 'n_trees' for estimator RandomForestClassifier")
    assert _bad(home, model="hist_gb", params={"max_iter": 0}).startswith(
        "scikit-learn rejected the params: The 'max_iter' parameter of HistGradientBoostingClassifier must be")


@pytest.mark.parametrize("transform, message", [
    ({"op": "sqrt", "column": "x1"}, "bad transform 'sqrt': the operations are log, bins, date_parts, ratio"),
    ({"op": "log", "column": "cat"}, "bad transform log on 'cat': needs a numeric column, but it is VARCHAR"),
    ({"op": "date_parts", "column": "x1"}, "bad transform date_parts on 'x1': needs a date or timestamp column, "
                                           "but it is DOUBLE"),
    ({"op": "date_parts", "column": "ts", "parts": ["week"]}, "bad transform date_parts on 'ts': unknown part 'week'"),
    ({"op": "bins", "column": "x1", "bins": 1}, "bad transform bins on 'x1': bins must be an integer from 2 to 1000"),
    ({"op": "bins", "column": "x1"}, "bad transform bins on 'x1': bins must be an integer"),
    ({"op": "ratio", "num": "x1"}, "bad transform ratio: give the numerator and denominator columns"),
    ({"op": "log", "column": "y_bin"}, "bad transform log: 'y_bin' is the target"),
])
def test_bad_transforms(home, toy, transform, message):
    assert _bad(home, transforms=[transform]).startswith(message)


def test_model_task_device_and_other_fields(home, toy):
    assert _bad(home, model="xgboost").startswith("unknown model 'xgboost' (models: lightgbm, random_forest")
    assert _bad(home, task="ranking").startswith("unknown task 'ranking'")
    assert _bad(home, model="logistic", target="y_reg").startswith("model logistic is a classifier")
    assert _bad(home, model="linear").startswith("model linear is for regression; for binary use logistic")
    assert _bad(home, valid_fraction=1.5) == "valid_fraction must be between 0 and 1, not 1.5"
    assert _bad(home, num_boost_round=0) == "num_boost_round must be at least 1, not 0"
    assert _bad(home, device="gpu", model="hist_gb").startswith("device gpu works only with model lightgbm")
    assert _bad(home, params={"device_type": "cuda"}).startswith("device 'cuda' is not available")
    assert _bad(home, drop=["x1", "x2", "cat", "ts", "flag", "neg", "y_txt", "y_multi", "y_reg", "const",
                            "nothing"]) == f"no feature columns are left in {toy.ref} after the drops"


def test_gpu_request_without_a_usable_gpu_is_refused_before_the_job(home, toy):
    info = detect()
    if info.gpu_usable:
        assert prepare(home, TrainSpec(dataset="toy", target="y_bin", device="gpu")).device == "gpu"
    else:
        assert _bad(home, device="gpu") == info.message


def test_datasets_and_validation_data(home, toy, tmp_path):
    with pytest.raises(NotFoundError, match="no dataset named 'nope'"):
        prepare(home, TrainSpec(dataset="nope", target="y"))
    other = ingest_text(home, tmp_path, "other", "x1,y_bin\n0.5,1\n0.2,0\n")
    assert _bad(home, valid="other").startswith(f"validation data {other.ref} lacks column(s) 'x2'")
    spec = prepare(home, TrainSpec(dataset="toy", target="y_bin", valid="toy", features=["x1"]))
    assert spec.valid == toy.ref


def test_unknown_param_is_caught_in_a_worker_thread_too(home, toy):
    """LightGBM's native log callback is per thread: the app prepares specs in thread workers."""
    import threading

    errors: list[str] = []

    def check() -> None:
        try:
            prepare(home, TrainSpec(dataset="toy", target="y_bin", params={"num_leavez": 7}))
        except InputError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=check) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == ["LightGBM rejected the params: Unknown parameter: num_leavez"] * 2
