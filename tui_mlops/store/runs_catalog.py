"""The runs part of the catalog: tables (migration 2) and the fold-in of runs/<id>/ event logs.

The fold reads only new bytes (offsets are stored per run), so it is idempotent and cheap when
nothing changed: it lists runs/ only when the folder's mtime moved, stats only non-terminal runs'
logs, and learns of edits from the home-level `runs/.edits-touched` list read from an offset.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

from tui_mlops.store.events import read_events
from tui_mlops.store.points_files import ORD_SHIFT, points_file_name, stage_points_files

EVENTS_FILE = "events.jsonl"
EDITS_FILE = "edits.jsonl"
EDITS_TOUCHED = ".edits-touched"
JOB_FILE = "job.json"  # written by jobs.manager (job control); read for runs that never started
END_STATUSES = ("finished", "failed", "cancelled", "crashed")
LIVE_STATUSES = ("queued", "running")

RUNS_MIGRATION: list[str] = [
    """CREATE TABLE runs (
        run_id VARCHAR PRIMARY KEY, experiment VARCHAR NOT NULL, name VARCHAR, kind VARCHAR,
        status VARCHAR NOT NULL, parent_run_id VARCHAR, dataset VARCHAR, model VARCHAR,
        start_ts DOUBLE, end_ts DOUBLE, error VARCHAR, note VARCHAR, spec_json VARCHAR, host VARCHAR,
        pid BIGINT, pid_started DOUBLE, device VARCHAR, device_detail VARCHAR,
        events_offset BIGINT NOT NULL, edits_offset BIGINT NOT NULL, terminal BOOLEAN NOT NULL
    )""",
    "CREATE TABLE params (run_id VARCHAR NOT NULL, key VARCHAR NOT NULL, value VARCHAR, value_num DOUBLE, "
    "PRIMARY KEY (run_id, key))",
    "CREATE TABLE tags (run_id VARCHAR NOT NULL, key VARCHAR NOT NULL, value VARCHAR, PRIMARY KEY (run_id, key))",
    # Full history; (run_id, key, seq) is unique because a run's points come from its one log.
    "CREATE TABLE metrics (run_id VARCHAR NOT NULL, key VARCHAR NOT NULL, step BIGINT, value DOUBLE, "
    "ts DOUBLE, seq BIGINT)",
    "CREATE TABLE metric_summary (run_id VARCHAR NOT NULL, key VARCHAR NOT NULL, last DOUBLE, min DOUBLE, "
    "max DOUBLE, last_step BIGINT, n BIGINT NOT NULL, last_ts DOUBLE, PRIMARY KEY (run_id, key))",
    "CREATE TABLE artifacts (run_id VARCHAR NOT NULL, path VARCHAR NOT NULL, sha256 VARCHAR, size BIGINT, "
    "kind VARCHAR, ts DOUBLE, PRIMARY KEY (run_id, path))",
    # Run folders seen without a readable run_start yet (a job not started): re-checked each fold.
    "CREATE TABLE runs_pending (run_id VARCHAR PRIMARY KEY)",
    "CREATE TABLE fold_state (key VARCHAR PRIMARY KEY, value BIGINT)",
]

RUN_COLUMNS: list[tuple[str, str]] = [
    ("run_id", "VARCHAR"), ("experiment", "VARCHAR"), ("name", "VARCHAR"), ("kind", "VARCHAR"),
    ("status", "VARCHAR"), ("parent_run_id", "VARCHAR"), ("dataset", "VARCHAR"), ("model", "VARCHAR"),
    ("start_ts", "DOUBLE"), ("end_ts", "DOUBLE"), ("error", "VARCHAR"), ("note", "VARCHAR"),
    ("spec_json", "VARCHAR"), ("host", "VARCHAR"), ("pid", "BIGINT"), ("pid_started", "DOUBLE"),
    ("device", "VARCHAR"), ("device_detail", "VARCHAR"), ("events_offset", "BIGINT"),
    ("edits_offset", "BIGINT"), ("terminal", "BOOLEAN"),
]
_RUN_NAMES = [c for c, _ in RUN_COLUMNS]
_POINT_COLUMNS = [("run_id", "VARCHAR"), ("key", "VARCHAR"), ("step", "BIGINT"), ("value", "DOUBLE"),
                  ("ts", "DOUBLE"), ("seq", "BIGINT"), ("ord", "BIGINT")]
# A folder made within the mtime granularity of the last one seen leaves runs/'s mtime unchanged
# (the kernel's coarse clock ticks every few ms; some file systems keep whole seconds), so a
# recent mtime is not trusted: the next fold lists runs/ again.
MTIME_SLACK_S = 0.1
COARSE_MTIME_SLACK_S = 2.0  # an mtime on a whole second: likely a file system with 1-2 s steps
_ARROW_OVER = 2000  # rows; below this, bind lists (no pyarrow import for a small fold)
RUN_TABLES = ("runs", "params", "tags", "metrics", "metric_summary", "artifacts")
def param_text(value: Any) -> tuple[str | None, float | None]:
    """(text, number) as the catalog stores a param: text always, the number where it is one."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        return ("true" if value else "false"), None
    if isinstance(value, (int, float)):
        return str(value), (float(value) if math.isfinite(value) else None)
    text = str(value)
    try:
        num = float(text)
    except ValueError:
        return text, None
    return text, (num if math.isfinite(num) else None)


