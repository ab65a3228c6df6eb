"""Exported bundles: the standalone predict.py (run where tui_mlops cannot be imported) gives the
loaded model's predictions, checks hashes before unpickling, and reports bad input by row."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import polars as pl
import pytest

from tui_mlops.errors import InputError
from tui_mlops.registry import models as R
from tui_mlops.registry.export import export_model
from tui_mlops.training.artifacts import load_model


def run_bundle(bundle, tmp_path, src, out):
    """predict.py in a fresh interpreter from the bundle folder, with `import tui_mlops` made to fail."""
    block = tmp_path / "block"
    block.mkdir(exist_ok=True)
    (block / "tui_mlops.py").write_text("raise ImportError('tui_mlops is not installed here')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "MLOPS_TUI"))}
    env["PYTHONPATH"] = str(block)
    check = subprocess.run([sys.executable, "-c", "import tui_mlops"], cwd=bundle, env=env,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode != 0 and "not installed here" in check.stderr
    return subprocess.run([sys.executable, "predict.py", str(src), str(out)], cwd=bundle, env=env,
                          capture_output=True, text=True, timeout=120)


def toy_frame(store):
    from tui_mlops.data.versions import resolve
    from tui_mlops.training.frames import load_frame

    return load_frame(store.home, resolve(store.home, store.toy))


@pytest.mark.parametrize("key,model_file", [("lgb", "model.txt"), ("logistic", "model.pkl"),
                                            ("forest", "model.pkl")])
def test_bundle_predicts_like_the_loaded_model(store, tmp_path, key, model_file):
    h = store.home
    R.register_model(h, store.runs[key], "m")
    R.set_alias(h, "m", 1, "production")
    bundle = export_model(h, "m@production", tmp_path / "bundle")
    names = sorted(p.name for p in bundle.iterdir())
    assert names == sorted(["README.md", "features.json", "manifest.json", "metrics.json", model_file,
                            "predict.py", "schema.json"])
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert (manifest["name"], manifest["version"], manifest["run"], manifest["dataset"]) == \
        ("m", 1, store.runs[key], store.toy)
    for name, entry in manifest["files"].items():
        assert hashlib.sha256((bundle / name).read_bytes()).hexdigest() == entry["sha256"], name
    assert set(manifest["files"]) == set(names) - {"manifest.json"}
    assert "tui_mlops" not in (bundle / "predict.py").read_text()
    schema = json.loads((bundle / "schema.json").read_text())
    assert {c["name"]: c["type"] for c in schema["columns"]} == {
        "x1": "DOUBLE", "x2": "BIGINT", "cat": "VARCHAR", "ts": "TIMESTAMP", "flag": "BOOLEAN", "neg": "DOUBLE"}

    proc = run_bundle(bundle, tmp_path, store.csv, tmp_path / "scored.csv")
    assert proc.returncode == 0, proc.stderr
    assert "scored 240 rows with m v1" in proc.stdout
    got = pl.read_csv(tmp_path / "scored.csv")
    model = load_model(h, store.runs[key])
    frame = toy_frame(store)
    assert got.height == frame.height
    if model.task == "regression":
        np.testing.assert_allclose(got["prediction"].to_numpy(), model.predict(frame), rtol=0, atol=1e-9)
        return
    proba = model.predict_proba(frame)
    cols = [f"proba_{c}" for c in model.classes]
    np.testing.assert_allclose(got.select(cols).to_numpy(), proba, rtol=0, atol=1e-9)
    assert got["prediction"].cast(pl.String).to_list() == [str(v) for v in model.predict(frame)]


def test_bundle_refuses_a_tampered_pickle_and_reports_bad_rows(store, tmp_path):
    h = store.home
    R.register_model(h, store.runs["forest"], "prices")
    bundle = export_model(h, "prices", tmp_path / "bundle")
    lines = store.csv.read_text().splitlines()
    cells = lines[7].split(",")
    cells[1] = "seven"
    lines[7] = ",".join(cells)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    proc = run_bundle(bundle, tmp_path, bad, tmp_path / "out.csv")
    assert proc.returncode == 2
    assert f"{bad}: column 'x2' row 7: 'seven' is not a number (trained as BIGINT)" in proc.stderr
    assert not (tmp_path / "out.csv").exists()

    marker = tmp_path / "unpickled"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (bundle / "model.pkl").write_bytes(pickle.dumps(Evil()))
    proc = run_bundle(bundle, tmp_path, store.csv, tmp_path / "out.csv")
    assert proc.returncode == 2 and "model.pkl does not match the sha256 in manifest.json" in proc.stderr
    assert not marker.exists() and not (tmp_path / "out.csv").exists()


def test_export_needs_a_new_or_empty_folder(store, tmp_path):
    h = store.home
    R.register_model(h, store.runs["lgb"], "churn")
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("x")
    with pytest.raises(InputError, match="full exists and is not an empty folder"):
        export_model(h, "churn", full)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (export_model(h, "churn@1", empty) / "model.txt").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "full", "home", "toy.csv"]
