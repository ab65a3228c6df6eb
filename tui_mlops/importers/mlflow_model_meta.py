"""features.json and spec.json for an imported MLflow model, read from the model itself (LightGBM's text
header, a skops estimator's fitted attributes) and its MLmodel signature, so it loads like our own."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tui_mlops.importers.mlflow_files import read_meta
from tui_mlops.importers.mlflow_models import LGB_FILE, ModelFile

FEATURES_FILE, SPEC_FILE = "artifacts/features.json", "artifacts/spec.json"
NUMERIC_TYPES = ("double", "float", "long", "integer", "boolean")
_BINARY = ("binary",)
_MULTICLASS = ("multiclass", "softmax", "multiclassova", "multiclass_ova", "ova", "ovr")
_REGRESSION = ("regression", "regression_l2", "l2", "mean_squared_error", "mse", "l2_root",
               "root_mean_squared_error", "rmse", "regression_l1", "l1", "mean_absolute_error", "mae", "huber",
               "fair", "poisson", "quantile", "mape", "mean_absolute_percentage_error", "gamma", "tweedie")
_DEFAULT_NAME = re.compile(r"Column_\d+")  # LightGBM's names for the columns of a bare array
Meta = dict[str, bytes]  # our artifact path -> the JSON to write


class _Unusable(Exception):
    """Why the model cannot be replayed (a sentence)."""


def signature(model_dir: Path | None) -> tuple[list[dict[str, Any]] | None, str]:
    """(the signature's named column inputs or None, the name of its first named output or "")."""
    if model_dir is None or not (model_dir / "MLmodel").is_file():
        return None, ""
    sig = read_meta(model_dir / "MLmodel").get("signature")
    if not isinstance(sig, dict):
        return None, ""

    def cols(key: str) -> list[dict[str, Any]]:
        try:
            found = json.loads(sig.get(key) or "[]")
        except (TypeError, ValueError):
            return []
        return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []

    inputs = cols("inputs")
    named = inputs if inputs and all(isinstance(c.get("name"), str) and c["name"] for c in inputs) else None
    target = next((c["name"] for c in cols("outputs") if isinstance(c.get("name"), str) and c["name"]), "")
    return named, target


def _check_types(names: list[str], inputs: list[dict[str, Any]] | None) -> None:
    types = {c["name"]: str(c.get("type")) for c in inputs or []}
    for n in names:
        if n in types and types[n] not in NUMERIC_TYPES:
            raise _Unusable(f"its input {n!r} is {types[n]}; only numeric inputs are replayed")


def _lightgbm(path: Path, inputs: list[dict[str, Any]] | None) -> tuple[str, list[Any] | None, list[str]]:
    """(task, classes, feature names) from a LightGBM text model."""
    head: dict[str, str] = {}
    categorical = "null"
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("Tree="):
                break
            key, sep, value = line.rstrip("\n").partition("=")
            if sep:
                head[key] = value
        for line in fh:  # pandas categories are written after the trees
            if line.startswith("pandas_categorical:"):
                categorical = line.partition(":")[2].strip()
    if categorical not in ("null", "[]", ""):
        raise _Unusable("its LightGBM model has pandas categorical features, which are not replayed")
    objective = (head.get("objective") or "").split(" ")[0]
    if objective in _BINARY:
        task, classes = "binary", [0, 1]
    elif objective in _MULTICLASS:
        k = int(head.get("num_class") or 0)
        task, classes = "multiclass", list(range(k))
    elif objective in _REGRESSION:
        task, classes = "regression", None
    else:
        raise _Unusable(f"its LightGBM objective {objective or 'custom'!r} is not binary, multiclass or regression")
    names = (head.get("feature_names") or "").split()
    if not names or len(names) != int(head.get("max_feature_idx", len(names) - 1)) + 1:
        raise _Unusable("its LightGBM model names no features")
    if inputs and len(inputs) == len(names):
        given = [c["name"] for c in inputs]
        # LightGBM writes a name's spaces as "_"; a bare array's columns as Column_<i>.
        if all(_DEFAULT_NAME.fullmatch(m) or g.replace(" ", "_") == m for g, m in zip(given, names)):
            names = given
    return task, classes, names


def sklearn_kind(est: Any, classify: bool) -> str:
    """Our closest model name for an estimator (its real class is kept in the spec's tags)."""
    base = getattr(est, "steps", None)
    name = type(base[-1][1] if base else est).__name__
    if "Forest" in name or "Trees" in name or "Tree" in name:
        return "random_forest"
    if "Boost" in name:
        return "hist_gb"
    return "logistic" if classify else "linear"


def _sklearn(data: bytes, inputs: list[dict[str, Any]] | None, what: str) -> tuple[str, list[Any] | None,
                                                                               list[str], Any]:
    """(task, classes, feature names, estimator) from a skops model (loaded with our safe loader)."""
    import numpy as np
    from sklearn.base import is_classifier, is_regressor

    from tui_mlops.training.sklearn_models import load_bytes

    est = load_bytes(data, what)
    names = getattr(est, "feature_names_in_", None)
    names = [str(n) for n in names] if names is not None else [c["name"] for c in inputs or []]
    if not names:
        raise _Unusable("its scikit-learn model was fit on a bare array and its MLmodel has no signature, "
                        "so its input columns are unknown")
    n_in = getattr(est, "n_features_in_", len(names))
    if n_in != len(names):
        raise _Unusable(f"its scikit-learn model takes {n_in} inputs but {len(names)} are named")
    if is_classifier(est):
        classes = getattr(est, "classes_", None)
        if classes is None or np.ndim(classes) != 1 or len(classes) < 2:
            raise _Unusable("its scikit-learn classifier has no single list of classes")
        if not hasattr(est, "predict_proba"):
            raise _Unusable(f"its {type(est).__name__} gives no class probabilities")
        classes = np.asarray(classes).tolist()
        return ("binary" if len(classes) == 2 else "multiclass"), classes, names, est
    if is_regressor(est):
        return "regression", None, names, est
    raise _Unusable(f"its {type(est).__name__} is neither a classifier nor a regressor")


def model_meta(model_dir: Path | None, model: ModelFile, experiment: str) -> Meta | str:
    """The two artifacts that let `load_model` replay this model, or why there are none (a sentence)."""
    from tui_mlops.training.features import FORMAT, FeaturePipeline
    from tui_mlops.training.sklearn_models import ENCODING
    from tui_mlops.training.spec import TrainSpec

    rel, src = model
    inputs, target = signature(model_dir)
    tags = {"imported_from": "mlflow"}
    try:
        if rel == LGB_FILE:
            if not isinstance(src, Path):
                raise _Unusable("its LightGBM model is not a file")
            task, classes, names = _lightgbm(src, inputs)
            kind, encoding = "lightgbm", "native"
        else:
            data = src if isinstance(src, bytes) else Path(src).read_bytes()
            task, classes, names, est = _sklearn(data, inputs, str(src) if isinstance(src, Path) else rel)
            kind = sklearn_kind(est, task != "regression")
            encoding = ENCODING[kind][0]
            tags["estimator"] = f"{type(est).__module__}.{type(est).__qualname__}"
        _check_types(names, inputs)
        if len(set(names)) != len(names):
            raise _Unusable("its input names repeat")
        pipeline = {"format": FORMAT, "target": {"name": target, "task": task, "classes": classes},
                    "inputs": names, "transforms": [], "features": [{"name": n, "kind": "numeric"} for n in names],
                    "encoding": encoding, "names": names, "unused": []}
        FeaturePipeline.from_dict(pipeline)  # the shape load_model reads back
        spec = TrainSpec(dataset="", target=target, model=kind, task=task, features=list(names),
                         experiment=experiment, tags=tags).to_dict()
        TrainSpec.from_dict(spec)
    except _Unusable as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - a model we cannot read is imported without them, not fatal
        return f"its model could not be read ({type(exc).__name__}: {exc})"
    return {FEATURES_FILE: json.dumps(pipeline, indent=1).encode(),
            SPEC_FILE: json.dumps(spec, indent=1, sort_keys=True).encode()}
