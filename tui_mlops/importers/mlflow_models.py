"""Which file of an MLflow model folder becomes a run's model artifact: LightGBM's text model as
is, a scikit-learn skops file once our loader accepts it, and a scikit-learn pickle only when the
user passed --trust-pickles (unpickling runs code), re-saved as skops so it is never unpickled again.
"""

from __future__ import annotations

import pickle
from pathlib import Path

from tui_mlops.errors import MlopsError
from tui_mlops.importers.mlflow_files import read_meta

LGB_FILE, SKOPS_FILE = "artifacts/model.txt", "artifacts/model.skops"
ModelFile = tuple[str, "Path | bytes"]  # (our artifact path, the file or the bytes to write)


def model_file(model_dir: Path | None, trust_pickles: bool) -> ModelFile | str:
    """The artifact to import for this model folder, or why there is none (a sentence)."""
    if model_dir is None or not (model_dir / "MLmodel").is_file():
        return "its model folder is not in the store"
    flavors = read_meta(model_dir / "MLmodel").get("flavors")
    if not isinstance(flavors, dict):
        return "its MLmodel names no flavor"
    if "lightgbm" in flavors:
        for name in ("model.lgb", "model.txt"):
            p = model_dir / name
            if p.is_file():
                with open(p, "rb") as fh:
                    if fh.read(4) == b"tree":
                        return LGB_FILE, p
        return "its LightGBM model is not in LightGBM's text format (pickles are not loaded)"
    if "sklearn" in flavors:
        return _sklearn(model_dir, trust_pickles)
    return f"flavor {', '.join(sorted(k for k in flavors if k != 'python_function')) or 'python_function'} " \
           f"is not one we load (LightGBM text, scikit-learn)"


def _sklearn(model_dir: Path, trust_pickles: bool) -> ModelFile | str:
    from tui_mlops.training import sklearn_models as S

    # read_meta keeps one level of nesting: the flavor's own keys are read from the file's lines.
    conf = _flavor_keys(model_dir / "MLmodel", "sklearn")
    fmt = conf.get("serialization_format", "cloudpickle")
    path = model_dir / conf.get("pickled_model", "model.pkl")
    if not path.is_file():
        return f"its scikit-learn model file {path.name} is missing"
    data = path.read_bytes()
    if fmt == "skops":
        try:
            S.load_bytes(data, str(path))  # only scikit-learn/numpy types: refused otherwise
        except (MlopsError, Exception) as exc:  # noqa: BLE001 - any skops failure means "not loadable"
            return f"its skops model cannot be loaded safely ({exc})"
        return SKOPS_FILE, path
    if not trust_pickles:
        return (f"its scikit-learn model is a {fmt} pickle, which can run code when loaded: import again with "
                f"--trust-pickles if you trust this store")
    try:
        est = pickle.loads(data)  # noqa: S301 - the user asked for it with --trust-pickles
    except Exception as exc:  # noqa: BLE001 - a pickle can fail in any way
        return f"its {fmt} pickle did not load ({type(exc).__name__}: {exc})"
    if not type(est).__module__.startswith("sklearn."):
        return f"its pickle holds a {type(est).__module__}.{type(est).__name__}, not a scikit-learn model"
    try:
        out = S.to_bytes(est)
        S.load_bytes(out, str(path))
    except Exception as exc:  # noqa: BLE001
        return f"its scikit-learn model cannot be saved as skops ({exc})"
    return SKOPS_FILE, out


def _flavor_keys(mlmodel: Path, flavor: str) -> dict[str, str]:
    """`key: value` lines directly under `flavors: <flavor>:` in an MLmodel file."""
    out: dict[str, str] = {}
    inside, indent = False, None
    for line in mlmodel.read_text(encoding="utf-8").splitlines():
        body = line.strip()
        here = len(line) - len(line.lstrip())
        if body == f"{flavor}:" and here > 0:
            inside, indent = True, None
            continue
        if inside:
            if not body:
                continue
            if indent is None:
                indent = here
            if here < indent:
                break
            if here == indent:
                key, _, value = body.partition(":")
                out[key.strip()] = value.strip().strip("'\"")
    return out
