"""Reading a run's files incrementally (metric histories, job.log tail) and the runs watcher's
path filter, without Textual."""

from __future__ import annotations

import os
from pathlib import Path

from tui_mlops.store.events import append_events
from tui_mlops.tui.runs_watch import run_of
from tui_mlops.tui.screens.run_history import LogTail, RunHistory, last_lines


def test_history_reads_only_new_events_and_folds_every_shape(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    append_events(path, [
        {"seq": 1, "ts": 100.0, "type": "run_start", "run_id": "r"},
        {"seq": 2, "ts": 100.5, "type": "metric", "key": "loss", "value": 0.9, "step": 1},
        {"seq": 3, "ts": 101.0, "type": "metrics", "values": {"loss": 0.7, "auc": 0.6}, "step": 2},
        {"seq": 4, "ts": 102.0, "type": "system", "values": {"cpu_percent": 50.0}},
        {"seq": 5, "ts": 102.5, "type": "metric", "key": "note", "value": "text", "step": 3},
        {"seq": 6, "ts": 103.0, "type": "metric", "key": "lr", "value": 0.1, "step": None},
        {"seq": 7, "ts": 103.5, "type": "device", "device": "cpu", "detail": "2 threads"},
    ])
    h = RunHistory(tmp_path)
    assert h.read_new() is True
    assert h.keys() == ["auc", "loss", "lr"]
    assert h.keys(system=True) == ["system/cpu_percent"]
    assert h.snapshot(["loss", "system/cpu_percent", "nope"]) == {
        "loss": ([1.0, 2.0], [0.9, 0.7]), "system/cpu_percent": ([2.0], [50.0])}
    assert h.snapshot(["lr"])["lr"] == ([1.0], [0.1])  # no step: its ordinal
    assert h.device == "cpu" and not h.ended
    assert h.read_new() is False  # nothing appended: nothing read
    with open(path, "ab") as fh:  # a writer mid-line: left for the next read
        fh.write(b'{"seq": 8, "ts": 104.0, "type": "metric", "key": "loss", "value": 0.5, "st')
    assert h.read_new() is False
    with open(path, "ab") as fh:
        fh.write(b'ep": 3}\n')
    append_events(path, [{"seq": 9, "ts": 105.0, "type": "run_end", "status": "finished"}])
    assert h.read_new() is True
    assert h.snapshot(["loss"])["loss"] == ([1.0, 2.0, 3.0], [0.9, 0.7, 0.5])
    assert h.ended


def test_stats_give_best_step_by_metric_direction(tmp_path: Path) -> None:
    append_events(tmp_path / "events.jsonl", [
        {"seq": i + 1, "ts": 1.0, "type": "metrics", "step": i + 1,
         "values": {"valid/auc": auc, "valid/logloss": loss}}
        for i, (auc, loss) in enumerate([(0.6, 0.7), (0.8, 0.4), (0.7, 0.5)])])
    h = RunHistory(tmp_path)
    h.read_new()
    stats = {s.key: s for s in h.stats(lambda k: "min" if "loss" in k else "max")}
    auc, loss = stats["valid/auc"], stats["valid/logloss"]
    assert (auc.best, auc.best_step, auc.last, auc.min, auc.max, auc.n) == (0.8, 2.0, 0.7, 0.6, 0.8, 3)
    assert (loss.best, loss.best_step, loss.last_step) == (0.4, 2.0, 3.0)


def test_log_tail_reads_the_end_first_then_only_new_lines(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    tail = LogTail(log, max_lines=3)
    assert tail.read_new() is None  # no file yet
    log.write_text("".join(f"line {i}\n" for i in range(10)))
    assert tail.read_new() == ["line 7", "line 8", "line 9"]
    assert tail.read_new() == []
    with open(log, "a") as fh:
        fh.write("line 10\npartial")
    assert tail.read_new() == ["line 10"]
    with open(log, "a") as fh:
        fh.write(" done\n")
    assert tail.read_new() == ["partial done"]
    with open(log, "a") as fh:
        fh.write("Traceback: boom")  # a killed process's last line, without its newline
    assert last_lines(log, 2) == ["partial done", "Traceback: boom"]


def test_log_tail_of_a_big_log_skips_the_cut_line(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_text("".join(f"{i:06d} " + "x" * 90 + "\n" for i in range(5000)))  # ~490 KB
    lines = LogTail(log, max_lines=10_000).read_new()
    assert lines and lines[-1].startswith("004999")
    assert all(len(line) == 97 for line in lines)  # no partial first line


def test_runs_watcher_notes_only_run_fact_files(tmp_path: Path) -> None:
    runs = str(tmp_path / "runs")
    j = os.path.join
    assert run_of(j(runs, "abc123", "events.jsonl"), runs) == "abc123"
    assert run_of(j(runs, "abc123", "edits.jsonl"), runs) == "abc123"
    assert run_of(j(runs, "abc123", "job.json"), runs) == "abc123"
    assert run_of(j(runs, "abc123"), runs, is_directory=True) == "abc123"
    assert run_of(j(runs, "abc123", "job.log"), runs) is None
    assert run_of(j(runs, "abc123", "artifacts", "model.txt"), runs) is None
    assert run_of(j(runs, ".edits-touched"), runs) is None
    assert run_of(runs, runs, is_directory=True) is None
    assert run_of(str(tmp_path / "datasets" / "x.json"), runs) is None
