"""Clean a version into a new one: drop duplicates, drop/rename/cast columns, fill nulls, filter
rows. All steps become one DuckDB query written to the snapshot in one COPY; rows keep file order.

The new version id is a fingerprint of the parent version and the steps, so running the same
clean again finds the existing version instead of making a duplicate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tui_mlops.data import versions as V
from tui_mlops.data.sql import first_line, numbered_scan, quote_ident, unused_name
from tui_mlops.errors import InputError
from tui_mlops.store.home import Home, check_name
from tui_mlops.store.records import DatasetVersion

OPS = ("drop_duplicates", "drop_columns", "rename_columns", "cast", "fill_nulls", "filter")
_OP_ALIASES = {"rename": "rename_columns", "drop": "drop_columns", "dedupe": "drop_duplicates",
               "dedup": "drop_duplicates", "fill": "fill_nulls", "where": "filter"}
STRATEGIES = ("constant", "median", "mode")
_TYPE_RE = re.compile(r"^[A-Z][A-Z ]*(\(\s*\d+\s*(,\s*\d+\s*)?\))?$")


@dataclass(frozen=True)
class CleanStep:
    op: str
    params: dict = field(default_factory=dict, hash=False)

    def describe(self) -> str:
        """The step in the CLI's `op:args` syntax."""
        p = self.params
        if self.op == "drop_duplicates":
            return "drop_duplicates" + (":" + ",".join(p["columns"]) if p.get("columns") else "")
        if self.op == "drop_columns":
            return "drop_columns:" + ",".join(p["columns"])
        if self.op == "rename_columns":
            return "rename:" + ",".join(f"{a}={b}" for a, b in p["mapping"].items())
        if self.op == "cast":
            return "cast:" + ",".join(f"{a}={b}" for a, b in p["types"].items())
        if self.op == "fill_nulls":
            tail = f":{p.get('value')}" if p.get("strategy") == "constant" else ""
            return f"fill_nulls:{','.join(p['columns'])}={p['strategy']}{tail}"
        return f"filter:{p.get('expr', '')}"


