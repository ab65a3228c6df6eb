"""End to end through real job processes: a train job on a slice of the sample churn data, its
re-run with identical metrics, and a small sweep whose coordinator follows its trials."""

from __future__ import annotations

from pathlib import Path

import pytest

from train_helpers import ingest_text, toy_csv
from train_helpers import events, finals, of_type, run_end, wait_for
from tui_mlops.errors import InputError
from tui_mlops.training.artifacts import load_model
from tui_mlops.training.spec import TrainSpec
from tui_mlops.training.sweep import SweepSpec, parse_space, start_sweep
from tui_mlops.training.train import rerun, start_training

CHURN = Path(__file__).resolve().parents[2] / "sample_data" / "data" / "churn.csv"


@pytest.fixture
def churn(home, tmp_path):
    lines = CHURN.read_text().splitlines()[:1201]
    return ingest_text(home, tmp_path, "churn", "\n".join(lines) + "\n")


def finished(home, run_id: str, timeout: float = 60.0) -> dict:
    end = wait_for(lambda: run_end(home, run_id), f"run {run_id} to end", timeout)
    log = (home.runs_dir / run_id / "job.log").read_text()
    assert end["status"] == "finished", f"{end}\n{log[-2000:]}"
    return end


def test_train_job_end_to_end_then_rerun_gives_the_same_metrics(home, churn):
    spec = TrainSpec(dataset="churn", target="churned", drop=["customer_id"], num_boost_round=30,
                     transforms=[{"op": "date_parts", "column": "observed_at", "parts": ["month", "dayofweek"]}],
                     params={"num_threads": 1, "num_leaves": 7}, experiment="churn-exp", tags={"team": "risk"})
    run_id = start_training(home, spec)
    finished(home, run_id)
    evs = events(home, run_id)
    start = of_type(evs, "run_start")[0]
    assert start["kind"] == "train" and start["experiment"] == "churn-exp" and start["dataset"] == churn.ref
    assert start["params"]["num_leaves"] == 7 and start["params"]["model"] == "lightgbm"
    assert start["spec"]["task"] == "binary" and start["tags"] == {"team": "risk"}
    got = finals(evs)
    assert {"valid/auc", "valid/logloss", "valid/accuracy", "train/auc"} <= set(got)
    assert of_type(evs, "device")[0]["device"] == "cpu"
    loaded = load_model(home, run_id)
    assert loaded.spec.dataset == churn.ref and loaded.task == "binary"

    again = rerun(home, run_id[:5])
    finished(home, again)
    evs2 = events(home, again)
    assert of_type(evs2, "run_start")[0]["tags"] == {"team": "risk", "rerun_of": run_id}
    same = {k: v for k, v in finals(evs2).items() if k.startswith(("valid/", "train/"))}
    assert same == {k: v for k, v in got.items() if k.startswith(("valid/", "train/"))}


def test_bad_spec_fails_before_any_job_exists(home, churn):
    with pytest.raises(InputError, match="unknown target column 'churn'"):
        start_training(home, TrainSpec(dataset="churn", target="churn"))
    assert not any(home.runs_dir.iterdir())


def test_sweep_runs_trials_as_child_jobs_and_tracks_the_best(home, tmp_path):

    ingest_text(home, tmp_path, "toy", toy_csv())
    base = TrainSpec(dataset="toy", target="y_bin", drop=["const", "nothing"], num_boost_round=20,
                     params={"num_threads": 1}, name="sw")
    parent = start_sweep(home, SweepSpec(base=base, space=parse_space("num_leaves=3,7; learning_rate=0.2"),
                                         method="grid"))
    finished(home, parent, timeout=90)
    evs = events(home, parent)
    start = of_type(evs, "run_start")[0]
    assert start["kind"] == "sweep" and start["params"]["trials"] == 2
    children = [d.name for d in home.runs_dir.iterdir() if d.is_dir() and d.name != parent]
    assert len(children) == 2
    aucs = {}
    for child in children:
        cst = of_type(events(home, child), "run_start")[0]
        assert cst["parent_run_id"] == parent and cst["name"] in ("sw-001", "sw-002")
        assert run_end(home, child)["status"] == "finished"
        aucs[child] = finals(events(home, child))["valid/auc"]
    got = finals(evs)
    assert got["trials_done"] == 2.0 and got["best/valid/auc"] == max(aucs.values())
    tags = {}
    for e in of_type(evs, "tags"):
        tags.update(e["tags"])
    assert aucs[tags["best_run"]] == max(aucs.values())
    done_steps = [e["step"] for e in of_type(evs, "metrics") if "trials_done" in e["values"]]
    assert done_steps == [1, 2]  # logged as each trial finished


def test_cancelling_a_sweep_cancels_its_running_trial_and_starts_no_more(home, tmp_path):
    from tui_mlops.jobs import manager

    ingest_text(home, tmp_path, "toy", toy_csv())
    # A long trial: tiny learning rate, no early stopping, many rounds.
    base = TrainSpec(dataset="toy", target="y_reg", drop=["const", "nothing"], num_boost_round=200_000,
                     early_stopping_rounds=None, params={"num_threads": 1, "learning_rate": 1e-4,
                                                         "min_data_in_leaf": 2})
    parent = start_sweep(home, SweepSpec(base=base, space=parse_space("num_leaves=3,4,5"), method="grid",
                                         parallel=1))

    def first_trial_running():
        kids = manager.child_jobs(home, parent)
        return kids and any(e["type"] == "metrics" for e in events(home, kids[0])) and kids[0]

    trial = wait_for(first_trial_running, "the first trial to log metrics", 60)
    assert manager.cancel(home, parent) == "cancelled"
    assert wait_for(lambda: run_end(home, trial), "the trial to end", 20)["status"] == "cancelled"
    assert manager.child_jobs(home, parent) == [trial]  # the other two were never started