class _Fold:
    """What one fold learned: run rows to write, params/tags/artifacts to upsert, new points."""

    def __init__(self) -> None:
        self.runs: dict[str, dict[str, Any]] = {}
        self.params: dict[tuple[str, str], tuple[str | None, float | None]] = {}
        self.tags: dict[tuple[str, str], str] = {}
        self.artifacts: dict[tuple[str, str], tuple[Any, ...]] = {}
        self.points: list[list[Any]] = [[] for _ in _POINT_COLUMNS]
        self.point_files: list[tuple[str, str]] = []  # (run id, file name): bulk points (metrics_file)
        self.ends: dict[str, dict[str, Any]] = {}  # run_end candidates seen this fold (earliest wins)

    def apply(self, run: dict[str, Any], ev: dict[str, Any], from_edits: bool) -> None:
        t, rid = ev.get("type"), run["run_id"]
        if t == "run_start" and not from_edits:
            for k in ("experiment", "name", "kind", "parent_run_id", "dataset", "model", "host", "pid",
                      "pid_started"):
                run[k] = ev.get(k)
            run["experiment"] = str(run["experiment"] or "default")
            run["start_ts"] = float(ev["ts"])
            run["spec_json"] = None if ev.get("spec") is None else json.dumps(ev["spec"], sort_keys=True)
            self._params(rid, ev.get("params") or {})
            self._tags(rid, ev.get("tags") or {})
        elif t == "status" and ev.get("status") in LIVE_STATUSES and not run["terminal"]:
            run["status"] = ev["status"]
        elif t == "params":
            self._params(rid, ev["params"])
        elif t == "tags":
            self._tags(rid, ev["tags"])
        elif t == "note":
            run["note"] = str(ev["text"])
        elif t == "metric":
            self._point(rid, str(ev["key"]), ev.get("step"), ev["value"], ev, 0)
        elif t == "metrics":
            for i, (k, v) in enumerate(ev["values"].items()):
                self._point(rid, str(k), ev.get("step"), v, ev, i)
        elif t == "system":
            for i, (k, v) in enumerate(ev["values"].items()):
                self._point(rid, f"system/{k}", None, v, ev, i)
        elif t == "metrics_file":
            name = points_file_name(ev)
            if name is not None:
                self.point_files.append((rid, name))
        elif t == "artifact":
            self.artifacts[(rid, str(ev["path"]))] = (ev.get("sha256"), ev.get("size"), ev.get("kind"), ev["ts"])
        elif t == "device":
            run["device"], run["device_detail"] = ev.get("device"), ev.get("detail")
        elif t == "run_end" and ev.get("status") in END_STATUSES and not run["terminal"]:
            prev = self.ends.get(rid)
            if prev is None or float(ev["ts"]) < float(prev["ts"]):
                self.ends[rid] = ev

    def _params(self, rid: str, params: dict[str, Any]) -> None:
        for k, v in params.items():
            self.params[(rid, str(k))] = param_text(v)

    def _tags(self, rid: str, tags: dict[str, Any]) -> None:
        for k, v in tags.items():
            self.tags[(rid, str(k))] = str(v)

    def _point(self, rid: str, key: str, step: Any, value: Any, ev: dict[str, Any], i: int) -> None:
        p = self.points
        seq = int(ev["seq"])
        value = float(value)  # may raise: before any column grows, so a bad event adds nothing
        p[0].append(rid)
        p[1].append(key)
        p[2].append(None if step is None else int(step))
        p[3].append(value)
        p[4].append(float(ev["ts"]))
        p[5].append(seq)
        p[6].append((seq << ORD_SHIFT) + i)  # log order: the event, then the place in it

    def finish_ends(self) -> None:
        for rid, ev in self.ends.items():
            run = self.runs[rid]
            run["status"], run["terminal"] = ev["status"], True
            run["end_ts"] = float(ev["ts"])
            run["error"] = None if ev.get("error") is None else str(ev["error"])


