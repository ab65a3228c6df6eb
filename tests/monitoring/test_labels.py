"""Labels joined by id with stored scores: realised metrics per batch equal holdout_metrics on the
joined rows; labels arriving in pieces accumulate; unseen and duplicate ids are reported."""

from __future__ import annotations

import polars as pl
import pytest

from monitor_helpers import batch_csv, drop, labels_csv, monitored
from tui_mlops.monitoring.batches import process_batch
from tui_mlops.monitoring.labels import _candidates, process_labels
from tui_mlops.monitoring.state import monitor_state
from tui_mlops.validation.metrics import holdout_metrics


@pytest.fixture
def two_batches(home, tmp_path):
    monitored(home, tmp_path, window_rows=10_000)
    keys = []
    for seed in (1, 2):
        r = process_batch(home, "m", drop(home, "m", f"b{seed}.csv", batch_csv(200, seed=seed)), settle_s=0.05)
        keys.append(r.key)
    return home, keys


def expected(home, key, labels_text):
    scores = pl.read_parquet(home.monitors_dir / "m" / "scores" / f"{key}.parquet")
    labels = pl.read_csv(labels_text.encode())
    joined = scores.join(labels, on="id")
    return holdout_metrics("binary", joined["y_bin"].to_numpy(), joined["score"].to_numpy()), joined.height


def test_labels_give_realised_metrics_per_batch(two_batches):
    home, (k1, k2) = two_batches
    text = labels_csv(200, seed=1, flip=0.1)
    r = process_labels(home, "m", drop(home, "m", "l1.csv", text, "labels"), settle_s=0.05)
    assert r.status == "ok" and r.problems == [] and r.batches == [k1]
    assert (r.rows, r.matched, r.unmatched, r.duplicates) == (200, 200, 0, 0)
    want, n = expected(home, k1, text)
    assert n == 200 and r.realized[k1] == pytest.approx(want, abs=1e-12)
    assert (home.monitors_dir / "m" / "processed" / "l1.csv").exists()
    state = monitor_state(home, "m")
    (w,) = state.windows
    assert w["labelled"] == 200 and w["estimated"]["accuracy"] is not None
    assert w["realized"]["accuracy"] == pytest.approx(want["accuracy"])     # exact from counts
    assert w["realized"]["auc"] == pytest.approx(want["auc"], abs=0.01)      # binned AUC


def test_labels_in_pieces_accumulate_and_span_batches(two_batches):
    home, (k1, k2) = two_batches
    first = "\n".join(labels_csv(200, seed=1).splitlines()[:101]) + "\n"          # ids of batch 1, first half
    rest = labels_csv(200, seed=1).splitlines()
    second = "\n".join([rest[0]] + rest[101:] + labels_csv(200, seed=2).splitlines()[1:]) + "\n"
    a = process_labels(home, "m", drop(home, "m", "a.csv", first, "labels"), settle_s=0.05)
    b = process_labels(home, "m", drop(home, "m", "b.csv", second, "labels"), settle_s=0.05)
    assert a.batches == [k1] and sorted(b.batches) == sorted([k1, k2])
    labelled = pl.read_parquet(home.monitors_dir / "m" / "labelled" / f"{k1}.parquet")
    assert labelled.height == 200 and labelled["id"].n_unique() == 200
    want, _ = expected(home, k1, labels_csv(200, seed=1))
    assert b.realized[k1] == pytest.approx(want, abs=1e-12)
    assert monitor_state(home, "m").windows[0]["labelled"] == 400


def test_unseen_and_duplicate_ids_are_reported_not_fatal(two_batches):
    home, (k1, _) = two_batches
    lines = labels_csv(200, seed=1).splitlines()
    text = "\n".join(lines + [lines[5], "999999999,1", "888888888,0"]) + "\n"
    r = process_labels(home, "m", drop(home, "m", "l.csv", text, "labels"), settle_s=0.05)
    assert r.status == "problems" and r.matched == 200 and r.unmatched == 2 and r.duplicates == 1
    assert any("2 id(s) were never seen in a batch ('999999999', '888888888')" in p for p in r.problems)
    assert any("1 duplicate id(s)" in p and "l.csv" in p for p in r.problems)
    assert r.realized[k1]["accuracy"] > 0


def test_unusable_labels_files_fail_with_a_reason(two_batches):
    home, _ = two_batches
    r = process_labels(home, "m", drop(home, "m", "noid.csv", "row,y_bin\n1,0\n", "labels"), settle_s=0.05)
    assert r.status == "failed" and "noid.csv: no id column 'id'" in r.problems[0]
    assert (home.monitors_dir / "m" / "failed" / "noid.csv").exists()
    r = process_labels(home, "m", drop(home, "m", "bad.csv", "id,y_bin\n100000,7\n100001,1\n", "labels"),
                       settle_s=0.05)
    assert r.status == "problems" and "1 label(s) are not classes of the model ('7')" in r.problems[0]
    assert r.matched == 1


def test_a_labels_file_reads_only_the_scores_its_ids_can_match(two_batches):
    home, (k1, k2) = two_batches
    folder = home.monitors_dir / "m"
    ids = pl.read_csv(labels_csv(200, seed=2).encode())["id"].cast(pl.String)
    assert [p.stem for p in _candidates(home, "m", folder, ids)] == [k2]
    both = pl.Series(["100005", "200005"])
    assert sorted(p.stem for p in _candidates(home, "m", folder, both)) == sorted([k1, k2])
    assert sorted(p.stem for p in _candidates(home, "m", folder, pl.Series(["x-1"]))) == sorted([k1, k2])


@pytest.mark.parametrize("task, target, features", [
    ("regression", "y_bin", ["x1", "x2", "cat", "flag", "neg"]),
    ("multiclass", "cat", ["x1", "x2", "flag", "neg"]),
])
def test_regression_and_multiclass_monitors(home, tmp_path, task, target, features):
    from monitor_helpers import trained_home
    from train_helpers import train_here
    from tui_mlops.monitoring.spec import create_monitor
    from tui_mlops.registry import models as R

    trained_home(home)
    run_id = train_here(home, target=target, task=task, features=features, num_boost_round=5,
                        early_stopping_rounds=None)[0]
    R.register_model(home, run_id, "other")
    spec = create_monitor(home, "o", "other", id_column="id", time_column="ts", window_rows=300)
    assert spec.task == task
    text = batch_csv(200, seed=1)
    r = process_batch(home, "o", drop(home, "o", "b.csv", text), settle_s=0.05)
    assert r.status == "ok", r.problems
    assert r.prediction["column"] == "prediction" and r.prediction_label is None and r.estimated is None
    batch = pl.read_csv(text.encode())
    labels = labels_csv(200, seed=1) if task == "regression" else \
        batch.select("id", pl.col("cat")).write_csv()
    lr = process_labels(home, "o", drop(home, "o", "l.csv", labels, "labels"), settle_s=0.05)
    assert lr.status == "ok" and lr.matched == 200, lr.problems
    metric = "rmse" if task == "regression" else "accuracy"
    got = monitor_state(home, "o").windows[0]["realized"][metric]
    assert got == pytest.approx(lr.realized[r.key][metric], abs=1e-9)
