"""Queries over tracked runs (the runs catalog): search with filter/sort/paging and best values,
group by a param, one run in detail, a metric's history (of one run, or of many in one query),
experiments.

Searches, groups and experiment lists read the process's in-memory mirror of the catalog
(tracking/mirror.py), brought up to date on each call (folding in what scripts and jobs wrote
since); a run's detail and many runs' histories attach the catalog itself; one run's history
reads the run's own log.
"""

from __future__ import annotations

import json
import math
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from tui_mlops.errors import InputError, NotFoundError
from tui_mlops.store.home import Home
from tui_mlops.store.points_files import POINTS_FILE_RE
from tui_mlops.tracking.events import EVENTS_FILE, resolve_run_dir
from tui_mlops.tracking.mirror import mirror_for
from tui_mlops.tracking.query_lang import (
    RunFields, WideFields, compile_query, metric_direction, order_sql, sort_field,
)

__all__ = ["RunRow", "RunPage", "RunDetail", "GroupRow", "search_runs", "group_runs", "get_run",
           "metric_history", "metric_histories", "list_experiments", "metric_direction"]

SYSTEM_PREFIX = "system/"  # system metrics (CPU, RAM, GPU) are kept out of the table's metric columns
_ROW_COLS = "r.run_id, r.experiment, r.name, r.kind, r.status, r.parent_run_id, r.dataset, r.model, " \
            "r.start_ts, r.end_ts"


@dataclass(frozen=True)
class RunRow:
    run_id: str
    experiment: str
    name: str | None
    kind: str | None
    status: str
    parent_run_id: str | None
    dataset: str | None
    model: str | None
    start_ts: float | None
    end_ts: float | None
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]


@dataclass(frozen=True)
class RunPage:
    rows: list[RunRow]
    total: int
    offset: int
    param_keys: list[str]
    metric_keys: list[str]
    best: dict[str, tuple[float, str]]  # metric -> (best value, run_id) over all filtered runs


@dataclass(frozen=True)
class RunDetail(RunRow):
    spec: dict[str, Any] | None = None
    note: str | None = None
    error: str | None = None
    host: str | None = None
    pid: int | None = None
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    metric_summary: dict[str, dict[str, Any]] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)
    pid_started: float | None = None
    device: str | None = None
    device_detail: str | None = None
    dir: Path | None = None


@dataclass(frozen=True)
class GroupRow:
    value: str
    count: int
    mean: float | None
    std: float | None
    best: float | None


def _home(home: Home | str | os.PathLike[str] | None) -> Home:
    if isinstance(home, Home):
        return home
    from tui_mlops.config import resolve_home

    return Home.open(resolve_home(home))


@contextmanager
def _runs_catalog(h: Home) -> Iterator[Any]:
    """The catalog with every run folded in, for what the mirror does not hold (artifacts, specs,
    system metrics): attached read-only to the mirror's connection, under the mirror's lock."""
    with mirror_for(h) as m, m.catalog() as cat:
        yield cat


