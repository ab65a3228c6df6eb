"""Ingest pre-checks on a file's first bytes, and DuckDB read errors turned into one-line messages.

The checks read only a small head of the file (the one full read happens in DuckDB), so a bad
file fails fast and a good one costs almost nothing extra.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from tui_mlops.errors import InputError

HEAD_BYTES = 1 << 20
# Only on the error path: how much of a file to scan for the line DuckDB's sniffer tripped on.
DIAGNOSE_BYTES = 64 << 20
CSV_DELIMITERS = (",", ";", "|", "\t")
JSON_RECORDS_CHECKED = 1000


@dataclass(frozen=True)
class Head:
    """The first bytes of a file (decompressed), cut at the last whole line unless `complete`."""

    data: bytes
    complete: bool


@dataclass(frozen=True)
class CsvLayout:
    delimiter: str
    header: tuple[str, ...]


@dataclass
class ReadPlan:
    """How DuckDB reads the source: a table function (path bound first) and a select list."""

    src: Path
    fmt: str
    gz: bool
    types: dict[str, str]
    read_sql: str = ""
    read_params: list[Any] = field(default_factory=list)
    select: str = "*"
    columns: list[str] = field(default_factory=list)
    json_base: str = ""  # read_json(...) without a column list


def read_head(src: Path, gz: bool, limit: int = HEAD_BYTES) -> Head:
    try:
        opener: Callable[..., Any] = gzip.open if gz else open
        with opener(src, "rb") as fh:
            data = fh.read(limit + 1)
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise InputError(f"{src}: not a valid gzip file ({exc})") from exc
    except EOFError as exc:
        raise InputError(f"{src}: the gzip data is cut short (is the file still being written?)") from exc
    except PermissionError as exc:
        raise InputError(f"{src}: permission denied") from exc
    except OSError as exc:
        raise InputError(f"{src}: cannot read the file: {exc.strerror or exc}") from exc
    if len(data) <= limit:
        return Head(data, True)
    data = data[:limit]
    cut = data.rfind(b"\n")
    return Head(data[: cut + 1] if cut > 0 else data, False)


def _delim_name(delim: str) -> str:
    return {"\t": "tab", ",": "','", ";": "';'", "|": "'|'"}.get(delim, repr(delim))


def check_text(src: Path, head: Head, what: str) -> str:
    """The head decoded as UTF-8, or an InputError saying why the file is not readable text."""
    data = head.data
    if head.complete and not data.strip():
        raise InputError(f"{src}: the file is empty")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{src}: the file is UTF-16 encoded; re-encode it to UTF-8 "
                         "(e.g. `iconv -f utf-16 -t utf-8`)")
    if data.startswith(b"\x1f\x8b"):
        raise InputError(f"{src}: the file is gzip-compressed; name it {src.name}.gz")
    if data.startswith(b"PAR1"):
        raise InputError(f"{src}: this is a Parquet file; name it with a .parquet suffix")
    control = sum(1 for b in data[:65536] if b < 32 and b not in b"\t\n\r\f\v")
    if b"\x00" in data or control > 0.05 * min(len(data), 65536):
        raise InputError(f"{src}: looks like a binary file, not {what} text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if not head.complete and exc.end >= len(data) - 1 and "unexpected end" in exc.reason:
            # A head with no newline in it may end inside a character.
            return data[: exc.start].decode("utf-8-sig")
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"{src}: line {line} is not valid UTF-8 (byte 0x{data[exc.start]:02x}); re-encode the "
            "file to UTF-8, e.g. `iconv -f latin1 -t utf-8`"
        ) from None


def _pick_delimiter(text: str) -> str:
    """The candidate that splits the header into the most fields (ties: the earlier candidate)."""
    first = next(iter(io.StringIO(text, newline="")), "")
    best, best_n = ",", 1
    for delim in CSV_DELIMITERS:
        try:
            n = len(next(csv.reader([first], delimiter=delim), []))
        except csv.Error:
            continue
        if n > best_n:
            best, best_n = delim, n
    return best


def _records(text: str, delim: str) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, fields) per CSV record; raises csv.Error with `.line` set."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, quotechar='"',
                        doublequote=True, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            exc.line = start  # type: ignore[attr-defined]
            raise
        yield start, row


def check_csv(src: Path, head: Head, tsv: bool) -> CsvLayout:
    """Delimiter and header of a CSV/TSV head; InputError on the bad-input cases it can see."""
    what = "TSV" if tsv else "CSV"
    text = check_text(src, head, what)
    delim = "\t" if tsv else _pick_delimiter(text)
    header: list[str] | None = None
    data_rows = 0
    judged_all = head.complete
    # When the head is cut, its last record may be cut too: judge only the records before it.
    pending: tuple[int, list[str]] | None = None
    try:
        for start, row in _records(text, delim):
            if header is None:
                if row:
                    header = row
                    _check_header(src, header)
                continue
            if pending is not None:
                _check_row(src, pending, header, delim)
                data_rows += 1
            pending = (start, row) if (row or len(header) == 1) else None
    except csv.Error as exc:
        msg = str(exc)
        if "field larger" in msg:
            judged_all = False  # a huge field: leave the rest to DuckDB
        elif head.complete or "unexpected end" not in msg:
            raise InputError(f"{src}: line {getattr(exc, 'line', 0)}: {_csv_problem(msg)}") from None
        pending = None
    if pending is not None and judged_all:
        _check_row(src, pending, header or [], delim)
        data_rows += 1
    if header is None:
        raise InputError(f"{src}: the file is empty")
    if judged_all and data_rows == 0:
        raise InputError(f"{src}: the file has a header but no data rows")
    return CsvLayout(delim, tuple(header))


def _csv_problem(msg: str) -> str:
    if "unexpected end" in msg:
        return "a quoted field is never closed (unbalanced '\"')"
    if "expected after" in msg:
        return "text follows a closing quote (a '\"' inside a quoted field must be doubled)"
    return f"malformed CSV ({msg})"


def _check_header(src: Path, header: list[str]) -> None:
    seen: dict[str, str] = {}
    for name in header:
        # DuckDB trims names and matches them case-insensitively, then silently renames
        # duplicates (a, a_1): catch them here, from the raw header.
        key = name.strip().lower()
        if not key:
            continue
        if key in seen:
            same = seen[key] == name
            raise InputError(
                f"{src}: duplicate column name {name.strip()!r} in the header (line 1)"
                + ("" if same else f" (same as {seen[key].strip()!r}, names ignore case)")
            )
        seen[key] = name


def _check_row(src: Path, record: tuple[int, list[str]], header: list[str], delim: str) -> None:
    line, row = record
    if len(row) != len(header) and (row or len(header) != 1):
        raise InputError(
            f"{src}: line {line} has {fields_text(len(row))} but the header has {len(header)} "
            f"(ragged row; fields are separated by {_delim_name(delim)})"
        )


def fields_text(n: int) -> str:
    return f"{n} field" if n == 1 else f"{n} fields"


def check_json(src: Path, head: Head, ndjson: bool) -> None:
    """Tabular JSON: an array of objects or one object per line, without duplicate keys."""
    raw = check_text(src, head, "JSON")
    text = raw.strip()
    if head.complete and text in ("[]", "{}"):
        raise InputError(f"{src}: the JSON holds no records")
    if text[:1] not in ("[", "{"):
        raise InputError(f"{src}: not tabular JSON: expected an array of objects or one object per "
                         f"line, but the file starts with {text[:12]!r}")
    records = _ndjson_records(src, raw) if ndjson else _json_records(src, raw, head.complete)
    for where, record in records:
        if not isinstance(record, dict):
            raise InputError(f"{src}: not tabular JSON: {where} is a {_json_kind(record)}, "
                             "not an object (expected an array of objects or one object per line)")
        seen: dict[str, str] = {}
        for key in getattr(record, "keys_in_order", record.keys()):
            low = key.lower()
            if low in seen:
                extra = "" if seen[low] == key else f" (same as {seen[low]!r}, names ignore case)"
                raise InputError(f"{src}: {where} has the key {key!r} twice{extra}")
            seen[low] = key


class _Obj(dict):
    keys_in_order: list[str]


def _pairs_hook(pairs: list[tuple[str, Any]]) -> _Obj:
    obj = _Obj(pairs)
    obj.keys_in_order = [k for k, _ in pairs]
    return obj


def _ndjson_records(src: Path, raw: str) -> Iterator[tuple[str, Any]]:
    """Every record of the head, one per line (the head ends on a whole line)."""
    decoder = json.JSONDecoder(object_pairs_hook=_pairs_hook)
    for number, line in enumerate(raw.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = decoder.decode(line)
        except ValueError as exc:
            col = getattr(exc, "colno", None)
            where = f", column {col}" if col else ""
            raise InputError(f"{src}: malformed JSON at line {number}{where}: "
                             f"{getattr(exc, 'msg', exc)}") from None
        yield f"line {number}", obj


def _json_records(src: Path, raw: str, complete: bool) -> Iterator[tuple[str, Any]]:
    """The first records of a JSON array (or of concatenated objects). A parse error is
    reported when the head is the whole file; in a cut head it may be the cut, so DuckDB,
    which reads it all, reports it instead."""
    decoder = json.JSONDecoder(object_pairs_hook=_pairs_hook)
    i = len(raw) - len(raw.lstrip())
    array = raw.startswith("[", i)
    i, n = (i + 1 if array else i), 0
    while n < JSON_RECORDS_CHECKED:
        while i < len(raw) and raw[i] in " \t\r\n":
            i += 1
        if array and n and i < len(raw) and raw[i] == ",":
            i += 1
            while i < len(raw) and raw[i] in " \t\r\n":
                i += 1
        if i >= len(raw) or (array and raw[i] == "]"):
            return
        try:
            obj, i = decoder.raw_decode(raw, i)
        except json.JSONDecodeError as exc:
            if complete:
                raise InputError(f"{src}: malformed JSON at line {exc.lineno}, column {exc.colno}: "
                                 f"{exc.msg}") from None
            return
        n += 1
        yield f"record {n}", obj


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "null"


def check_parquet_names(src: Path, schema: list[tuple[str, int | None]]) -> None:
    """Duplicate top-level names in a Parquet schema (DuckDB would rename them silently).

    `schema` is parquet_schema's (name, num_children) rows: the root, then a depth-first walk.
    """
    def skip(i: int) -> int:
        children = schema[i][1] or 0
        i += 1
        for _ in range(children):
            i = skip(i)
        return i

    seen: dict[str, str] = {}
    i = 1
    for _ in range(schema[0][1] or 0 if schema else 0):
        name = schema[i][0]
        low = name.lower()
        if low in seen:
            extra = "" if seen[low] == name else f" (same as {seen[low]!r}, names ignore case)"
            raise InputError(f"{src}: duplicate column name {name!r}{extra}")
        seen[low] = name
        i = skip(i)


def check_csv_deep(src: Path, gz: bool, tsv: bool) -> None:
    """Error path only: scan more of the file for the problem DuckDB's sniffer tripped on."""
    check_csv(src, read_head(src, gz, DIAGNOSE_BYTES), tsv)