def _blank_run(run_id: str) -> dict[str, Any]:
    run = dict.fromkeys(_RUN_NAMES)
    run.update(run_id=run_id, status="running", events_offset=0, edits_offset=0, terminal=False)
    return run


def _apply_all(fold: _Fold, run: dict[str, Any], events: list[dict[str, Any]], from_edits: bool) -> None:
    for ev in events:
        try:
            fold.apply(run, ev, from_edits)
        except (KeyError, TypeError, ValueError, AttributeError):
            continue  # a malformed event (hand-edited file): skip it, keep the rest


def _job_only_run(fold: _Fold, folder: Path) -> dict[str, Any] | None:
    """The row of a job whose worker died before its run_start, once a watcher gave a verdict
    (run_end in edits.jsonl): made from job.json (jobs.manager's submit record) as a run_start."""
    edits, edits_offset = read_events(folder / EDITS_FILE, 0)
    if not any(e.get("type") == "run_end" and e.get("status") in END_STATUSES for e in edits):
        return None
    try:
        with open(folder / JOB_FILE, "rb") as fh:
            job = json.loads(fh.read())
        spec = (job.get("payload") or {}).get("spec")
        start = {**job, "type": "run_start", "ts": job.get("created") or 0.0,
                 "spec": spec if isinstance(spec, dict) else job.get("payload")}
    except (OSError, ValueError, TypeError, AttributeError):
        return None  # no job.json (a plain folder) or an unreadable one
    run = _blank_run(folder.name)
    _apply_all(fold, run, [start], False)
    _apply_all(fold, run, edits, True)
    run["edits_offset"] = edits_offset
    return run if run["experiment"] is not None else None


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _trusted(mtime_ns: int) -> int:
    """The mtime to remember, or -1 when it is too recent to prove nothing else changed since."""
    slack = COARSE_MTIME_SLACK_S if mtime_ns % 1_000_000_000 == 0 else MTIME_SLACK_S
    return mtime_ns if time.time() - mtime_ns / 1e9 > slack else -1


def fold_inputs(con: Any) -> tuple[dict[str, int], set[str], list[tuple[str, int]]]:
    """Fold state, pending run ids and (id, events offset) of non-terminal runs, in one query."""
    rows = con.execute("""SELECT 0, key, value FROM fold_state
                          UNION ALL SELECT 1, run_id, 0 FROM runs_pending
                          UNION ALL SELECT 2, run_id, events_offset FROM runs WHERE NOT terminal""").fetchall()
    state = {k: v for t, k, v in rows if t == 0}
    return state, {k for t, k, _ in rows if t == 1}, [(k, v) for t, k, v in rows if t == 2]


def fold_needed(cat: Any, inputs: Any = None) -> bool:
    """Whether fold_runs would change anything: the same cheap checks, no writes (so a reader
    can keep a read-only open, which is cheaper and shared, when the index is current).
    `inputs`: fold_inputs read before (a reader's copy): then only files are looked at."""
    runs_dir = cat.home.runs_dir
    state, pending, active = inputs or fold_inputs(cat.con)
    try:
        if runs_dir.stat().st_mtime_ns != state.get("runs_dir_mtime_ns"):
            return True
    except OSError:
        return True
    if max(_file_size(runs_dir / EDITS_TOUCHED), 0) != state.get("edits_touched_offset", 0):
        return True
    if any(_file_size(runs_dir / rid / EVENTS_FILE) > 0 for rid in pending):
        return True
    return any(_file_size(runs_dir / rid / EVENTS_FILE) > off for rid, off in active)


