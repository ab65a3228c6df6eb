"""Split a version into train/valid/test versions: random (seeded), stratified by a column, or by
a time column (cut-offs, or ratios of the time order). Deterministic: same inputs, same rows.

Rows are numbered in file order and shuffled by murmur3's 32-bit finaliser of (row number xor
mixed seed), written out in SQL, so a split never depends on DuckDB's own hash function (which may
change between DuckDB versions) nor on thread scheduling.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from tui_mlops.data import versions as V
from tui_mlops.data.profile import column_kind
from tui_mlops.data.sql import first_line, json_value, numbered_scan, quote_ident, unused_name
from tui_mlops.errors import InputError
from tui_mlops.store.home import Home, check_name
from tui_mlops.store.records import DatasetVersion

PARTS = ("train", "valid", "test")
METHODS = ("random", "stratified", "time")
_M32 = 2 ** 32


def fmix32(h: int) -> int:
    """murmur3's finaliser: a bijection on 32-bit integers that mixes every input bit."""
    h ^= h >> 16
    h = (h * 0x85EBCA6B) % _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) % _M32
    return h ^ (h >> 16)


def _fmix32_sql(inner: str, keep: str) -> str:
    """The same finaliser over column `h` of `inner`, one step per level so `h` is a column."""
    s1 = f"SELECT {keep}, (xor(h, h >> 16) * 2246822507::UBIGINT) % 4294967296::UBIGINT AS h FROM ({inner})"
    s2 = f"SELECT {keep}, (xor(h, h >> 13) * 3266489909::UBIGINT) % 4294967296::UBIGINT AS h FROM ({s1})"
    return f"SELECT {keep}, xor(h, h >> 16) AS h FROM ({s2})"


def _check_ratios(ratios: Sequence[float]) -> tuple[float, float, float]:
    try:
        r = [float(x) for x in ratios]
    except (TypeError, ValueError):
        raise InputError(f"split ratios must be numbers, not {ratios!r}") from None
    if len(r) == 2:
        r = [r[0], 0.0, r[1]]
    if len(r) != 3 or any(not math.isfinite(x) or x < 0 for x in r):
        raise InputError(f"split ratios must be 2 or 3 non-negative numbers (train, valid, test), not {list(ratios)}")
    if abs(sum(r) - 1.0) > 1e-9:
        raise InputError(f"split ratios must sum to 1, but {' + '.join(f'{x:g}' for x in r)} = {sum(r):g}")
    if r[0] <= 0:
        raise InputError("the train ratio must be above 0")
    return r[0], r[1], r[2]


def _cut(n: int, share: float) -> int:
    return int(math.floor(n * share + 0.5))


def _find_column(name: str | None, v: DatasetVersion, what: str) -> tuple[str, str]:
    if not name:
        raise InputError(f"split of {v.ref}: give the {what} column")
    types = {c.name: c.type for c in v.columns}
    if name in types:
        return name, types[name]
    folded = [c for c in types if c.lower() == name.lower()]
    if len(folded) == 1:
        return folded[0], types[folded[0]]
    raise InputError(f"split of {v.ref}: unknown {what} column {name!r} (columns: {', '.join(types)})")


