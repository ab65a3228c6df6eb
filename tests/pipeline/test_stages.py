"""Each pipeline stage kind run for real on the toy data (ingest -> ... -> predict, shell), stage
fingerprints, and the one-line errors of bad params."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import pytest

from tui_mlops.pipeline.spec import PipelineSpec, StageSpec
from tui_mlops.pipeline.stages import KINDS, StageResult, check_params, run_stage, stage_fingerprint
from tui_mlops.store.home import Home

_TRAINING = str(Path(__file__).resolve().parents[1] / "training")
if _TRAINING not in sys.path:
    sys.path.insert(0, _TRAINING)

from train_helpers import toy_csv  # noqa: E402

RULES_OK = """
[[rule]]
type = "not_null"
column = "x2"
"""
RULES_BAD = """
[[rule]]
type = "not_null"
column = "x1"
"""


class Chain:
    """A pipeline folder, a home and the outputs of the stages run so far (by stage name)."""

    def __init__(self, root: Path, home: Home) -> None:
        self.root, self.home = root, home
        self.pipeline = PipelineSpec(name="toypipe", path=root / "mlops.toml", root=root)
        self.outputs: dict[str, dict] = {}
        self.logs: dict[str, list[str]] = {}

    def stage(self, name: str, kind: str, /, _line: int = 3, **params) -> StageSpec:
        refs = {k: v for k, v in params.items() if k in KINDS[kind].refs and isinstance(v, str)
                and v.partition(".")[0] in self.outputs}
        return StageSpec(name, kind, params, refs, (), _line)

    def inputs(self, stage: StageSpec) -> dict:
        refs = list(stage.inputs.values()) + [v for v in (stage.params.get("inputs") or {}).values()]
        out = {}
        for ref in refs:
            head, dot, output = ref.partition(".")
            if head in self.outputs:
                out[ref] = self.outputs[head][output] if dot else self.outputs[head]
        return out

    def run(self, name: str, kind: str, /, _cancel: threading.Event | None = None, **params) -> StageResult:
        st = self.stage(name, kind, **params)
        lines = self.logs.setdefault(name, [])
        res = run_stage(self.home, self.pipeline, st, self.inputs(st), lines.append, cancel=_cancel)
        if res.status != "failed":
            self.outputs[name] = res.outputs
        return res

    def fingerprint(self, name: str, kind: str, /, **params) -> str:
        st = self.stage(name, kind, **params)
        return stage_fingerprint(self.home, self.pipeline, st, self.inputs(st))


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    from tui_mlops.jobs.state import CACHE, process_alive

    base = tmp_path_factory.mktemp("stages")
    root = base / "project"
    (root / "data").mkdir(parents=True)
    (root / "data" / "toy.csv").write_text(toy_csv())
    (root / "rules_ok.toml").write_text(RULES_OK)
    (root / "rules_bad.toml").write_text(RULES_BAD)
    home = Home.open(base / "home")
    yield Chain(root, home)
    for st in CACHE.scan(home):
        if st.is_job and st.pid and process_alive(st.pid, st.pid_started):
            os.killpg(st.pid, signal.SIGKILL)


TRAIN = dict(dataset="split.train", valid="split.valid", target="y_bin", drop=["y_txt", "y_multi", "y_reg"],
             params={"num_threads": 1}, num_boost_round=10, timeout=60)


def test_kinds_table_declares_every_kind_with_outputs():
    assert set(KINDS) == {"ingest", "validate_data", "clean", "split", "train", "sweep", "validate",
                          "register", "promote", "predict", "shell"}
    for name, kind in KINDS.items():
        assert kind.outputs, name
        for param, (typ, required, text) in kind.params.items():
            assert isinstance(required, bool) and text, (name, param)
    assert KINDS["split"].outputs == ("train", "valid", "test")


def test_full_chain_ingest_to_predict(chain):
    res = chain.run("ingest", "ingest", path="data/toy.csv", name="toy", types={"nothing": "BIGINT"})
    assert res.status == "ok", res.message
    assert res.outputs["version"].startswith("toy@")
    assert "240 rows" in chain.logs["ingest"][0]

    res = chain.run("check", "validate_data", input="ingest", rules_file="rules_ok.toml")
    assert (res.status, res.outputs["passed"]) == ("ok", True), res.message
    bad = chain.run("check_bad", "validate_data", input="ingest", rules_file="rules_bad.toml")
    assert bad.status == "gate_failed" and bad.outputs["passed"] is False
    assert "1 of 1 rules failed" in bad.message and bad.gates["passed"] is False

    res = chain.run("clean", "clean", input="ingest", steps=["drop_columns:nothing,const"])
    assert res.status == "ok", res.message
    cleaned = res.outputs["version"]

    res = chain.run("split", "split", input="clean", method="stratified", stratify="y_bin", seed=1)
    assert res.status == "ok", res.message
    assert set(res.outputs) == {"train", "valid", "test"}
    assert res.outputs["train"].startswith(cleaned.split("@")[0] + ".train@")

    res = chain.run("train", "train", **TRAIN)
    assert res.status == "ok", res.message
    run_id = res.outputs["run"]
    assert any("train run" in ln for ln in chain.logs["train"])
    from tui_mlops.tracking.query import get_run

    detail = get_run(chain.home, run_id)
    assert detail.status == "finished" and detail.tags["stage"] == "train"
    assert detail.spec["dataset"] == chain.outputs["split"]["train"]

    res = chain.run("gate", "validate", run="train", data="split.test", gates=[{"metric": "auc", "min": 0.6}],
                    folds=0, bootstrap=20, champion=False)
    assert res.status == "ok", res.message
    assert res.outputs["run"] == run_id and res.outputs["passed"] is True and res.gates["passed"] is True

    res = chain.run("register", "register", run="train", model="toymodel")
    assert res.status == "ok", res.message
    assert res.outputs["model"] == "toymodel@1"

    res = chain.run("promote", "promote", version="register")
    assert res.status == "ok", res.message
    from tui_mlops.registry.models import production

    assert production(chain.home, "toymodel").version == 1

    res = chain.run("predict", "predict", model="promote", data="split.test", out="out/preds.csv")
    assert res.status == "ok", res.message
    assert res.outputs["rows"] > 0 and (chain.root / "out" / "preds.csv").is_file()
    # a plain file beside the pipeline file, and a model ref by alias
    res = chain.run("predict_file", "predict", model="toymodel@production", data="data/toy.csv")
    assert res.status == "ok" and res.outputs["rows"] == 240, res.message


def test_failed_gate_blocks_promotion_unless_forced(chain):
    res = chain.run("gate_hard", "validate", run="train", gates=[{"metric": "auc", "min": 0.9999}],
                    folds=0, bootstrap=0, champion=False)
    assert res.status == "gate_failed"
    assert res.outputs["passed"] is False and res.outputs["report"]   # outputs still recorded
    assert "gates failed" in res.message and "auc" in res.message and "\n" not in res.message

    res = chain.run("register2", "register", run="train", model="toymodel")
    assert res.outputs["model"] == "toymodel@1"   # the same run: no new version
    res = chain.run("promote2", "promote", version="toymodel@1", alias="production")
    assert res.status == "gate_failed"
    assert "failed its gates" in res.message and "force" in res.message
    res = chain.run("promote3", "promote", version="toymodel@1", force=True, reason="known flaky metric")
    assert res.status == "ok", res.message
    assert any("FORCED" in ln for ln in chain.logs["promote3"])
    res = chain.run("promote4", "promote", version="toymodel@1", force=True)
    assert res.status == "failed" and "reason" in res.message


def test_sweep_stage_reports_the_best_run(chain):
    res = chain.run("sweep", "sweep", **{**TRAIN, "space": {"num_leaves": [3, 7]}, "method": "grid",
                                         "num_boost_round": 5})
    assert res.status == "ok", res.message
    assert res.outputs["best_run"] and res.outputs["best_run"] != res.outputs["run"]


def test_shell_success_env_and_failure(chain):
    res = chain.run("report", "shell", command='echo "model=$MLOPS_STAGE_MODEL home=$MLOPS_TUI_HOME"; pwd',
                    inputs={"model": "register", "fixed": "x"})
    assert res.status == "ok", res.message
    assert f"model=toymodel@1 home={chain.home.root}" in chain.logs["report"]
    assert res.outputs == {"exit_code": 0, "last_line": str(chain.root)}

    res = chain.run("boom", "shell", command="echo first; echo 'it broke' >&2; exit 3")
    assert res.status == "failed"
    assert res.message == "stage 'boom': command exited with status 3: it broke"
    assert chain.logs["boom"][-2:] == ["first", "it broke"]


def test_shell_cancel_stops_the_command(chain):
    cancel = threading.Event()

    def log(line: str) -> None:
        if line == "started":
            cancel.set()

    st = chain.stage("slow", "shell", command="echo started; sleep 30; echo never")
    res = run_stage(chain.home, chain.pipeline, st, {}, log, cancel=cancel)
    assert res.status == "failed" and "cancelled" in res.message


def test_fingerprint_stable_and_follows_the_input_file(chain, tmp_path):
    params = dict(path="data/toy.csv", name="toy", types={"nothing": "BIGINT"})
    a = chain.fingerprint("ingest", "ingest", **params)
    assert a == chain.fingerprint("ingest", "ingest", **params)
    assert a != chain.fingerprint("ingest", "ingest", **{**params, "name": "toy2"})
    # a train stage fed by upstream outputs: the same outputs, the same fingerprint
    t1 = chain.fingerprint("train", "train", **TRAIN)
    assert t1 == chain.fingerprint("train", "train", **TRAIN)
    assert t1 != chain.fingerprint("train", "train", **{**TRAIN, "num_boost_round": 11})
    # a dataset ref stands for the version it resolves to now
    d1 = chain.fingerprint("split_named", "split", input="toy")
    path = chain.root / "data" / "toy.csv"
    path.write_text(toy_csv(seed=8))
    assert chain.fingerprint("ingest", "ingest", **params) != a
    res = chain.run("ingest_new", "ingest", **params)
    assert res.status == "ok" and res.outputs["version"] != chain.outputs["ingest"]["version"]
    assert chain.fingerprint("split_named", "split", input="toy") != d1


@pytest.mark.parametrize(("kind", "params", "expected"), [
    ("train", {"dataset": "toy", "target": "y", "nmu_rounds": 3},
     "mlops.toml line 7: stage 'bad': unknown param 'nmu_rounds' for a train stage"),
    ("train", {"dataset": "toy", "target": "y", "seed": "one"},
     "mlops.toml line 7: stage 'bad': seed must be an integer, not 'one'"),
    ("split", {"input": "toy", "seed": True}, "stage 'bad': seed must be an integer, not True"),
    ("register", {"run": "abc"}, "mlops.toml line 7: stage 'bad': a register stage needs 'model'"),
    ("shell", {"command": ["echo", "x"]}, "stage 'bad': command must be a string"),
])
def test_bad_params_are_one_line_errors_naming_the_stage(chain, kind, params, expected):
    st = chain.stage("bad", kind, _line=7, **params)
    res = run_stage(chain.home, chain.pipeline, st, {}, lambda line: None)
    assert res.status == "failed" and expected in res.message and "\n" not in res.message


def test_service_errors_name_the_stage(chain):
    res = chain.run("bad_train", "train", **{**TRAIN, "target": "churned"})
    assert res.status == "failed"
    assert res.message.startswith("stage 'bad_train': ") and "churned" in res.message
    res = chain.run("bad_ingest", "ingest", path="data/missing.csv")
    assert res.status == "failed" and "missing.csv: no such file" in res.message
    res = chain.run("bad_clean", "clean", input="ingest", steps=["explode:x"])
    assert res.status == "failed" and "unknown clean step 'explode'" in res.message
    with pytest.raises(Exception, match="unknown kind 'trian'"):
        check_params("trian", {}, "stage 'x'")


def test_refs_resolve_from_whole_outputs_or_single_values():
    from tui_mlops.errors import InputError
    from tui_mlops.pipeline.stages import resolve_value

    parts = {"train": "t@1", "valid": "v@1", "test": "s@1"}
    assert resolve_value({"split.test": "s@1"}, "split.test") == "s@1"
    assert resolve_value({"split": parts}, "split.valid") == "v@1"
    assert resolve_value({"ingest": {"version": "toy@ab"}}, "ingest") == "toy@ab"
    assert resolve_value({"register": {"model": "m@2", "run": "r"}}, "register") == "m@2"
    assert resolve_value({}, "toy@abcd") == "toy@abcd"
    with pytest.raises(InputError, match="several outputs"):
        resolve_value({"x": {"a": 1, "b": 2}}, "x")
