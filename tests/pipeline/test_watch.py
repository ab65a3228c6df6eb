"""The trigger engine: [triggers] parsing, folder drops with a real observer, monitor alert files,
the schedule, and coalescing of triggers that fire during a run."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from tui_mlops.monitoring.alerts import write_trigger
from tui_mlops.monitoring.spec import parse_alert
from tui_mlops.pipeline.spec import PipelineFileError
from tui_mlops.pipeline.triggers import format_duration, load_triggers, parse_duration
from tui_mlops.pipeline.watch import Trigger, Watcher, WatchEvent

PIPELINE = """\
[pipeline]
name = "w"

[stages.hello]
kind = "shell"
command = "echo hello"

[triggers]
{triggers}
"""


class Recorder:
    """The run callable: records each call; with `gate`, each run waits until the gate is set."""

    def __init__(self, gate: threading.Event | None = None, fail: bool = False) -> None:
        self.calls: list[float] = []
        self.cond = threading.Condition()
        self.gate = gate
        self.fail = fail

    def __call__(self, home, path, *, cancel: threading.Event):
        with self.cond:
            self.calls.append(time.monotonic())
            n = len(self.calls)
            self.cond.notify_all()
        if self.gate is not None:
            # Returns on the test's release or on the watcher's cancel (stop()).
            while not (self.gate.wait(0.05) or cancel.is_set()):
                pass
        if self.fail:
            raise RuntimeError(f"stage 'hello' failed (call {n})")
        return {"status": "ok", "run_id": f"r{n}"}

    def wait_calls(self, n: int, timeout: float = 15.0) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.calls) >= n, timeout), \
                f"expected {n} run(s), saw {len(self.calls)}"


class Events:
    def __init__(self) -> None:
        self.items: list[WatchEvent] = []
        self.cond = threading.Condition()

    def __call__(self, ev: WatchEvent) -> None:
        with self.cond:
            self.items.append(ev)
            self.cond.notify_all()

    def of(self, kind: str) -> list[WatchEvent]:
        with self.cond:
            return [e for e in self.items if e.kind == kind]

    def wait(self, pred, what: str, timeout: float = 15.0) -> list[WatchEvent]:
        with self.cond:
            assert self.cond.wait_for(lambda: [e for e in self.items if pred(e)], timeout), f"no event: {what}"
            return [e for e in self.items if pred(e)]


def pipeline(tmp_path: Path, triggers: str) -> Path:
    path = tmp_path / "proj" / "mlops.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(PIPELINE.format(triggers=triggers))
    return path


# -- the [triggers] table ------------------------------------------------------------------------
def test_durations() -> None:
    assert parse_duration("6h", "x") == 6 * 3600
    assert parse_duration("30m", "x") == 1800
    assert parse_duration("10s", "x") == 10
    assert parse_duration("1h30m", "x") == 5400
    assert parse_duration("0.5s", "x") == 0.5
    assert parse_duration(90, "x") == 90
    assert format_duration(6 * 3600) == "6h" and format_duration(90) == "90s" and format_duration(1800) == "30m"
    for bad in ("soon", "6", "6x", "", "h", True, "0s"):
        with pytest.raises(PipelineFileError):
            parse_duration(bad, "x")


def test_load_triggers(tmp_path: Path) -> None:
    path = pipeline(tmp_path, 'watch = ["data/incoming", "/abs/drop"]\non_alert = true\nevery = "6h"\nsettle = "2s"')
    spec = load_triggers(path)
    assert spec.watch == ((path.parent / "data" / "incoming").resolve(), Path("/abs/drop"))
    assert spec.on_alert and spec.every_s == 21600 and spec.settle_s == 2 and not spec.empty
    assert load_triggers(pipeline(tmp_path, 'watch = "in"')).watch == ((path.parent / "in").resolve(),)
    path.write_text('[pipeline]\nname = "w"\n')
    assert load_triggers(path).empty


@pytest.mark.parametrize("body, line, text", [
    ('every = "soon"', 9, 'mlops.toml line 9: [triggers] every: expected a duration like "6h"'),
    ('on_alert = true\nwatc = ["in"]', 10, "mlops.toml line 10: [triggers] watc: unknown key (keys: watch,"),
    ('watch = [1]', 9, "mlops.toml line 9: [triggers] watch: expected a folder or a list of folders"),
    ('on_alert = "yes"', 9, "mlops.toml line 9: [triggers] on_alert: expected true or false"),
    ('every = "0s"', 9, "mlops.toml line 9: [triggers] every: the duration must be more than 0"),
])
def test_bad_triggers_name_the_line(tmp_path: Path, body: str, line: int, text: str) -> None:
    with pytest.raises(PipelineFileError) as err:
        load_triggers(pipeline(tmp_path, body))
    assert str(err.value).startswith(text) and f"line {line}:" in str(err.value)
    assert err.value.exit_code == 3


def test_no_triggers_is_a_clear_error(tmp_path: Path, home) -> None:
    path = pipeline(tmp_path, "")
    with pytest.raises(PipelineFileError, match=r"mlops.toml: no triggers: add a \[triggers\] table"):
        Watcher(home, path, run=Recorder()).start()


# -- folder drops ----------------------------------------------------------------------------------
def test_files_dropped_together_start_one_run_after_they_settle(tmp_path: Path, home) -> None:
    path = pipeline(tmp_path, 'watch = ["incoming"]\nsettle = "0.4s"')
    incoming = path.parent / "incoming"
    rec, events = Recorder(), Events()
    with Watcher(home, path, run=rec, on_event=events) as w:
        assert incoming.is_dir()  # created on start
        # Written in pieces, a partial download renamed into place, and a hidden temp file.
        with open(incoming / "a.csv", "w") as fh:
            fh.write("x,y\n")
            fh.flush()
            fh.write("1,2\n")
        (incoming / "b.csv.part").write_text("x\n1\n")
        (incoming / "b.csv.part").rename(incoming / "b.csv")
        (incoming / ".tmp-c.csv").write_text("x\n")
        rec.wait_calls(1)
        assert w.wait_idle(15)
        done = events.wait(lambda e: e.kind == "done", "run done")
    assert len(rec.calls) == 1
    trig = events.of("trigger")
    assert len(trig) == 1 and trig[0].trigger.source == "folder"
    assert sorted(Path(f).name for f in trig[0].trigger.files) == ["a.csv", "b.csv"]
    # The file's last write came at least `settle` before the run started.
    last_write = max((incoming / n).stat().st_mtime for n in ("a.csv", "b.csv"))
    start = events.of("start")[0]
    assert start.ts - last_write >= 0.35
    assert done[0].result == {"status": "ok", "run_id": "r1"} and "run r1: ok" in done[0].message
    assert events.of("stopped")


def test_files_present_before_start_do_not_trigger(tmp_path: Path, home) -> None:
    path = pipeline(tmp_path, 'watch = ["incoming"]\nevery = "0.3s"\nsettle = "0.2s"')
    (path.parent / "incoming").mkdir()
    (path.parent / "incoming" / "old.csv").write_text("x\n1\n")
    rec, events = Recorder(), Events()
    with Watcher(home, path, run=rec, on_event=events):
        # The schedule's first run shows the watcher was up long enough to have seen old.csv.
        rec.wait_calls(1)
    assert [e.trigger.source for e in events.of("trigger")][:1] == ["schedule"]
    assert not [e for e in events.of("trigger") if e.trigger.source == "folder"]


# -- monitor alerts ----------------------------------------------------------------------------------
def test_alert_trigger_files_are_consumed(tmp_path: Path, home) -> None:
    path = pipeline(tmp_path, "on_alert = true")
    rule = parse_alert("drift_share>0.3; trigger=pipeline")
    # Two written while no watcher ran: together they start one run at start.
    early = write_trigger(home, "churn-mon", rule, {"ts": time.time(), "message": "drift share 0.5 > 0.3"})
    early2 = write_trigger(home, "other-mon", rule, {"ts": time.time(), "message": "drift share 0.4 > 0.3"})
    rec, events = Recorder(), Events()
    with Watcher(home, path, run=rec, on_event=events) as w:
        rec.wait_calls(1)
        assert w.wait_idle(15)
        late = write_trigger(home, "churn-mon", rule, {"ts": time.time() + 1, "message": "drift share 0.6 > 0.3"})
        rec.wait_calls(2)
        assert w.wait_idle(15)
        (home.root / "triggers" / "broken.json").write_text("{not json")
        err = events.wait(lambda e: e.kind == "error", "bad trigger file reported")
        assert w.wait_idle(15)
    assert len(rec.calls) == 2
    folder = home.root / "triggers"
    assert not early.exists() and not early2.exists() and not late.exists()
    assert sorted(p.name for p in (folder / ".done").iterdir()) == sorted([early.name, early2.name, late.name])
    assert json.loads((folder / ".done" / late.name).read_text())["monitor"] == "churn-mon"
    assert (folder / ".failed" / "broken.json").exists() and "broken.json: not a trigger file" in err[0].message
    trig = events.of("trigger")
    assert [t.trigger.source for t in trig] == ["alert", "alert", "alert"]
    assert "churn-mon drift_share>0.3: drift share 0.6 > 0.3" in trig[2].message
    assert len(events.of("start")[0].triggers) == 2


def test_alert_files_are_left_alone_without_on_alert(tmp_path: Path, home) -> None:
    path = pipeline(tmp_path, 'every = "0.3s"')
    f = write_trigger(home, "m", parse_alert("drift_share>0.3; trigger=pipeline"), {"ts": time.time()})
    rec = Recorder()
    with Watcher(home, path, run=rec):
        rec.wait_calls(1)
    assert f.exists()


# -- schedule ----------------------------------------------------------------------------------------
def test_schedule_runs_every_interval(tmp_path: Path, home) -> None:
    path = pipeline(tmp_path, 'every = "1s"')
    rec, events = Recorder(), Events()
    w = Watcher(home, path, run=rec, on_event=events)
    t0 = time.monotonic()
    w.start()
    try:
        rec.wait_calls(2)
    finally:
        w.stop()
    first, second = rec.calls[:2]
    assert first - t0 >= 0.95, "the first scheduled run waits one interval"
    assert second - first >= 0.9
    assert all(e.trigger.source == "schedule" and e.trigger.detail == "every 1s" for e in events.of("trigger"))
    assert "every 1s (next at" in events.of("ready")[0].message


# -- one run at a time ---------------------------------------------------------------------------------
def test_triggers_during_a_run_queue_exactly_one_follow_up(tmp_path: Path, home) -> None:
    path = pipeline(tmp_path, 'watch = ["incoming"]\nsettle = "0.2s"')
    gate = threading.Event()
    rec, events = Recorder(gate), Events()
    with Watcher(home, path, run=rec, on_event=events) as w:
        w.trigger(Trigger("manual", "first"))
        rec.wait_calls(1)  # now blocked inside the run
        for i in range(4):
            w.trigger(Trigger("manual", f"during {i}"))
        (path.parent / "incoming" / "new.csv").write_text("x\n1\n")
        events.wait(lambda e: e.kind == "trigger" and e.trigger.source == "folder", "folder trigger during the run")
        assert len(rec.calls) == 1 and w.running
        gate.set()
        rec.wait_calls(2)
        assert w.wait_idle(15)
    assert len(rec.calls) == 2
    starts = events.of("start")
    assert len(starts) == 2 and [t.detail for t in starts[0].triggers] == ["first"]
    assert len(starts[1].triggers) == 5 and starts[1].triggers[-1].source == "folder"
    trig = events.of("trigger")
    assert [e.queued for e in trig] == [False, True, True, True, True, True]
    assert "queued one follow-up run" in trig[1].message and "joins the queued follow-up" in trig[2].message


def test_a_failing_run_is_reported_and_watching_goes_on(tmp_path: Path, home) -> None:
    path = pipeline(tmp_path, 'watch = ["incoming"]\nsettle = "0.2s"')
    rec, events = Recorder(fail=True), Events()
    with Watcher(home, path, run=rec, on_event=events) as w:
        w.trigger(Trigger("manual", "one"))
        events.wait(lambda e: e.kind == "error", "failed run reported")
        w.trigger(Trigger("manual", "two"))
        rec.wait_calls(2)
        assert w.wait_idle(15)
    errors = events.of("error")
    assert len(errors) == 2 and "stage 'hello' failed (call 1)" in errors[0].message
    assert errors[0].message.startswith("run failed after")


def test_stop_cancels_the_run_in_progress(tmp_path: Path, home) -> None:
    path = pipeline(tmp_path, 'every = "1h"')
    rec = Recorder(threading.Event())  # never released: only cancel ends the run
    w = Watcher(home, path, run=rec)
    w.start()
    w.trigger(Trigger("manual", "x"))
    rec.wait_calls(1)
    assert w.stop(timeout=10) is True
    assert not w.running
    w.trigger(Trigger("manual", "after stop"))  # ignored
    assert len(rec.calls) == 1
