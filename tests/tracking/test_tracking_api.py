"""The tracking API: what a run writes, how it ends, buffering, threads, artifacts and edits."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import tui_mlops as mt
from tui_mlops.errors import InputError, NotFoundError
from tui_mlops.store.events import read_events
from tui_mlops.store.home import Home
from tui_mlops.tracking import api
from tui_mlops.tracking.query import get_run, metric_history


def events_of(run) -> list[dict]:
    return read_events(run.dir / "events.jsonl")[0]


def test_round_trip_params_metrics_tags_note_artifacts(home: Home, tmp_path: Path) -> None:
    src = tmp_path / "model.txt"
    src.write_bytes(b"tree\n" * 1000)
    with mt.start_run("exp", name="first", params={"num_leaves": 31, "lr": 0.1, "boost": "gbdt", "det": True},
                      tags={"team": "risk"}, home=home, dataset="churn@abc", model="lightgbm",
                      spec={"target": "y"}) as run:
        for i in range(5):
            run.log_metric("train/loss", 1.0 / (i + 1), step=i)
        run.log_metrics({"valid/auc": 0.9, "valid/logloss": 0.3}, step=4)
        run.log_param("extra", 7)
        run.set_tags({"owner": "ann"})
        run.note("baseline")
        run.log_system({"cpu_percent": 12.5, "gpu_util": None})
        run.log_device("cpu", "lightgbm cpu")
        rel = run.log_artifact(src, kind="model")
        rel_json = run.log_artifact_json("importance.json", {"a": 1.5}, kind="importance")
    assert rel == "artifacts/model.txt" and (run.dir / rel).read_bytes() == src.read_bytes()
    d = get_run(home, run.run_id)
    assert (d.status, d.experiment, d.name, d.kind, d.dataset, d.model) == (
        "finished", "exp", "first", "script", "churn@abc", "lightgbm")
    assert d.params == {"num_leaves": "31", "lr": "0.1", "boost": "gbdt", "det": "true", "extra": "7"}
    assert d.tags == {"team": "risk", "owner": "ann"} and d.note == "baseline" and d.spec == {"target": "y"}
    assert d.metrics == {"train/loss": 0.2, "valid/auc": 0.9, "valid/logloss": 0.3}
    assert d.metric_summary["train/loss"] == {"last": 0.2, "min": 0.2, "max": 1.0, "last_step": 4, "n": 5}
    assert d.metric_summary["system/cpu_percent"]["last"] == 12.5
    assert (d.device, d.device_detail, d.pid, d.error) == ("cpu", "lightgbm cpu", os.getpid(), None)
    assert d.start_ts is not None and d.end_ts is not None and d.end_ts >= d.start_ts
    arts = {a["path"]: a for a in d.artifacts}
    assert arts[rel] == {"path": rel, "sha256": hashlib.sha256(src.read_bytes()).hexdigest(),
                         "size": 5000, "kind": "model"}
    assert json.loads((run.dir / rel_json).read_text()) == {"a": 1.5}
    assert metric_history(home, run.run_id, "train/loss") == ([0.0, 1.0, 2.0, 3.0, 4.0],
                                                               [1.0, 0.5, 1 / 3, 0.25, 0.2])


def test_run_start_records_process_and_seq_numbers_events(home: Home) -> None:
    import psutil

    with mt.start_run(home=home) as run:
        run.log_metric("x", 1)
    evs = events_of(run)
    start = evs[0]
    assert start["type"] == "run_start" and start["pid"] == os.getpid()
    assert start["pid_started"] == psutil.Process().create_time() and start["host"]
    assert set(start) == {"seq", "ts", "type", "run_id", "experiment", "name", "kind", "parent_run_id", "params",
                          "tags", "spec", "dataset", "model", "pid", "pid_started", "host"}
    assert [e["seq"] for e in evs] == [1, 2, 3] and evs[-1] == {**evs[-1], "type": "run_end", "status": "finished",
                                                                "error": None}


def test_exception_fails_the_run_with_one_line_and_is_reraised(home: Home) -> None:
    with pytest.raises(ValueError, match="bad"):
        with mt.start_run(home=home) as run:
            raise ValueError("bad value\nsecond line")
    d = get_run(home, run.run_id)
    assert d.status == "failed" and d.error == "ValueError: bad value second line"


def test_keyboard_interrupt_cancels(home: Home) -> None:
    with pytest.raises(KeyboardInterrupt):
        with mt.start_run(home=home) as run:
            raise KeyboardInterrupt
    assert get_run(home, run.run_id).status == "cancelled"


def test_end_is_final_and_validated(home: Home) -> None:
    run = mt.start_run(home=home)
    with pytest.raises(InputError, match="invalid end status"):
        run.end("done")
    run.end("failed", "boom")
    run.end("finished")  # ignored: the first end wins
    with pytest.raises(InputError, match="has ended"):
        run.log_metric("x", 1)
    d = get_run(home, run.run_id)
    assert (d.status, d.error) == ("failed", "boom")
    assert sum(e["type"] == "run_end" for e in events_of(run)) == 1


def test_bad_input_is_refused_with_a_message(home: Home, tmp_path: Path) -> None:
    with mt.start_run(home=home) as run:
        with pytest.raises(InputError, match="metric 'x': value 'abc' is not a number"):
            run.log_metric("x", "abc")
        with pytest.raises(InputError, match="invalid run status"):
            run.set_status("paused")
        with pytest.raises(InputError, match="not a file"):
            run.log_artifact(tmp_path / "missing.txt")
        with pytest.raises(InputError, match="invalid artifact name"):
            run.log_artifact_bytes("../escape.txt", b"x")
        with pytest.raises(InputError, match="invalid artifact kind"):
            run.log_artifact_bytes("a.txt", b"x", kind="pickle")
    with pytest.raises(InputError, match="invalid run kind"):
        mt.start_run(home=home, kind="notebook")
    with pytest.raises(InputError, match="already exists"):
        mt.start_run(home=home, run_id=run.run_id)


def test_events_are_buffered_then_written_in_batches(home: Home) -> None:
    run = mt.start_run(home=home)
    assert len(events_of(run)) == 1  # run_start is written at once, so the app sees the run
    api._FLUSHER.discard(run)  # only the size and age triggers here, not the background flusher
    t0 = time.monotonic()
    for i in range(api.FLUSH_EVERY - 1):
        run.log_metric("x", i, step=i)
    if time.monotonic() - t0 < api.FLUSH_AGE_S:  # else the age trigger may rightly have fired
        assert len(events_of(run)) == 1
    run.log_metric("x", -1)  # the 1000th buffered event triggers the write
    assert len(events_of(run)) == api.FLUSH_EVERY + 1
    run.end()
    assert len(events_of(run)) == api.FLUSH_EVERY + 2


def test_flusher_thread_writes_an_idle_run_within_a_second(home: Home) -> None:
    run = mt.start_run(home=home)
    run.log_metric("x", 1.0)
    deadline = time.monotonic() + 5
    while len(events_of(run)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # polling for the background writer, bounded by the deadline
    assert len(events_of(run)) == 2
    run.end()


def test_many_threads_log_every_point_once_in_seq_order(home: Home) -> None:
    run = mt.start_run(home=home)

    def work(t: int) -> None:
        for i in range(2000):
            run.log_metric(f"t{t}", i, step=i)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run.end()
    evs = events_of(run)
    assert [e["seq"] for e in evs] == list(range(1, len(evs) + 1))
    assert len(evs) == 2 + 4 * 2000
    for t in range(4):
        steps, _ = metric_history(home, run.run_id, f"t{t}")
        assert steps == [float(i) for i in range(2000)]


def test_script_exiting_without_end_is_finished_and_uncaught_error_failed(home: Home) -> None:
    code = ("import sys, tui_mlops as mt\n"
            "run = mt.start_run(home=sys.argv[1])\nprint(run.run_id, flush=True)\nrun.log_metric('x', 1)\n"
            "if sys.argv[2] == 'fail': raise RuntimeError('oops')\n")
    ids = {}
    for mode in ("ok", "fail"):
        proc = subprocess.run([sys.executable, "-c", code, str(home.root), mode], capture_output=True, text=True)
        ids[mode] = proc.stdout.split()[0]
    ok, bad = get_run(home, ids["ok"]), get_run(home, ids["fail"])
    assert ok.status == "finished" and ok.metrics == {"x": 1.0}
    assert bad.status == "failed" and bad.error == "RuntimeError: oops"


def test_edits_writer_tags_note_and_verdict(home: Home) -> None:
    run = mt.start_run(home=home, tags={"team": "risk"})
    edits = mt.attach_run(home, run.run_id[:6])
    edits.set_tags({"team": "ops", "reviewed": "yes"})
    edits.note("looks good")
    edits.end("crashed", "process 1 exited without finishing")
    d = get_run(home, run.run_id)
    assert d.tags == {"team": "ops", "reviewed": "yes"} and d.note == "looks good"
    assert (d.status, d.error) == ("crashed", "process 1 exited without finishing")
    evs, _ = read_events(run.dir / "edits.jsonl")
    assert [e["seq"] for e in evs] == [1, 2, 3]
    touched = (home.runs_dir / ".edits-touched").read_text().split()
    assert touched == [run.run_id] * 3
    run.end()  # the process's own end after the verdict: the first run_end folded wins
    assert get_run(home, run.run_id).status == "crashed"


def test_attach_run_resolves_prefixes(home: Home) -> None:
    a = mt.start_run(home=home, run_id="abcd1111")
    b = mt.start_run(home=home, run_id="abcd2222")
    assert mt.attach_run(home, "abcd1").run_id == a.run_id
    with pytest.raises(InputError, match="ambiguous"):
        mt.attach_run(home, "abcd")
    with pytest.raises(NotFoundError, match="no run 'ffff'"):
        mt.attach_run(home, "ffff")
    with pytest.raises(InputError, match="at least 4"):
        mt.attach_run(home, "ab")
    a.end()
    b.end()


def test_import_stays_cheap_and_api_is_lazy() -> None:
    code = ("import sys, tui_mlops as mt\n"
            "heavy = [m for m in ('duckdb', 'polars', 'lightgbm', 'sklearn', 'psutil') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "assert callable(mt.start_run) and callable(mt.attach_run)\n"
            "assert callable(mt.lightgbm_callback) and callable(mt.log_sklearn)\n"
            "assert 'lightgbm' not in sys.modules and 'duckdb' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)
