"""Export a model version as a self-contained folder: model file, feature spec, schema, metrics, a
manifest of sha256s and a standalone predict.py (numpy, polars, lightgbm / scikit-learn only)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from tui_mlops.errors import InputError, StoreError
from tui_mlops.store.home import Home, TMP_PREFIX, fsync_dir

FORMAT = 1
REQUIRES = ("numpy", "polars", "lightgbm", "scikit-learn")

README = """# {name} v{version}

Exported by mlops-tui from run `{run}` (model `{model_type}`, task `{task}`), trained on `{dataset}`.

## Score a file

    pip install {packages}
    python predict.py INPUT.csv OUTPUT.csv

INPUT may be CSV, TSV, Parquet, JSON or NDJSON and must hold the columns listed in `schema.json`
(other columns are passed through). OUTPUT (.csv or .parquet) gets the input columns plus
`prediction`{proba_note}.

## Files

- `{model_file}`: the model{pickle_note}
- `features.json`: the fitted feature pipeline that `predict.py` replays
- `schema.json`: the input columns and the types the model was trained on
- `metrics.json`: validation metrics and gate results at registration
- `manifest.json`: name, version, run, dataset lineage, and the sha256 of every file;
  `predict.py` refuses any file whose hash does not match
"""


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=1, sort_keys=True, default=str) + "\n").encode()


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    found = {}
    for name in REQUIRES:
        try:
            found[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return found


def bundle_files(home: Home, ref: str) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The bundle's files (name -> bytes, manifest.json excluded) and its manifest."""
    import pickle

    from tui_mlops.registry.models import current_user, gates_status, resolve_model
    from tui_mlops.registry.predict import training_schema
    from tui_mlops.tracking.events import resolve_run_dir
    from tui_mlops.training.artifacts import load_model, recorded_artifacts, verified_bytes

    mv = resolve_model(home, ref)
    model = load_model(home, mv.run_id)  # hash-checked, so we export what was trained
    files: dict[str, bytes] = {}
    if model.kind == "lightgbm":
        run_dir = resolve_run_dir(home, mv.run_id)
        files["model.txt"] = verified_bytes(run_dir, recorded_artifacts(run_dir), "artifacts/model.txt")
        model_file = "model.txt"
    else:
        # The estimator came from skops with only sklearn/numpy types trusted; a pickle is what a
        # deployment box can read with scikit-learn alone. predict.py checks its hash first.
        files["model.pkl"] = pickle.dumps(model.model, protocol=4)
        model_file = "model.pkl"
    pipe = model.pipeline
    files["features.json"] = _json_bytes(pipe.to_dict())
    types = training_schema(home, model.spec.dataset) or {}
    files["schema.json"] = _json_bytes({
        "columns": [{"name": c, "type": types.get(c)} for c in pipe.inputs],
        "target": pipe.target, "task": model.task, "classes": model.classes,
        "source": model.spec.dataset, "types_known": bool(types)})
    files["metrics.json"] = _json_bytes({"metrics": mv.metrics, "gates": mv.gates, "gates_status": gates_status(mv)})
    files["predict.py"] = Path(__file__).with_name("bundle_predict.py").read_bytes()
    packages = {k: v for k, v in _versions().items() if k != ("scikit-learn" if model.kind == "lightgbm" else "lightgbm")}
    classes = model.classes or []
    files["README.md"] = README.format(
        name=mv.name, version=mv.version, run=mv.run_id, model_type=mv.model_type, task=model.task,
        dataset=mv.dataset, packages=" ".join(packages) or "numpy polars",
        proba_note=("" if model.task == "regression" else
                    ", `proba_<class>` per class (" + ", ".join(map(str, classes)) + ")"
                    + (" and `score` (the probability of the second class)" if model.task == "binary" else "")),
        model_file=model_file,
        pickle_note=(" (LightGBM text format)" if model.kind == "lightgbm" else
                     " (a scikit-learn estimator pickled by mlops-tui; only unpickle it after checking its "
                     "sha256 against manifest.json, as predict.py does)")).encode()
    manifest = {
        "format": FORMAT, "name": mv.name, "version": mv.version, "ref": mv.ref, "run": mv.run_id,
        "dataset": mv.dataset, "lineage": mv.lineage, "task": model.task, "classes": model.classes,
        "model_type": mv.model_type, "kind": model.kind, "inputs": pipe.inputs, "aliases": list(mv.aliases),
        "registered": mv.created, "exported": time.time(), "exported_by": current_user(),
        "requires": packages,
        "files": {n: {"sha256": hashlib.sha256(b).hexdigest(), "size": len(b)} for n, b in sorted(files.items())},
    }
    return files, manifest


def export_model(home: Home, ref: str, dest: str | os.PathLike[str]) -> Path:
    """Write the bundle of model `ref` (NAME, NAME@ALIAS, NAME@3) to the new or empty folder `dest`."""
    dest = Path(dest).expanduser()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InputError(f"{dest} exists and is not an empty folder: export into a new folder")
    files, manifest = bundle_files(home, ref)
    files["manifest.json"] = _json_bytes(manifest)
    # Built beside dest and renamed into place: a half-written bundle never has dest's name.
    tmp = dest.with_name(f"{TMP_PREFIX}{os.getpid()}-{dest.name}")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        for name, data in files.items():
            with open(tmp / name, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        if dest.exists():
            dest.rmdir()
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    except OSError as exc:
        raise StoreError(f"cannot write the bundle to {dest}: {exc.strerror or exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest
