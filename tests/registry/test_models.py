"""Registry versions and aliases: what a version records, references, gates on promotion, the alias
history, and version numbers / alias moves under concurrent writers."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading

import pytest

from tui_mlops.errors import InputError, NotFoundError
from tui_mlops.registry import models as R
from tui_mlops.store.events import read_events
from tui_mlops.tracking.api import start_run

FAILED = {"passed": False, "results": [
    {"name": "auc >= 0.9", "verdict": "fail", "value": 0.86, "threshold": 0.9, "message": "auc 0.86 < 0.9"},
    {"name": "logloss <= 1", "verdict": "pass", "value": 0.5, "threshold": 1.0, "message": ""}]}
PASSED = {"passed": True, "results": [{"name": "auc >= 0.5", "verdict": "pass", "value": 0.86, "threshold": 0.5,
                                       "message": ""}]}


def write_report(home, run_id, report_id, created, gates):
    folder = home.runs_dir / run_id / "validation"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{report_id}.json").write_text(json.dumps({"id": report_id, "created": created, "gates": gates}))
    (folder / f"{report_id}.md").write_text("# not JSON\n")


def test_register_records_run_lineage_metrics_and_artifact(store, monkeypatch):
    monkeypatch.setenv("MLOPS_TUI_USER", "ann")
    run = store.runs["lgb_child"]
    mv = R.register_model(store.home, run[:6], "churn", note="first try")
    assert (mv.name, mv.version, mv.run_id, mv.user, mv.note) == ("churn", 1, run, "ann", "first try")
    assert mv.dataset == store.child and mv.lineage == [store.child, store.toy]
    assert (mv.task, mv.model_type) == ("binary", "lightgbm")
    assert mv.metrics and all(k.startswith("valid/") for k in mv.metrics) and "valid/auc" in mv.metrics
    data = (store.home.runs_dir / run / mv.artifact["path"]).read_bytes()
    assert mv.artifact == {"path": "artifacts/model.txt", "sha256": hashlib.sha256(data).hexdigest(),
                           "size": len(data)}
    assert mv.gates is None and R.gates_status(mv) == "not validated" and mv.aliases == ()
    forest = R.register_model(store.home, store.runs["forest"], "prices", user="bob")
    assert (forest.task, forest.model_type, forest.user) == ("regression", "random_forest", "bob")
    assert forest.artifact["path"] == "artifacts/model.skops" and "valid/rmse" in forest.metrics
    assert forest.lineage == [store.toy]


def test_register_twice_returns_the_same_version(store):
    h, runs = store.home, store.runs
    first = R.register_model(h, runs["lgb"], "churn")
    again = R.register_model(h, runs["lgb"], "churn")
    second = R.register_model(h, runs["lgb_child"], "churn")
    other = R.register_model(h, runs["lgb"], "churn-b")
    assert (first.version, again.version, second.version, other.version) == (1, 1, 2, 1)
    assert again.created == first.created
    assert [v.version for v in R.get_versions(h, "churn")] == [1, 2]
    assert [(s.name, s.versions, s.latest) for s in R.list_models(h)] == [("churn", 2, 2), ("churn-b", 1, 1)]
    assert [(v.name, v.version) for v in R.versions_of_run(h, runs["lgb"])] == [("churn", 1), ("churn-b", 1)]
    assert R.versions_of_run(h, runs["forest"]) == []


def test_refuses_runs_without_a_finished_model(store):
    h = store.home
    with start_run("plain", home=h) as plain:
        plain.log_metric("valid/auc", 0.9)
    with pytest.raises(InputError, match=f"run {plain.run_id} has no model artifact"):
        R.register_model(h, plain.run_id, "churn")
    failed = start_run("plain", home=h)
    failed.end("failed", "boom")
    with pytest.raises(InputError, match=f"run {failed.run_id} is failed: only finished runs"):
        R.register_model(h, failed.run_id, "churn")
    with pytest.raises(NotFoundError, match="no run 'abcdef99'"):
        R.register_model(h, "abcdef99", "churn")
    with pytest.raises(InputError, match="invalid model name 'bad name'"):
        R.register_model(h, store.runs["lgb"], "bad name")
    assert R.list_models(h) == []


def test_register_takes_the_newest_gate_outcome_of_the_run(store):
    h, run = store.home, store.runs["lgb"]
    write_report(h, run, "r-old", "2026-01-01T10:00:00+00:00", PASSED)
    write_report(h, run, "r-new", "2026-01-02T10:00:00+00:00", FAILED)
    write_report(h, run, "r-nogates", "2026-01-03T10:00:00+00:00", None)
    mv = R.register_model(h, run, "churn")
    assert mv.gates["passed"] is False and mv.gates["report_id"] == "r-new"
    assert mv.gates["results"] == FAILED["results"] and R.gates_status(mv) == "failed"


def test_resolve_model_references(store):
    h = store.home
    R.register_model(h, store.runs["lgb"], "churn")
    R.register_model(h, store.runs["lgb_child"], "churn")
    R.set_alias(h, "churn", 1, "production")
    assert R.resolve_model(h, "churn").version == 2
    assert R.resolve_model(h, "churn@latest").version == 2
    assert R.resolve_model(h, "churn@1").run_id == store.runs["lgb"]
    assert R.resolve_model(h, "churn@v2").run_id == store.runs["lgb_child"]
    prod = R.resolve_model(h, "churn@production")
    assert prod.version == 1 and prod.aliases == ("production",) and prod.ref == "churn@1"
    for ref, err, msg in [("nope", NotFoundError, "no model named 'nope'"),
                          ("churn@7", NotFoundError, "model churn has no version 7 \\(versions 1-2\\)"),
                          ("churn@staging", NotFoundError, "model churn has no alias 'staging' \\(aliases: production\\)"),
                          ("churn@", InputError, "nothing after '@'")]:
        with pytest.raises(err, match=msg):
            R.resolve_model(h, ref)


def test_alias_moves_are_recorded_with_who_when_and_why(store):
    h = store.home
    R.register_model(h, store.runs["lgb"], "churn")
    R.register_model(h, store.runs["lgb_child"], "churn")
    assert R.production(h, "churn") is None and R.production(h, "unknown") is None
    m1 = R.set_alias(h, "churn", 1, "production", reason="first release", user="ann")
    m2 = R.set_alias(h, "churn", "v2", "production", reason="better auc", user="bob")
    m3 = R.set_alias(h, "churn", 1, "staging", user="cid")
    m4 = R.remove_alias(h, "churn", "staging", reason="done", user="ann")
    assert (m1.version, m1.previous, m2.version, m2.previous) == (1, None, 2, 1)
    assert (m4.alias, m4.version, m4.previous, m4.reason) == ("staging", None, 1, "done")
    history = R.alias_history(h, "churn")
    assert history == [m1, m2, m3, m4]
    assert [(m.user, m.reason, m.forced) for m in history] == [
        ("ann", "first release", False), ("bob", "better auc", False), ("cid", None, False), ("ann", "done", False)]
    assert history[0].ts <= history[-1].ts and history[0].ts > 0
    assert R.production(h, "churn").version == 2
    assert [v.aliases for v in R.get_versions(h, "churn")] == [(), ("production",)]
    assert R.list_models(h)[0].aliases == {"production": 2}
    with pytest.raises(NotFoundError, match="model churn has no alias 'staging'"):
        R.remove_alias(h, "churn", "staging")
    with pytest.raises(NotFoundError, match="model churn has no version 3"):
        R.set_alias(h, "churn", 3, "production")
    for bad in ("3", "v3", "latest", "bad alias", "-x", ""):
        with pytest.raises(InputError, match="invalid alias"):
            R.set_alias(h, "churn", 1, bad)
    assert len(R.alias_history(h, "churn")) == 4


def test_promotion_of_a_failed_version_needs_force_and_a_reason(store):
    h, run = store.home, store.runs["lgb_child"]
    R.register_model(h, store.runs["lgb"], "churn")
    mv = R.register_model(h, run, "churn")
    R.record_gates(h, "churn", 2, FAILED, "rep-1", run)
    assert R.resolve_model(h, "churn@2").gates == {**FAILED, "report_id": "rep-1"}
    with pytest.raises(InputError) as err:
        R.set_alias(h, "churn", mv.version, "production")
    assert err.value.message == ("model churn v2 failed its gates (auc >= 0.9): promote with --force "
                                 "--reason TEXT")
    with pytest.raises(InputError, match="a forced promotion needs --reason"):
        R.set_alias(h, "churn", 2, "production", force=True)
    assert R.alias_history(h, "churn") == [] and R.production(h, "churn") is None
    staged = R.set_alias(h, "churn", 2, "staging")  # only production is gated
    assert staged.forced is False
    forced = R.set_alias(h, "churn", 2, "production", force=True, reason="hotfix, gates flaky", user="ann")
    assert (forced.forced, forced.reason, forced.user) == (True, "hotfix, gates flaky", "ann")
    assert R.production(h, "churn").version == 2
    # A later report that passes clears the way without force.
    R.record_gates(h, "churn", 2, PASSED, "rep-2", run)
    assert R.gates_status(R.resolve_model(h, "churn@2")) == "passed"
    assert R.set_alias(h, "churn", 2, "production").forced is False
    with pytest.raises(InputError, match=f"model churn v1 is run {store.runs['lgb']}, not run {run}"):
        R.record_gates(h, "churn", 1, PASSED, "rep-3", run)
    with pytest.raises(NotFoundError, match="no version 9"):
        R.record_gates(h, "churn", 9, PASSED, "rep-3", run)


def test_concurrent_registers_never_share_a_version_number(store):
    h = store.home
    runs = [store.runs["lgb"], store.runs["lgb_child"], store.runs["logistic"]]
    barrier = threading.Barrier(len(runs) * 3)
    results, errors = [], []

    def work(run_id):
        try:
            barrier.wait()
            results.append((run_id, R.register_model(h, run_id, "churn").version))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(r,)) for r in runs for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    versions = R.get_versions(h, "churn")
    assert sorted(v.version for v in versions) == [1, 2, 3]
    assert sorted(v.run_id for v in versions) == sorted(runs)
    by_run = {v.run_id: v.version for v in versions}
    assert all(by_run[run] == version for run, version in results)


def test_concurrent_alias_moves_keep_one_history(store):
    h = store.home
    R.register_model(h, store.runs["lgb"], "churn")
    R.register_model(h, store.runs["lgb_child"], "churn")
    n_threads, moves = 6, 15
    barrier = threading.Barrier(n_threads)
    errors = []

    def work(i):
        try:
            barrier.wait()
            for j in range(moves):
                R.set_alias(h, "churn", 1 + (i + j) % 2, "staging", user=f"t{i}")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    history = R.alias_history(h, "churn")
    assert len(history) == n_threads * moves
    # Each move saw the one before it: a writer outside the lock would record a stale previous.
    assert [m.previous for m in history] == [None] + [m.version for m in history[:-1]]
    seqs = [e["seq"] for e in read_events(h.registry_dir / "events.jsonl")[0]]
    assert seqs == list(range(1, len(seqs) + 1))


def test_another_process_write_is_seen_and_a_torn_line_is_ignored(store):
    h = store.home
    R.register_model(h, store.runs["lgb"], "churn")
    assert R.list_models(h)[0].aliases == {}  # now cached
    code = ("import sys; from tui_mlops.store.home import Home; from tui_mlops.registry import models as R; "
            "R.set_alias(Home.open(sys.argv[1]), 'churn', 1, 'production', reason='from a script', user='cron')")
    subprocess.run([sys.executable, "-c", code, str(h.root)], check=True, timeout=60)
    assert R.list_models(h)[0].aliases == {"production": 1}
    assert R.alias_history(h, "churn")[0].user == "cron"
    with open(h.registry_dir / "events.jsonl", "ab") as fh:
        fh.write(b'{"type": "alias", "name": "churn", "ali')  # a writer killed mid-line
    assert R.resolve_model(h, "churn@production").version == 1
    move = R.set_alias(h, "churn", 1, "staging")
    assert move.previous is None and R.resolve_model(h, "churn@staging").version == 1
    assert [e["seq"] for e in read_events(h.registry_dir / "events.jsonl")[0]] == [1, 2, 3]


def test_unknown_model_errors(store):
    h = store.home
    with pytest.raises(NotFoundError, match="no model named 'churn'"):
        R.get_versions(h, "churn")
    with pytest.raises(NotFoundError, match="no model named 'churn'"):
        R.alias_history(h, "churn")
    with pytest.raises(NotFoundError, match="no model named 'churn'"):
        R.set_alias(h, "churn", 1, "production")
    with pytest.raises(InputError, match="invalid model version 'x1'"):
        R.register_model(h, store.runs["lgb"], "churn") and R.set_alias(h, "churn", "x1", "production")
    assert R.list_models(h)[0].name == "churn"
