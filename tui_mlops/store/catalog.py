"""The DuckDB catalog: an index over the store's files, opened per operation and closed.

Files are the truth. Each open applies numbered migrations and folds in facts other processes
wrote since (new or removed dataset sidecars), so the catalog can always be rebuilt from files.
"""

from __future__ import annotations

import json
import re
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from tui_mlops.errors import StoreError
from tui_mlops.store.home import TMP_PREFIX, Home, read_json, remove_stale_temps
from tui_mlops.store.records import Column, DatasetSummary, DatasetVersion
from tui_mlops.store.runs_catalog import RUNS_MIGRATION, fold_runs

LOCK_TIMEOUT_S = 10.0

# One catalog connection at a time per process: the app opens the catalog from several thread
# workers, and two DuckDB connections to one file in one process share an instance whose
# concurrent write transactions can conflict at COMMIT. Re-entrant for nested opens.
CATALOG_LOCK = threading.RLock()

# Numbered migrations: each entry runs once, in order; the applied number lives in the catalog.
MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE dataset_versions (
            name VARCHAR NOT NULL,
            version VARCHAR NOT NULL,
            created_at VARCHAR NOT NULL,
            rows BIGINT NOT NULL,
            n_columns INTEGER NOT NULL,
            columns_json VARCHAR NOT NULL,
            size_bytes BIGINT NOT NULL,
            operation VARCHAR NOT NULL,
            params_json VARCHAR NOT NULL,
            parent_name VARCHAR,
            parent_version VARCHAR,
            source_path VARCHAR,
            PRIMARY KEY (name, version)
        )""",
    ],
    RUNS_MIGRATION,  # 2: runs, params, tags, metrics, metric_summary, artifacts (store/runs_catalog.py)
]
SCHEMA_VERSION = len(MIGRATIONS)

_VERSION_COLS = (
    "name, version, created_at, rows, columns_json, size_bytes, operation, params_json, "
    "parent_name, parent_version, source_path"
)


def _connect(path: Path, read_only: bool, timeout: float):
    import duckdb

    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as exc:
            locked = isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()
            if not locked:
                raise StoreError(
                    f"cannot open the catalog {path}: {_reason(exc, path)} "
                    "(run `mlops-tui store rebuild` to recreate it from the files)"
                ) from exc
            if time.monotonic() >= deadline:
                raise StoreError(
                    f"the catalog {path} is locked by another process; "
                    f"gave up after {timeout:g} s (close the other mlops-tui and retry)"
                ) from exc
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def _reason(exc: Exception, path: Path) -> str:
    """DuckDB's first line without its 'IO Error:' prefix or a repeat of the path."""
    first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), str(exc))
    first = re.sub(r"^[A-Za-z ]*Error:\s*", "", first)
    return first.replace(f' "{path}"', "").replace(f" '{path}'", "")