def _num(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _filtered(query: str | None, experiment: str | None, include_children: bool,
              fields: RunFields) -> tuple[str, list[Any]]:
    """WHERE clause and params (the joins it needs are collected in `fields`)."""
    conds, params = [], []
    if query and query.strip():
        sql, p = compile_query(query, fields)
        conds.append(sql)
        params += p
    if experiment is not None:
        conds.append("r.experiment = ?")
        params.append(experiment)
    if not include_children:
        conds.append("r.parent_run_id IS NULL")
    return (" AND ".join(conds) or "TRUE"), params


def _by_run(rows: list[tuple], as_num: bool = False) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for rid, key, value in rows:
        out.setdefault(rid, {})[key] = _num(value) if as_num else value
    return out


# Rows of a page of runs with their params, tags and last metric values, in one statement. The
# page CTE gives run_id and the sort columns; the lists are cut to the page's runs before grouping.
_ROWS_SQL = """
WITH page AS ({page})
SELECT {cols}, p.k, p.v, t.k, t.v, m.k, m.v{extra}
FROM page JOIN runs r USING (run_id)
LEFT JOIN (SELECT run_id, list(key ORDER BY key) AS k, list(value ORDER BY key) AS v FROM params
           WHERE run_id IN (SELECT run_id FROM page) GROUP BY run_id) p USING (run_id)
LEFT JOIN (SELECT run_id, list(key ORDER BY key) AS k, list(value ORDER BY key) AS v FROM tags
           WHERE run_id IN (SELECT run_id FROM page) GROUP BY run_id) t USING (run_id)
LEFT JOIN (SELECT run_id, list(key ORDER BY key) AS k, list(last ORDER BY key) AS v FROM metric_summary
           WHERE run_id IN (SELECT run_id FROM page) AND NOT starts_with(key, 'system/') GROUP BY run_id) m
     USING (run_id)
ORDER BY {order}"""


def _row(r: tuple) -> RunRow:
    def pairs(keys: list | None, values: list | None, num: bool = False) -> dict[str, Any]:
        return {k: (_num(v) if num else v) for k, v in zip(keys or (), values or ())}

    return RunRow(*r[:10], params=pairs(r[10], r[11]), metrics=pairs(r[14], r[15], True), tags=pairs(r[12], r[13]))


def search_runs(home: Home | str | os.PathLike[str] | None, query: str | None = None, *,
                order_by: str | None = None, descending: bool = True, experiment: str | None = None,
                offset: int = 0, limit: int = 100, include_children: bool = True) -> RunPage:
    """One page of runs matching `query`, sorted by any param, metric or attribute."""
    h = _home(home)
    offset, limit = max(int(offset), 0), max(int(limit), 0)
    with mirror_for(h) as m:
        view = (query, experiment, include_children, order_by, descending)
        compiled = m.compiled.get(view)
        if compiled is None:  # SQL over the mirror's columns: kept until the mirror changes
            fields = WideFields(m.cols, m.metric_column)
            where, params = _filtered(query, experiment, include_children, fields)
            order = ", ".join(f"{expr} {direction}" for expr, direction in order_sql(order_by, descending, fields))
            if len(m.compiled) >= 256:
                m.compiled.clear()
            compiled = m.compiled[view] = where, params, order
        where, params, order = compiled
        ids, total, param_keys, metric_keys, best = m.search(where, list(params), order, offset, limit)
        rows = m.run_rows(ids, RunRow, param_keys)
    return RunPage(rows=rows, total=total, offset=offset, param_keys=param_keys, metric_keys=metric_keys,
                   best=best)


def group_runs(home: Home | str | os.PathLike[str] | None, by: str, metric: str, query: str | None = None,
               experiment: str | None = None) -> list[GroupRow]:
    """Runs grouped by a param (or tag/attribute) value: count, mean and std of a metric, best."""
    h = _home(home)
    with mirror_for(h) as m:
        fields = WideFields(m.cols, m.metric_column)
        by_name, by_field = sort_field(by, fields)
        metric_name, metric_field = sort_field(metric, fields)
        if by_field.text_sql is None:
            raise InputError(f"cannot group by {by_name!r}: group by a param, tag or attribute such as "
                             "params.num_leaves")
        if metric_field.num_sql is None:
            raise InputError(f"cannot average {metric_name!r}: give a metric such as metrics.valid/auc")
        where, params = _filtered(query, experiment, True, fields)
        group_num = by_field.num_sql or "NULL::DOUBLE"
        key = metric_name.partition(".")[2] if "." in metric_name else metric_name
        pick = "min" if metric_direction(key) == "min" else "max"
        rows = m.query(f"""
            SELECT coalesce(g, '(none)'), count(*), avg(v), stddev_samp(v), {pick}(v)
            FROM (SELECT {by_field.text_sql} AS g, {group_num} AS gn,
                         CASE WHEN isnan({metric_field.num_sql}) THEN NULL ELSE {metric_field.num_sql} END AS v
                  FROM wide r WHERE {where})
            GROUP BY g ORDER BY min(gn) NULLS LAST, g NULLS LAST""", params)
    return [GroupRow(value=str(g), count=int(n), mean=_num(m), std=_num(s), best=_num(b)) for g, n, m, s, b in rows]


def _resolve_id(con: Any, ref: str) -> str:
    ref = str(ref).strip().lower()
    if con.execute("SELECT 1 FROM runs WHERE run_id = ?", [ref]).fetchone():
        return ref
    if len(ref) < 4:
        raise InputError(f"run id {ref!r} is too short: give at least 4 characters")
    found = [r[0] for r in con.execute(
        "SELECT run_id FROM runs WHERE starts_with(run_id, ?) ORDER BY run_id LIMIT 6", [ref]).fetchall()]
    if not found:
        raise NotFoundError(f"no run {ref!r}")
    if len(found) > 1:
        shown = ", ".join(found[:5]) + (", ..." if len(found) > 5 else "")
        raise InputError(f"run id prefix {ref!r} is ambiguous: {shown}")
    return found[0]


def get_run(home: Home | str | os.PathLike[str] | None, run_ref: str) -> RunDetail:
    """One run with everything recorded about it (id or unique prefix of >= 4 characters)."""
    h = _home(home)
    with _runs_catalog(h) as cat:
        con = cat.con
        rid = _resolve_id(con, run_ref)
        row = _row(con.execute(_ROWS_SQL.format(page="SELECT ? AS run_id", cols=_ROW_COLS, extra="",
                                                order="r.run_id"), [rid]).fetchone())
        extra = con.execute("SELECT spec_json, note, error, host, pid, pid_started, device, device_detail "
                            "FROM runs WHERE run_id = ?", [rid]).fetchone()
        metrics = {k: v for k, v in _by_run(con.execute(
            "SELECT run_id, key, last FROM metric_summary WHERE run_id = ? ORDER BY key", [rid]).fetchall(),
            as_num=True).get(rid, {}).items()}
        summary = {k: {"last": _num(last), "min": _num(lo), "max": _num(hi), "last_step": step, "n": n}
                   for k, last, lo, hi, step, n in con.execute(
                       "SELECT key, last, min, max, last_step, n FROM metric_summary WHERE run_id = ? ORDER BY key",
                       [rid]).fetchall()}
        artifacts = [{"path": p, "sha256": s, "size": z, "kind": k} for p, s, z, k in con.execute(
            "SELECT path, sha256, size, kind FROM artifacts WHERE run_id = ? ORDER BY ts, path", [rid]).fetchall()]
        children = [r[0] for r in con.execute(
            "SELECT run_id FROM runs WHERE parent_run_id = ? ORDER BY start_ts, run_id", [rid]).fetchall()]
    spec_json, note, error, host, pid, pid_started, device, device_detail = extra
    base = {k: getattr(row, k) for k in RunRow.__dataclass_fields__}
    base["metrics"] = {k: v for k, v in metrics.items() if not k.startswith(SYSTEM_PREFIX)}
    return RunDetail(**base, spec=json.loads(spec_json) if spec_json else None, note=note, error=error,
                     host=host, pid=pid, artifacts=artifacts, metric_summary=summary, children=children,
                     pid_started=pid_started, device=device, device_detail=device_detail,
                     dir=h.runs_dir / rid)


# Columns read from a run's events.jsonl for histories; typed, so a torn line is just skipped.
_EVENT_COLUMNS = {"type": "VARCHAR", "key": "VARCHAR", "value": "DOUBLE", "step": "BIGINT", "ts": "DOUBLE",
                  "seq": "BIGINT", "values": "MAP(VARCHAR, DOUBLE)"}
_SCRATCH: Any = None
_SCRATCH_LOCK = threading.Lock()


def _scratch_cursor() -> Any:
    """A cursor on one in-memory DuckDB per process (creating a database costs far more)."""
    global _SCRATCH
    with _SCRATCH_LOCK:
        if _SCRATCH is None:
            import duckdb

            _SCRATCH = duckdb.connect()
        return _SCRATCH.cursor()


def metric_history(home: Home | str | os.PathLike[str] | None, run_id: str,
                   key: str) -> tuple[list[float], list[float]]:
    """(steps, values) of one metric, ordered by step then time; a point without a step gets its
    position in that order. Read straight from the run's log: no catalog, no lock, always fresh."""
    h = _home(home)
    path = resolve_run_dir(h, run_id) / EVENTS_FILE
    if not path.is_file():
        raise NotFoundError(f"run {run_id} has no log {path}")
    system = key.startswith(SYSTEM_PREFIX)
    map_key = key[len(SYSTEM_PREFIX):] if system else key
    # Bulk points (an import) sit in Parquet files beside the log, each point with its order in the file.
    files = [] if system else sorted(str(f) for f in path.parent.glob("metrics-*.parquet")
                                     if POINTS_FILE_RE.fullmatch(f.name))
    bulk = ("UNION ALL SELECT step, ts, seq, ord AS o, value AS v FROM read_parquet(?) WHERE key = ?"
            if files else "")
    cur = _scratch_cursor()
    try:
        res = cur.execute(
            f"""SELECT coalesce(step::DOUBLE, (row_number() OVER w - 1)::DOUBLE) AS x, v
               FROM (SELECT step, ts, seq, 0 AS o, CASE WHEN type = 'metric' THEN value ELSE "values"[?] END AS v
                     FROM read_json(?, format = 'newline_delimited', ignore_errors = true, columns = ?)
                     WHERE (type = 'metric' AND key = ?) OR (type = ? AND map_contains("values", ?))
                     {bulk})
               WINDOW w AS (ORDER BY step NULLS LAST, ts, seq, o)
               ORDER BY step NULLS LAST, ts, seq, o""",
            [map_key, str(path), _EVENT_COLUMNS, key, "system" if system else "metrics", map_key]
            + ([files, key] if files else [])).fetchnumpy()
    finally:
        cur.close()
    return res["x"].tolist(), res["v"].tolist()


# One metric's points of many runs from the catalog, numbered as metric_history numbers them:
# ordered by (step NULLS LAST, ts, seq), a point without a step at its position in that order (the
# run's stepped points, then its rank among the unstepped ones: only those need a window). Each
# point carries that order as (u, s, ts, seq): u = 1 for unstepped points, s = step or rank.
_POINTS_SQL = """
WITH pts AS (SELECT run_id, step, ts, seq, value AS v FROM metrics
             WHERE run_id IN (SELECT unnest($ids::VARCHAR[])) AND key = $key),
num AS (SELECT run_id, step::DOUBLE AS x, v, 0 AS u, step AS s, ts, seq FROM pts WHERE step IS NOT NULL
        UNION ALL
        SELECT n.run_id, (n.s + coalesce(c.n, 0))::DOUBLE, n.v, 1, n.s, n.ts, n.seq
        FROM (SELECT run_id, v, ts, seq, row_number() OVER (PARTITION BY run_id ORDER BY ts, seq) - 1 AS s
              FROM pts WHERE step IS NULL) n
        LEFT JOIN (SELECT run_id, count(*) AS n FROM pts WHERE step IS NOT NULL GROUP BY run_id) c
        USING (run_id))"""
# ... reduced in the catalog as charts.minmax_reduce reduces (same arithmetic, so the same points):
# finite points only; a run with more than 2*w of them is bucketed by x into w equal columns and
# keeps each column's min point (first in order on ties) and max point (last on ties).
_REDUCED_SQL = _POINTS_SQL + """,
fin AS (SELECT * FROM num WHERE isfinite(x) AND isfinite(v)),
bk AS (SELECT fin.*, n <= 2 * $w AS whole,
              CASE WHEN n <= 2 * $w OR hi <= lo THEN 0
                   ELSE least(floor((x - lo) * ($w / (hi - lo)))::BIGINT, $w - 1) END AS bucket
       FROM fin JOIN (SELECT run_id, min(x) AS lo, max(x) AS hi, count(*) AS n FROM fin GROUP BY run_id)
       USING (run_id)),
kept AS (SELECT run_id, x, v, u, s, ts, seq FROM bk WHERE whole
         UNION ALL
         SELECT run_id, unnest([arg_min(struct_pack(x, v, u, s, ts, seq), struct_pack(v, u, s, ts, seq)),
                                arg_max(struct_pack(x, v, u, s, ts, seq), struct_pack(v, u, s, ts, seq))],
                               recursive := true)
         FROM bk WHERE NOT whole GROUP BY run_id, bucket)
SELECT run_id, list(x ORDER BY u, s, ts, seq), list(v ORDER BY u, s, ts, seq)
FROM (SELECT DISTINCT * FROM kept) GROUP BY run_id"""


def metric_histories(home: Home | str | os.PathLike[str] | None, run_ids: list[str], key: str, *,
                     columns: int | None = None) -> dict[str, tuple[list[float], list[float]]]:
    """metric_history of one metric for many runs in one catalog query: run id -> (steps, values)
    (ids or unique prefixes; keyed by full id; a run without a point of `key` gets empty lists).

    With `columns`, each history comes back as `charts.minmax_reduce(steps, values, columns)`
    gives it (at most 2*columns points with every column's min and max, so spikes stay), reduced
    in the catalog so the full histories never reach Python.
    """
    h = _home(home)
    with _runs_catalog(h) as cat:
        con = cat.con
        ids = [str(r) for r in run_ids]
        known = {r[0] for r in con.execute(
            "SELECT run_id FROM runs WHERE run_id IN (SELECT unnest(?::VARCHAR[]))", [ids]).fetchall()}
        ids = list(dict.fromkeys(r if r in known else _resolve_id(con, r) for r in ids))
        if columns is None:
            sql = _POINTS_SQL + """
SELECT run_id, list(x ORDER BY u, s, ts, seq), list(v ORDER BY u, s, ts, seq) FROM num GROUP BY run_id"""
            params: dict[str, Any] = {"ids": ids, "key": key}
        else:
            sql = _REDUCED_SQL
            params = {"ids": ids, "key": key, "w": max(1, int(columns))}
        rows = con.execute(sql, params).fetchall()
    out: dict[str, tuple[list[float], list[float]]] = {rid: ([], []) for rid in ids}
    for rid, xs, ys in rows:
        out[rid] = (xs, ys)
    return out


def list_experiments(home: Home | str | os.PathLike[str] | None) -> list[tuple[str, int]]:
    """(experiment, number of runs), by name."""
    with mirror_for(_home(home)) as m:
        return [(e, int(n)) for e, n in m.query(
            "SELECT experiment, count(*) FROM wide GROUP BY experiment ORDER BY experiment")]
