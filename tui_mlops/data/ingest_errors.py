"""DuckDB read errors turned into one line that names the file, and the line/column where known.

DuckDB's messages run to many lines of hints about its own options; users get the fact (line N
has 3 fields, column 'a' holds text among numbers) and the fix in our terms (--type a=VARCHAR).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tui_mlops.data.ingest_checks import ReadPlan, check_csv_deep, fields_text
from tui_mlops.errors import InputError
from tui_mlops.data.sql import quote_ident

_PREFIX_RE = re.compile(r"^\s*(?:[A-Z][A-Za-z]*\s)*?(?:Error|Exception):\s*")
_CSV_LINE_RE = re.compile(r"CSV Error on Line: (\d+)")
_CONVERT_RE = re.compile(r'Error when converting column "(.*)"\. (.*)$', re.M)
_AS_TYPE_RE = re.compile(r"is being converted as type (\S+)")
_VALUE_RE = re.compile(r'(?:string|value[^"]*) "(.*?)"')
_JSON_AT_RE = re.compile(r'in file ".*?", (?:at byte (\d+) )?in (record/value|line) (\d+): (.*)')


def _first_line(text: str) -> str:
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), text.strip())
    return _PREFIX_RE.sub("", first, count=1)


def short(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[: limit - 3] + "..."


def explain_csv_error(src: Path, text: str, types: dict[str, str]) -> str | None:
    """A one-liner for a DuckDB read_csv error that names a line, or None."""
    m = _CSV_LINE_RE.search(text)
    if m is None:
        return None
    line = m.group(1)
    conv = _CONVERT_RE.search(text)
    if conv:
        col, detail = conv.group(1), conv.group(2)
        typ_m = _AS_TYPE_RE.search(text)
        typ = typ_m.group(1) if typ_m else "the column's type"
        val_m = _VALUE_RE.search(detail)
        value = f" {short(val_m.group(1))!r}" if val_m else ""
        if col in types:
            return f"{src}: line {line}, column {col!r}: value{value} is not a valid {typ} (your --type override)"
        return (f"{src}: line {line}, column {col!r}: value{value} is not {typ} like the rows before it "
                f"(mixed types); rerun with --type {col}=VARCHAR to keep the column as text")
    if "Expected Number of Columns" in text:
        nums = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", text)
        if nums:
            return (f"{src}: line {line} has {fields_text(int(nums.group(2)))} but the header has "
                    f"{nums.group(1)} (ragged row)")
        return f"{src}: line {line} has the wrong number of fields (ragged row)"
    if "unicode" in text.lower() or "utf-8" in text.lower():
        return (f"{src}: line {line} is not valid UTF-8; re-encode the file to UTF-8, "
                "e.g. `iconv -f latin1 -t utf-8`")
    if "unterminated quote" in text.lower():
        return f"{src}: line {line}: a quoted field is never closed (unbalanced '\"')"
    # The reason is the first line after the "Original Line:" echo.
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    reason = next((ln for ln in lines[1:] if not ln.startswith(("Original Line", "CSV Error"))), "")
    return f"{src}: line {line}: {reason or 'cannot be read'}"


@dataclass(frozen=True)
class JsonProblem:
    message: str
    where: str = ""                 # "record 12" / "line 12"
    record: int | None = None       # set when a value failed to convert (mixed types)
    value: str | None = None        # that value's JSON text


def explain_json_error(src: Path, text: str) -> JsonProblem | None:
    """What a DuckDB read_json error says, as one line naming the file and record, or None."""
    if "expected records" in text:
        return JsonProblem(f"{src}: not tabular JSON: expected an array of objects or one object per line")
    m = _JSON_AT_RE.search(text)
    if m is None:
        return None
    byte, unit, number, reason = m.group(1), m.group(2), int(m.group(3)), m.group(4).strip().rstrip(".")
    where = f"{'line' if unit == 'line' else 'record'} {number}"
    if "Malformed JSON" in text:
        at = f" (byte {byte})" if byte else ""
        if "UTF-8" in reason:
            return JsonProblem(f"{src}: {where}{at} is not valid UTF-8; re-encode the file to UTF-8, "
                               "e.g. `iconv -f latin1 -t utf-8`", where)
        return JsonProblem(f"{src}: malformed JSON at {where}{at}: {reason}", where)
    dup = re.search(r'duplicate key "(.*)"', reason)
    if dup:
        return JsonProblem(f"{src}: {where} has the key {dup.group(1)!r} twice", where)
    val = re.search(r': (".*"|\S+)$', reason)
    if val and ("cast" in reason.lower() or "format" in reason.lower()):
        return JsonProblem(f"{src}: {where}: {reason} (mixed types?)", where, number, val.group(1))
    return JsonProblem(f"{src}: {where}: {reason}", where)


def explain_duckdb_error(src: Path, exc: BaseException) -> str:
    """The generic one-liner: the first line of DuckDB's message, its 'X Error:' noise stripped."""
    text = str(exc)
    low = text.lower()
    if "no magic bytes" in low or "too small to be a parquet file" in low:
        return f"{src}: not a Parquet file (no Parquet magic bytes)"
    if "gzip" in low:
        return f"{src}: cannot decompress: {_first_line(text)}"
    first = _first_line(text).replace(f'"{src}"', "").replace(f"'{src}'", "")
    return f"{src}: {first}"