def split(home: Home, v: DatasetVersion, *, method: str = "random",
          ratios: Sequence[float] = (0.7, 0.15, 0.15), seed: int = 42, stratify: str | None = None,
          time_column: str | None = None, cutoffs: Sequence[Any] | None = None) -> dict[str, DatasetVersion]:
    """Write the parts as versions of `<name>.train`, `<name>.valid`, `<name>.test` (a part whose
    ratio is 0 is left out) with `v` as their parent. With time cut-offs the ratios are unused:
    train < cut1 <= valid < cut2 <= test (one cut-off: train < cut1 <= test)."""
    import duckdb

    if method not in METHODS:
        raise InputError(f"unknown split method {method!r}; use one of {', '.join(METHODS)}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InputError(f"the split seed must be a whole number, not {seed!r}")
    params: dict[str, Any] = {"method": method}
    strat_col = time_col = time_type = None
    if method == "time":
        time_col, time_type = _find_column(time_column, v, "time")
        if column_kind(time_type) not in ("temporal", "numeric"):
            raise InputError(f"split of {v.ref}: time column {time_col!r} has type {time_type}; "
                             "it must be a date, timestamp or number")
        params["time_column"] = time_col
    if method == "time" and cutoffs:
        cut_list = list(cutoffs)
        if len(cut_list) not in (1, 2):
            raise InputError("give one cut-off (train/test) or two (train/valid/test)")
        params["cutoffs"] = [json_value(c) for c in cut_list]
        parts = ("train", "test") if len(cut_list) == 1 else PARTS
    else:
        r = _check_ratios(ratios)
        params["ratios"] = list(r)
        parts = tuple(p for p, x in zip(PARTS, r) if x > 0)
        if method != "time":
            params["seed"] = seed
        if method == "stratified":
            strat_col, _ = _find_column(stratify, v, "stratify")
            params["stratify"] = strat_col
    names = {p: check_name(f"{v.name}.{p}", "split dataset name") for p in parts}
    ids = {p: V.fingerprint(v.version, "split", {**params, "part": p}) for p in parts}
    found = {p: V.existing_version(home, names[p], ids[p]) for p in parts}
    if all(found.values()):
        return {p: found[p] for p in parts}  # type: ignore[misc]

    columns = [c.name for c in v.columns]
    rn = unused_name(columns)
    path = str(V.snapshot_path(home, v))
    con = duckdb.connect()
    try:
        assign_sql, assign_params = _assignment(v, path, rn, params, strat_col, time_col, time_type)
        if method == "time":
            missing = con.execute(f"SELECT count(*) FROM read_parquet(?) WHERE {quote_ident(time_col)} IS NULL",
                                  [path]).fetchone()[0]
            if missing:
                raise InputError(f"split of {v.ref}: time column {time_col!r} has {missing} missing values; "
                                 "fill or filter them first (mlops-tui data clean)")
        try:
            con.execute(f"CREATE TEMP TABLE assign AS {assign_sql}", assign_params)
        except duckdb.Error as exc:
            raise InputError(f"split of {v.ref}: {first_line(exc)}") from exc
        counts = dict(con.execute("SELECT part, count(*) FROM assign GROUP BY part").fetchall())
        for i, p in enumerate(PARTS):
            if p in parts and not counts.get(i):
                raise InputError(f"split of {v.ref}: the {p} part would be empty "
                                 f"({v.rows} rows; change the ratios or cut-offs)")
        out: dict[str, DatasetVersion] = {}
        for p in parts:
            part_no = PARTS.index(p)

            def write_snapshot(tmp, part_no: int = part_no) -> None:
                q = quote_ident(rn)
                con.execute(
                    f"COPY (SELECT * EXCLUDE ({q}) FROM {numbered_scan(columns, rn)} "
                    f"WHERE {q} IN (SELECT rn FROM assign WHERE part = ?) ORDER BY {q}) "
                    f"TO ? (FORMAT parquet, COMPRESSION zstd)", [path, part_no, str(tmp)])

            out[p], _ = V.commit_version(home, names[p], ids[p], write_snapshot, operation="split",
                                         params={**params, "part": p}, parent=v)
        return out
    finally:
        con.close()


def _assignment(v: DatasetVersion, path: str, rn: str, params: dict[str, Any], strat_col: str | None,
                time_col: str | None, time_type: str | None) -> tuple[str, list[Any]]:
    """SQL selecting (rn, part) for every row (part 0 train, 1 valid, 2 test), and its
    parameters in the order their placeholders appear in the text."""
    columns = [c.name for c in v.columns]
    scan = numbered_scan(columns, rn)
    q = quote_ident(rn)
    method = params["method"]
    if method == "time":
        t = quote_ident(time_col or "")
        if "cutoffs" in params:
            cuts = params["cutoffs"]
            # The cast's type comes from the snapshot's schema, not from the user.
            cases = [f"WHEN {t} < CAST(? AS {time_type}) THEN 0"]
            if len(cuts) == 2:
                cases.append(f"WHEN {t} < CAST(? AS {time_type}) THEN 1")
            sql = (f"SELECT {q} AS rn, CASE {' '.join(cases)} ELSE 2 END AS part "
                   f"FROM {scan}")
            return sql, [*cuts, path]
        inner = f"SELECT {q} AS rn, row_number() OVER (ORDER BY {t}, {q}) - 1 AS rk FROM {scan}"
        r = params["ratios"]
        sql = (f"SELECT rn, CASE WHEN rk < ? THEN 0 WHEN rk < ? THEN 1 ELSE 2 END "
               f"AS part FROM ({inner})")
        return sql, [_cut(v.rows, r[0]), _cut(v.rows, r[0] + r[1]), path]
    seed_mix = fmix32(params["seed"] % _M32)
    base = f"SELECT {q} AS rn, xor(CAST({q} AS UBIGINT) % 4294967296::UBIGINT, ?::UBIGINT) AS h"
    r = params["ratios"]
    if method == "random":
        hashed = _fmix32_sql(f"{base} FROM {scan}", "rn")
        ranked = f"SELECT rn, row_number() OVER (ORDER BY h, rn) - 1 AS rk FROM ({hashed})"
        sql = f"SELECT rn, CASE WHEN rk < ? THEN 0 WHEN rk < ? THEN 1 ELSE 2 END AS part FROM ({ranked})"
        return sql, [_cut(v.rows, r[0]), _cut(v.rows, r[0] + r[1]), seed_mix, path]
    s = quote_ident(strat_col or "")
    hashed = _fmix32_sql(f"{base}, {s} AS s FROM {scan}", "rn, s")
    # Each stratum is cut at its own rounded shares, so its proportions are kept within a row.
    ranked = (f"SELECT rn, row_number() OVER (PARTITION BY s ORDER BY h, rn) - 1 AS rk, "
              f"count(*) OVER (PARTITION BY s) AS n FROM ({hashed})")
    sql = (f"SELECT rn, CASE WHEN rk < floor(n * ?::DOUBLE + 0.5) THEN 0 "
           f"WHEN rk < floor(n * ?::DOUBLE + 0.5) THEN 1 ELSE 2 END AS part FROM ({ranked})")
    return sql, [r[0], r[0] + r[1], seed_mix, path]

