"""Alert rules on monitor states: episodes fire once and resolve, K-window feature rules, direction-aware
quality, no-batch with an injected clock, real user commands, pipeline trigger files, problem logging."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tui_mlops.monitoring import alerts as A
from tui_mlops.monitoring.spec import MonitorSpec, parse_alert

NAME = "m"


@dataclass
class State:
    """A MonitorState-shaped value: the fields alert rules are evaluated on."""

    spec: MonitorSpec
    windows: list[dict] = field(default_factory=list)
    features: dict[str, list] = field(default_factory=dict)
    batches: list[dict] = field(default_factory=list)
    last_batch_ts: float | None = None

    def add_window(self, share: float | None = None, scores: dict[str, float] | None = None,
                   **extra: Any) -> "State":
        seq = len(self.batches) + 1
        self.batches.append({"seq": seq, "status": extra.pop("status", "ok"), "file": f"b{seq}.csv",
                             "problems": extra.pop("problems", [])})
        self.windows.append({"start_seq": seq, "end_seq": seq, "rows": 100,
                             "drift": extra.pop("drift", {"share": share, "drifted": (share or 0) >= 0.5}), **extra})
        for col, s in (scores or {}).items():
            self.features.setdefault(col, []).append(s)
        return self


def state(*rules: str) -> State:
    spec = MonitorSpec(name=NAME, model="toy@production", model_version=1, run_id="r", task="binary",
                       reference="toy@v1", features=["a", "b", "age"], target="y",
                       alerts=tuple(parse_alert(r) for r in rules), created=1_000.0)
    return State(spec)


def kinds(events: list[dict]) -> list[tuple[str, str]]:
    return [(e["type"], e["rule"]) for e in events]


def test_drift_share_fires_once_per_episode_then_resolves_and_fires_again(tmp_path: Path):
    st = state("drift_share>0.3")
    rule = st.spec.alerts[0].name
    got = []
    for share in (0.6, 0.7, 0.8):                      # three bad windows: one episode
        got.append(A.check(tmp_path, NAME, st.add_window(share)))
    assert [kinds(g) for g in got] == [[("fired", rule)], [], []]
    assert got[0][0]["value"] == 0.6 and got[0][0]["batch_seq"] == 1
    assert "0.6 > 0.3" in got[0][0]["message"]
    assert A.open_episodes(A.read_alerts(tmp_path, NAME)).keys() == {rule}

    assert kinds(A.check(tmp_path, NAME, st.add_window(0.1))) == [("resolved", rule)]
    assert kinds(A.check(tmp_path, NAME, st.add_window(0.2))) == []
    assert kinds(A.check(tmp_path, NAME, st.add_window(0.9))) == [("fired", rule)]
    log = A.read_alerts(tmp_path, NAME)
    assert [e["type"] for e in log] == ["fired", "resolved", "fired"]
    assert [e["batch_seq"] for e in log] == [1, 4, 6]
    # Exactly at the threshold is not "above".
    assert A.evaluate(st.spec.alerts[0], state().add_window(0.3)).bad is False


def test_removing_a_rule_closes_its_open_episode(tmp_path: Path):
    st = state("drift_share>0.3", "feature:*>0.2")
    A.check(tmp_path, NAME, st.add_window(0.9, {"a": 0.5}))
    assert set(A.open_episodes(A.read_alerts(tmp_path, NAME))) == {"drift_share>0.3", "feature:*>0.2"}
    st.spec = replace(st.spec, alerts=(parse_alert("drift_share>0.3"),))
    ev = A.check(tmp_path, NAME, st)
    assert kinds(ev) == [("resolved", "feature:*>0.2")] and ev[0]["message"] == "rule removed from the monitor"
    assert set(A.open_episodes(A.read_alerts(tmp_path, NAME))) == {"drift_share>0.3"}


def test_no_window_yet_writes_nothing(tmp_path: Path):
    st = state("drift_share>0.3", "feature:*>0.2", "quality:auc<0.7")
    assert A.check(tmp_path, NAME, st) == []
    assert A.read_alerts(tmp_path, NAME) == []


def test_feature_rule_needs_k_consecutive_windows_above(tmp_path: Path):
    st = state("feature:age>0.2x3")
    rule = st.spec.alerts[0].name
    seen = []
    for score in (0.3, 0.3, 0.05, 0.3, 0.3, 0.3, 0.4, 0.1):
        seen.append([e["type"] for e in A.check(tmp_path, NAME, st.add_window(0.0, {"age": score, "income": 0.0}))])
    # The dip at window 3 restarts the count: the first three-in-a-row ends at window 6.
    assert seen == [[], [], [], [], [], ["fired"], [], ["resolved"]]
    fired = A.read_alerts(tmp_path, NAME)[0]
    assert fired["rule"] == rule and fired["value"] == 0.3 and "age" in fired["message"]


def test_any_feature_rule_names_the_worst_feature(tmp_path: Path):
    st = state("feature:*>0.2x2")
    assert A.check(tmp_path, NAME, st.add_window(0.0, {"a": 0.5, "b": 0.1})) == []
    assert A.check(tmp_path, NAME, st.add_window(0.0, {"a": 0.1, "b": 0.3})) == []   # no feature twice in a row
    ev = A.check(tmp_path, NAME, st.add_window(0.0, {"a": 0.25, "b": 0.9}))
    assert [e["type"] for e in ev] == ["fired"]
    assert ev[0]["value"] == 0.9 and "feature b" in ev[0]["message"]
    assert [e["type"] for e in A.check(tmp_path, NAME, st.add_window(0.0, {"a": 0.3, "b": 0.0}))] == []  # a: 2 in a row
    assert [e["type"] for e in A.check(tmp_path, NAME, st.add_window(0.0, {"a": 0.0, "b": 0.0}))] == ["resolved"]


def test_feature_rules_on_p_value_methods_look_below_the_threshold(tmp_path: Path):
    st = state("feature:*>0.05x2")

    def window(ks_p: float, dist: float) -> dict:
        return {"columns": [{"column": "age", "method": "ks", "score": ks_p},
                            {"column": "city", "method": "jensenshannon", "score": dist}], "share": 0.0}

    for ks_p, dist in ((0.5, 0.01), (0.001, 0.01), (1e-9, 0.02)):
        st.add_window(drift=window(ks_p, dist), scores={"age": ks_p, "city": dist})
    ev = A.check(tmp_path, NAME, st)
    assert [e["type"] for e in ev] == ["fired"] and ev[0]["value"] == 1e-9
    assert "feature age ks p-value 1e-09 < 0.05 for 2 window(s)" in ev[0]["message"]
    st.add_window(drift=window(0.9, 0.01), scores={"age": 0.9, "city": 0.01})
    assert [e["type"] for e in A.check(tmp_path, NAME, st)] == ["resolved"]


def test_quality_rules_are_direction_aware_and_use_the_latest_labelled_window(tmp_path: Path):
    st = state("quality:auc<0.7", "quality:logloss<0.5", "estimated:accuracy<0.8")
    auc, logloss, acc = (r.name for r in st.spec.alerts)
    # logloss is lower-is-better: "below 0.5" means worse than 0.5, i.e. above it.
    ev = A.check(tmp_path, NAME, st.add_window(0.0, realized={"auc": 0.65, "logloss": 0.4},
                                                estimated={"accuracy": 0.9}))
    assert kinds(ev) == [("fired", auc)]
    assert "auc 0.65 below 0.7" in ev[0]["message"]
    # A newer window without labels yet: judged on the last labelled window, so nothing changes.
    assert kinds(A.check(tmp_path, NAME, st.add_window(0.0, estimated={"accuracy": 0.7}))) == [("fired", acc)]
    ev = A.check(tmp_path, NAME, st.add_window(0.0, realized={"auc": 0.8, "logloss": 0.6},
                                                estimated={"accuracy": 0.85}))
    assert sorted(kinds(ev)) == sorted([("resolved", auc), ("fired", logloss), ("resolved", acc)])


def test_no_batch_uses_the_injected_clock(tmp_path: Path):
    st = state("no_batch>30m")
    rule = st.spec.alerts[0]
    assert rule.kind == "no_batch"
    # Never a batch: measured from the monitor's creation.
    assert A.check(tmp_path, NAME, st, now=1_000 + 29 * 60) == []
    ev = A.check(tmp_path, NAME, st, now=1_000 + 31 * 60)
    assert kinds(ev) == [("fired", rule.name)] and round(ev[0]["value"]) == 31
    assert "since the monitor was created" in ev[0]["message"]
    assert A.check(tmp_path, NAME, st, now=1_000 + 90 * 60) == []        # same episode
    st.add_window(0.0)
    st.last_batch_ts = 1_000 + 91 * 60
    assert kinds(A.check(tmp_path, NAME, st, now=1_000 + 92 * 60)) == [("resolved", rule.name)]
    assert kinds(A.check(tmp_path, NAME, st, now=1_000 + 122 * 60)) == [("fired", rule.name)]


def test_fired_alert_runs_the_users_command_with_the_alert_in_its_environment(tmp_path: Path):
    out = tmp_path / "out.txt"
    st = state(f"drift_share>0.3; run=sh -c 'echo \"$MLOPS_ALERT_MONITOR|$MLOPS_ALERT_RULE|$MLOPS_ALERT_VALUE\" > {out}'"
               f" && echo said-hello")
    rule = st.spec.alerts[0]
    assert rule.command and str(out) in rule.command
    A.check(tmp_path, NAME, st.add_window(0.75))
    assert out.read_text().strip() == f"{NAME}|{rule.name}|0.75"
    log = (tmp_path / "monitors" / NAME / "alerts.log").read_text()
    assert "said-hello" in log and "exit 0" in log
    # Staying bad runs nothing again; resolving runs nothing either.
    out.unlink()
    A.check(tmp_path, NAME, st.add_window(0.8))
    A.check(tmp_path, NAME, st.add_window(0.0))
    assert not out.exists()


def test_a_failing_command_is_logged_and_never_stops_the_check(tmp_path: Path):
    st = state("drift_share>0.3; run=sh -c 'echo about-to-fail >&2 && exit 3'",
               "feature:*>0.2; run=/nonexistent/alert-hook --now")
    ev = A.check(tmp_path, NAME, st.add_window(0.9, {"a": 0.9}))
    assert [e["type"] for e in ev] == ["fired", "fired"]
    log = (tmp_path / "monitors" / NAME / "alerts.log").read_text()
    assert "about-to-fail" in log and "exit 3 (command failed)" in log
    assert "exit 127 (command failed)" in log            # the shell could not find the hook
    assert [e["type"] for e in A.check(tmp_path, NAME, st.add_window(0.0, {"a": 0.0}))] == ["resolved", "resolved"]


def test_trigger_pipeline_writes_one_trigger_file_per_episode(tmp_path: Path):
    st = state("drift_share>0.3; trigger=pipeline")
    assert st.spec.alerts[0].trigger == "pipeline"
    A.check(tmp_path, NAME, st.add_window(0.9), now=1_700_000_000.25)
    A.check(tmp_path, NAME, st.add_window(0.9), now=1_700_000_100.0)
    files = sorted((tmp_path / "triggers").iterdir())
    assert [f.name for f in files] == ["20231114T221320250Z-m.json"]
    body = json.loads(files[0].read_text())
    assert body["source"] == "monitor" and body["monitor"] == NAME
    assert body["rule"] == st.spec.alerts[0].name and body["ts"] == 1_700_000_000.25
    # A second episode in the same millisecond still gets its own file.
    A.check(tmp_path, NAME, st.add_window(0.0), now=1_700_000_000.25)
    A.check(tmp_path, NAME, st.add_window(0.9), now=1_700_000_000.25)
    assert len(list((tmp_path / "triggers").glob("*-m*.json"))) == 2
    assert not list((tmp_path / "triggers").glob(".tmp-*"))


def test_batch_problems_go_to_the_alert_log_once(tmp_path: Path):
    st = state()
    st.add_window(0.0, problems=["b1.csv: column x1 is missing"], status="problems")
    st.add_window(0.0)
    ev = A.check(tmp_path, NAME, st)
    assert [(e["type"], e["batch_seq"]) for e in ev] == [("problem", 1)]
    assert "column x1 is missing" in ev[0]["message"]
    st.batches.append({"seq": 3, "status": "failed", "file": "bad.parquet", "problems": [], "error": "not parquet"})
    ev = A.check(tmp_path, NAME, st)
    assert [(e["type"], e["batch_seq"]) for e in ev] == [("problem", 3)] and "not parquet" in ev[0]["message"]
    assert A.check(tmp_path, NAME, st) == []
    # Problem events never open or close an episode.
    assert A.open_episodes(A.read_alerts(tmp_path, NAME)) == {}


def test_a_torn_last_line_is_skipped_and_concurrent_checks_fire_once(tmp_path: Path):
    st = state("drift_share>0.3").add_window(0.9)
    path = tmp_path / "monitors" / NAME / "alerts.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text('{"type": "resolved", "rule": "x", "ts": 1}\n{"type": "fir')
    assert [e["rule"] for e in A.read_alerts(tmp_path, NAME)] == ["x"]
    path.write_text("")
    results: list[list[dict]] = []
    go = threading.Barrier(6)

    def worker() -> None:
        go.wait()
        results.append(A.check(tmp_path, NAME, st))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(len(r) for r in results) == [0, 0, 0, 0, 0, 1]
    assert len(A.read_alerts(tmp_path, NAME)) == 1