def explain(plan: ReadPlan, exc: BaseException) -> str:
    """Turn a DuckDB read error into one line naming the file, line and column where known.

    May raise InputError itself: a deeper look at the file found the exact problem.
    """
    try:
        return _explain(plan, exc)
    except InputError:
        raise
    except Exception:  # noqa: BLE001 - a message that could not be refined is still a message
        return explain_duckdb_error(plan.src, exc)


def _explain(plan: ReadPlan, exc: BaseException) -> str:
    text, src = str(exc), plan.src
    if plan.fmt in ("csv", "tsv"):
        if "Error when sniffing" in text:
            # The sniffer looked further than our head check: search more of the file.
            check_csv_deep(src, plan.gz, plan.fmt == "tsv")
            return (f"{src}: cannot work out the {plan.fmt.upper()} layout (delimiter, quotes, "
                    "columns) from its first rows; is it really a delimited text file?")
        return explain_csv_error(src, text, plan.types) or explain_duckdb_error(src, exc)
    if plan.fmt in ("json", "ndjson"):
        found = explain_json_error(src, text)
        if found is None:
            return explain_duckdb_error(src, exc)
        if found.record is not None and found.value is not None:
            col = _json_column_with(plan, found.record, found.value)
            if col is not None:
                return (f"{src}: {found.where}, column {col!r}: value {short(found.value)} does not "
                        f"match the column's type (mixed types); rerun with --type {col}=VARCHAR")
        return found.message
    if plan.types and "conver" in text.lower():
        col = _parquet_column_failing(plan)
        if col is not None:
            return (f"{src}: column {col!r}: cannot convert to {plan.types[col]} "
                    f"({_first_line(text)})")
    return explain_duckdb_error(src, exc)


def _json_column_with(plan: ReadPlan, record: int, value: str) -> str | None:
    """Error path only: find the column of `record` whose raw JSON text is the failing value."""
    import duckdb

    con = duckdb.connect()
    try:
        cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {plan.json_base})",
                                          [str(plan.src)]).fetchall()]
        sql = plan.json_base + ", columns = ?)"
        for offset in (record - 1, record):
            rows = con.execute(f"SELECT * FROM {sql} LIMIT 1 OFFSET ?",
                               [str(plan.src), {c: "JSON" for c in cols}, max(offset, 0)]).fetchall()
            for col, raw in zip(cols, rows[0] if rows else ()):
                if raw is not None and str(raw) == value:
                    return col
    except duckdb.Error:
        return None
    finally:
        con.close()
    return None


def _parquet_column_failing(plan: ReadPlan) -> str | None:
    """Error path only: the first overridden column with a value that does not convert."""
    import duckdb

    con = duckdb.connect()
    try:
        for col, typ in plan.types.items():
            q = quote_ident(col)
            bad = con.execute(
                f"SELECT count(*) FROM read_parquet(?) WHERE {q} IS NOT NULL AND TRY_CAST({q} AS {typ}) IS NULL",
                [str(plan.src)]).fetchone()[0]
            if bad:
                return col
    except duckdb.Error:
        return None
    finally:
        con.close()
    return None
