"""The store: atomic writes, event logs, catalog migrations, fold-in, rebuild, check, locks."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from tui_mlops.data import versions as V
from tui_mlops.errors import InputError, StoreError
from tui_mlops.store import catalog as catalog_mod
from tui_mlops.store.catalog import SCHEMA_VERSION, open_catalog
from tui_mlops.store.events import append_events, read_events
from tui_mlops.store.home import (
    TMP_PREFIX, Home, atomic_write_bytes, atomic_write_json, check_name, name_from_filename,
    read_json, remove_stale_temps,
)


def add_version(home: Home, name: str = "ds", n: int = 3):
    """A small version committed the way every service does it."""

    def write(tmp: Path) -> None:
        con = duckdb.connect()
        con.execute("COPY (SELECT range AS x FROM range(?)) TO ? (FORMAT parquet)", [n, str(tmp)])
        con.close()

    v, created = V.commit_version(home, name, V.fingerprint(name, n), write, operation="test", params={"n": n})
    assert created
    return v


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def temps(folder: Path) -> list[Path]:
    return list(folder.rglob(f"{TMP_PREFIX}*"))


# -- home and atomic writes -----------------------------------------------------------------

def test_home_is_created_private_with_its_layout(tmp_path):
    old = os.umask(0o022)
    try:
        home = Home.open(tmp_path / "a" / "home")
    finally:
        os.umask(old)
    assert stat.S_IMODE(home.root.stat().st_mode) == 0o700
    for sub in (home.datasets_dir, home.inbox_dir, home.runs_dir, home.rules_dir):
        assert sub.is_dir() and stat.S_IMODE(sub.stat().st_mode) == 0o700
    Home.open(home.root)  # opening again is harmless


def test_names_are_checked_and_derived_from_file_names():
    assert check_name("sales.2024_v-1") == "sales.2024_v-1"
    for bad in ("../../etc", "a/b", ".x", "", "a..b", "x" * 65):
        with pytest.raises(InputError, match="invalid dataset name"):
            check_name(bad)
    assert name_from_filename("Sales Q1 (final).csv.gz") == "Sales_Q1_final"
    assert name_from_filename("../../etc.csv") == "etc"


def test_atomic_write_replaces_whole_or_not_at_all(tmp_path):
    target = tmp_path / "f.json"
    atomic_write_json(target, {"a": 1})
    assert read_json(target) == {"a": 1}
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]  # fails mid-write
    assert read_json(target) == {"a": 1}
    assert temps(tmp_path) == []


def test_stale_temps_of_dead_writers_are_removed_live_ones_kept(tmp_path):
    dead = tmp_path / f"{TMP_PREFIX}{dead_pid()}-abcd1234-x.parquet"
    live = tmp_path / f"{TMP_PREFIX}{os.getppid()}-abcd1234-y.parquet"
    dead.write_bytes(b"x")
    live.write_bytes(b"y")
    assert remove_stale_temps(tmp_path) == [dead]
    assert live.exists() and not dead.exists()


# -- event logs -----------------------------------------------------------------------------

def test_events_append_and_read_incrementally(tmp_path):
    log = tmp_path / "events.jsonl"
    assert read_events(log) == ([], 0)
    append_events(log, [{"seq": 1}, {"seq": 2}])
    events, offset = read_events(log)
    assert [e["seq"] for e in events] == [1, 2] and offset == log.stat().st_size
    append_events(log, [{"seq": 3}])
    more, offset2 = read_events(log, offset)
    assert [e["seq"] for e in more] == [3] and offset2 == log.stat().st_size


def test_a_torn_last_line_is_waited_for_then_skipped(tmp_path):
    log = tmp_path / "events.jsonl"
    append_events(log, [{"seq": 1}])
    with open(log, "ab") as fh:
        fh.write(b'{"seq": 2, "half')  # a writer killed mid-line
    events, offset = read_events(log)
    assert [e["seq"] for e in events] == [1]
    assert read_events(log, offset) == ([], offset)  # the torn line is left for later
    append_events(log, [{"seq": 3}])  # a new writer starts on a fresh line
    events, _ = read_events(log, offset)
    assert [e["seq"] for e in events] == [3]
    assert [e["seq"] for e in read_events(log)[0]] == [1, 3]


# -- catalog: migrations, fold-in, rebuild --------------------------------------------------

def test_migrations_are_numbered_and_applied_once(home, monkeypatch):
    with open_catalog(home) as cat:
        assert cat.schema_version() == SCHEMA_VERSION
    with open_catalog(home) as cat:
        rows = cat.con.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    assert [r[0] for r in rows] == list(range(1, SCHEMA_VERSION + 1))
    # A later release adds migration N+1: it runs on the next open, on the existing catalog.
    monkeypatch.setattr(catalog_mod, "MIGRATIONS", catalog_mod.MIGRATIONS + [["CREATE TABLE extra (x INTEGER)"]])
    monkeypatch.setattr(catalog_mod, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with open_catalog(home) as cat:
        assert cat.schema_version() == SCHEMA_VERSION + 1
        assert cat.con.execute("SELECT count(*) FROM extra").fetchone()[0] == 0


def test_a_catalog_from_a_newer_release_is_refused(home):
    with open_catalog(home) as cat:
        cat.con.execute("INSERT INTO schema_version VALUES (?)", [SCHEMA_VERSION + 5])
    with pytest.raises(StoreError, match="newer than this mlops-tui understands"):
        with open_catalog(home):
            pass


def test_versions_written_without_the_catalog_are_folded_in(home):
    v = add_version(home, "a")
    home.catalog_path.unlink()  # as if another process wrote the files and never indexed them
    with open_catalog(home) as cat:
        assert cat.list_versions() == [v]
    # Files removed behind the catalog's back: the next open drops the row.
    V.snapshot_path(home, v).unlink()
    home.sidecar_path(v.name, v.version).unlink()
    assert V.list_versions(home) == []


def test_rebuild_recreates_the_catalog_from_files(home):
    a, b = add_version(home, "a"), add_version(home, "b", 5)
    home.catalog_path.write_bytes(b"this is not a duckdb file" * 100)
    with pytest.raises(StoreError, match=r"cannot open the catalog .*store rebuild"):
        V.list_versions(home)
    assert V.rebuild_catalog(home) == 2
    assert {v.ref for v in V.list_versions(home)} == {a.ref, b.ref}
    assert V.resolve(home, "b").rows == 5
    assert not list(home.root.glob("catalog.duckdb.old*"))


def test_check_store_finds_tampering_and_orphans(home):
    v = add_version(home, "a")
    w = add_version(home, "b")
    assert V.check_store(home) == []
    snap = V.snapshot_path(home, v)
    data = bytearray(snap.read_bytes())
    data[len(data) // 2] ^= 0xFF
    snap.write_bytes(bytes(data))
    # An interrupted removal: the sidecar went, the snapshot stayed.
    home.sidecar_path(w.name, w.version).unlink()
    problems = V.check_store(home)
    assert any(str(snap) in p and "does not match its fingerprint" in p for p in problems)
    assert any(w.version in p and "snapshot without a sidecar" in p for p in problems)
    assert len(problems) == 2


def test_a_commit_killed_between_its_renames_is_finished_on_next_open(home):
    v = add_version(home, "a")
    sidecar = home.sidecar_path(v.name, v.version)
    # The state a writer leaves when killed after renaming the snapshot, before the sidecar.
    sidecar.rename(sidecar.with_name(f"{TMP_PREFIX}{dead_pid()}-0badc0de-{sidecar.name}"))
    torn = home.dataset_dir("a") / f"{TMP_PREFIX}{dead_pid()}-0badc0de-{'f' * 16}.json"
    torn.write_text('{"version": ')  # and one killed while writing its sidecar: just removed
    home.catalog_path.unlink()
    with open_catalog(home) as cat:
        assert cat.list_versions() == [v]
    assert sidecar.exists() and temps(home.datasets_dir) == []
    assert V.check_store(home) == []


# -- lock conflicts -------------------------------------------------------------------------

HOLDER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
con.close()
"""


def test_a_locked_catalog_fails_clearly_then_works_once_released(home):
    with open_catalog(home):
        pass
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(home.catalog_path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        t0 = time.monotonic()
        with pytest.raises(StoreError) as info:
            with open_catalog(home, timeout=0.5):
                pass
        waited = time.monotonic() - t0
        message = str(info.value)
        assert "locked by another process" in message and str(home.catalog_path) in message
        assert "\n" not in message and "0.5 s" in message
        assert 0.4 <= waited < 5
    finally:
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(30)
        holder.stdout.close()
    with open_catalog(home, timeout=0.5) as cat:
        assert cat.list_versions() == []
