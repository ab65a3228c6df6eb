"""Submit's checks of its input, run references, and reading a job's log."""

from __future__ import annotations

import pytest

from job_helpers import py, wait_for
from tui_mlops.errors import InputError, NotFoundError
from tui_mlops.jobs import manager


@pytest.mark.parametrize("kind, payload, message", [
    ("bake", {}, "unknown job kind 'bake': use one of train, sweep, command"),
    ("command", {"argv": []}, "a command job needs payload['argv']: a non-empty list of strings"),
    ("command", {"argv": "ls -l"}, "a command job needs payload['argv']: a non-empty list of strings"),
    ("train", {}, "a train job needs payload['spec']: a training spec dict"),
])
def test_submit_rejects_bad_jobs(home, kind, payload, message):
    with pytest.raises(InputError) as err:
        manager.submit(home, kind, payload)
    assert str(err.value) == message
    assert list(home.runs_dir.iterdir()) == []


def test_run_refs_and_log_tail(home):
    run_id = manager.submit(home, "command", {"argv": py("for i in range(500): print(f'line {i}')")},
                            run_id="abcd12345678")
    assert run_id == "abcd12345678"
    with pytest.raises(InputError, match="run abcd12345678 already exists"):
        manager.submit(home, "command", {"argv": py("pass")}, run_id=run_id)
    wait_for(lambda: manager.get_job(home, "abcd").status == "finished", "the job to finish")
    assert manager.job_log(home, "abcd", tail=3) == ["line 497", "line 498", "line 499"]
    assert len(manager.job_log(home, run_id, tail=1000)) == 500
    assert manager.job_log(home, run_id, tail=0) == []
    with pytest.raises(NotFoundError):
        manager.cancel(home, "ffff")
    with pytest.raises(InputError):
        manager.job_log(home, "ab")


def _ended_run(home, run_id: str, status: str = "finished") -> None:
    from tui_mlops.store.events import append_events

    append_events(home.runs_dir / run_id / "events.jsonl", [
        {"seq": 1, "ts": 1.0, "type": "run_start", "run_id": run_id, "kind": "script", "pid": 1, "pid_started": 1.0},
        *({"seq": 2 + i, "ts": 2.0, "type": "metric", "key": "loss", "value": 0.1, "step": i} for i in range(3)),
        {"seq": 9, "ts": 3.0, "type": "run_end", "status": status, "error": None}])


def test_ended_runs_are_remembered_across_processes(home):
    import shutil

    from tui_mlops.jobs.state import ENDED_FILE, StateCache

    for i in range(3):
        _ended_run(home, f"abcd0000000{i}")
    first = {s.run_id: s.end_status for s in StateCache().scan(home)}
    assert first == {f"abcd0000000{i}": "finished" for i in range(3)}
    # A fresh process trusts the file: it does not read the logs of runs that ended.
    (home.runs_dir / "abcd00000000" / "events.jsonl").write_bytes(b"")
    shutil.rmtree(home.runs_dir / "abcd00000001")
    fresh = {s.run_id: s.end_status for s in StateCache().scan(home)}
    assert fresh == {"abcd00000000": "finished", "abcd00000002": "finished"}

    # Lines of removed runs are dropped once they outnumber the live ones.
    ended = home.root / "jobs" / ENDED_FILE
    with open(ended, "a") as fh:
        for i in range(1500):
            fh.write('{"run_id":"%012x","end_status":"finished"}\n' % (0xfeed00000000 + i))
    assert len(StateCache().scan(home)) == 2
    assert len(ended.read_text().splitlines()) == 2


def test_state_of_a_big_log_from_its_head_and_tail(home):
    from tui_mlops.jobs.state import read_state
    from tui_mlops.store.events import append_events

    path = home.runs_dir / "beef00000001" / "events.jsonl"
    spec = {"trial_specs": [{"params": {"num_leaves": i}, "pad": "x" * 1000} for i in range(100)]}  # ~100 KB
    append_events(path, [{"seq": 1, "ts": 1.0, "type": "run_start", "run_id": "beef00000001", "kind": "sweep",
                          "pid": 1, "pid_started": 1.0, "host": "elsewhere", "spec": spec},
                         {"seq": 2, "ts": 2.0, "type": "status", "status": "queued"},
                         {"seq": 3, "ts": 3.0, "type": "status", "status": "running"}])
    append_events(path, [{"seq": 4 + i, "ts": 4.0, "type": "metric", "key": "loss", "value": 0.5, "step": i}
                         for i in range(5000)])
    st = read_state(path.parent)
    assert (st.kind, st.status, st.started, st.host, st.terminal) == ("sweep", "running", 3.0, "elsewhere", False)
    append_events(path, [{"seq": 9999, "ts": 9.0, "type": "run_end", "status": "failed", "error": "boom"}])
    st = read_state(path.parent)
    assert (st.end_status, st.error, st.ended, st.status) == ("failed", "boom", 9.0, "running")
