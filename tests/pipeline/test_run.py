"""run_pipeline end to end with real shell, ingest and split stages: order, parallelism, caching,
failure and resume, gates, and a SIGKILLed `pipeline run` detected on the next run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from tui_mlops.pipeline.records import load_run, runs_dir
from tui_mlops.pipeline.run import pipeline_history, pipeline_status, run_pipeline
from tui_mlops.pipeline.spec import load_pipeline
from waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
WAIT = "while [ ! -f {f} ]; do sleep 0.02; done"  # the command polls; the stage timeout is the deadline


def _pipeline(tmp_path: Path, body: str, head: str = 'name = "t"\nmax_parallel = 2\n') -> Path:
    root = tmp_path / "proj"
    root.mkdir(exist_ok=True)
    path = root / "mlops.toml"
    path.write_text(f"[pipeline]\n{head}\n{body}")
    return path


def _shell(name: str, command: str, after: list[str] | None = None, extra: str = "") -> str:
    text = f"[stages.{name}]\nkind = \"shell\"\ncommand = '{command}'\n{extra}"
    if after:
        text += "after = [" + ", ".join(f'"{a}"' for a in after) + "]\n"
    return text + "\n"


def _statuses(run) -> dict[str, str]:
    return {n: r.status for n, r in run.stages.items()}


def test_stages_run_in_dependency_order_and_are_recorded(tmp_path: Path, home) -> None:
    path = _pipeline(tmp_path, _shell("c", "echo c >> order.txt", ["b"]) + _shell("a", "echo a >> order.txt")
                     + _shell("b", "echo b >> order.txt", ["a"]))
    seen: list[tuple[str, str]] = []
    run = run_pipeline(home, path, progress=lambda r, n: seen.append((n, r.stages[n].status)))
    assert run.status == "ok" and run.exit_code == 0
    assert (path.parent / "order.txt").read_text() == "a\nb\nc\n"
    assert list(run.stages) == ["a", "b", "c"]
    assert seen == [("a", "running"), ("a", "ok"), ("b", "running"), ("b", "ok"), ("c", "running"), ("c", "ok")]
    stored = load_run(runs_dir(home, "t") / f"{run.run_id}.json")
    assert stored.status == "ok" and stored.stages["b"].outputs == {"exit_code": 0, "last_line": ""}
    assert stored.stages["a"].duration is not None and stored.pid == os.getpid()
    assert Path(stored.stages["a"].log).read_text().startswith("$ echo a >> order.txt")


def test_independent_stages_run_at_the_same_time(tmp_path: Path, home) -> None:
    # Each stage waits for the other's marker: only concurrent runs can both finish before the timeout.
    body = (_shell("x", "touch x.on; " + WAIT.format(f="y.on"), extra="timeout = 20\n")
            + _shell("y", "touch y.on; " + WAIT.format(f="x.on"), extra="timeout = 20\n"))
    run = run_pipeline(home, _pipeline(tmp_path, body))
    assert _statuses(run) == {"x": "ok", "y": "ok"}


def test_max_parallel_one_runs_them_one_at_a_time(tmp_path: Path, home) -> None:
    body = _shell("x", "touch x.on; " + WAIT.format(f="y.on"), extra="timeout = 0.5\n") + _shell("y", "touch y.on")
    run = run_pipeline(home, _pipeline(tmp_path, body, 'name = "t"\nmax_parallel = 1\n'))
    assert _statuses(run) == {"x": "failed", "y": "ok"} and "timed out" in run.stages["x"].message
    assert run.exit_code == 2


CSV = "id,x,y\n" + "".join(f"{i},{i * 0.5},{i % 2}\n" for i in range(40))
DATA_BODY = """\
[stages.ingest]
kind = "ingest"
path = "data.csv"
name = "toy"

[stages.split]
kind = "split"
input = "ingest"
seed = 3

