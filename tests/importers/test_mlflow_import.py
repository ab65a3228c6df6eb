"""MLflow import: stores built with the real mlflow client (both backends), then imported."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from tui_mlops.errors import InputError
from tui_mlops.importers.mlflow_import import ImportCancelled, import_mlflow, our_run_id
from tui_mlops.store.events import read_events
from tui_mlops.store.home import Home

pytest.importorskip("mlflow")

MAKE = textwrap.dedent('''
    import os, sys, json, mlflow, numpy as np, lightgbm as lgb
    uri, art, step = sys.argv[1], sys.argv[2], sys.argv[3]
    mlflow.set_tracking_uri(uri)
    c = mlflow.MlflowClient()
    ids = json.load(open(art + "/ids.json")) if step == "more" else {}
    if step == "base":
        exp = c.create_experiment("exp A", artifact_location="file://" + art)
        X = np.random.RandomState(0).rand(60, 3); y = X[:, 0] > .5
        b = lgb.train({"objective": "binary", "num_threads": 1, "verbose": -1}, lgb.Dataset(X, y), 3)
        with mlflow.start_run(experiment_id=exp, run_name="parent") as p:
            mlflow.log_params({"lr": 0.1, "leaves": 7})
            mlflow.set_tag("mlflow.note.content", "hello note")
            mlflow.set_tag("team", "risk")
            import pandas as pd
            frame = pd.DataFrame(X[:5], columns=["a", "b", "c"])
            mlflow.log_input(mlflow.data.from_pandas(frame, source="s3://bucket/train.csv", name="train-v1"),
                             context="training")
            for s in range(5):
                mlflow.log_metrics({"loss": 1.0 / (s + 1), "valid/auc": 0.5 + s / 20}, step=s)
            with open(art + "/a.txt", "w") as fh:
                fh.write("artifact\\n")
            mlflow.log_artifact(art + "/a.txt", "sub")
            info = mlflow.lightgbm.log_model(b, name="model")
            with mlflow.start_run(experiment_id=exp, run_name="child", nested=True) as ch:
                mlflow.log_metric("acc", 0.75, step=1)
        mv = mlflow.register_model(info.model_uri, "churn")
        c.set_registered_model_alias("churn", "champion", mv.version)
        try:
            with mlflow.start_run(experiment_id=exp, run_name="bad"):
                raise ValueError("boom")
        except ValueError:
            pass
        live = c.create_run(exp, run_name="live")
        c.log_metric(live.info.run_id, "loss", 0.9, step=0)
        ids = {"parent": p.info.run_id, "child": ch.info.run_id, "live": live.info.run_id, "exp": exp}
        json.dump(ids, open(art + "/ids.json", "w"))
    else:
        c.log_metric(ids["live"], "loss", 0.8, step=1)
        c.set_terminated(ids["live"], "FINISHED")
        with mlflow.start_run(experiment_id=ids["exp"], run_name="late"):
            mlflow.log_param("x", 1)
    hist = {u: {k: len(c.get_metric_history(u, k)) for k in c.get_run(u).data.metrics}
            for u in [r.info.run_id for r in c.search_runs([ids["exp"]])]}
    print(json.dumps({**ids, "hist": hist}))
''')


def _make(tmp: Path, backend: str, step: str = "base") -> dict:
    art = tmp / "artifacts"
    art.mkdir(exist_ok=True)
    uri = f"file://{tmp}/mlruns" if backend == "file" else f"sqlite:///{tmp}/mlflow.db"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_ALLOW_FILE_STORE": "true"}
    out = subprocess.run([sys.executable, "-c", MAKE, uri, str(art), step], cwd=tmp, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _source(tmp: Path, backend: str) -> str:
    return str(tmp / "mlruns") if backend == "file" else f"sqlite:///{tmp}/mlflow.db"


def _events(home, uuid: str) -> list[dict]:
    return read_events(home.runs_dir / our_run_id(uuid) / "events.jsonl")[0]


@pytest.mark.parametrize("backend", ["file", "sqlite"])
def test_import_counts_values_idempotent_incremental(tmp_path: Path, home, backend: str) -> None:
    from tui_mlops.registry.models import list_models, resolve_model
    from tui_mlops.tracking.query import get_run, metric_histories, metric_history

    src = tmp_path / "src"
    src.mkdir()
    ids = _make(src, backend)
    points = sum(sum(h.values()) for h in ids["hist"].values())
    seen: list[float] = []
    r = import_mlflow(home, _source(src, backend), progress=seen.append)
    assert seen[-1] == 1.0 and seen == sorted(seen) and len(seen) >= 2
    assert r.added == {"experiments": 1, "runs": 4, "params": 2, "metric_points": points, "artifacts": 5,
                       "model_versions": 1, "dataset_inputs": 1}, r
    assert r.skipped == ["experiment 'Default': no runs"]
    parent = get_run(home, our_run_id(ids["parent"]))
    assert parent.status == "finished" and parent.note == "hello note"
    assert parent.params["lr"] in ("0.1", 0.1)
    assert parent.tags["mlflow.inputs"].startswith("train-v1@") and parent.tags["mlflow.inputs"].endswith("(training)")
    logged = json.loads((home.runs_dir / parent.run_id / "artifacts/mlflow_inputs.json").read_text())
    assert [(d["name"], d["source"], d["context"]) for d in logged] == [("train-v1", "s3://bucket/train.csv",
                                                                          "training")]
    assert [c["name"] for c in json.loads(logged[0]["schema"])["mlflow_colspec"]] == ["a", "b", "c"]
    child = _events(home, ids["child"])
    assert child[0]["parent_run_id"] == our_run_id(ids["parent"])
    assert child[0]["tags"]["mlflow.run_id"] == ids["child"]
    steps, loss = metric_history(home, our_run_id(ids["parent"]), "loss")
    assert len(loss) == ids["hist"][ids["parent"]]["loss"]  # every point, as MLflow's history has them
    assert dict(zip(steps, loss)) == {0.0: 1.0, 1.0: 1 / 2, 2.0: 1 / 3, 3.0: 1 / 4, 4.0: 1 / 5}
    assert get_run(home, our_run_id(ids["parent"])).metrics["valid/auc"] == pytest.approx(0.7)
    hist = metric_histories(home, [our_run_id(ids["parent"])], "loss")[our_run_id(ids["parent"])]
    assert hist == (steps, loss)  # the catalog indexed the same points
    from tui_mlops.tui.screens.run_history import RunHistory

    live_view = RunHistory(home.runs_dir / our_run_id(ids["parent"]))  # what the run detail screen draws
    assert live_view.read_new() and sorted(zip(*live_view.snapshot(["loss"])["loss"])) == sorted(zip(steps, loss))
    statuses = {get_run(home, our_run_id(u)).status for u in ids["hist"]}
    assert statuses == {"finished", "failed", "running"}
    mv = resolve_model(home, "churn@champion")
    assert mv.run_id == our_run_id(ids["parent"]) and mv.artifact["path"] == "artifacts/model.txt"
    assert (home.runs_dir / mv.run_id / "artifacts/sub/a.txt").read_text() == "artifact\n"
    # Idempotent: a second import adds nothing.
    again = import_mlflow(home, _source(src, backend))
    assert again.added == dict.fromkeys(again.added, 0), again
    assert again.present["metric_points"] == points and again.present["runs"] == 4
    assert [m.versions for m in list_models(home)] == [1]
    # Incremental: the live run got a point and finished; a new run came.
    ids2 = _make(src, backend, "more")
    r3 = import_mlflow(home, _source(src, backend))
    assert r3.added["runs"] == 1 and r3.added["metric_points"] == 1 and r3.added["params"] == 1, r3
    live = get_run(home, our_run_id(ids2["live"]))
    assert live.status == "finished"
    assert import_mlflow(home, _source(src, backend)).added == dict.fromkeys(COUNTS, 0)


COUNTS = ("experiments", "runs", "params", "metric_points", "artifacts", "model_versions", "dataset_inputs")


def _no_runs(home) -> bool:
    return not home.runs_dir.exists() or not [p for p in home.runs_dir.iterdir() if p.is_dir()]


def test_corrupt_stores_name_the_file_and_import_nothing(tmp_path: Path, home) -> None:
    src = tmp_path / "src"
    src.mkdir()
    ids = _make(src, "file")
    exp_dir = src / "mlruns" / ids["exp"]
    metric = exp_dir / ids["parent"] / "metrics" / "loss"
    good = metric.read_bytes()
    metric.write_bytes(good + b"17956941")  # a truncated last line
    with pytest.raises(InputError, match=str(metric)):
        import_mlflow(home, str(src / "mlruns"))
    assert _no_runs(home)
    metric.write_bytes(good)
    stop = threading.Event()
    stop.set()  # Ctrl-C on the CLI sets it: nothing may be moved in
    with pytest.raises(ImportCancelled, match="nothing was imported"):
        import_mlflow(home, str(src / "mlruns"), cancel=stop)
    assert _no_runs(home)
    meta = exp_dir / ids["child"] / "meta.yaml"
    meta.unlink()
    with pytest.raises(InputError, match=f"{meta}: missing"):
        import_mlflow(home, str(src / "mlruns"))
    assert _no_runs(home)
    db = tmp_path / "other.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(InputError, match=f"{db}: not an MLflow database"):
        import_mlflow(home, str(db))
    assert _no_runs(home)


def test_cli_import(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
    from cli_helpers import run_cli

    src = tmp_path / "src"
    src.mkdir()
    _make(src, "sqlite")
    res = run_cli("import", "mlflow", f"sqlite:///{src}/mlflow.db", "--json", "--progress", home=tmp_path / "home")
    assert res.rc == 0, res.err
    assert res.json()["added"]["runs"] == 4
    assert "importing sqlite:///" in res.err and res.err.rstrip().endswith("100%")
    res = run_cli("runs", "list", "--json", home=tmp_path / "home")
    assert res.rc == 0 and res.json()["total"] == 4 and res.json()["best"]["loss"]["value"] == 0.2, res.err
    res = run_cli("import", "mlflow", str(src / "nope"), home=tmp_path / "home")
    assert res.rc != 0 and "no such MLflow store" in res.err


def test_sqlite_points_nan_and_odd_keys(tmp_path: Path, home) -> None:
    """SQLite's fast text path keeps NaN (is_nan) and exact values; a key it cannot carry (a tab)
    falls back to reading rows, with the same result."""
    from tui_mlops.tracking.query import metric_history

    src = tmp_path / "src"
    src.mkdir()
    ids = _make(src, "sqlite")
    con = sqlite3.connect(src / "mlflow.db")
    con.execute("UPDATE metrics SET is_nan = 1, value = 0 WHERE key = 'loss' AND step = 2 AND run_uuid = ?",
                (ids["parent"],))
    con.execute("UPDATE metrics SET value = 0.1 + 0.2 WHERE key = 'loss' AND step = 3 AND run_uuid = ?",
                (ids["parent"],))
    con.commit()
    import_mlflow(home, f"sqlite:///{src}/mlflow.db")
    steps, loss = metric_history(home, our_run_id(ids["parent"]), "loss")
    by_step = dict(zip(steps, loss))
    assert by_step[2.0] != by_step[2.0] and by_step[3.0] == 0.1 + 0.2 and by_step[4.0] == 0.2
    con.execute("UPDATE metrics SET key = 'odd' || char(9) || 'key' WHERE key = 'acc'")
    con.commit()
    con.close()
    other = Home.open(tmp_path / "other")
    import_mlflow(other, f"sqlite:///{src}/mlflow.db")
    assert metric_history(other, our_run_id(ids["child"]), "odd\tkey") == ([1.0], [0.75])
    steps2, loss2 = metric_history(other, our_run_id(ids["parent"]), "loss")
    assert steps2 == steps and [x for x in loss2 if x == x] == [x for x in loss if x == x]
