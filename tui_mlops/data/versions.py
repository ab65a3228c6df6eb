"""Dataset versions: commit a snapshot + sidecar atomically, resolve `NAME[@VERSION]`, list, remove.

A version is committed when its sidecar exists: the Parquet snapshot is written (temp + fsync +
rename) first and the sidecar last, so a killed writer leaves either a whole version or none.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from tui_mlops.errors import InputError, NotFoundError, StoreError
from tui_mlops.store.catalog import open_catalog, scan_sidecars, version_from_sidecar
from tui_mlops.store.events import append_events
from tui_mlops.store.home import (
    Home, atomic_write_json, check_name, commit_file, read_json, remove_stale_temps,
    temp_path_for, write_temp_json,
)
from tui_mlops.store.records import DatasetSummary, DatasetVersion

SIDECAR_FORMAT = 1
VERSION_LEN = 16


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def fingerprint(*parts: Any) -> str:
    """A version id: sha256 over canonical JSON of the parts, cut to 16 hex digits."""
    h = hashlib.sha256()
    for part in parts:
        h.update(json.dumps(part, sort_keys=True, separators=(",", ":"), default=str).encode())
        h.update(b"\0")
    return h.hexdigest()[:VERSION_LEN]


def file_sha256(path: Path, chunk: int = 4 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def describe_parquet(path: Path) -> tuple[int, list[dict[str, str]]]:
    """Row count and (name, type) columns of a Parquet file, read from its metadata."""
    import duckdb

    con = duckdb.connect()
    try:
        rel = con.read_parquet(str(path))
        columns = [{"name": n, "type": str(t)} for n, t in zip(rel.columns, rel.types)]
        rows = con.execute("SELECT count(*) FROM read_parquet(?)", [str(path)]).fetchone()[0]
    finally:
        con.close()
    return int(rows), columns


def log_activity(home: Home, event: str, **fields: Any) -> None:
    try:
        append_events(home.activity_log, [{"ts": now_iso(), "event": event, **fields}])
    except OSError:
        pass  # the activity log is a convenience; never fail a data operation over it


def existing_version(home: Home, name: str, version: str) -> DatasetVersion | None:
    sidecar = home.sidecar_path(name, version)
    if sidecar.exists() and home.snapshot_path(name, version).exists():
        return version_from_sidecar(read_json(sidecar))
    return None


def commit_version(
    home: Home,
    name: str,
    version: str,
    write_snapshot: Callable[[Path], None],
    *,
    operation: str,
    params: dict[str, Any],
    parent: DatasetVersion | None = None,
    source: dict[str, Any] | None = None,
) -> tuple[DatasetVersion, bool]:
    """Create version `name@version` unless it exists. Returns (version, created).

    `write_snapshot(tmp_path)` writes the Parquet snapshot to a temp path in the dataset folder.
    """
    check_name(name)
    found = existing_version(home, name, version)
    if found is not None:
        return found, False
    folder = home.dataset_dir(name)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    remove_stale_temps(folder)
    snapshot = home.snapshot_path(name, version)
    target = home.sidecar_path(name, version)
    tmp = temp_path_for(snapshot)
    sc_tmp = temp_path_for(target)
    renamed = False
    try:
        write_snapshot(tmp)
        rows, columns = describe_parquet(tmp)
        sidecar = {
            "format": SIDECAR_FORMAT,
            "name": name,
            "version": version,
            "created_at": now_iso(),
            "rows": rows,
            "columns": columns,
            "size_bytes": tmp.stat().st_size,
            "operation": operation,
            "params": params,
            "parent": {"name": parent.name, "version": parent.version} if parent else None,
            "source": source,
            "snapshot_sha256": file_sha256(tmp),
            "profile": None,
        }
        # The whole sidecar is on disk (as a temp) before the snapshot takes its name: a writer
        # killed between the two renames leaves a temp that remove_stale_temps rolls forward.
        write_temp_json(sc_tmp, sidecar)
        commit_file(tmp, snapshot)
        renamed = True
        commit_file(sc_tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        sc_tmp.unlink(missing_ok=True)
        if renamed and not target.exists():
            snapshot.unlink(missing_ok=True)
        raise
    try:
        with open_catalog(home, fold=False) as cat:
            cat.index_version(sidecar)
    except StoreError:
        pass  # the files are committed; the next catalog open folds the version in
    log_activity(home, "registered", name=name, version=version, operation=operation)
    return version_from_sidecar(sidecar), True


def parse_ref(ref: str) -> tuple[str, str | None]:
    name, _, version = ref.partition("@")
    check_name(name)
    if _ and not version:
        raise InputError(f"invalid dataset reference {ref!r}: nothing after '@'")
    return name, (version or None)


def resolve(home: Home, ref: str) -> DatasetVersion:
    """`NAME` (newest version), `NAME@latest`, or `NAME@PREFIX` (at least 4 hex digits)."""
    name, version = parse_ref(ref)
    with open_catalog(home) as cat:
        if version is None or version == "latest":
            versions = cat.list_versions(name)
            if not versions:
                raise NotFoundError(f"no dataset named {name!r} (see `mlops-tui data list`)")
            return versions[0]
        if len(version) < 4:
            raise InputError(f"version {version!r} of {name!r} is too short: give at least 4 characters")
        matches = cat.find_versions(name, version)
    if not matches:
        raise NotFoundError(f"dataset {name!r} has no version {version!r} (see `mlops-tui data show {name}`)")
    if len(matches) > 1:
        raise InputError(f"version {version!r} of {name!r} is ambiguous: matches {len(matches)} versions")
    return matches[0]


def list_datasets(home: Home) -> list[DatasetSummary]:
    with open_catalog(home) as cat:
        return cat.list_datasets()


def list_versions(home: Home, name: str | None = None) -> list[DatasetVersion]:
    if name is not None:
        check_name(name)
    with open_catalog(home) as cat:
        versions = cat.list_versions(name)
    if name is not None and not versions:
        raise NotFoundError(f"no dataset named {name!r} (see `mlops-tui data list`)")
    return versions


def sidecar(home: Home, v: DatasetVersion) -> dict[str, Any]:
    return read_json(home.sidecar_path(v.name, v.version))


def update_sidecar(home: Home, v: DatasetVersion, **fields: Any) -> dict[str, Any]:
    """Add derived facts (a profile) to a sidecar; the version's data never changes."""
    sc = sidecar(home, v)
    sc.update(fields)
    atomic_write_json(home.sidecar_path(v.name, v.version), sc)
    return sc