[stages.count]
kind = "shell"
command = 'echo "$MLOPS_STAGE_TRAIN" >> seen.txt'
inputs = { train = "split.train" }
"""


def test_unchanged_stages_are_cached_and_a_changed_file_reruns_them(tmp_path: Path, home) -> None:
    path = _pipeline(tmp_path, DATA_BODY)
    (path.parent / "data.csv").write_text(CSV)
    first = run_pipeline(home, path)
    assert _statuses(first) == {"ingest": "ok", "split": "ok", "count": "ok"}
    train_ref = first.stages["split"].outputs["train"]
    assert train_ref.startswith("toy.train@")

    second = run_pipeline(home, path)
    assert _statuses(second) == {"ingest": "cached", "split": "cached", "count": "cached"}
    assert second.stages["split"].cached_from == first.run_id and second.stages["split"].outputs["train"] == train_ref
    assert "unchanged since run " + first.run_id in second.stages["count"].message
    assert (path.parent / "seen.txt").read_text() == train_ref + "\n"
    assert pipeline_status(home, path)["stages"][2]["state"] == "up to date"

    (path.parent / "data.csv").write_text(CSV + "99,1.5,1\n")
    assert [s["state"] for s in pipeline_status(home, path)["stages"]] == ["changed", "waits on upstream", "waits on upstream"]
    third = run_pipeline(home, path)
    assert _statuses(third) == {"ingest": "ok", "split": "ok", "count": "ok"}
    new_ref = third.stages["split"].outputs["train"]
    assert new_ref != train_ref and (path.parent / "seen.txt").read_text() == f"{train_ref}\n{new_ref}\n"

    forced = run_pipeline(home, path, stage="split", force=True)
    assert _statuses(forced) == {"ingest": "cached", "split": "ok"}
    rerun = run_pipeline(home, path, rerun_from="split")
    assert _statuses(rerun) == {"ingest": "cached", "split": "ok", "count": "ok"}


def test_a_failure_stops_dependents_and_the_next_run_resumes_there(tmp_path: Path, home) -> None:
    body = (_shell("a", "echo run >> a.txt") + _shell("b", "test -f ok.flag", ["a"])
            + _shell("c", "echo c", ["b"]) + _shell("d", "echo d >> d.txt"))
    path = _pipeline(tmp_path, body)
    run = run_pipeline(home, path)
    assert _statuses(run) == {"a": "ok", "d": "ok", "b": "failed", "c": "skipped"}
    assert run.status == "failed" and run.exit_code == 2
    assert "exit" in run.stages["b"].message and run.stages["c"].message == "not run: stage 'b' failed"

    (path.parent / "ok.flag").write_text("")
    again = run_pipeline(home, path)
    assert _statuses(again) == {"a": "cached", "d": "cached", "b": "ok", "c": "ok"}
    assert (path.parent / "a.txt").read_text() == "run\n" and (path.parent / "d.txt").read_text() == "d\n"
    assert [r.run_id for r in pipeline_history(home, "t")] == [again.run_id, run.run_id]


def test_a_failed_gate_skips_dependents_and_gives_exit_1(tmp_path: Path, home) -> None:
    body = DATA_BODY.replace("[stages.split]", '[stages.check]\nkind = "validate_data"\ninput = "ingest"\n'
                             'rules_file = "rules.toml"\n\n[stages.split]').replace('seed = 3', 'seed = 3\nafter = ["check"]')
    path = _pipeline(tmp_path, body)
    (path.parent / "data.csv").write_text(CSV.replace("\n3,1.5,1\n", "\n3,,1\n"))
    (path.parent / "rules.toml").write_text('[[rule]]\ntype = "not_null"\ncolumn = "x"\n')
    run = run_pipeline(home, path)
    assert _statuses(run) == {"ingest": "ok", "check": "gate_failed", "split": "skipped", "count": "skipped"}
    assert run.status == "gate_failed" and run.exit_code == 1
    assert run.stages["check"].gates["passed"] is False


def test_cancel_leaves_unstarted_stages_cancelled(tmp_path: Path, home) -> None:
    cancel = threading.Event()
    body = _shell("a", "touch a.on; " + WAIT.format(f="never"), extra="timeout = 20\n") + _shell("b", "true", ["a"])
    path = _pipeline(tmp_path, body)
    threading.Thread(target=lambda: (wait_for(lambda: (path.parent / "a.on").exists(), "stage a"), cancel.set()),
                     daemon=True).start()
    run = run_pipeline(home, path, cancel=cancel)
    assert _statuses(run) == {"a": "cancelled", "b": "cancelled"} and run.status == "cancelled"
    assert run.stages["b"].message == "not run: the run was cancelled"


def test_sigkill_mid_stage_is_detected_and_only_the_rest_reruns(tmp_path: Path, home) -> None:
    body = _shell("pre", "echo pre >> pre.txt") + _shell("slow", "touch slow.on; " + WAIT.format(f="release"), ["pre"])
    path = _pipeline(tmp_path, body)
    proc = subprocess.Popen([sys.executable, "-m", "tui_mlops", "--home", str(home.root), "pipeline", "run",
                             "--file", str(path)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: (path.parent / "slow.on").exists() or proc.poll() is not None, "stage slow to start")
        assert proc.poll() is None, proc.stderr.read().decode()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        (path.parent / "release").write_text("")  # lets the orphaned shell command end
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    (killed,) = pipeline_history(home, "t")
    assert killed.status == "interrupted" and killed.stages["slow"].status == "interrupted"
    assert killed.stages["pre"].status == "ok"

    (path.parent / "slow.on").unlink()
    run = run_pipeline(home, path)
    assert _statuses(run) == {"pre": "cached", "slow": "ok"}
    assert run.resumed_interrupted == [] and run.stages["pre"].cached_from == killed.run_id
    assert (path.parent / "pre.txt").read_text() == "pre\n"


def test_next_run_marks_an_interrupted_record_itself(tmp_path: Path, home) -> None:
    # A record left `running` by a process that is gone (here: a finished child's pid).
    path = _pipeline(tmp_path, _shell("a", "true"))
    spec = load_pipeline(path)
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    from tui_mlops.pipeline.records import PipelineRun, StageRecord, save_run

    dead = PipelineRun("20000101-000000-dead00", spec.name, str(path), started=1.0, pid=int(child.stdout),
                       stages={"a": StageRecord("a", "shell", status="running", started=1.0)})
    save_run(home, dead)
    run = run_pipeline(home, path)
    assert run.resumed_interrupted == [dead.run_id] and "interrupted" in run.message
    assert load_run(runs_dir(home, "t") / f"{dead.run_id}.json").status == "interrupted"


def test_a_dependant_starts_only_after_its_dependency_thread_is_done(tmp_path: Path, home) -> None:
    # A stage's status is set before its outputs are published; the scheduler (which polls while a
    # cancel event exists, as under the CLI) must wait for the thread, or the dependant reads no
    # outputs ("'ingest' has several outputs ()", seen once in CI).
    from tui_mlops.pipeline.stages import run_stage, stage_fingerprint

    b_started = threading.Event()
    early: list[bool] = []

    class Finishing:
        """A's result: reading its gates (the last thing the stage thread does) waits to see if B starts."""

        def __init__(self, real) -> None:
            self.status, self.outputs, self.message = real.status, real.outputs, real.message

        @property
        def gates(self):
            early.append(b_started.wait(1.0))  # bounded: B must NOT start in this window
            return None

    def runner(home_, spec, st, inputs, log):
        result = run_stage(home_, spec, st, inputs, log)
        return Finishing(result) if st.name == "a" else result

    def fingerprint(home_, spec, st, inputs):
        if st.name == "b":
            b_started.set()
        return stage_fingerprint(home_, spec, st, inputs)

    path = _pipeline(tmp_path, _shell("a", "echo a") + _shell("b", "echo b", ["a"]))
    run = run_pipeline(home, path, cancel=threading.Event(), runner=runner, fingerprint=fingerprint)
    assert _statuses(run) == {"a": "ok", "b": "ok"}
    assert early == [False]
