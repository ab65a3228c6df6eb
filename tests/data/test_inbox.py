"""The inbox: a real watchdog observer registers dropped files once they settle, and moves them."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from ingest_helpers import make_big_csv
from tui_mlops.data import versions as V
from tui_mlops.data.inbox import InboxEvent, InboxWatcher, process_inbox_once
from tui_mlops.store.events import read_events

CSV = "id,name\n1,a\n2,b\n3,c\n"


class Results:
    """The on_result callback: collects events (from the watcher's thread) for the test to wait on."""

    def __init__(self) -> None:
        self.events: list[InboxEvent] = []
        self.threads: set[str] = set()
        self._cond = threading.Condition()

    def __call__(self, event: InboxEvent) -> None:
        with self._cond:
            self.events.append(event)
            self.threads.add(threading.current_thread().name)
            self._cond.notify_all()

    def wait_for(self, n: int, timeout: float = 20.0) -> list[InboxEvent]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.events) >= n, timeout), \
                f"only {len(self.events)} of {n} inbox results after {timeout} s"
            return list(self.events)


@pytest.fixture
def results() -> Results:
    return Results()


def drop(home, name: str, text: str) -> Path:
    path = home.inbox_dir / name
    path.write_text(text)
    return path


def rejected_events(home) -> list[dict]:
    return [e for e in read_events(home.activity_log)[0] if e.get("event") == "rejected"]


def test_a_dropped_file_is_registered_and_moved_to_done(home, results):
    with InboxWatcher(home, results, settle_s=0.2):
        drop(home, "sales 2024.csv", CSV)
        (event,) = results.wait_for(1)
    assert event.ok and event.version is not None and event.version.rows == 3
    assert event.path == str(home.inbox_dir / "sales 2024.csv")
    assert V.resolve(home, "sales_2024") == event.version
    assert (home.inbox_dir / ".done" / "sales 2024.csv").exists()
    assert not (home.inbox_dir / "sales 2024.csv").exists()
    assert results.threads == {"inbox-worker"}


def test_a_slowly_written_file_is_registered_once_complete(home, results):
    rows = [f"{i},name{i}\n" for i in range(4000)]
    with InboxWatcher(home, results):  # the default 0.5 s settle time
        with open(home.inbox_dir / "slow.csv", "w") as fh:
            fh.write("id,name\n")
            for chunk, pause in zip(range(4), (0.2, 0.8, 0.2, 0.0)):
                fh.write("".join(rows[chunk * 1000:(chunk + 1) * 1000]))
                fh.flush()
                # The writer's own pace; 0.8 s is longer than the settle time, yet the file is
                # still open for writing, so the watcher must keep waiting.
                time.sleep(pause)
        (event,) = results.wait_for(1)
        assert results.events == [event]
    assert event.ok and event.version.rows == 4000
    assert len(V.list_versions(home, "slow")) == 1


def test_a_file_renamed_into_place_and_files_already_there(home, results):
    drop(home, "early.csv", CSV)  # present before the watcher starts
    with InboxWatcher(home, results, settle_s=0.2):
        part = drop(home, ".late.csv.part", CSV + "4,d\n")
        os.rename(part, home.inbox_dir / "late.csv")
        events = results.wait_for(2)
    assert sorted((e.version.name, e.version.rows) for e in events) == [("early", 3), ("late", 4)]


def test_a_bad_file_ends_in_failed_with_a_rejected_event(home, results):
    with InboxWatcher(home, results, settle_s=0.2):
        drop(home, "ragged.csv", "a,b\n1,2\n3,4,5\n")
        (event,) = results.wait_for(1)
    assert not event.ok and event.version is None
    assert "ragged.csv: line 3 has 3 fields" in event.message and "\n" not in event.message
    assert (home.inbox_dir / ".failed" / "ragged.csv").exists()
    (logged,) = rejected_events(home)
    assert logged["file"] == str(home.inbox_dir / "ragged.csv") and "line 3" in logged["message"]
    assert V.list_datasets(home) == []


def test_hidden_temp_and_nested_files_are_ignored(home, results):
    (home.inbox_dir / "sub").mkdir()
    with InboxWatcher(home, results, settle_s=0.2):
        for name in (".hidden.csv", "x.csv.part", "y.csv.tmp", "z.csv~", "sub/nested.csv", ".tmp-1-ab-w.csv"):
            drop(home, name, CSV)
        drop(home, "real.csv", CSV)
        (event,) = results.wait_for(1)
        # The watcher saw every one of those files before real.csv settled; only real.csv counts.
    assert event.version.name == "real" and [d.name for d in V.list_datasets(home)] == ["real"]
    assert (home.inbox_dir / "sub" / "nested.csv").exists() and (home.inbox_dir / ".hidden.csv").exists()


def test_a_name_taken_in_done_gets_a_suffix(home, results):
    with InboxWatcher(home, results, settle_s=0.2):
        drop(home, "daily.csv", CSV)
        results.wait_for(1)
        drop(home, "daily.csv", CSV + "4,d\n")
        events = results.wait_for(2)
    assert all(e.ok for e in events) and [e.version.rows for e in events] == [3, 4]
    assert sorted(p.name for p in (home.inbox_dir / ".done").iterdir()) == ["daily-1.csv", "daily.csv"]
    assert len(V.list_versions(home, "daily")) == 2


def test_process_inbox_once(home):
    assert process_inbox_once(home) == []
    drop(home, "good.ndjson", '{"a": 1}\n{"a": 2}\n')
    drop(home, "empty.csv", "")
    drop(home, ".ignored.csv", CSV)
    events = {Path(e.path).name: e for e in process_inbox_once(home, settle_s=0.1)}
    assert set(events) == {"good.ndjson", "empty.csv"}
    assert events["good.ndjson"].ok and events["good.ndjson"].version.rows == 2
    assert not events["empty.csv"].ok and "empty.csv: the file is empty" in events["empty.csv"].message
    assert (home.inbox_dir / ".failed" / "empty.csv").exists()
    assert [e["message"] for e in rejected_events(home)] == [events["empty.csv"].message]
    assert [p.name for p in home.inbox_dir.iterdir() if p.is_file()] == [".ignored.csv"]


def test_stop_during_an_ingest_leaves_the_file_for_next_time(home, results, tmp_path):
    staged = make_big_csv(tmp_path / "big.csv", 1_200_000)
    watcher = InboxWatcher(home, results, settle_s=0.1)
    watcher.start()
    try:
        os.rename(staged, home.inbox_dir / "big.csv")
        deadline = time.monotonic() + 30
        while not list(home.datasets_dir.glob(".tmp-*")) and time.monotonic() < deadline:
            threading.Event().wait(0.001)  # poll until DuckDB is writing the snapshot
        assert list(home.datasets_dir.glob(".tmp-*")), "the ingest never started"
    finally:
        watcher.stop()
    assert results.events == []
    assert (home.inbox_dir / "big.csv").exists() and not (home.inbox_dir / ".failed").exists()
    assert list(home.datasets_dir.rglob(".tmp-*")) == [] and V.list_datasets(home) == []
    # Started again, it picks the file up.
    with InboxWatcher(home, results, settle_s=0.1):
        (event,) = results.wait_for(1, timeout=60)
    assert event.ok and event.version.rows == 1_200_000
