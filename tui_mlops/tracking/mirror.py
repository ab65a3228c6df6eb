"""A process-level in-memory copy of the runs catalog that search_runs and group_runs read: one
wide table, a row per run with a column per param and tag key (and per metric key that a filter,
sort or group named: those are made on first use from the run's metric values, kept as a list),
so a filter and a sort are plain column expressions and a search is one statement on an
in-memory DuckDB (two past ALL_ROWS matching runs).

The catalog file is not held open: it is attached read-only only to copy what changed and is
detached at once. Changes are found cheaply on each use: the catalog's identity (inode, size,
mtime, the checkpoint counters in its header, its WAL's size) says whether another process or
thread wrote it, and the fold's own cheap check says whether run logs have grown since (then
the usual read-write open folds them in first). Only runs whose log offsets moved are re-read.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from tui_mlops.errors import StoreError
from tui_mlops.store.catalog import CATALOG_LOCK, SCHEMA_VERSION, Catalog, open_catalog
from tui_mlops.store.home import Home
from tui_mlops.store.runs_catalog import fold_inputs, fold_needed
from tui_mlops.tracking.query_lang import metric_direction

ATTRS = ("run_id", "experiment", "name", "kind", "status", "parent_run_id", "dataset", "model", "start_ts",
         "end_ts")
# Also in the wide table: attributes the query language knows, and what finds changed runs.
_MORE = ("host", "note", "error", "device", "events_offset", "edits_offset")
_CAT = "_mirror_cat"
ALL_ROWS = 2000  # filtered runs a search reads back whole (see Mirror.search)
_KEEP = 4  # mirrors kept (homes); the least recently used one is dropped beyond that
_HEADERS = (4096, 8192)  # DuckDB's two database headers: a checkpoint rewrites one (its counter moves)
_PIVOTED = {"params": ("params", "value"), "tags": ("tags", "value")}  # kind -> (catalog table, value)
_METRICS = "metric_summary"
_NOT_SYSTEM = " AND NOT starts_with(key, 'system/')"  # system metrics stay out of the table


def catalog_identity(path: Path) -> tuple | None:
    """What changes whenever the catalog file does: every commit grows the WAL and every
    checkpoint rewrites a header (so a change within one mtime tick is seen too)."""
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            head = b"".join(os.pread(fh.fileno(), 24, at) for at in _HEADERS)
    except FileNotFoundError:
        return None
    try:
        w = os.stat(f"{path}.wal")
        wal: tuple | None = (w.st_ino, w.st_size, w.st_mtime_ns)
    except FileNotFoundError:
        wal = None
    return st.st_ino, st.st_size, st.st_mtime_ns, head, wal


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class Mirror:
    """The wide runs table of one home in a private in-memory DuckDB; use under `lock`."""

    def __init__(self, home: Home) -> None:
        import duckdb

        self.home = home
        self.path = home.catalog_path
        self.con = duckdb.connect()
        self.lock = threading.RLock()
        self.ident: tuple | None = None
        self.inputs: Any = None  # fold inputs as of the copy (fold_needed's state)
        # (kind, key) -> (text column, number column); kinds: params, tags, metrics (those made so far)
        self.cols: dict[tuple[str, str], tuple[str | None, str | None]] = {}
        self.rows: dict[str, Any] = {}  # run_id -> a built row (query.RunRow), dropped when it changes
        # kind -> key-set hash (_pset, _mset) -> that set's keys in the order of the run's lists
        self.keysets: dict[str, dict[int, tuple[str, ...]]] = {"params": {}, "metrics": {}}
        self.compiled: dict[tuple, tuple] = {}  # the caller's SQL for a search, while nothing changes
        self._stats: dict[tuple, tuple] = {}  # (where, *params) -> a search's aggregates, likewise
        self._min: dict[str, bool] = {}  # metric key -> whether smaller is better
        self._n = 0

    # -- freshness ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Bring the copy up to date: fold new run logs in (read-write open) when there are any,
        copy what changed in the catalog when it changed."""
        import duckdb

        folded = False
        for _ in range(6):
            ident = catalog_identity(self.path)
            if ident is not None and ident == self.ident:
                if folded or not fold_needed(self, self.inputs):
                    return  # what arrived after our own fold shows on the next call
            elif ident is not None and self._sync(ident):
                continue
            elif folded and self.ident is not None:
                return  # a writer holds it again: use the copy made before
            try:
                with open_catalog(self.home):
                    pass  # the read-write open migrates and folds
            except (StoreError, duckdb.Error):
                if self.ident is None:
                    raise
                return  # busy right now (locked, say): the copy made before serves, the next call retries
            folded = True
        if self.ident is None:
            raise StoreError(f"cannot read the runs catalog {self.path}: another process keeps it locked")

    def _sync(self, ident: tuple) -> bool:
        """Copy the runs that changed since the last copy; False when the catalog cannot be
        attached read-only (locked, missing, older schema: the read-write open sees to it)."""
        import duckdb

        # Attached under the process's catalog lock: DuckDB refuses a read-write open of a file that
        # another connection in the same process has attached ("unique file handle conflict").
        with CATALOG_LOCK:
            con = self.con
            try:
                con.execute(f"ATTACH ? AS {_CAT} (READ_ONLY)", [str(self.path)])
            except duckdb.Error:
                return False
            try:
                con.execute(f"USE {_CAT}")
                try:
                    if con.execute("SELECT max(version) FROM schema_version").fetchone()[0] != SCHEMA_VERSION:
                        return False
                    inputs = fold_inputs(con)
                except duckdb.CatalogException:
                    return False
                finally:
                    con.execute("USE memory")
                rebuild = self.ident is None or self.ident[0] != ident[0]  # a new file: `store rebuild`
                self._copy(rebuild)
            finally:
                con.execute(f"DETACH {_CAT}")
        self.ident, self.inputs = ident, inputs
        return True

    def _copy(self, rebuild: bool) -> None:
        """Copy the runs whose log offsets moved (all of them for a rebuild) from the attached catalog."""
        con = self.con
        scope = "TRUE"
        if not rebuild:
            con.execute(f"""CREATE OR REPLACE TABLE _changed AS
                SELECT coalesce(c.run_id, w.run_id) AS run_id FROM {_CAT}.runs c FULL JOIN wide w USING (run_id)
                WHERE c.run_id IS NULL OR w.run_id IS NULL OR w.events_offset <> c.events_offset
                   OR w.edits_offset <> c.edits_offset""")
            changed = [r[0] for r in con.execute("SELECT run_id FROM _changed").fetchall()]
            if not changed:
                return
            scope = "run_id IN (SELECT run_id FROM _changed)"
        found = con.execute(" UNION ALL ".join(f"SELECT DISTINCT '{kind}', key FROM {_CAT}.{table} WHERE {scope}"
                                               for kind, (table, _) in _PIVOTED.items())).fetchall()
        cols = {} if rebuild else dict(self.cols)
        new = [(kind, key) for kind, key in found if (kind, key) not in cols]
        for kind, key in new:
            self._n += 1
            cols[(kind, key)] = (f"p{self._n}", f"pn{self._n}") if kind == "params" else (f"t{self._n}", None)
        select = self._select(found, cols, scope)
        try:
            if rebuild:
                con.execute(f"CREATE OR REPLACE TABLE wide AS {select}")
                self.rows.clear()
            else:
                con.execute("BEGIN")
                try:
                    for kind, key in new:
                        for col, typ in zip(cols[(kind, key)], ("VARCHAR", "DOUBLE")):
                            if col is not None:
                                con.execute(f"ALTER TABLE wide ADD COLUMN {col} {typ}")
                    con.execute(f"DELETE FROM wide WHERE {scope}")
                    con.execute(f"INSERT INTO wide BY NAME {select}")
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                for rid in changed:
                    self.rows.pop(rid, None)
            self.cols = cols
            self._stats.clear()
            self.compiled.clear()
            self._learn_keysets(scope)
        finally:
            con.execute("DROP TABLE IF EXISTS _changed")

    def _select(self, found: list[tuple[str, str]], cols: dict, scope: str) -> str:
        """One row per run in scope: its param and tag keys pivoted into columns (only the keys in
        scope), a hash of its set of param keys and of metric keys (_pset, _mset; see
        _learn_keysets), its metric values as one list in key order (_mvals), and the metric
        columns made so far."""
        out = [f"r.{c}" for c in ATTRS + _MORE]
        joins = []
        sources = [(kind, table, value, "", sorted(k for kd, k in found if kd == kind))
                   for kind, (table, value) in _PIVOTED.items()]
        sources.append(("metrics", _METRICS, "last", _NOT_SYSTEM, sorted(k for kd, k in cols if kd == "metrics")))
        for kind, table, value, extra, keys in sources:
            aggs = []
            for key in keys:
                for col, src in zip(cols[(kind, key)], (value, "value_num" if kind == "params" else value)):
                    if col is not None:  # one row per (run, key): max() is that row's value
                        aggs.append(f"max(CASE WHEN key = {_lit(key)} THEN {src} END) AS {col}")
                        out.append(f"{kind}.{col}")
            if kind != "tags":
                aggs.append(f"bit_xor(hash(key)) AS _{kind[0]}set")  # the same for the same set of keys
                out.append(f"{kind}._{kind[0]}set")
            if kind == "metrics":
                aggs.append("list(last ORDER BY key) AS _mvals")
                out.append("metrics._mvals")
            joins.append(f"LEFT JOIN (SELECT run_id, {', '.join(aggs)} FROM {_CAT}.{table} "
                         f"WHERE {scope}{extra} GROUP BY run_id) {kind} USING (run_id)")
        return f"SELECT {', '.join(out)} FROM {_CAT}.runs r {' '.join(joins)} WHERE {scope}"

    def _learn_keysets(self, scope: str) -> None:
        """The keys behind new key-set hashes, from one run per hash (runs of an experiment mostly
        share one set: a handful of sets in all)."""
        for kind, column, table, extra in (("params", "_pset", "params", ""),
                                           ("metrics", "_mset", _METRICS, _NOT_SYSTEM)):
            for h, keys in self.con.execute(f"""
                    SELECT w.h, list(DISTINCT c.key ORDER BY c.key)
                    FROM (SELECT {column} AS h, any_value(run_id) AS run_id FROM wide
                          WHERE {scope} AND {column} IS NOT NULL GROUP BY {column}) w
                    JOIN {_CAT}.{table} c ON c.run_id = w.run_id{extra} GROUP BY w.h""").fetchall():
                self.keysets[kind][h] = tuple(keys)

    def metric_column(self, key: str) -> str | None:
        """The column of metric `key`, made now from the runs' value lists if no search used it
        yet; None when no run has that metric."""
        made = self.cols.get(("metrics", key))
        if made is not None:
            return made[1]
        at = [(h, keys.index(key) + 1) for h, keys in self.keysets["metrics"].items() if key in keys]
        if not at:
            return None
        self._n += 1
        col = f"m{self._n}"
        pick = " ".join(f"WHEN {h}::UBIGINT THEN r._mvals[{i}]" for h, i in at)
        self.con.execute(f"CREATE OR REPLACE TABLE wide AS SELECT r.*, CASE r._mset {pick} END AS {col} FROM wide r")
        self.cols[("metrics", key)] = (None, col)
        return col

    # -- reads ----------------------------------------------------------------------------------
    def search(self, where: str, params: list[Any], order: str, offset: int,
               limit: int) -> tuple[list[str], int, list[str], list[str], dict[str, tuple[float, str]]]:
        """(page of run ids, total, param keys, metric keys, best per metric) over the filtered runs.

        Up to ALL_ROWS filtered runs come back in order with their key-set hashes and metric values
        in one statement, and the rest is worked out here: DuckDB plans a few plain columns in well
        under a millisecond, where an aggregate per metric takes longer to plan than to run. Past
        that, aggregates run (kept until the copy changes: paging and re-sorting reuse them)."""
        stats = self._stats.get((where, *params))
        if stats is None:
            rows = self.con.execute(f"SELECT r.run_id, r._pset, r._mset, r._mvals FROM wide r WHERE {where} "
                                    f"ORDER BY {order} LIMIT {ALL_ROWS + 1}", params).fetchall()
            if len(rows) <= ALL_ROWS:
                best: dict[str, tuple[float, str]] = {}
                for rid, _, mset, values in rows:
                    for key, v in zip(self.keysets["metrics"].get(mset, ()), values or ()):
                        if v is not None and v == v and (key not in best or self._better(key, v, best[key][0])):
                            best[key] = (v, rid)  # v == v: not NaN; the first of equals wins
                return ([r[0] for r in rows[offset:offset + limit]], len(rows),
                        self._union("params", {r[1] for r in rows}), self._union("metrics", {r[2] for r in rows}),
                        dict(sorted(best.items())))
            if len(self._stats) >= 64:
                self._stats.clear()
            stats = self._stats[(where, *params)] = self._aggregate(where, params)
        page = [r[0] for r in self.con.execute(f"SELECT r.run_id FROM wide r WHERE {where} ORDER BY {order} "
                                               "LIMIT ? OFFSET ?", params + [limit, offset]).fetchall()]
        return (page, *stats)

    def _better(self, key: str, value: float, than: float) -> bool:
        if key not in self._min:
            self._min[key] = metric_direction(key) == "min"
        return value < than if self._min[key] else value > than

    def _aggregate(self, where: str, params: list[Any]) -> tuple:
        """(total, param keys, metric keys, best per metric) by aggregates, for many filtered runs:
        the best of each (key set, position) in the value lists, then of each key here."""
        total, psets, msets = self.con.execute(f"SELECT count(*), list(DISTINCT r._pset), list(DISTINCT r._mset) "
                                               f"FROM wide r WHERE {where}", params).fetchone()
        found = self.con.execute(f"""
            SELECT _mset, i, min(v), arg_min(run_id, v), max(v), arg_max(run_id, v)
            FROM (SELECT r.run_id, r._mset, unnest(r._mvals) AS v, unnest(range(len(r._mvals))) AS i
                  FROM wide r WHERE {where})
            WHERE NOT isnan(v) GROUP BY ALL""", params).fetchall()
        best: dict[str, tuple[float, str]] = {}
        for mset, i, lo, lo_id, hi, hi_id in found:
            key = self.keysets["metrics"][mset][i]
            value, rid = (lo, lo_id) if metric_direction(key) == "min" else (hi, hi_id)
            if value is not None and (key not in best or self._better(key, value, best[key][0])):
                best[key] = (value, rid)
        return (total, self._union("params", set(psets)), self._union("metrics", set(msets)),
                dict(sorted(best.items())))

    def _union(self, kind: str, hashes: set[Any]) -> list[str]:
        return sorted({k for h in hashes for k in self.keysets[kind].get(h, ())})

    def run_rows(self, ids: list[str], make: Callable[..., Any], param_keys: list[str]) -> list[Any]:
        """Built rows (make(*ATTRS, params=, metrics=, tags=)) of these runs, cached until they change.
        `param_keys`: all the params these runs have (the search's param_keys)."""
        missing = [rid for rid in ids if rid not in self.rows]
        if missing:
            params = [(k, self.cols[("params", k)][0]) for k in param_keys if ("params", k) in self.cols]
            tags = sorted((k, c[0]) for (kind, k), c in self.cols.items() if kind == "tags")
            names = [c for _, c in params + tags]
            n = len(ATTRS)
            at = {col: i for i, col in enumerate(names, start=n + 3)}
            rows = self.con.execute(f"SELECT {', '.join(ATTRS + ('_pset', '_mset', '_mvals', *names))} "
                                    "FROM wide WHERE run_id IN (SELECT unnest(?))", [missing]).fetchall()
            pcol = {k: at[c] for k, c in params}
            for row in rows:
                p = {k: row[pcol[k]] if k in pcol else None  # a None param is a key too
                     for k in self.keysets["params"].get(row[n], ())}
                m = {k: None if v != v else v  # NaN: no value to show
                     for k, v in zip(self.keysets["metrics"].get(row[n + 1], ()), row[n + 2] or ())}
                t = {k: row[at[c]] for k, c in tags if row[at[c]] is not None}
                self.rows[row[0]] = make(*row[:n], params=p, metrics=m, tags=t)
        return [self.rows[rid] for rid in ids if rid in self.rows]

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple]:
        return self.con.execute(sql, params or []).fetchall()

    @contextmanager
    def catalog(self) -> Iterator[Catalog]:
        """The catalog file itself for what the copy does not hold: attached read-only to this
        connection for the caller's queries, else (a writer holds it) opened read-write."""
        import duckdb

        with CATALOG_LOCK:
            try:
                self.con.execute(f"ATTACH ? AS {_CAT} (READ_ONLY)", [str(self.path)])
            except duckdb.Error:
                with open_catalog(self.home) as cat:
                    yield cat
                return
            try:
                self.con.execute(f"USE {_CAT}")
                yield Catalog(self.con, self.home)
            finally:
                self.con.execute("USE memory")
                self.con.execute(f"DETACH {_CAT}")


_MIRRORS: OrderedDict[str, Mirror] = OrderedDict()
_MIRRORS_LOCK = threading.Lock()


@contextmanager
def mirror_for(home: Home) -> Iterator[Mirror]:
    """This home's mirror, up to date and locked for the caller (threads take turns)."""
    key = str(home.catalog_path)
    with _MIRRORS_LOCK:
        mirror = _MIRRORS.get(key)
        if mirror is None:
            mirror = _MIRRORS[key] = Mirror(home)
            while len(_MIRRORS) > _KEEP:
                _MIRRORS.popitem(last=False)  # closed once no thread uses it any more
        _MIRRORS.move_to_end(key)
    with mirror.lock:
        mirror.refresh()
        yield mirror


def warm(home: Home) -> None:
    """Make (or bring up to date) this home's copy now, so the first search is quick: the app can
    call it in a thread worker at start (the first copy of 30,000 runs takes 0.1-0.2 s)."""
    with mirror_for(home):
        pass