def snapshot_path(home: Home, v: DatasetVersion) -> Path:
    return home.snapshot_path(v.name, v.version)


def remove(home: Home, ref: str, *, all_versions: bool = False) -> list[DatasetVersion]:
    """Remove one version (or, with all_versions, every version of the dataset)."""
    if all_versions:
        name, version = parse_ref(ref)
        if version:
            raise InputError("give a dataset name without '@VERSION' to remove all its versions")
        targets = list_versions(home, name)
    else:
        targets = [resolve(home, ref)]
    for v in targets:
        # Un-commit first (the sidecar), then the data: a crash in between leaves an orphan
        # snapshot that no reader sees and `store check` reports.
        home.sidecar_path(v.name, v.version).unlink(missing_ok=True)
        home.snapshot_path(v.name, v.version).unlink(missing_ok=True)
        log_activity(home, "removed", name=v.name, version=v.version)
    folder = home.dataset_dir(targets[0].name) if targets else None
    if folder is not None and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
    with open_catalog(home) as cat:
        for v in targets:
            cat.unindex_version(v.name, v.version)
    return targets


def rebuild_catalog(home: Home) -> int:
    """Recreate the catalog from the files alone. Returns the number of versions indexed."""
    home.ensure()
    path = home.catalog_path
    if path.exists():
        # Renamed aside, not deleted, until the new one is built: a failure keeps the old index.
        aside = path.with_name(path.name + ".old")
        os.replace(path, aside)
        wal = path.with_name(path.name + ".wal")
        if wal.exists():
            os.replace(wal, aside.with_name(aside.name + ".wal"))
    else:
        aside = None
    try:
        with open_catalog(home) as cat:
            count = len(cat.list_versions())
    except BaseException:
        if aside is not None:
            os.replace(aside, path)
        raise
    if aside is not None:
        aside.unlink(missing_ok=True)
        aside.with_name(aside.name + ".wal").unlink(missing_ok=True)
    return count


def check_store(home: Home) -> list[str]:
    """Problems found by verifying every snapshot against its sidecar's fingerprint."""
    problems: list[str] = []
    # Open first: the fold-in clears temps of killed writers and indexes what they committed.
    with open_catalog(home) as cat:
        indexed = {(v.name, v.version) for v in cat.list_versions()}
    committed = scan_sidecars(home)
    for (name, version), sc_path in sorted(committed.items()):
        try:
            sc = read_json(sc_path)
        except (OSError, ValueError) as exc:
            problems.append(f"{sc_path}: unreadable sidecar ({exc})")
            continue
        snap = sc_path.with_suffix(".parquet")
        expected = sc.get("snapshot_sha256")
        if expected and file_sha256(snap) != expected:
            problems.append(f"{snap}: content does not match its fingerprint (sha256 differs)")
    if home.datasets_dir.is_dir():
        for folder in home.datasets_dir.iterdir():
            if not folder.is_dir():
                continue
            for snap in folder.glob("*.parquet"):
                if snap.name.startswith(".tmp-"):
                    continue
                if (folder.name, snap.stem) not in committed:
                    problems.append(f"{snap}: snapshot without a sidecar (an interrupted write or removal)")
            for sc_path in folder.glob("*.json"):
                if not sc_path.name.startswith(".tmp-") and not sc_path.with_suffix(".parquet").exists():
                    problems.append(f"{sc_path}: sidecar without its snapshot")
    for key in sorted(indexed ^ committed.keys()):
        problems.append(f"catalog and files disagree on {key[0]}@{key[1]}")
    return problems
