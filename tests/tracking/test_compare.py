"""compare_runs: params and metrics side by side with the best run per row, best steps from the
catalog's points (numbered as metric_history numbers them), importance and evaluation from
hash-checked artifacts, tasks and data checked."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

# train_helpers lives in tests/training, which is on sys.path only once pytest collects it.
_TRAINING = str(Path(__file__).resolve().parents[1] / "training")
if _TRAINING not in sys.path:
    sys.path.insert(0, _TRAINING)

from train_helpers import ingest_text, toy_csv, train_here  # noqa: E402
from tui_mlops.errors import InputError, NotFoundError  # noqa: E402
from tui_mlops.tracking.api import start_run  # noqa: E402
from tui_mlops.tracking.compare import compare_runs, deltas  # noqa: E402
from tui_mlops.tracking.query import get_run, metric_history  # noqa: E402


FEATURES = ["x1", "x2", "cat", "flag", "neg"]  # not the other targets of the toy data


def _run(home, *, params=None, curve=(), finals=None, task="binary", dataset="churn@1a2b3c4d", **kw):
    spec = {"task": task, "dataset": dataset, "model": "lightgbm"} if task else None
    with start_run("cmp", home=home, params=params, spec=spec, dataset=dataset, **kw) as run:
        for step, values in enumerate(curve, start=1):
            run.log_metrics(values, step=step)
        if finals:
            run.log_metrics(finals)
    return run.run_id


def _row(rows, key):
    return next(r for r in rows if r.key == key)


def test_one_run(home):
    rid = _run(home, params={"lr": 0.1}, finals={"valid/auc": 0.8, "valid/logloss": 0.4})
    cmp = compare_runs(home, [rid[:5]])
    assert [r.run_id for r in cmp.runs] == [rid] and cmp.task == "binary" and cmp.baseline is None
    assert cmp.datasets == ["churn@1a2b3c4d"] and cmp.warnings == []
    assert {p.key: (p.values, p.differs) for p in cmp.params} == {
        "model": (["lightgbm"], False), "lr": (["0.1"], False)}
    auc = _row(cmp.metrics, "valid/auc")
    assert (auc.values, auc.best, auc.higher_better, auc.steps) == ([0.8], 0, True, [None])
    assert _row(cmp.metrics, "valid/logloss").higher_better is False
    assert cmp.importance == {} and cmp.evaluation == [None]
    assert deltas(cmp, auc) == [None]


def test_two_runs_best_steps_and_baseline(home):
    # a: auc peaks at step 2 then falls; b: rises to the end. logloss: lower is better.
    a = _run(home, params={"lr": 0.1, "leaves": 31}, curve=[
        {"valid/auc": 0.70, "valid/logloss": 0.60}, {"valid/auc": 0.90, "valid/logloss": 0.50},
        {"valid/auc": 0.80, "valid/logloss": 0.55}])
    b = _run(home, params={"lr": 0.05, "leaves": 31}, curve=[  # ties: the first step that reached it
        {"valid/auc": 0.60, "valid/logloss": 0.70}, {"valid/auc": 0.85, "valid/logloss": 0.45},
        {"valid/auc": 0.85, "valid/logloss": 0.45}], finals={"train_seconds": 3.0})
    cmp = compare_runs(home, [a, b[:6], a[:8]], baseline=b[:4])  # prefixes; duplicate dropped
    assert [r.run_id for r in cmp.runs] == [a, b] and cmp.baseline == 1
    params = {p.key: (p.values, p.differs) for p in cmp.params}
    assert params["lr"] == (["0.1", "0.05"], True) and params["leaves"] == (["31", "31"], False)
    auc, loss = _row(cmp.metrics, "valid/auc"), _row(cmp.metrics, "valid/logloss")
    assert auc.values == [0.80, 0.85] and auc.best == 1
    assert auc.steps == [{"last": 0.80, "best": 0.90, "best_step": 2},
                         {"last": 0.85, "best": 0.85, "best_step": 2}]
    assert loss.values == [0.55, 0.45] and loss.best == 1
    assert loss.steps == [{"last": 0.55, "best": 0.50, "best_step": 2}, {"last": 0.45, "best": 0.45, "best_step": 2}]
    secs = _row(cmp.metrics, "train_seconds")
    assert secs.values == [None, 3.0] and secs.best == 1 and secs.steps == [None, None]
    assert deltas(cmp, auc) == [pytest.approx(-0.05), None]
    assert deltas(cmp, secs) == [None, None]
    cmp = compare_runs(home, [a, b], baseline=a)
    assert cmp.baseline == 0 and deltas(cmp, loss) == [None, pytest.approx(-0.10)]
    assert compare_runs(home, [a, b]).baseline is None


def test_fifty_runs_fast_and_right(home):
    ids = []
    for i in range(50):
        curve = [{"valid/auc": 0.5 + 0.001 * i + 0.01 * s - (0.05 if s > 20 - i % 10 else 0),
                  "valid/rmse": 1.0 - 0.01 * s + 0.002 * i} for s in range(30)]
        ids.append(_run(home, params={"lr": 0.01 * (i % 7), "seed": 1}, curve=curve,
                        finals={"train_seconds": 50.0 - i}))
    compare_runs(home, ids[:2])  # the process's mirror of the catalog is built once
    started = time.perf_counter()
    cmp = compare_runs(home, ids, baseline=ids[10])
    took = time.perf_counter() - started
    assert took < 1.0, f"comparing 50 runs took {took:.3f} s"
    assert len(cmp.runs) == 50 and cmp.baseline == 10
    assert _row(cmp.metrics, "train_seconds").best == 49
    assert [p.key for p in cmp.params if p.differs] == ["lr"]
    auc = _row(cmp.metrics, "valid/auc")
    want = max(range(50), key=lambda i: (auc.values[i], -i))
    assert auc.best == want
    # Best steps agree with each run's own history.
    for i in (0, 7, 33, 49):
        steps, values = metric_history(home, ids[i], "valid/auc")
        best = max(values)
        assert auc.steps[i] == {"last": values[-1], "best": best, "best_step": int(steps[values.index(best)])}
        steps, values = metric_history(home, ids[i], "valid/rmse")
        rmse = _row(cmp.metrics, "valid/rmse").steps[i]
        assert rmse["best"] == min(values) and rmse["best_step"] == int(steps[values.index(min(values))])
    # The batched details are what get_run gives for each run.
    assert cmp.runs[17] == get_run(home, ids[17])


def test_trained_runs_importance_and_evaluation(home, tmp_path):
    ingest_text(home, tmp_path, "toy", toy_csv())
    a, _, _ = train_here(home, target="y_bin", num_boost_round=15, features=FEATURES, params={"num_leaves": 7})
    b, _, _ = train_here(home, model="logistic", target="y_bin", features=FEATURES)
    cmp = compare_runs(home, [a, b])
    assert cmp.task == "binary" and cmp.warnings == []
    assert cmp.datasets[0] == cmp.datasets[1] and cmp.datasets[0].startswith("toy@")
    params = {p.key: p.values for p in cmp.params}
    assert params["model"] == ["lightgbm", "logistic"] and params["num_leaves"][0] == "7"
    assert params["target"] == ["y_bin", "y_bin"]
    names = set()
    for i, run in enumerate((a, b)):
        imp = json.loads((home.runs_dir / run / "artifacts" / "importance.json").read_text())
        names |= {f["name"] for f in imp["features"]}
        shares = [v[i] for v in cmp.importance.values()]
        assert all(s is not None and 0 <= s <= 1 for s in shares) and sum(shares) == pytest.approx(1.0)
    assert set(cmp.importance) == names  # fewer than 20 features here: all of them
    assert 0 < len(cmp.importance) <= 20
    top = list(cmp.importance)[0]
    assert sum(cmp.importance[top]) >= max(sum(v) for v in cmp.importance.values())
    for ev in cmp.evaluation:
        assert ev["labels"] == ["0", "1"] and len(ev["confusion"]) == 2
    auc = _row(cmp.metrics, "valid/auc")
    assert auc.steps[0] is not None and auc.steps[0]["best"] >= auc.values[0]
    assert auc.best == (0 if auc.values[0] >= auc.values[1] else 1)

    # A tampered artifact is left out with a warning; the comparison still stands.
    path = home.runs_dir / b / "artifacts" / "importance.json"
    path.write_text(path.read_text() + " ")
    cmp = compare_runs(home, [a, b])
    assert all(v[1] is None for v in cmp.importance.values())
    assert cmp.warnings == [f"artifact artifacts/importance.json of run {b} does not match its recorded hash; "
                            "refusing to load (left out)"]

    reg, _, _ = train_here(home, target="y_reg", num_boost_round=10, features=FEATURES)
    with pytest.raises(InputError) as err:
        compare_runs(home, [a, b, reg])
    assert str(err.value) == (f"runs on different tasks: {a[:8]} is binary, {reg[:8]} is regression; "
                              "compare runs of one task")
    assert set(compare_runs(home, [reg]).evaluation[0]["residuals"]) == {
        "mean", "std", "mae", "p05", "p50", "p95", "max_abs"}


def test_task_from_features_when_the_spec_has_none(home):
    a = _run(home, finals={"valid/rmse": 1.0}, task="regression")
    with start_run("cmp", home=home) as run:
        run.log_artifact_json("features.json", {"target": {"name": "y", "task": "binary"}}, kind="features")
    with pytest.raises(InputError, match=f"runs on different tasks: {a[:8]} is regression, "
                                         f"{run.run_id[:8]} is binary"):
        compare_runs(home, [a, run.run_id])
    plain = _run(home, finals={"loss": 1.0}, task=None, dataset=None)
    assert compare_runs(home, [a, plain]).task == "regression"
    assert compare_runs(home, [plain]).task is None


def test_different_data_warns(home):
    a = _run(home, finals={"valid/auc": 0.7})
    b = _run(home, finals={"valid/auc": 0.8}, dataset="churn@9f8e7d6c")
    c = _run(home, finals={"valid/auc": 0.9})
    cmp = compare_runs(home, [a, b, c])
    assert cmp.datasets == ["churn@1a2b3c4d", "churn@9f8e7d6c", "churn@1a2b3c4d"]
    assert cmp.warnings == ["runs used different data: churn@1a2b3c4d (2 runs), churn@9f8e7d6c (1 run)"]


def test_bad_refs(home):
    a = _run(home, finals={"valid/auc": 0.7})
    b = _run(home, finals={"valid/auc": 0.8})
    other = _run(home, finals={"valid/auc": 0.9})
    with pytest.raises(InputError, match="give at least one run to compare"):
        compare_runs(home, [])
    with pytest.raises(NotFoundError, match="no run 'ffffffff'"):
        compare_runs(home, [a, "ffffffff"])
    with pytest.raises(InputError, match="too short"):
        compare_runs(home, [a, "ab"])
    with pytest.raises(InputError) as err:
        compare_runs(home, [a, b], baseline=other)
    assert str(err.value) == f"baseline {other!r} is not one of the compared runs ({a[:8]}, {b[:8]})"


def test_points_without_steps_and_keys_differing_in_case(home):
    def check(rid, keys):
        cmp = compare_runs(home, [rid])
        for key in keys:
            steps, values = metric_history(home, rid, key)
            best = (min if key == "loss" else max)(values)
            want = {"last": values[-1], "best": best, "best_step": int(steps[values.index(best)])}
            assert _row(cmp.metrics, key).steps[0] == want, key
        return cmp

    with start_run("cmp", home=home, spec={"task": "binary"}) as run:
        for v in (0.9, 0.4, 0.4, 0.6):
            run.log_metric("loss", v)  # no step: numbered by position, as metric_history does
        run.log_metrics({"Acc": 0.5, "acc": 0.7}, step=3)  # keys differing in case only
        run.log_metrics({"Acc": 0.8, "acc": 0.6}, step=5)
        run.log_metric("acc", 0.7)  # no step: after every stepped point, so step 3 was first
    cmp = check(run.run_id, ("loss", "acc", "Acc"))
    assert [_row(cmp.metrics, k).steps[0]["best_step"] for k in ("loss", "acc", "Acc")] == [1, 3, 5]

    with start_run("cmp", home=home, spec={"task": "binary"}) as run:
        for step, v in enumerate((0.9, 0.4, 0.4, 0.6)):
            run.log_metric("loss", v, step=None if step % 2 else step)
        run.log_metrics({"acc": 0.7}, step=3)
        run.log_metrics({"acc": 0.6}, step=5)
        run.log_metric("acc", 0.7)
    cmp = check(run.run_id, ("loss", "acc"))
    assert [_row(cmp.metrics, k).steps[0]["best_step"] for k in ("loss", "acc")] == [2, 3]