class Catalog:
    """One open connection; use `open_catalog(home)` as a context manager."""

    def __init__(self, con: Any, home: Home) -> None:
        self.con = con
        self.home = home

    # -- schema -----------------------------------------------------------------------------
    def migrate(self) -> None:
        con = self.con
        con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = con.execute("SELECT max(version) FROM schema_version").fetchone()
        current = row[0] or 0
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"the catalog {self.home.catalog_path} has schema version {current}, newer than "
                f"this mlops-tui understands ({SCHEMA_VERSION}); upgrade mlops-tui"
            )
        for number in range(current + 1, SCHEMA_VERSION + 1):
            con.execute("BEGIN")
            for statement in MIGRATIONS[number - 1]:
                con.execute(statement)
            con.execute("INSERT INTO schema_version VALUES (?)", [number])
            con.execute("COMMIT")

    def schema_version(self) -> int:
        return self.con.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0

    # -- fold-in ----------------------------------------------------------------------------
    def fold(self) -> int:
        """Index sidecars written since the last open; drop rows whose files are gone."""
        clean_dead_writers(self.home)
        on_disk = scan_sidecars(self.home)
        indexed = {(n, v) for n, v in self.con.execute("SELECT name, version FROM dataset_versions").fetchall()}
        added = removed = 0
        self.con.execute("BEGIN")
        try:
            for key in indexed - on_disk.keys():
                self.con.execute("DELETE FROM dataset_versions WHERE name = ? AND version = ?", list(key))
                removed += 1
            for key in on_disk.keys() - indexed:
                try:
                    sidecar = read_json(on_disk[key])
                except (OSError, ValueError):
                    continue  # unreadable sidecar: `store check` reports it
                self._insert(sidecar)
                added += 1
            self.con.execute("COMMIT")
        except BaseException:
            _rollback(self.con)
            raise
        return added + removed + fold_runs(self)

    def _insert(self, sc: dict[str, Any]) -> None:
        parent = sc.get("parent") or {}
        source = sc.get("source") or {}
        self.con.execute(
            f"INSERT OR REPLACE INTO dataset_versions ({_VERSION_COLS}, n_columns) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                sc["name"], sc["version"], sc["created_at"], int(sc["rows"]),
                json.dumps(sc["columns"]), int(sc["size_bytes"]), sc["operation"],
                json.dumps(sc.get("params") or {}, sort_keys=True),
                parent.get("name"), parent.get("version"), source.get("path"),
                len(sc["columns"]),
            ],
        )

    def index_version(self, sidecar: dict[str, Any]) -> None:
        """Index one freshly committed version (its sidecar already on disk)."""
        self._insert(sidecar)

    def unindex_version(self, name: str, version: str) -> None:
        self.con.execute("DELETE FROM dataset_versions WHERE name = ? AND version = ?", [name, version])

    # -- queries ----------------------------------------------------------------------------
    def list_datasets(self) -> list[DatasetSummary]:
        rows = self.con.execute(
            """SELECT name, count(*) AS versions,
                      arg_max(version, created_at || version), max(created_at),
                      arg_max(rows, created_at || version), arg_max(n_columns, created_at || version),
                      arg_max(size_bytes, created_at || version)
               FROM dataset_versions GROUP BY name ORDER BY name"""
        ).fetchall()
        return [DatasetSummary(*r) for r in rows]

    def list_versions(self, name: str | None = None) -> list[DatasetVersion]:
        sql = f"SELECT {_VERSION_COLS} FROM dataset_versions"
        params: list[Any] = []
        if name is not None:
            sql += " WHERE name = ?"
            params.append(name)
        sql += " ORDER BY name, created_at DESC, version"
        return [_version(r) for r in self.con.execute(sql, params).fetchall()]

    def find_versions(self, name: str, prefix: str) -> list[DatasetVersion]:
        rows = self.con.execute(
            f"SELECT {_VERSION_COLS} FROM dataset_versions WHERE name = ? AND starts_with(version, ?)",
            [name, prefix],
        ).fetchall()
        return [_version(r) for r in rows]

    def children(self, name: str, version: str) -> list[DatasetVersion]:
        rows = self.con.execute(
            f"SELECT {_VERSION_COLS} FROM dataset_versions WHERE parent_name = ? AND parent_version = ?",
            [name, version],
        ).fetchall()
        return [_version(r) for r in rows]


def _version(r: tuple) -> DatasetVersion:
    return DatasetVersion(
        name=r[0], version=r[1], created_at=r[2], rows=r[3],
        columns=tuple(Column(c["name"], c["type"]) for c in json.loads(r[4])),
        size_bytes=r[5], operation=r[6], params=json.loads(r[7]),
        parent_name=r[8], parent_version=r[9], source_path=r[10],
    )


def version_from_sidecar(sc: dict[str, Any]) -> DatasetVersion:
    parent = sc.get("parent") or {}
    return DatasetVersion(
        name=sc["name"], version=sc["version"], created_at=sc["created_at"], rows=int(sc["rows"]),
        columns=tuple(Column(c["name"], c["type"]) for c in sc["columns"]),
        size_bytes=int(sc["size_bytes"]), operation=sc["operation"], params=sc.get("params") or {},
        parent_name=parent.get("name"), parent_version=parent.get("version"),
        source_path=(sc.get("source") or {}).get("path"),
    )


def clean_dead_writers(home: Home) -> None:
    """Remove temps of killed writers (finishing a commit killed between its last two renames)."""
    root = home.datasets_dir
    if not root.is_dir():
        return
    remove_stale_temps(root)
    for folder in root.iterdir():
        if folder.is_dir():
            remove_stale_temps(folder)


def scan_sidecars(home: Home) -> dict[tuple[str, str], Path]:
    """Committed versions on disk: a sidecar next to its snapshot (the sidecar is written last)."""
    found: dict[tuple[str, str], Path] = {}
    if not home.datasets_dir.is_dir():
        return found
    for sidecar in home.datasets_dir.glob("*/*.json"):
        if sidecar.name.startswith(TMP_PREFIX):
            continue
        if sidecar.with_suffix(".parquet").exists():
            found[(sidecar.parent.name, sidecar.stem)] = sidecar
    return found


@contextmanager
def open_catalog(home: Home, *, read_only: bool = False, fold: bool = True,
                 timeout: float = LOCK_TIMEOUT_S) -> Iterator[Catalog]:
    """Open the catalog for one operation: migrate, fold in new files, yield, close.

    Read-only opens skip migration and fold-in (they cannot write); callers that want fresh
    results open read-write. A missing catalog is created.
    """
    home.ensure()
    if read_only and not home.catalog_path.exists():
        read_only = False
    with CATALOG_LOCK:
        con = _connect(home.catalog_path, read_only, timeout)
        try:
            cat = Catalog(con, home)
            if not read_only:
                cat.migrate()
                if fold:
                    cat.fold()
            yield cat
        finally:
            con.close()


def _rollback(con: Any) -> None:
    """Roll back if a transaction is still open (a failed COMMIT has already ended it)."""
    try:
        con.execute("ROLLBACK")
    except Exception:
        pass
