"""The Dask executor on a real LocalCluster (2 worker processes): lightgbm.dask training recorded
as a normal run, sweep trials as Dask tasks, a worker killed mid-trial, an unreachable scheduler."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from tui_mlops.errors import InputError
from tui_mlops.pipeline.dask_exec import connect, sweep_on_dask, train_on_dask
from tui_mlops.store.events import read_events
from tui_mlops.store.home import Home
from tui_mlops.training.artifacts import load_model
from tui_mlops.training.spec import TrainSpec
from tui_mlops.training.sweep import SweepSpec
from waiting import wait_for

_TRAINING = str(Path(__file__).resolve().parents[1] / "training")
if _TRAINING not in sys.path:
    sys.path.insert(0, _TRAINING)

from train_helpers import ingest_text, toy_csv  # noqa: E402

ARTIFACTS = {"model.txt", "features.json", "importance.json", "evaluation.json", "spec.json", "environment.json"}


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    c = connect("local:2")
    yield c
    c.close()


def _events(home: Home, run_id: str, name: str = "events.jsonl") -> list[dict[str, Any]]:
    path = home.runs_dir / run_id / name
    return read_events(path, 0)[0] if path.is_file() else []


def _end(home: Home, run_id: str) -> dict[str, Any] | None:
    return next((e for e in _events(home, run_id) + _events(home, run_id, "edits.jsonl")
                 if e["type"] == "run_end"), None)


def _children(home: Home, parent: str) -> list[str]:
    out = []
    for d in sorted(home.runs_dir.iterdir()):
        evs = _events(home, d.name)
        if evs and evs[0].get("parent_run_id") == parent:
            out.append(d.name)
    return out


def test_unreachable_scheduler_fails_fast_with_a_clear_error() -> None:
    started = time.monotonic()
    with pytest.raises(InputError, match=r"cannot reach the Dask scheduler tcp://127\.0\.0\.1:1: .*refused"):
        connect("tcp://127.0.0.1:1")
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("text, message", [
    ("local:zero", "local:N needs N workers"),
    ("http://host:8786", "give tcp://HOST:PORT or local:N"),
])
def test_bad_scheduler_text(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        connect(text)


def test_train_on_dask_records_a_run_that_loads_and_predicts(home: Home, tmp_path: Path, client: Any) -> None:
    v = ingest_text(home, tmp_path, "toy", toy_csv(2000))
    spec = TrainSpec(dataset="toy", target="y_bin", params={"num_threads": 1}, num_boost_round=20)
    run_id = train_on_dask(home, spec, client)
    evs = _events(home, run_id)
    start = evs[0]
    assert start["kind"] == "train" and start["tags"]["executor"] == "dask"
    assert start["dataset"] == v.ref and start["spec"]["task"] == "binary"
    assert _end(home, run_id)["status"] == "finished"
    params = {k: val for e in evs if e["type"] == "params" for k, val in e["params"].items()}
    assert params["rows_train"] + params["rows_valid"] == 2000
    assert 0.15 < params["rows_valid"] / 2000 < 0.25   # valid_fraction 0.2, drawn per partition
    assert params["dask_workers"] == 2 and params["rows_valid_scored"] == params["rows_valid"]
    arts = {e["path"].split("/", 1)[1] for e in evs if e["type"] == "artifact"}
    assert arts == ARTIFACTS
    finals = {k: val for e in evs if e["type"] == "metrics" for k, val in e["values"].items()}
    assert finals["valid/auc"] > 0.85
    features = json.loads((home.runs_dir / run_id / "artifacts" / "features.json").read_text())
    cat = next(f for f in features["features"] if f["name"] == "cat")
    assert sorted(cat["categories"]) == ["a", "b", "c", "d"]

    from tui_mlops.data.versions import resolve
    from tui_mlops.training.frames import load_frame

    model = load_model(home, run_id)
    frame = load_frame(home, resolve(home, "toy"))
    labels = model.predict(frame)
    assert set(labels.tolist()) <= {0, 1}
    accuracy = (labels == frame["y_bin"].to_numpy()).mean()
    assert accuracy > 0.8


def test_train_on_dask_multiclass_text_target_with_a_filter_and_valid_data(home: Home, tmp_path: Path,
                                                                           client: Any) -> None:
    ingest_text(home, tmp_path, "toy", toy_csv(1200))
    ingest_text(home, tmp_path, "toyv", toy_csv(300, seed=8))
    spec = TrainSpec(dataset="toy", target="y_multi", num_boost_round=15, params={"num_threads": 1},
                     filter="x2 >= 3", valid="toyv")
    run_id = train_on_dask(home, spec, client)
    params = {k: val for e in _events(home, run_id) if e["type"] == "params" for k, val in e["params"].items()}

    def kept(text: str) -> int:
        return sum(1 for line in text.splitlines()[1:] if int(line.split(",")[1]) >= 3)

    assert params["rows_train"] == kept(toy_csv(1200)) < 1200
    assert params["rows_valid"] == kept(toy_csv(300, seed=8)) < 300
    model = load_model(home, run_id)
    assert model.classes == ["hi", "lo", "mid"]
    from tui_mlops.data.versions import resolve
    from tui_mlops.training.frames import load_frame

    frame = load_frame(home, resolve(home, "toy"))
    assert model.predict_proba(frame).shape == (1200, 3)
    assert set(model.predict(frame).tolist()) <= {"hi", "lo", "mid"}


def test_train_on_dask_refuses_other_models(home: Home, tmp_path: Path, client: Any) -> None:
    ingest_text(home, tmp_path, "toy", toy_csv(100))
    with pytest.raises(InputError, match="the Dask executor trains model lightgbm only"):
        train_on_dask(home, TrainSpec(dataset="toy", target="y_bin", model="random_forest"), client)


def test_sweep_trials_run_as_dask_tasks(home: Home, tmp_path: Path, client: Any) -> None:
    ingest_text(home, tmp_path, "toy", toy_csv(600))
    base = TrainSpec(dataset="toy", target="y_bin", num_boost_round=10, params={"num_threads": 1})
    parent = sweep_on_dask(home, SweepSpec(base, {"num_leaves": [4, 15]}, method="grid"), client)
    start = _events(home, parent)[0]
    assert start["kind"] == "sweep" and _end(home, parent)["status"] == "finished"
    kids = _children(home, parent)
    assert len(kids) == 2
    assert all(_end(home, k)["status"] == "finished" for k in kids)
    pids = {_events(home, k)[0]["pid"] for k in kids}
    assert os.getpid() not in pids  # trained on the workers
    tags = {k: val for e in _events(home, parent) if e["type"] == "tags" for k, val in e["tags"].items()}
    assert tags["best_run"] in kids
    load_model(home, tags["best_run"])


def test_a_worker_killed_mid_trial_is_retried_and_its_run_marked_crashed(home: Home, tmp_path: Path,
                                                                         client: Any) -> None:
    ingest_text(home, tmp_path, "toy", toy_csv(2000))
    # Long enough (thousands of rounds) that the kill lands while the trial trains.
    base = TrainSpec(dataset="toy", target="y_reg", num_boost_round=2500, early_stopping_rounds=None,
                     params={"num_threads": 1, "learning_rate": 0.001, "num_leaves": 31})
    result: dict[str, Any] = {}

    def sweep() -> None:
        try:
            result["parent"] = sweep_on_dask(home, SweepSpec(base, {"min_data_in_leaf": [5]}, method="grid"),
                                             client)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            result["error"] = exc

    t = threading.Thread(target=sweep)
    t.start()

    def first_trial() -> dict[str, Any] | None:
        for d in home.runs_dir.iterdir():
            evs = _events(home, d.name)
            if evs and evs[0].get("parent_run_id") and evs[0]["kind"] == "train":
                return evs[0]
        return None

    victim = wait_for(first_trial, "the trial's run_start", timeout=30)
    os.kill(victim["pid"], signal.SIGKILL)
    t.join(60)
    assert not t.is_alive(), "the sweep did not finish after its worker was killed"
    if "error" in result:
        raise result["error"]
    ended = _end(home, victim["run_id"])
    if ended and ended["status"] == "finished":
        pytest.fail("the trial finished before the kill landed: make it longer")
    assert ended["status"] == "crashed" and "Dask worker" in ended["error"]
    kids = _children(home, result["parent"])
    assert len(kids) == 2  # the killed attempt and Dask's re-run
    rerun = next(k for k in kids if k != victim["run_id"])
    assert _end(home, rerun)["status"] == "finished"
    assert _events(home, rerun)[0]["pid"] != victim["pid"]
    tags = {k: val for e in _events(home, result["parent"]) if e["type"] == "tags" for k, val in e["tags"].items()}
    assert tags["best_run"] == rerun and tags["crashed_attempts"] == "1"


def test_a_pipeline_with_the_dask_executor_trains_its_train_stage_on_the_cluster(tmp_path: Path) -> None:
    from tui_mlops.pipeline.run import run_pipeline
    from tui_mlops.tracking.query import get_run

    home = Home.open(tmp_path / "home")
    root = tmp_path / "proj"
    root.mkdir()
    (root / "toy.csv").write_text(toy_csv(600))
    (root / "mlops.toml").write_text("""\
[pipeline]
name = "dasky"
executor = "dask"
scheduler = "local:2"

[stages.ingest]
kind = "ingest"
path = "toy.csv"
name = "toy"

[stages.train]
kind = "train"
dataset = "ingest"
target = "y_bin"
drop = ["y_txt", "y_multi", "y_reg", "const", "nothing", "ts"]
num_boost_round = 10
""")
    run = run_pipeline(home, root / "mlops.toml")
    assert run.status == "ok", run.message
    run_id = run.stages["train"].outputs["run"]
    detail = get_run(home, run_id)
    assert detail.tags.get("executor") == "dask" and detail.status == "finished"
    assert load_model(home, run_id).predict(ingest_frame(home)).shape[0] == 600


def ingest_frame(home: Home) -> Any:
    from tui_mlops.data.versions import resolve
    from tui_mlops.training.frames import load_frame

    return load_frame(home, resolve(home, "toy"))
