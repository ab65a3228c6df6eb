"""Register data files as dataset versions: read with DuckDB, snapshot to Parquet, fingerprint.

The version id is a fingerprint of the file's bytes and the read options, so registering the
same bytes again finds the existing version instead of making a duplicate.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tui_mlops.errors import InputError, MlopsError
from tui_mlops.store.home import Home, check_name, name_from_filename
from tui_mlops.store.records import DatasetVersion
from tui_mlops.data import versions as V

FORMATS = ("csv", "tsv", "parquet", "json", "ndjson")
_SUFFIXES = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet", ".pq": "parquet",
    ".json": "json", ".ndjson": "ndjson", ".jsonl": "ndjson", ".txt": "csv",
}
# DuckDB types a user may name in an override (`--type col=TYPE`).
ALLOWED_TYPES = {
    "BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
    "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL", "VARCHAR", "DATE", "TIME", "TIMESTAMP",
    "TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE", "INTERVAL", "BLOB",
}

ProgressFn = Callable[[float], None]


@dataclass(frozen=True)
class IngestResult:
    version: DatasetVersion
    created: bool
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.version.to_dict(), "created": self.created, "source": self.source}


@dataclass
class IngestOptions:
    name: str | None = None
    format: str | None = None
    types: dict[str, str] = field(default_factory=dict)


def detect_format(path: Path) -> tuple[str, bool]:
    """(format, gzipped) from the file name."""
    name = path.name.lower()
    gz = name.endswith(".gz")
    if gz:
        name = name[:-3]
    fmt = _SUFFIXES.get(Path(name).suffix)
    if fmt is None:
        raise InputError(
            f"{path}: unsupported file type {Path(name).suffix or '(none)'!r}; "
            "use CSV, TSV, Parquet, JSON or NDJSON (CSV/TSV may be gzip'd)"
        )
    if gz and fmt not in ("csv", "tsv", "json", "ndjson"):
        raise InputError(f"{path}: gzip'd {fmt} is not supported")
    return fmt, gz


def normalise_types(types: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for col, typ in types.items():
        t = " ".join(typ.upper().split())
        base = t.split("(", 1)[0].strip()
        if base not in ALLOWED_TYPES:
            raise InputError(f"unknown type {typ!r} for column {col!r}; use a DuckDB type such as "
                             "BIGINT, DOUBLE, VARCHAR, DATE or TIMESTAMP")
        out[col] = t
    return out


def _hash_file(path: Path, out: list[str]) -> None:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(8 << 20):
            h.update(block)
    out.append(h.hexdigest())


def _read_sql(fmt: str, types: dict[str, str]) -> tuple[str, list[Any]]:
    """The DuckDB table function reading the source; the path is bound as the first parameter."""
    if fmt in ("csv", "tsv"):
        args = ["header = true", "strict_mode = true"]
        if fmt == "tsv":
            args.append("delim = '\t'")
        params: list[Any] = []
        if types:
            args.append("types = ?")
            params.append(types)
        return f"read_csv(?, {', '.join(args)})", params
    if fmt == "parquet":
        return "read_parquet(?)", []
    fmt_arg = "newline_delimited" if fmt == "ndjson" else "auto"
    return f"read_json(?, format = '{fmt_arg}')", []


def _cast_select(columns: list[str], types: dict[str, str], fmt: str) -> str:
    if not types or fmt in ("csv", "tsv"):
        return "*"
    parts = []
    for c in columns:
        q = '"' + c.replace('"', '""') + '"'
        parts.append(f"CAST({q} AS {types[c]}) AS {q}" if c in types else q)
    return ", ".join(parts)


def ingest_file(home: Home, path: str | Path, options: IngestOptions | None = None, *,
                progress: ProgressFn | None = None, cancel: threading.Event | None = None) -> IngestResult:
    """Register one file. Raises InputError with a one-line message on bad input."""
    import duckdb

    opts = options or IngestOptions()
    src = Path(path)
    if not src.exists():
        raise InputError(f"{src}: no such file")
    if not src.is_file():
        raise InputError(f"{src}: not a regular file")
    fmt, _gz = detect_format(src) if opts.format is None else (opts.format, src.name.lower().endswith(".gz"))
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    name = check_name(opts.name) if opts.name else check_name(name_from_filename(src.name))
    types = normalise_types(opts.types)
    if src.stat().st_size == 0:
        raise InputError(f"{src}: the file is empty")

    # Hash the bytes in a thread while DuckDB reads (hashlib releases the GIL).
    digest: list[str] = []
    hasher = threading.Thread(target=_hash_file, args=(src, digest), daemon=True)
    hasher.start()

    read_fn, read_params = _read_sql(fmt, types)
    source: dict[str, Any] = {"path": str(src.resolve()), "format": fmt, "size_bytes": src.stat().st_size}

    def write_snapshot(tmp: Path) -> None:
        con = duckdb.connect()
        try:
            rel_sql = f"SELECT * FROM {read_fn}"
            columns = [d[0] for d in con.execute(f"DESCRIBE {rel_sql}", [str(src), *read_params]).fetchall()]
            _check_columns(src, columns)
            if types:
                missing = [c for c in types if c not in columns]
                if missing:
                    raise InputError(f"{src}: type override names no such column {missing[0]!r}")
            select = _cast_select(columns, types, fmt)
            sql = f"COPY (SELECT {select} FROM {read_fn}) TO ? (FORMAT parquet, COMPRESSION zstd)"
            _run_with_progress(con, sql, [str(src), *read_params, str(tmp)], progress, cancel)
        except duckdb.Error as exc:
            raise InputError(describe_duckdb_error(src, exc)) from exc
        finally:
            con.close()

    hasher.join()
    if not digest:
        raise InputError(f"{src}: could not be read")
    source["sha256"] = digest[0]
    version = V.fingerprint("ingest", digest[0], fmt, types)
    found = V.existing_version(home, name, version)
    if found is not None:
        return IngestResult(found, False, str(src))
    v, created = V.commit_version(
        home, name, version, write_snapshot,
        operation="ingest", params={"format": fmt, "types": types}, source=source,
    )
    if v.rows == 0:
        # Header-only input: there is nothing to version. Undo the commit.
        V.remove(home, v.ref)
        raise InputError(f"{src}: the file has a header but no data rows")
    return IngestResult(v, created, str(src))


def _check_columns(src: Path, columns: list[str]) -> None:
    seen: set[str] = set()
    for c in columns:
        if c.lower() in seen:
            raise InputError(f"{src}: duplicate column name {c!r}")
        seen.add(c.lower())


def _run_with_progress(con: Any, sql: str, params: list[Any], progress: ProgressFn | None,
                       cancel: threading.Event | None) -> None:
    if progress is None and cancel is None:
        con.execute(sql, params)
        return
    done = threading.Event()
    cancelled = threading.Event()

    def watch() -> None:
        while not done.wait(0.1):
            if cancel is not None and cancel.is_set():
                cancelled.set()
                con.interrupt()
                return
            if progress is not None:
                try:
                    pct = con.query_progress()
                except Exception:
                    pct = -1
                if pct is not None and pct >= 0:
                    progress(min(pct / 100.0, 1.0))

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    try:
        con.execute(sql, params)
    except Exception:
        if cancelled.is_set():
            raise MlopsError("ingest cancelled") from None
        raise
    finally:
        done.set()
        t.join()
    if progress is not None:
        progress(1.0)


def describe_duckdb_error(src: Path, exc: Exception) -> str:
    """One line naming the file (and line/column when DuckDB says) for a read failure."""
    text = str(exc)
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), text)
    return f"{src}: {first}"


def supported_files(folder: Path) -> list[Path]:
    out = []
    for p in sorted(folder.iterdir()):
        if p.is_file() and not p.name.startswith("."):
            try:
                detect_format(p)
            except InputError:
                continue
            out.append(p)
    return out


def ingest_path(home: Home, path: str | Path, options: IngestOptions | None = None, **kw: Any) -> list[IngestResult]:
    """A file, or every supported file in a folder (each its own dataset, named after the file)."""
    p = Path(path)
    if p.is_dir():
        files = supported_files(p)
        if not files:
            raise InputError(f"{p}: no CSV, TSV, Parquet, JSON or NDJSON files in this folder")
        if options and options.name and len(files) > 1:
            raise InputError(f"{p}: --name needs a single file, but the folder has {len(files)}")
        return [ingest_file(home, f, options, **kw) for f in files]
    return [ingest_file(home, p, options, **kw)]
