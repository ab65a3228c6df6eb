"""The training job's body, `run_train(run, spec_dict)`: load the snapshot(s), hold out validation
rows (seeded), fit the feature pipeline, train, and log metrics, the device and the artifacts."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

from tui_mlops.errors import InputError
from tui_mlops.training.spec import TrainSpec

ENV_PACKAGES = ("mlops-tui", "lightgbm", "scikit-learn", "skops", "numpy", "scipy", "polars", "pyarrow",
                "duckdb", "psutil", "nvidia-ml-py")
PRIMARY_METRIC = {"binary": "valid/auc", "multiclass": "valid/logloss", "regression": "valid/rmse"}


@dataclass
class TrainData:
    train: Any          # polars frames, rows with a null target removed
    valid: Any
    classes: list[Any] | None


def _drop_null_target(df: Any, target: str, what: str) -> Any:
    n = df.height
    df = df.filter(df[target].is_not_null())
    if df.height < n:
        print(f"{what}: left out {n - df.height} row(s) whose target {target!r} is null", flush=True)
    return df


def load_data(home: Any, spec: TrainSpec) -> TrainData:
    from tui_mlops.data.versions import resolve
    from tui_mlops.training.frames import holdout_indices, load_frame

    v = resolve(home, spec.dataset)
    df = _drop_null_target(load_frame(home, v, spec.filter), spec.target, v.ref)
    if spec.valid:
        vv = resolve(home, spec.valid)
        valid = _drop_null_target(load_frame(home, vv, spec.filter), spec.target, vv.ref)
        train = df
    else:
        classify = spec.task != "regression"
        tr, va = holdout_indices(df[spec.target].to_numpy(), spec.valid_fraction, spec.seed, classify)
        train, valid = df[tr], df[va]
    if train.height == 0 or valid.height == 0:
        raise InputError(f"{v.ref}: no rows left to train on or to validate with")
    classes = None
    if spec.task != "regression":
        import polars as pl

        both = pl.concat([train[spec.target], valid[spec.target].cast(train[spec.target].dtype)])
        classes = both.unique().sort().to_list()
    return TrainData(train, valid, classes)


def final_metrics(task: str, y: Any, pred: Any, num_class: int) -> dict[str, float]:
    """Metrics of predictions `pred` (probabilities or values) against labels `y`, by task: the
    same holdout metrics `mlops-tui validate` reports, so a run and its validation agree."""
    from tui_mlops.validation.metrics import holdout_metrics

    return holdout_metrics(task, y, pred)


def evaluation(task: str, y: Any, pred: Any, classes: list[Any] | None, threshold: float = 0.5) -> dict[str, Any]:
    """What the Compare screen shows of a run's holdout: a confusion matrix (rows = true class,
    columns = predicted; binary at `threshold`, multiclass by argmax) or a residual summary
    (residual = y - prediction)."""
    import numpy as np

    from tui_mlops.validation.metrics import confusion_matrix, residual_summary

    if task == "regression":
        return {"task": task, "residuals": residual_summary(y, pred) if len(y) else {}}
    pred = np.asarray(pred, dtype=float)
    k = max(len(classes or []), 2)
    predicted = (pred >= threshold).astype(int) if task == "binary" else pred.argmax(axis=1)
    labels = [str(c) for c in classes or ()]
    labels += [str(i) for i in range(len(labels), k)]  # a binary target seen with one class only
    # threshold is only used for binary, kept for every classification task (one shape to read)
    return {"task": task, "labels": labels, "confusion": confusion_matrix(y, predicted, k),
            "threshold": threshold}


def environment() -> dict[str, Any]:
    """Python and package versions of the process that trained the model."""
    import importlib.metadata as md
    import platform

    packages = {}
    for name in ENV_PACKAGES:
        try:
            packages[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return {"python": platform.python_version(), "implementation": platform.python_implementation(),
            "platform": platform.platform(), "machine": platform.machine(), "executable": sys.executable,
            "packages": packages}


def fit_pipeline(spec: TrainSpec, data: TrainData) -> Any:
    from tui_mlops.training.features import FeaturePipeline
    from tui_mlops.training.sklearn_models import ENCODING

    if spec.model == "lightgbm":
        encoding, impute, scale = "native", False, False
    else:
        encoding, impute, scale = ENCODING[spec.model]
    return FeaturePipeline.fit(data.train, target=spec.target, task=spec.task or "regression",
                               classes=data.classes, features=spec.features, drop=spec.drop,
                               transforms=spec.transforms, encoding=encoding, impute=impute, scale=scale)


def _train_lightgbm(run: Any, spec: TrainSpec, num_class: int, arrays: tuple, pipeline: Any) -> tuple:
    from tui_mlops.tracking.integrations import lightgbm_callback
    from tui_mlops.training import lgbm

    res = lgbm.train(run, spec, num_class, arrays, pipeline.names, pipeline.categorical_indices,
                     [lightgbm_callback(run, period=1)])
    run.log_device(res.device, res.detail)
    run.log_params({"best_iteration": res.best_iteration})
    pred = res.booster.predict(arrays[2], num_iteration=res.best_iteration)
    text = res.booster.model_to_string(num_iteration=res.best_iteration)
    # Finals at the best round: the same point as that round's live value, and the run's last.
    return pred, "model.txt", text.encode(), lgbm.importance(res.booster, pipeline.names), set(), res.best_iteration


def _train_sklearn(run: Any, spec: TrainSpec, arrays: tuple, pipeline: Any) -> tuple:
    from tui_mlops.training import sklearn_models as S
    from tui_mlops.training.lgbm import cpu_detail

    X_tr, y_tr, X_va, y_va = arrays
    est = S.build(spec.model, spec.task or "regression", spec.params, spec.seed)
    threads = est.get_params().get("n_jobs") or 1
    run.log_device("cpu", cpu_detail(threads))
    S.fit(est, X_tr, y_tr)
    from tui_mlops.tracking.integrations import log_sklearn

    # Staged curves (hist_gb) and the finals the helper knows; run_train adds the rest.
    logged = set(log_sklearn(run, est, X_va, y_va, prefix="valid"))
    pred = S.predict(est, X_va, spec.task or "regression")
    return pred, "model.skops", S.to_bytes(est), S.importance(est, pipeline.names), logged, None


def run_train(run: Any, spec_dict: dict[str, Any]) -> None:
    """Train as `spec_dict` says, logging to `run` (a tracking Run); raises on failure."""
    spec = TrainSpec.from_dict(spec_dict)
    if spec.task is None:
        raise InputError("the train spec has no task: prepare() it before starting a job")
    started = time.perf_counter()
    data = load_data(run.home, spec)
    pipeline = fit_pipeline(spec, data)
    arrays = (pipeline.transform(data.train), pipeline.encode_target(data.train),
              pipeline.transform(data.valid), pipeline.encode_target(data.valid))
    num_class = len(data.classes or [])
    run.log_params({"rows_train": data.train.height, "rows_valid": data.valid.height,
                    "n_features": len(pipeline.names)})
    print(f"training {spec.model} ({spec.task}) on {data.train.height} rows, validating on "
          f"{data.valid.height}, {len(pipeline.names)} features", flush=True)
    if spec.model == "lightgbm":
        pred, model_name, model_bytes, imp, logged, step = _train_lightgbm(run, spec, num_class, arrays, pipeline)
    else:
        pred, model_name, model_bytes, imp, logged, step = _train_sklearn(run, spec, arrays, pipeline)
    final = final_metrics(spec.task, arrays[3], pred, num_class)
    run.log_metrics({f"valid/{k}": v for k, v in final.items() if f"valid/{k}" not in logged}, step=step)
    run.log_metric("train_seconds", time.perf_counter() - started)
    run.log_artifact_bytes(model_name, model_bytes, kind="model")
    run.log_artifact_json("features.json", pipeline.to_dict(), kind="features")
    run.log_artifact_json("importance.json", imp, kind="importance")
    run.log_artifact_json("evaluation.json", evaluation(spec.task, arrays[3], pred, data.classes), kind="report")
    run.log_artifact_json("environment.json", environment(), kind="environment")
    run.log_artifact_json("spec.json", spec.to_dict(), kind="file")
    shown = ", ".join(f"{k}={v:.4g}" for k, v in final.items())
    print(f"done: {shown}", flush=True)
