"""MLflow scikit-learn models: skops ones come in as they are, pickles only with trust_pickles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tui_mlops.importers.mlflow_import import import_mlflow, our_run_id

pytest.importorskip("mlflow")

MAKE = textwrap.dedent('''
    import json, sys, mlflow, numpy as np
    from sklearn.linear_model import LogisticRegression
    mlflow.set_tracking_uri(sys.argv[1])
    X = np.random.RandomState(1).rand(40, 3); y = X[:, 0] + X[:, 1] > 1
    out = {"X": X.tolist()}
    exp = mlflow.set_experiment("sk")
    for fmt, name in (("cloudpickle", "sk-pickle"), ("skops", "sk-skops")):
        m = LogisticRegression(C=0.5 if fmt == "skops" else 2.0).fit(X, y)
        with mlflow.start_run(run_name=name) as r:
            info = mlflow.sklearn.log_model(m, name="model", serialization_format=fmt)
        mlflow.register_model(info.model_uri, name)
        out[name] = {"run": r.info.run_id, "proba": m.predict_proba(X)[:, 1].tolist()}
    print(json.dumps(out))
''')


def _load(home, run_id: str):
    from tui_mlops.training import sklearn_models as S
    from tui_mlops.training.artifacts import recorded_artifacts, verified_bytes

    run_dir = home.runs_dir / run_id
    return S.load_bytes(verified_bytes(run_dir, recorded_artifacts(run_dir), "artifacts/model.skops"), run_id)


def test_sklearn_models_skops_at_once_pickles_only_when_trusted(tmp_path: Path, home) -> None:
    from tui_mlops.registry.models import list_models, resolve_model

    uri = f"file://{tmp_path}/mlruns"
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"}
    res = subprocess.run([sys.executable, "-c", MAKE, uri], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    made = json.loads(res.stdout.strip().splitlines()[-1])
    X = np.array(made["X"])

    first = import_mlflow(home, str(tmp_path / "mlruns"))
    assert [m.name for m in list_models(home)] == ["sk-skops"]
    assert any("sk-pickle" in s and "--trust-pickles" in s for s in first.skipped), first.skipped
    assert first.unpickled == []
    skops_run = our_run_id(made["sk-skops"]["run"])
    assert resolve_model(home, "sk-skops").run_id == skops_run
    assert np.allclose(_load(home, skops_run).predict_proba(X)[:, 1], made["sk-skops"]["proba"])

    trusted = import_mlflow(home, str(tmp_path / "mlruns"), trust_pickles=True)
    assert trusted.unpickled == ["MLflow model sk-pickle v1"]
    assert trusted.added["model_versions"] == 1 and trusted.present["model_versions"] == 1
    pickle_run = our_run_id(made["sk-pickle"]["run"])
    assert resolve_model(home, "sk-pickle").artifact["path"] == "artifacts/model.skops"
    assert np.allclose(_load(home, pickle_run).predict_proba(X)[:, 1], made["sk-pickle"]["proba"])
    # The pickle itself never enters the store: only the skops file made from it.
    assert not list((home.runs_dir / pickle_run).rglob("*.pkl"))
