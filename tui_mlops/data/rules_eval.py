"""Evaluate validation rules over a version's Parquet snapshot: the row-level rules are counted
together in one DuckDB pass, then example failing rows are fetched for the rules that failed."""

from __future__ import annotations

from typing import Any

from tui_mlops.data.rules import MAX_EXAMPLES, Rule, RuleResult, normalise_dtype
from tui_mlops.data.sql import first_line, json_value, numbered_scan, quote_ident, unused_name
from tui_mlops.errors import InputError, NotFoundError
from tui_mlops.store.home import Home
from tui_mlops.store.records import DatasetVersion

_ROW_RULES = ("not_null", "range", "allowed_values", "regex", "max_null_share")


def _resolve(name: str, columns: list[str]) -> str | None:
    if name in columns:
        return name
    folded = [c for c in columns if c.lower() == name.lower()]
    return folded[0] if len(folded) == 1 else None


def _conditions(rule: Rule, col: str) -> tuple[str, str, list[Any]]:
    """(failing-row condition, checked-row condition, parameters of the failing condition)."""
    q = quote_ident(col)
    p = rule.params
    if rule.type in ("not_null", "max_null_share"):
        return f"{q} IS NULL", "TRUE", []
    if rule.type == "range":
        parts, params = [], []
        if "min" in p:
            parts.append(f"{q} < ?")
            params.append(p["min"])
        if "max" in p:
            parts.append(f"{q} > ?")
            params.append(p["max"])
        return "(" + " OR ".join(parts) + ")", f"{q} IS NOT NULL", params
    if rule.type == "allowed_values":
        marks = ", ".join("?" for _ in p["values"])
        return f"({q} IS NOT NULL AND {q} NOT IN ({marks}))", f"{q} IS NOT NULL", list(p["values"])
    if rule.type == "regex":
        return (f"({q} IS NOT NULL AND NOT regexp_matches(CAST({q} AS VARCHAR), ?))",
                f"{q} IS NOT NULL", [p["pattern"]])
    raise AssertionError(rule.type)


def _bound(p: dict[str, Any]) -> str:
    return f"[{p.get('min', '-inf')}, {p.get('max', 'inf')}]"


def _message(rule: Rule, failing: int, checked: int, rows: int) -> tuple[bool, str]:
    p = rule.params
    if rule.type == "max_null_share":
        share = failing / rows if rows else 0.0
        ok = share <= p["max"]
        return ok, f"null share {share:.1%} ({failing} of {rows} rows), limit {p['max']:.1%}"
    ok = failing == 0
    if rule.type == "not_null":
        return ok, f"{failing} of {checked} rows are null" if failing else f"no nulls in {checked} rows"
    if rule.type == "range":
        what = f"outside {_bound(p)}"
    elif rule.type == "allowed_values":
        vals = ", ".join(str(x) for x in p["values"][:5]) + (", ..." if len(p["values"]) > 5 else "")
        what = f"not in ({vals})"
    else:
        what = f"not matching {p['pattern']!r}"
    return ok, f"{failing} of {checked} values {what}" if failing else f"all {checked} values ok"


def _examples(con: Any, path: str, columns: list[str], cols: list[str], cond: str,
              params: list[Any]) -> list[dict]:
    alias = unused_name(columns)
    select = ", ".join(quote_ident(c) for c in cols)
    sql = (f"SELECT {quote_ident(alias)}, {select} FROM {numbered_scan(columns, alias)} "
           f"WHERE {cond} ORDER BY {quote_ident(alias)} LIMIT {MAX_EXAMPLES}")
    rows = con.execute(sql, [path, *params]).fetchall()
    return [{"row": int(r[0]), "values": {c: json_value(x) for c, x in zip(cols, r[1:])}} for r in rows]


def _schema_result(rule: Rule, v: DatasetVersion) -> RuleResult:
    if rule.type == "row_count":
        lo, hi = rule.params.get("min"), rule.params.get("max")
        ok = (lo is None or v.rows >= lo) and (hi is None or v.rows <= hi)
        return RuleResult(rule, ok, 0 if ok else 1, 1, f"{v.rows} rows, expected {_bound(rule.params)}")
    types = {c.name: c.type for c in v.columns}
    col = _resolve(rule.column or "", list(types))
    if col is None:
        return RuleResult(rule, False, 1, 1, f"column {rule.column!r} is missing")
    want = rule.params.get("dtype")
    if want:
        have, need = normalise_dtype(types[col]), normalise_dtype(want)
        # DECIMAL without precision accepts any DECIMAL(p, s).
        if have != need and not ("(" not in need and have.split("(")[0] == need):
            return RuleResult(rule, False, 1, 1, f"column {col!r} has type {types[col]}, expected {want}")
        return RuleResult(rule, True, 0, 1, f"column {col!r} present with type {types[col]}")
    return RuleResult(rule, True, 0, 1, f"column {col!r} present")