def _names(text: str, step: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise InputError(f"clean step {step!r}: give at least one column name")
    return names


def _pairs(text: str, step: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split(","):
        left, eq, right = part.partition("=")
        if not eq or not left.strip() or not right.strip():
            raise InputError(f"clean step {step!r}: expected COLUMN=VALUE pairs, got {part.strip()!r}")
        out[left.strip()] = right.strip()
    return out


def parse_step(text: str) -> CleanStep:
    """A step from the CLI syntax: `drop_duplicates[:a,b]`, `drop_columns:a,b`, `rename:a=b,c=d`,
    `cast:a=DOUBLE`, `fill_nulls:age=median`, `fill_nulls:city=constant:unknown`, `filter:EXPR`."""
    head, colon, rest = text.strip().partition(":")
    op = _OP_ALIASES.get(head.strip().lower(), head.strip().lower())
    if op not in OPS:
        raise InputError(f"unknown clean step {head.strip()!r}; use one of {', '.join(OPS)}")
    if op != "drop_duplicates" and not rest.strip():
        raise InputError(f"clean step {op!r} needs arguments after ':' (e.g. {_EXAMPLES[op]})")
    if op == "drop_duplicates":
        return CleanStep(op, {"columns": _names(rest, text) if rest.strip() else None})
    if op == "drop_columns":
        return CleanStep(op, {"columns": _names(rest, text)})
    if op == "rename_columns":
        return CleanStep(op, {"mapping": _pairs(rest, text)})
    if op == "cast":
        return CleanStep(op, {"types": _pairs(rest, text)})
    if op == "fill_nulls":
        cols, eq, how = rest.partition("=")
        strategy, _, value = how.partition(":")
        strategy = strategy.strip().lower()
        if not eq or strategy not in STRATEGIES:
            raise InputError(f"clean step {text!r}: expected fill_nulls:COLUMNS=median|mode|constant:VALUE")
        params: dict[str, Any] = {"columns": _names(cols, text), "strategy": strategy}
        if strategy == "constant":
            if not _:
                raise InputError(f"clean step {text!r}: constant needs a value, e.g. {_EXAMPLES[op]}")
            params["value"] = value
        return CleanStep(op, params)
    return CleanStep(op, {"expr": rest.strip()})


_EXAMPLES = {"drop_columns": "drop_columns:a,b", "rename_columns": "rename:old=new",
             "cast": "cast:age=DOUBLE", "fill_nulls": "fill_nulls:city=constant:unknown",
             "filter": "filter:age >= 18"}


def check_type(typ: str, where: str) -> str:
    """A DuckDB type name from the user, normalised; anything else is refused (types cannot be
    bound as parameters, so only known names ever reach the SQL)."""
    from tui_mlops.data.ingest import ALLOWED_TYPES
    from tui_mlops.data.rules import normalise_dtype

    t = normalise_dtype(str(typ))
    if not _TYPE_RE.match(t) or t.split("(")[0].strip() not in ALLOWED_TYPES:
        raise InputError(f"{where}: unknown type {typ!r}; use a DuckDB type such as BIGINT, "
                         "DOUBLE, VARCHAR, DATE or TIMESTAMP")
    return t


class _Builder:
    """Turns the steps into one nested SELECT, checking each against the columns it sees."""

    def __init__(self, con: Any, v: DatasetVersion, path: str, steps: list[CleanStep]) -> None:
        self.con, self.v = con, v
        names = [c.name for c in v.columns]
        for s in steps:
            if s.op == "rename_columns":
                names += [str(x) for x in (s.params.get("mapping") or {}).values()]
        self.alias = unused_name(names)
        self.sql = f"SELECT * FROM {numbered_scan([c.name for c in v.columns], self.alias)}"
        self.params: list[Any] = [path]
        self.ordered = False
        self.casts: list[tuple[str, str, str, list[Any]]] = []  # (column, type, input sql, params)
        self.refresh("reading the snapshot")

    def refresh(self, where: str) -> None:
        import duckdb

        try:
            desc = self.con.execute(f"DESCRIBE {self.sql}", self.params).fetchall()
        except duckdb.Error as exc:
            raise InputError(f"{where}: {first_line(exc)}") from exc
        self.types = {d[0]: d[1] for d in desc if d[0] != self.alias}
        self.columns = list(self.types)

    def col(self, name: Any, where: str) -> str:
        if name in self.types:
            return name
        folded = [c for c in self.columns if c.lower() == str(name).lower()]
        if len(folded) == 1:
            return folded[0]
        raise InputError(f"{where}: unknown column {name!r} (columns: {', '.join(self.columns)})")

    def wrap(self, select: str, select_params: list[Any], tail: str = "", tail_params: list[Any] = ()) -> None:
        self.sql = f"SELECT {select} FROM ({self.sql}) {tail}".rstrip()
        self.params = [*select_params, *self.params, *tail_params]

    def projection(self, exprs: dict[str, str]) -> str:
        """Every current column (replaced by `exprs[col]` where given), plus the row number."""
        parts = [f"{exprs[c]} AS {quote_ident(c)}" if c in exprs else quote_ident(c) for c in self.columns]
        return ", ".join(parts + [quote_ident(self.alias)])

    def scalar(self, sql: str, params: list[Any], where: str) -> Any:
        import duckdb

        try:
            row = self.con.execute(sql, params).fetchone()
        except duckdb.Error as exc:
            raise InputError(f"{where}: {first_line(exc)}") from exc
        return row[0] if row else None

    def add(self, k: int, step: CleanStep) -> None:
        if step.op not in OPS:
            raise InputError(f"clean step {k}: unknown operation {step.op!r}; use one of {', '.join(OPS)}")
        where = f"clean step {k} ({step.op})"
        getattr(self, "_" + step.op)(step.params, where)
        self.refresh(where)

    def _drop_duplicates(self, p: dict, where: str) -> None:
        cols = [self.col(c, where) for c in (p.get("columns") or self.columns)]
        keys = ", ".join(quote_ident(c) for c in cols)
        # The first occurrence in file order survives; the final ORDER BY restores file order.
        self.wrap("*", [], f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {quote_ident(self.alias)}) = 1")
        self.ordered = True

    def _drop_columns(self, p: dict, where: str) -> None:
        drop = {self.col(c, where) for c in p.get("columns") or []}
        if not drop:
            raise InputError(f"{where}: give the columns to drop")
        if len(drop) == len(self.columns):
            raise InputError(f"{where}: cannot drop every column")
        keep = [quote_ident(c) for c in self.columns if c not in drop]
        self.wrap(", ".join(keep + [quote_ident(self.alias)]), [])

    def _rename_columns(self, p: dict, where: str) -> None:
        mapping = {self.col(a, where): str(b) for a, b in (p.get("mapping") or {}).items()}
        if not mapping:
            raise InputError(f"{where}: give old=new column names")
        final = [mapping.get(c, c) for c in self.columns]
        seen: set[str] = set()
        for name in final:
            if not name.strip():
                raise InputError(f"{where}: a column name cannot be empty")
            if name.lower() in seen:
                raise InputError(f"{where}: renaming would give two columns named {name!r}")
            seen.add(name.lower())
        parts = [f"{quote_ident(c)} AS {quote_ident(mapping.get(c, c))}" for c in self.columns]
        self.wrap(", ".join(parts + [quote_ident(self.alias)]), [])

    def _cast(self, p: dict, where: str) -> None:
        types = {self.col(c, where): check_type(t, f"{where} column {c!r}") for c, t in (p.get("types") or {}).items()}
        if not types:
            raise InputError(f"{where}: give column=TYPE pairs")
        for c, t in types.items():
            self.casts.append((c, t, self.sql, list(self.params)))
        self.wrap(self.projection({c: f"CAST({quote_ident(c)} AS {t})" for c, t in types.items()}), [])

    def _fill_nulls(self, p: dict, where: str) -> None:
        cols = [self.col(c, where) for c in p.get("columns") or []]
        strategy = p.get("strategy")
        if not cols or strategy not in STRATEGIES:
            raise InputError(f"{where}: give columns and a strategy ({', '.join(STRATEGIES)})")
        if strategy == "constant" and "value" not in p:
            raise InputError(f"{where}: the constant strategy needs a value")
        exprs, values = {}, []
        for c in cols:
            q, typ = quote_ident(c), self.types[c]
            if strategy == "constant":
                value = p["value"]
            elif strategy == "median":
                fn = f"median({q})" if typ in ("DOUBLE", "FLOAT") else f"quantile_disc({q}, 0.5)"
                value = self.scalar(f"SELECT {fn} FROM ({self.sql})", self.params, f"{where} column {c!r}")
            else:
                value = self.scalar(f"SELECT {q} FROM ({self.sql}) WHERE {q} IS NOT NULL GROUP BY {q} "
                                    f"ORDER BY count(*) DESC, {q} LIMIT 1", self.params, f"{where} column {c!r}")
            if value is None:
                raise InputError(f"{where}: cannot fill nulls in {c!r} with the {strategy}: the column has no values")
            self.scalar(f"SELECT CAST(? AS {typ})", [value],
                        f"{where}: value {value!r} does not fit column {c!r} of type {typ}")
            exprs[c] = f"coalesce({q}, CAST(? AS {typ}))"
            values.append(value)
        # Parameters in the select list come before those of the inner query, in column order.
        ordered = [values[cols.index(c)] for c in self.columns if c in exprs]
        self.wrap(self.projection(exprs), ordered)

    def _filter(self, p: dict, where: str) -> None:
        from tui_mlops.data.filter_expr import compile_filter

        try:
            cond, params = compile_filter(str(p.get("expr", "")), self.columns)
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
        self.wrap("*", [], f"WHERE {cond}", params)

    def final_sql(self) -> str:
        order = f" ORDER BY {quote_ident(self.alias)}" if self.ordered else ""
        return f"SELECT * EXCLUDE ({quote_ident(self.alias)}) FROM ({self.sql}){order}"

    def explain_cast_failure(self) -> str | None:
        for c, t, sql, params in self.casts:
            q = quote_ident(c)
            row = self.con.execute(f"SELECT {q} FROM ({sql}) WHERE {q} IS NOT NULL AND TRY_CAST({q} AS {t}) IS NULL "
                                   f"ORDER BY {quote_ident(self.alias)} LIMIT 1", params).fetchone()
            if row is not None:
                return f"cannot cast column {c!r} to {t}: value {row[0]!r} does not convert"
        return None


def clean(home: Home, v: DatasetVersion, steps: list[CleanStep], *,
          into: str | None = None) -> tuple[DatasetVersion, bool]:
    """Apply `steps` to `v` as one new version (of `into`, default v's dataset)."""
    import duckdb

    if not steps:
        raise InputError(f"clean of {v.ref}: give at least one step")
    name = check_name(into) if into else v.name
    spec = [{"op": s.op, "params": s.params} for s in steps]
    version = V.fingerprint(v.version, "clean", spec)
    found = V.existing_version(home, name, version)
    if found is not None:
        return found, False
    path = str(V.snapshot_path(home, v))
    con = duckdb.connect()
    try:
        builder = _Builder(con, v, path, steps)
        for k, step in enumerate(steps, start=1):
            builder.add(k, step)

        def write_snapshot(tmp) -> None:
            sql = f"COPY ({builder.final_sql()}) TO ? (FORMAT parquet, COMPRESSION zstd)"
            try:
                written = con.execute(sql, [*builder.params, str(tmp)]).fetchone()
            except duckdb.Error as exc:
                raise InputError(f"clean of {v.ref}: {builder.explain_cast_failure() or first_line(exc)}") from exc
            if written is not None and int(written[0]) == 0:
                raise InputError(f"clean of {v.ref}: no rows are left after the steps")

        return V.commit_version(home, name, version, write_snapshot, operation="clean",
                                params={"steps": spec}, parent=v)
    finally:
        con.close()