def fold_runs(cat: Any) -> int:
    """Fold new run events and edits into the catalog; returns the number of runs changed."""
    con, runs_dir = cat.con, cat.home.runs_dir
    state, pending, active = fold_inputs(con)
    try:
        dir_mtime = runs_dir.stat().st_mtime_ns
    except OSError:
        dir_mtime = 0
    removed: set[str] = set()
    candidates = set(pending)
    gone_pending: set[str] = set()
    if dir_mtime != state.get("runs_dir_mtime_ns"):
        # Listed after the stat: a folder created in between is seen now or moves the mtime again.
        on_disk = {e.name for e in os.scandir(runs_dir) if not e.name.startswith(".") and e.is_dir()} \
            if runs_dir.is_dir() else set()
        indexed = {r[0] for r in con.execute("SELECT run_id FROM runs").fetchall()}
        removed = indexed - on_disk
        gone_pending = pending - on_disk
        candidates = (on_disk - indexed) | (pending & on_disk)

    touched_path = runs_dir / EDITS_TOUCHED
    touched_offset = state.get("edits_touched_offset", 0)
    touched: set[str] = set()
    size = _file_size(touched_path)
    if size >= 0 and size < touched_offset:
        touched_offset = 0  # the list was recreated
    if size > touched_offset:
        with open(touched_path, "rb") as fh:
            fh.seek(touched_offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1
        touched = {ln.strip() for ln in data[:end].decode(errors="replace").splitlines() if ln.strip()}
        touched_offset += end

    grown = [rid for rid, off in active if rid not in removed and _file_size(runs_dir / rid / EVENTS_FILE) > off]
    to_load = (set(grown) | touched) - removed - candidates
    fold = _Fold()
    if to_load:
        rows = con.execute(f"SELECT {', '.join(_RUN_NAMES)} FROM runs WHERE run_id IN (SELECT unnest(?))",
                           [sorted(to_load)]).fetchall()
        fold.runs = {r[0]: dict(zip(_RUN_NAMES, r)) for r in rows}

    now_indexed: set[str] = set()
    for rid in sorted(candidates):
        folder = runs_dir / rid
        events: list[dict[str, Any]] = []
        if _file_size(folder / EVENTS_FILE) > 0:
            edits, edits_offset = read_events(folder / EDITS_FILE, 0)
            events, events_offset = read_events(folder / EVENTS_FILE, 0)
        if not events or events[0].get("type") != "run_start":
            # Not started yet (or its first line is still being written), unless it is a job
            # whose worker died before its run_start and a watcher gave the verdict.
            job_run = _job_only_run(fold, folder)
            if job_run is not None:
                fold.runs[rid] = job_run
                now_indexed.add(rid)
            continue
        run = fold.runs[rid] = _blank_run(rid)
        _apply_all(fold, run, events, False)
        _apply_all(fold, run, edits, True)
        run["events_offset"], run["edits_offset"] = events_offset, edits_offset
        now_indexed.add(rid)

    for rid, run in fold.runs.items():
        if rid in now_indexed:
            continue
        folder = runs_dir / rid
        # Edits are read before events (a crash verdict comes after the dead process's last
        # events, so reading events second gets them all) but applied after them (later changes).
        edits: list[dict[str, Any]] = []
        if rid in touched:
            edits, run["edits_offset"] = read_events(folder / EDITS_FILE, run["edits_offset"])
        if not run["terminal"]:
            events, run["events_offset"] = read_events(folder / EVENTS_FILE, run["events_offset"])
            _apply_all(fold, run, events, False)
        _apply_all(fold, run, edits, True)
    fold.finish_ends()

    new_state = {"runs_dir_mtime_ns": _trusted(dir_mtime), "edits_touched_offset": touched_offset}
    changed = bool(fold.runs or removed or gone_pending or (candidates - now_indexed) != pending)
    if not changed and new_state == {k: state.get(k) for k in new_state}:
        return 0
    _write(con, fold, removed, (candidates - now_indexed), new_state, runs_dir)
    return len(fold.runs) + len(removed)


def _write(con: Any, fold: _Fold, removed: set[str], pending: set[str], state: dict[str, int],
           runs_dir: Path) -> None:
    points = bool(fold.points[0] or fold.point_files)
    if points:  # staged before the transaction, so an unreadable points file is skipped, not fatal
        _stage(con, "_new_points", _POINT_COLUMNS, fold.points)
        stage_points_files(con, "_new_points", [(rid, runs_dir / rid / name) for rid, name in fold.point_files])
    try:
        _write_tables(con, fold, removed, pending, state, points)
    finally:
        if points:
            con.execute("DROP TABLE IF EXISTS _new_points")


def _write_tables(con: Any, fold: _Fold, removed: set[str], pending: set[str], state: dict[str, int],
                  points: bool) -> None:
    con.execute("BEGIN")
    try:
        if removed:
            for table in RUN_TABLES:
                con.execute(f"DELETE FROM {table} WHERE run_id IN (SELECT unnest(?))", [sorted(removed)])
        con.execute("DELETE FROM runs_pending")
        if pending:
            con.execute("INSERT INTO runs_pending SELECT unnest(?::VARCHAR[])", [sorted(pending)])
        if fold.runs:
            rows = list(fold.runs.values())
            _insert(con, "runs", RUN_COLUMNS, [[r[c] for r in rows] for c in _RUN_NAMES], replace=True)
        if fold.params:
            keys = list(fold.params)
            _insert(con, "params", [("run_id", "VARCHAR"), ("key", "VARCHAR"), ("value", "VARCHAR"),
                                    ("value_num", "DOUBLE")],
                    [[k[0] for k in keys], [k[1] for k in keys], [fold.params[k][0] for k in keys],
                     [fold.params[k][1] for k in keys]], replace=True)
        if fold.tags:
            keys = list(fold.tags)
            _insert(con, "tags", [("run_id", "VARCHAR"), ("key", "VARCHAR"), ("value", "VARCHAR")],
                    [[k[0] for k in keys], [k[1] for k in keys], [fold.tags[k] for k in keys]], replace=True)
        if fold.artifacts:
            keys = list(fold.artifacts)
            vals = [fold.artifacts[k] for k in keys]
            _insert(con, "artifacts", [("run_id", "VARCHAR"), ("path", "VARCHAR"), ("sha256", "VARCHAR"),
                                       ("size", "BIGINT"), ("kind", "VARCHAR"), ("ts", "DOUBLE")],
                    [[k[0] for k in keys], [k[1] for k in keys]] + [[v[i] for v in vals] for i in range(4)],
                    replace=True)
        if points:
            _merge_points(con)
        con.execute("INSERT OR REPLACE INTO fold_state SELECT unnest(?::VARCHAR[]), unnest(?::BIGINT[])",
                    [list(state), list(state.values())])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _merge_points(con: Any) -> None:
    con.execute("INSERT INTO metrics SELECT run_id, key, step, value, ts, seq FROM _new_points")
    # The summary is merged, not recomputed: cost follows the new points, not the history.
    con.execute("""
            INSERT OR REPLACE INTO metric_summary
            SELECT n.run_id, n.key, n.last,
                   least(coalesce(o.min, n.min), coalesce(n.min, o.min)),
                   greatest(coalesce(o.max, n.max), coalesce(n.max, o.max)),
                   n.last_step, coalesce(o.n, 0) + n.n, n.last_ts
            FROM (SELECT run_id, key, arg_max(value, ord) AS last,
                         min(value) FILTER (WHERE NOT isnan(value)) AS min,
                         max(value) FILTER (WHERE NOT isnan(value)) AS max,
                         arg_max_null(step, ord) AS last_step, count(*) AS n, arg_max(ts, ord) AS last_ts
                  FROM _new_points GROUP BY run_id, key) n
            LEFT JOIN metric_summary o ON o.run_id = n.run_id AND o.key = n.key""")


def _stage(con: Any, name: str, columns: list[tuple[str, str]], data: list[list[Any]]) -> None:
    """A temp table `name` holding column lists `data`, built the cheapest way for its size."""
    if len(data[0]) > _ARROW_OVER:
        import pyarrow as pa

        types = {"VARCHAR": pa.string(), "DOUBLE": pa.float64(), "BIGINT": pa.int64(), "BOOLEAN": pa.bool_()}
        table = pa.table({c: pa.array(d, types[t]) for (c, t), d in zip(columns, data)})
        con.register("_stage_arrow", table)
        try:
            con.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM _stage_arrow")
        finally:
            con.unregister("_stage_arrow")
        return
    select = ", ".join(f"unnest(?::{t}[]) AS {c}" for c, t in columns)
    con.execute(f"CREATE TEMP TABLE {name} AS SELECT {select}", data)


def _insert(con: Any, table: str, columns: list[tuple[str, str]], data: list[list[Any]], *,
            replace: bool = False) -> None:
    names = ", ".join(c for c, _ in columns)
    verb = "INSERT OR REPLACE" if replace else "INSERT"
    if len(data[0]) > _ARROW_OVER:
        _stage(con, "_new_rows", columns, data)
        try:
            con.execute(f"{verb} INTO {table} ({names}) SELECT {names} FROM _new_rows")
        finally:
            con.execute("DROP TABLE IF EXISTS _new_rows")
        return
    select = ", ".join(f"unnest(?::{t}[])" for _, t in columns)
    con.execute(f"{verb} INTO {table} ({names}) SELECT {select}", data)


def unindex_run(cat: Any, run_id: str) -> None:
    """Drop a run from the index (its folder was removed by the caller)."""
    for table in RUN_TABLES:
        cat.con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