def evaluate(home: Home, v: DatasetVersion, rules: list[Rule]) -> list[RuleResult]:
    import duckdb

    snap = home.snapshot_path(v.name, v.version)
    if not snap.exists():
        raise NotFoundError(f"{v.ref}: snapshot {snap} is missing (run `mlops-tui store check`)")
    path = str(snap)
    columns = [c.name for c in v.columns]
    results: dict[int, RuleResult] = {}
    row_rules: list[tuple[int, str]] = []
    unique_rules: list[tuple[int, list[str]]] = []
    for i, rule in enumerate(rules):
        if rule.type in ("row_count", "column_present"):
            results[i] = _schema_result(rule, v)
            continue
        resolved = [_resolve(c, columns) for c in rule.columns]
        if None in resolved:
            missing = rule.columns[resolved.index(None)]
            results[i] = RuleResult(rule, False, 0, 0, f"column {missing!r} is not in the dataset")
        elif rule.type == "regex":
            from tui_mlops.data.rules import regex_problem

            problem = regex_problem(rule.params["pattern"])
            if problem:
                raise InputError(f"{rule.where}: invalid regular expression "
                                 f"{rule.params['pattern']!r}: {problem}")
            row_rules.append((i, resolved[0]))
        elif rule.type == "unique":
            unique_rules.append((i, [c for c in resolved if c]))
        else:
            row_rules.append((i, resolved[0]))

    con = duckdb.connect()
    try:
        counts = _count_row_rules(con, path, rules, row_rules)
        for (i, col), (failing, checked) in zip(row_rules, counts):
            rule = rules[i]
            ok, msg = _message(rule, failing, checked, v.rows)
            examples = []
            if not ok:
                cond, _, params = _conditions(rule, col)
                examples = _examples(con, path, columns, [col], cond, params)
            results[i] = RuleResult(rule, ok, failing, checked, msg, examples)
        for i, cols in unique_rules:
            results[i] = _unique(con, path, columns, rules[i], cols, v.rows)
    finally:
        con.close()
    return [results[i] for i in range(len(rules))]


def _count_row_rules(con: Any, path: str, rules: list[Rule],
                     row_rules: list[tuple[int, str]]) -> list[tuple[int, int]]:
    """(failing, checked) per row rule, all in one pass; a rule DuckDB cannot evaluate (a type
    mismatch) is found by retrying the rules one by one, and named in the error."""
    import duckdb

    def run(items: list[tuple[int, str]]) -> list[tuple[int, int]]:
        parts, params = [], []
        for i, col in items:
            fail, checked, p = _conditions(rules[i], col)
            parts += [f"count(*) FILTER (WHERE {fail})", f"count(*) FILTER (WHERE {checked})"]
            params += p
        row = con.execute(f"SELECT {', '.join(parts)} FROM read_parquet(?)", [*params, path]).fetchone()
        return [(int(row[k]), int(row[k + 1])) for k in range(0, len(row), 2)]

    if not row_rules:
        return []
    try:
        return run(row_rules)
    except duckdb.Error as exc:
        for item in row_rules:
            try:
                run([item])
            except duckdb.Error as one:
                rule = rules[item[0]]
                raise InputError(f"{rule.where}: cannot check column {item[1]!r}: {first_line(one)}") from one
        raise InputError(f"cannot evaluate the rules: {first_line(exc)}") from exc


def _unique(con: Any, path: str, columns: list[str], rule: Rule, cols: list[str], rows: int) -> RuleResult:
    keys = ", ".join(quote_ident(c) for c in cols)
    failing = con.execute(
        f"SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM read_parquet(?) "
        f"GROUP BY {keys} HAVING count(*) > 1)", [path]).fetchone()[0]
    failing = int(failing)
    if failing == 0:
        return RuleResult(rule, True, 0, rows, f"all {rows} rows have a unique key")
    alias = unused_name(columns)
    n = unused_name(columns + [alias], "_n")
    select = ", ".join(quote_ident(c) for c in cols)
    sql = (f"SELECT {quote_ident(alias)}, {select} FROM (SELECT {quote_ident(alias)}, {select}, "
           f"count(*) OVER (PARTITION BY {keys}) AS {quote_ident(n)} FROM {numbered_scan(columns, alias)}) "
           f"WHERE {quote_ident(n)} > 1 ORDER BY {quote_ident(alias)} LIMIT {MAX_EXAMPLES}")
    examples = [{"row": int(r[0]), "values": {c: json_value(x) for c, x in zip(cols, r[1:])}}
                for r in con.execute(sql, [path]).fetchall()]
    return RuleResult(rule, False, failing, rows,
                      f"{failing} of {rows} rows share their key ({', '.join(cols)}) with another row",
                      examples)
