"""Imported MLflow models behave like our own: validated on a dataset (with --target where the model
does not know its label), scored by `predict`, and monitored (with a reference dataset)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tui_mlops.errors import InputError
from tui_mlops.importers.mlflow_import import import_mlflow, our_run_id
from tui_mlops.store.home import Home

pytest.importorskip("mlflow")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from cli_helpers import run_cli  # noqa: E402

# A LightGBM booster whose signature names the inputs but not the output (so the target is unknown),
# and a scikit-learn forest saved as skops, fit on a DataFrame, whose signature names its output y.
MAKE = textwrap.dedent('''
    import json, sys, mlflow, numpy as np, pandas as pd, lightgbm as lgb
    from mlflow.models import infer_signature
    from sklearn.ensemble import RandomForestClassifier
    uri, csv = sys.argv[1], sys.argv[2]
    mlflow.set_tracking_uri(uri)
    rng = np.random.RandomState(5)
    X = pd.DataFrame(rng.rand(300, 4), columns=["f0", "f1", "f2", "f3"])
    y = ((X.f0 + X.f1 + rng.normal(0, 0.25, 300)) > 1).astype(int)
    X.assign(y=y).to_csv(csv, index=False)
    mlflow.set_experiment("churn")
    b = lgb.train({"objective": "binary", "num_threads": 1, "verbose": -1, "seed": 1}, lgb.Dataset(X, label=y), 15)
    with mlflow.start_run(run_name="lgb") as r1:
        info = mlflow.lightgbm.log_model(b, name="model", signature=infer_signature(X, b.predict(X)))
    mv = mlflow.register_model(info.model_uri, "churn_lgb")
    mlflow.MlflowClient().set_registered_model_alias("churn_lgb", "champion", mv.version)
    rf = RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0, n_jobs=1).fit(X, y)
    with mlflow.start_run(run_name="rf") as r2:
        info = mlflow.sklearn.log_model(rf, name="model", serialization_format="skops",
                                        skops_trusted_types=["sklearn.tree._tree.Tree"],
                                        signature=infer_signature(X, y.rename("y")))
    mlflow.register_model(info.model_uri, "churn_rf")
    print(json.dumps({"lgb": r1.info.run_id, "rf": r2.info.run_id, "p_lgb": b.predict(X).tolist(),
                      "p_rf": rf.predict_proba(X)[:, 1].tolist()}))
''')


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Home, str, dict, pl.DataFrame]:
    """(store with the CSV registered and the MLflow store imported, the dataset ref, MAKE's output, the rows)."""
    from tui_mlops.data.ingest import IngestOptions, ingest_file

    tmp = tmp_path_factory.mktemp("mlflow-validate")
    csv = tmp / "churn.csv"
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"}
    res = subprocess.run([sys.executable, "-c", MAKE, f"file://{tmp}/mlruns", str(csv)], cwd=tmp, env=env,
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-2000:]
    made = json.loads(res.stdout.strip().splitlines()[-1])
    home = Home.open(tmp / "home")
    ref = ingest_file(home, csv, IngestOptions(name="churn")).version.ref
    result = import_mlflow(home, str(tmp / "mlruns"))
    assert result.added["model_versions"] == 2 and result.skipped == ["experiment 'Default': no runs"], result
    return home, ref, made, pl.read_csv(csv)


def _sk_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn import metrics as M

    return {"auc": M.roc_auc_score(y, p), "logloss": M.log_loss(y, p),
            "accuracy": M.accuracy_score(y, (p >= 0.5).astype(int))}


def test_imported_lightgbm_records_what_load_model_needs(imported) -> None:
    home, _, made, _ = imported
    art = home.runs_dir / our_run_id(made["lgb"]) / "artifacts"
    features = json.loads((art / "features.json").read_text())
    assert features["inputs"] == ["f0", "f1", "f2", "f3"]
    assert features["target"] == {"name": "", "task": "binary", "classes": [0, 1]}
    spec = json.loads((art / "spec.json").read_text())
    assert (spec["dataset"], spec["target"], spec["model"], spec["experiment"]) == ("", "", "lightgbm", "churn")
    assert spec["tags"] == {"imported_from": "mlflow"}


def test_validate_imported_lightgbm_through_the_cli(imported) -> None:
    home, ref, made, rows = imported
    r = run_cli("validate", "churn_lgb@champion", "--data", ref, "--target", "y", "--bootstrap", "50", "--json",
                home=home.root, timeout=120)
    assert r.rc in (0, 1), r.err
    d = json.loads(r.out)
    want = _sk_metrics(rows["y"].to_numpy(), np.array(made["p_lgb"]))
    for key, value in want.items():
        assert d["holdout"][key] == pytest.approx(value, abs=1e-9), key
    assert d["rows"] == 300 and d["task"] == "binary" and d["settings"]["target"] == "y"
    assert d["cv"] is None and d["drift"] is None          # no training rows recorded
    assert d["ci"] and d["noise"] and d["calibration"]       # the rest still ran
    assert any("imported from MLflow" in w and "cross-validation" in w for w in d["warnings"]), d["warnings"]
    stored = home.runs_dir / our_run_id(made["lgb"]) / "validation" / f"{d['id']}.json"
    assert stored.is_file()


def test_validate_without_target_or_data_exits_2_naming_the_option(imported) -> None:
    home, ref, _, _ = imported
    r = run_cli("validate", "churn_lgb@champion", "--data", ref, home=home.root, timeout=120)
    assert r.rc == 2 and r.out == ""
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and "--target COL" in lines[0] and "does not record its target" in lines[0], r.err
    r = run_cli("validate", "churn_lgb@champion", home=home.root, timeout=120)
    lines = r.err.strip().splitlines()
    assert r.rc == 2 and len(lines) == 1 and "--data NAME@VER and --target COL" in lines[0], r.err


def test_predict_imported_lightgbm_matches_lightgbm(imported, tmp_path: Path) -> None:
    home, ref, made, _ = imported
    out = tmp_path / "scored.parquet"
    r = run_cli("predict", "churn_lgb@champion", ref, "--out", out, home=home.root, timeout=120)
    assert r.rc == 0, r.err
    assert "warning" not in r.err                            # no "training data is gone" for an import
    scored = pl.read_parquet(out)
    assert np.allclose(scored["score"].to_numpy(), made["p_lgb"], rtol=0, atol=1e-12)
    assert scored["prediction"].to_list() == [int(p >= 0.5) for p in made["p_lgb"]]
    bad = tmp_path / "bad.csv"
    bad.write_text("f0,f1,f2,f3\n0.1,0.2,x,0.4\n")
    r = run_cli("predict", "churn_lgb@champion", bad, "--out", tmp_path / "b.csv", home=home.root, timeout=120)
    assert r.rc == 2 and "column 'f2' row 1: 'x' is not a number" in r.err, r.err


def test_monitor_on_imported_model_needs_a_reference_then_scores_a_batch(imported) -> None:
    from tui_mlops.monitoring.batches import process_batch
    from tui_mlops.monitoring.spec import create_monitor

    home, ref, _, rows = imported
    with pytest.raises(InputError, match=r"records no training data: give a reference"):
        create_monitor(home, "imp", "churn_lgb@champion")
    spec = create_monitor(home, "imp", "churn_lgb@champion", reference=ref, window_rows=50)
    assert spec.features == ["f0", "f1", "f2", "f3"] and spec.task == "binary" and spec.target == ""
    # The label column MLflow did not record can be named, so label files can be joined.
    named = create_monitor(home, "imp", "churn_lgb@champion", reference=ref, window_rows=50, target="y",
                           replace=True)
    assert named.target == "y"
    with pytest.raises(InputError, match="empty target column name"):
        create_monitor(home, "imp2", "churn_lgb@champion", reference=ref, target=" ")
    batch = home.monitors_dir / "imp" / "incoming" / "b1.csv"
    tmp = batch.with_name(".tmp-b1.csv")
    rows.head(120).drop("y").with_columns(pl.col("f0") + 0.6).write_csv(tmp)
    tmp.rename(batch)
    r = process_batch(home, "imp", batch, settle_s=0.05)
    assert r is not None and r.status == "ok" and r.rows == 120, r
    f0 = next(c for c in r.drift["columns"] if c["column"] == "f0")
    assert f0["drifted"]                                     # the shifted input is seen against the reference


def test_skops_model_validates_through_the_api_with_its_signature_target(imported) -> None:
    from tui_mlops.validation.report import validate

    home, ref, made, rows = imported
    spec = json.loads((home.runs_dir / our_run_id(made["rf"]) / "artifacts/spec.json").read_text())
    assert (spec["model"], spec["target"], spec["task"]) == ("random_forest", "y", "binary")
    assert spec["tags"]["estimator"] == "sklearn.ensemble._forest.RandomForestClassifier"
    rep = validate(home, "churn_rf", data=ref, bootstrap=0, champion=False, store=False)
    want = _sk_metrics(rows["y"].to_numpy(), np.array(made["p_rf"]))
    for key, value in want.items():
        assert rep.holdout[key] == pytest.approx(value, abs=1e-9), key
    assert rep.cv is None and any("cross-validation" in w for w in rep.warnings)
    with pytest.raises(InputError, match=r"--target 'label': run \w+ was trained on target 'y'"):
        validate(home, "churn_rf", data=ref, target_column="label", bootstrap=0, champion=False, store=False)


def _booster_file(tmp_path: Path, objective: str, y: np.ndarray, **extra: object) -> Path:
    import lightgbm as lgb

    X = np.random.default_rng(0).random((60, 2))
    b = lgb.train({"objective": objective, "num_threads": 1, "verbose": -1, "min_data_in_leaf": 5, **extra},
                  lgb.Dataset(X, label=y), 2)
    path = tmp_path / f"{objective}.txt"
    b.save_model(path)
    return path


def test_lightgbm_objectives_map_to_tasks_and_unknown_ones_say_why(tmp_path: Path) -> None:
    from tui_mlops.importers.mlflow_model_meta import FEATURES_FILE, model_meta
    from tui_mlops.importers.mlflow_models import LGB_FILE

    (tmp_path / "MLmodel").write_text("flavors:\n  lightgbm:\n    data: model.lgb\nsignature:\n"
                                      "  inputs: '[{\"type\": \"double\", \"name\": \"a b\"}, {\"type\": \"long\", "
                                      "\"name\": \"c\"}]'\n  outputs: '[{\"type\": \"double\", \"name\": \"price\"}]'\n")
    y3 = np.arange(60) % 3
    got = model_meta(tmp_path, (LGB_FILE, _booster_file(tmp_path, "multiclass", y3, num_class=3)), "e")
    features = json.loads(got[FEATURES_FILE])
    # Column_<i> (a bare array) takes the signature's names; the output's name is the target.
    assert features["inputs"] == ["a b", "c"]
    assert features["target"] == {"name": "price", "task": "multiclass", "classes": [0, 1, 2]}
    got = model_meta(None, (LGB_FILE, _booster_file(tmp_path, "huber", y3 * 1.5)), "e")
    assert json.loads(got[FEATURES_FILE])["target"] == {"name": "", "task": "regression", "classes": None}
    assert json.loads(got[FEATURES_FILE])["inputs"] == ["Column_0", "Column_1"]
    got = model_meta(None, (LGB_FILE, _booster_file(tmp_path, "cross_entropy", y3 / 2)), "e")
    assert got == "its LightGBM objective 'cross_entropy' is not binary, multiclass or regression"


def test_sklearn_on_a_bare_array_needs_a_signature(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    from tui_mlops.importers.mlflow_model_meta import SPEC_FILE, model_meta
    from tui_mlops.importers.mlflow_models import SKOPS_FILE
    from tui_mlops.training.sklearn_models import to_bytes

    X = np.random.default_rng(1).random((30, 2))
    data = to_bytes(LinearRegression().fit(X, X[:, 0] * 2))
    assert model_meta(tmp_path, (SKOPS_FILE, data), "e") == (
        "its scikit-learn model was fit on a bare array and its MLmodel has no signature, so its input columns "
        "are unknown")
    (tmp_path / "MLmodel").write_text("signature:\n  inputs: '[{\"type\": \"double\", \"name\": \"u\"}, "
                                      "{\"type\": \"string\", \"name\": \"v\"}]'\n")
    assert model_meta(tmp_path, (SKOPS_FILE, data), "e") == "its input 'v' is string; only numeric inputs are replayed"
    (tmp_path / "MLmodel").write_text("signature:\n  inputs: '[{\"type\": \"double\", \"name\": \"u\"}, "
                                      "{\"type\": \"float\", \"name\": \"v\"}]'\n")
    spec = json.loads(model_meta(tmp_path, (SKOPS_FILE, data), "exp")[SPEC_FILE])
    assert (spec["model"], spec["task"], spec["features"], spec["experiment"]) == ("linear", "regression",
                                                                                   ["u", "v"], "exp")


async def test_v_on_an_imported_model_asks_for_labelled_data_then_validates(imported) -> None:
    """In the app (mode 4), `v` on a model without training data asks which labelled dataset (and
    label column) to use, checks the answer, then validates like any other version."""
    tui_dir = str(Path(__file__).resolve().parents[1] / "tui")
    if tui_dir not in sys.path:
        sys.path.insert(0, tui_dir)
    from textual.widgets import Input
    from tui_helpers import SIZE, notifications, settle, wait_until

    from tui_mlops.tui.app import MlopsApp
    from tui_mlops.tui.screens.models import ModelsScreen
    from tui_mlops.tui.screens.models_panes import ReportScreen
    from tui_mlops.tui.screens.run_detail_panes import TextPrompt

    home, ref, _, _ = imported
    async with MlopsApp(home, sample_data=False, watch=False).run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("4")
        screen = pilot.app.screen
        assert isinstance(screen, ModelsScreen)
        assert await wait_until(pilot, lambda: screen.loaded_count > 0, 10)
        await settle(pilot)
        await pilot.press("v")
        assert await wait_until(pilot, lambda: isinstance(pilot.app.screen, TextPrompt), 10)
        prompt = pilot.app.screen
        assert "records no training data" in prompt.title_text
        prompt.query_one(Input).value = f"{ref} nosuchcol"
        await pilot.press("enter")
        await pilot.pause()
        assert pilot.app.screen is prompt  # a wrong column keeps the prompt open, with the reason
        assert "no column 'nosuchcol'" in str(prompt.query_one("#prompt-error").render())
        prompt.query_one(Input).value = f"{ref} y"
        await pilot.press("enter")
        assert await wait_until(pilot, lambda: isinstance(pilot.app.screen, ReportScreen), 60), \
            notifications(pilot.app)
        report = screen.last_report or ""
        assert "Holdout metrics" in report and ref in report
        assert "cross-validation and train-vs-test drift are skipped" in report
