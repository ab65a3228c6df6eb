"""CLI handlers for tracked runs: `runs list/show/compare/history/tag/rm/export/rerun`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tui_mlops.cli_format import print_json, table
from tui_mlops.cli_jobs import _when, as_dict, duration_text
from tui_mlops.errors import InputError, NotFoundError

PROG = "mlops-tui"
ATTRS = ("run_id", "experiment", "name", "kind", "status", "parent_run_id", "dataset", "model", "start_ts", "end_ts")
SORT_ALIASES = {"started": "start_ts", "start": "start_ts", "ended": "end_ts", "end": "end_ts"}
ACTIVE = ("queued", "running")
# The metrics `runs list` shows when no --columns are given, in this order of preference.
PREFERRED = ("valid/auc", "valid/logloss", "valid/rmse", "valid/accuracy", "valid/r2", "valid/mae")


def add_parsers(sub: Any, common: list[argparse.ArgumentParser], home_opt: argparse.ArgumentParser) -> Any:
    """The `runs` command's parsers; returns its subparsers (`runs compare` is added to them)."""
    from tui_mlops.cli import _nonneg_int, _pos_int

    runs = sub.add_parser("runs", parents=[home_opt], help="find, compare, tag, export and remove tracked runs",
                          description="Tracked runs: from `train`, `sweep`, and scripts using the tracking API.")
    rs = runs.add_subparsers(dest="action", metavar="ACTION", required=True)
    R = "tui_mlops.cli_runs"
    p = rs.add_parser("list", parents=common, help="runs, filtered and sorted (or grouped by a param)")
    p.add_argument("--query", "-q", metavar="Q",
                   help='e.g. "metrics.`valid/auc` > 0.9 and params.num_leaves in (31, 63) or tags.team = \'risk\'"')
    p.add_argument("--sort", metavar="KEY", help="metrics.K, params.K, start_ts (default), name, status, ...")
    p.add_argument("--asc", action="store_true", help="ascending (default: descending)")
    p.add_argument("--experiment", "-e", metavar="NAME", help="only this experiment's runs")
    p.add_argument("--limit", type=_pos_int, default=20, metavar="N", help="rows to print (default 20)")
    p.add_argument("--offset", type=_nonneg_int, default=0, metavar="N", help="first row (default 0)")
    p.add_argument("--columns", metavar="COLS", help="extra columns, e.g. params.num_leaves,metrics.valid/auc")
    p.add_argument("--group-by", metavar="params.P", help="one row per value of a param: count, mean, std, best")
    p.add_argument("--metric", metavar="metrics.M", help="the metric that --group-by summarises")
    p.set_defaults(handler=f"{R}:cmd_list")

    p = rs.add_parser("show", parents=common, help="a run's details: params, metrics, tags, artifacts")
    p.add_argument("run", metavar="ID", help="run id (or a unique prefix of 4+ characters)")
    p.set_defaults(handler=f"{R}:cmd_show")
    p = rs.add_parser("history", parents=common, help="a metric's steps and values")
    p.add_argument("run", metavar="ID")
    p.add_argument("metric", metavar="METRIC", help="e.g. valid/auc")
    p.add_argument("--chart", action="store_true", help="draw the curve as text instead of listing the points")
    p.set_defaults(handler=f"{R}:cmd_history")
    p = rs.add_parser("tag", parents=common, help="set tags (and a note) on a run")
    p.add_argument("run", metavar="ID")
    p.add_argument("tags", metavar="K=V", nargs="*")
    p.add_argument("--note", metavar="TEXT", help="the run's note (replaces the previous one)")
    p.set_defaults(handler=f"{R}:cmd_tag")
    p = rs.add_parser("rm", parents=common, help="remove a run and its files (a sweep: with its trials)")
    p.add_argument("run", metavar="ID")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.set_defaults(handler=f"{R}:cmd_rm")
    p = rs.add_parser("export", parents=common, help="write runs with params, metrics and tags to a file")
    p.add_argument("--query", "-q", metavar="Q", help="only the runs matching Q")
    p.add_argument("--experiment", "-e", metavar="NAME", help="only this experiment's runs")
    p.add_argument("--out", required=True, metavar="FILE", help="FILE.csv, FILE.parquet or FILE.json")
    p.set_defaults(handler=f"{R}:cmd_export")
    p = rs.add_parser("rerun", parents=common, help="train again with the same spec (a new run)")
    p.add_argument("run", metavar="ID")
    p.add_argument("--wait", action="store_true", help="follow the new run until it ends")
    p.add_argument("--every", type=_pos_int, metavar="N", help="with --wait: a progress line every N rounds")
    p.set_defaults(handler="tui_mlops.cli_train:cmd_rerun")
    from tui_mlops.cli_exports import add_run_parsers

    add_run_parsers(rs, common)  # runs export-history, runs chart
    return rs


# -- list -----------------------------------------------------------------------------------------
def column_value(row: Any, col: str) -> Any:
    head, _, key = col.partition(".")
    if head in ("params", "metrics", "tags") and key:
        return getattr(row, head).get(key.strip("`"))
    if col in ("start_ts", "started"):
        return _when(row.start_ts)
    if col in ("time", "duration"):
        return duration_text(row.start_ts, row.end_ts)
    if col not in ATTRS:
        raise InputError(f"unknown column {col!r}: use params.K, metrics.K, tags.K or one of {', '.join(ATTRS)}")
    return getattr(row, col)


def _default_metrics(page: Any, sort: str | None) -> list[str]:
    keys = [k for k in page.metric_keys if not k.startswith("system/")]
    chosen = [sort.partition(".")[2].strip("`")] if sort and sort.startswith("metrics.") else []
    chosen += [k for k in PREFERRED if k in keys and k not in chosen]
    chosen += sorted(k for k in keys if k.startswith("valid/") and k not in chosen)
    chosen += [k for k in keys if k not in chosen and not k.startswith("train/")]
    return [f"metrics.{k}" for k in chosen[:3]]


def row_dict(row: Any) -> dict[str, Any]:
    return {a: getattr(row, a) for a in ATTRS} | {"params": row.params, "metrics": row.metrics, "tags": row.tags}


def cmd_list(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.tracking import query as T

    if args.group_by or args.metric:
        return _group(args, home)
    sort = SORT_ALIASES.get(args.sort, args.sort) if args.sort else None
    page = T.search_runs(home, args.query, order_by=sort, descending=not args.asc, experiment=args.experiment,
                         offset=args.offset, limit=args.limit)
    if args.json:
        print_json({"total": page.total, "offset": page.offset, "rows": [row_dict(r) for r in page.rows],
                    "param_keys": page.param_keys, "metric_keys": page.metric_keys,
                    "best": {k: {"value": v, "run_id": rid} for k, (v, rid) in page.best.items()}})
        return 0
    if args.columns:
        extra = [c.strip() for c in args.columns.split(",") if c.strip()]
    else:
        extra = _default_metrics(page, sort)
    cols = ["run_id", "experiment", "name", "status", "model", "started", "time"] + extra
    rows = [[column_value(r, c) for c in cols] for r in page.rows]
    if not page.rows:
        print("no runs" + (" match the query" if args.query else "") + (f" in experiment {args.experiment!r}"
                                                                          if args.experiment else ""))
        return 0
    headers = ["run" if c == "run_id" else c.removeprefix("metrics.") for c in cols]
    print(table(headers, rows, fmt=_blank_none))
    shown = page.offset + len(page.rows)
    more = "" if shown >= page.total else f"; --offset {shown} for more"
    print(f"\nruns {page.offset + 1}-{shown} of {page.total}{more}")
    for c in extra:
        key = c.partition(".")[2].strip("`")
        if c.startswith("metrics.") and key in page.best:
            value, rid = page.best[key]
            print(f"best {key}: {value:.6g} (run {rid})")
    return 0


def _group(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.tracking import query as T

    if not (args.group_by and args.metric):
        raise InputError("--group-by and --metric go together, e.g. --group-by params.num_leaves "
                         "--metric metrics.valid/auc")
    by = args.group_by if "." in args.group_by else f"params.{args.group_by}"
    metric = args.metric if args.metric.startswith("metrics.") else f"metrics.{args.metric}"
    groups = T.group_runs(home, by, metric, query=args.query, experiment=args.experiment)
    if args.json:
        print_json({"by": by, "metric": metric, "groups": [as_dict(g) for g in groups]})
        return 0
    if not groups:
        print("no runs to group")
        return 0
    print(table([by, "runs", "mean", "std", "best"], [[g.value, g.count, g.mean, g.std, g.best] for g in groups],
                fmt=_blank_none))
    return 0


def _blank_none(v: Any) -> str:
    return "" if v is None else _cell(v)


def _cell(v: Any) -> str:
    from tui_mlops.cli_format import cell

    return cell(v)


# -- show / compare / history --------------------------------------------------------------------
def cmd_show(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.cli_format import human_size, key_values
    from tui_mlops.tracking.query import get_run

    d = get_run(home, args.run)
    if args.json:
        print_json(as_dict(d))
        return 0
    pairs: list[tuple[str, Any]] = [
        ("run", d.run_id), ("experiment", d.experiment), ("name", d.name or ""), ("kind", d.kind),
        ("status", d.status), ("dataset", d.dataset or ""), ("model", d.model or ""),
        ("device", d.device_detail or d.device or ""),
        ("started", _when(d.start_ts)), ("ended", _when(d.end_ts)), ("time", duration_text(d.start_ts, d.end_ts)),
        ("host", f"{d.host or ''} (pid {d.pid})" if d.pid else d.host or ""),
    ]
    if d.parent_run_id:
        pairs.append(("parent", d.parent_run_id))
    if d.children:
        pairs.append(("children", f"{len(d.children)} run(s): {', '.join(d.children[:8])}"
                                  f"{' ...' if len(d.children) > 8 else ''}"))
    if d.error:
        pairs.append(("error", d.error))
    if d.note:
        pairs.append(("note", d.note))
    print(key_values(pairs))
    if d.params:
        print("\nparams:")
        print(table(["param", "value"], sorted(d.params.items()), indent="  "))
    summary = d.metric_summary or {}
    if summary:
        print("\nmetrics:")
        rows = [[k, s.get("last"), s.get("min"), s.get("max"), s.get("last_step"), s.get("n")]
                for k, s in sorted(summary.items(), key=lambda kv: (kv[0].startswith("system/"), kv[0]))]
        print(table(["metric", "last", "min", "max", "step", "points"], rows, indent="  ",
                    fmt=_blank_none))
    if d.tags:
        print("\ntags:")
        print(table(["tag", "value"], sorted(d.tags.items()), indent="  "))
    if d.artifacts:
        print("\nartifacts:")
        print(table(["path", "kind", "size", "sha256"],
                    [[a.get("path"), a.get("kind"), human_size(a.get("size")), str(a.get("sha256", ""))[:16]]
                     for a in d.artifacts], indent="  "))
    return 0


def cmd_history(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.tracking.query import get_run, metric_history

    d = get_run(home, args.run)
    key = args.metric.removeprefix("metrics.").strip("`")
    if key not in (d.metric_summary or {}) and key not in d.metrics:
        known = ", ".join(sorted(d.metric_summary or d.metrics)) or "none"
        raise NotFoundError(f"run {d.run_id} has no metric {key!r} (metrics: {known})")
    steps, values = metric_history(home, d.run_id, key)
    if args.json:
        print_json({"run_id": d.run_id, "key": key, "steps": list(steps), "values": list(values)})
        return 0
    print(f"run {d.run_id} {key}: {len(values)} point(s)")
    if args.chart:
        import shutil

        from tui_mlops.charts import line_chart_text
        from tui_mlops.settings import load_settings

        width = max(40, min(shutil.get_terminal_size((100, 24)).columns, 120))
        print(line_chart_text({key: (steps, values)}, width, 18, marker=load_settings().chart_marker))
        return 0
    print(table(["step", "value"], [[s, v] for s, v in zip(steps, values)], indent="  ",
                fmt=_blank_none))
    return 0


# -- tag / rm / export ---------------------------------------------------------------------------
def cmd_tag(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.cli_train import parse_tags
    from tui_mlops.tracking.api import attach_run
    from tui_mlops.tracking.query import get_run

    tags = parse_tags(args.tags, "a tag")
    if not tags and args.note is None:
        raise InputError("give tags as KEY=VALUE and/or --note TEXT")
    run_id = get_run(home, args.run).run_id
    writer = attach_run(home, run_id)
    if tags:
        writer.set_tags(tags)
    if args.note is not None:
        writer.note(args.note)
    d = get_run(home, run_id)
    if args.json:
        print_json({"run_id": run_id, "tags": d.tags, "note": d.note})
    else:
        done = [", ".join(f"{k}={v}" for k, v in tags.items())] if tags else []
        done += ["note set"] if args.note is not None else []
        print(f"run {run_id}: {'; '.join(done)}")
    return 0


def cmd_rm(args: argparse.Namespace, home: Any) -> int:
    import shutil

    from tui_mlops.jobs.manager import detect_crashes
    from tui_mlops.store.catalog import open_catalog
    from tui_mlops.tracking.query import get_run

    detect_crashes(home)  # a job that died is no longer "running": it may go
    d = get_run(home, args.run)
    doomed = [d] + [get_run(home, c) for c in (d.children or [])]
    for r in doomed:
        if r.status in ACTIVE:
            raise InputError(f"run {r.run_id} is {r.status}: cancel it first with `{PROG} jobs cancel {r.run_id}`")
    what = f"run {d.run_id}" + (f" and its {len(doomed) - 1} trial run(s)" if len(doomed) > 1 else "")
    if not args.yes:
        if not sys.stdin.isatty():
            raise InputError(f"not removing {what} without confirmation: pass --yes")
        if input(f"remove {what}? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing removed")
            return 0
    for r in doomed:
        shutil.rmtree(home.runs_dir / r.run_id, ignore_errors=True)
    with open_catalog(home):
        pass  # the fold drops runs whose folders are gone
    if args.json:
        print_json({"removed": [r.run_id for r in doomed]})
    else:
        print(f"removed {what}")
    return 0


def cmd_export(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.store.home import atomic_write_bytes, temp_path_for
    from tui_mlops.tracking.exports import best_values
    from tui_mlops.tracking.query import search_runs

    out = Path(args.out)
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in ("csv", "parquet", "json"):
        raise InputError(f"--out {out}: the file name must end in .csv, .parquet or .json")
    rows: list[Any] = []
    while True:
        page = search_runs(home, args.query, order_by="start_ts", descending=False, experiment=args.experiment,
                           offset=len(rows), limit=1000)
        rows.extend(page.rows)
        if not page.rows or len(rows) >= page.total:
            break
    best = best_values(home, [r.run_id for r in rows])  # each metric's best over the run's history
    if fmt == "json":
        import json

        from tui_mlops.cli_format import jsonable

        docs = [row_dict(r) | {"best": best.get(r.run_id, {})} for r in rows]
        atomic_write_bytes(out, (json.dumps(jsonable(docs), indent=1) + "\n").encode())
    else:
        pk = sorted({k for r in rows for k in r.params})
        mk = sorted({k for r in rows for k in r.metrics})
        tk = sorted({k for r in rows for k in r.tags})
        headers = list(ATTRS) + [f"params.{k}" for k in pk] + [f"metrics.{k}" for k in mk] + [f"best.{k}" for k in mk] \
            + [f"tags.{k}" for k in tk]
        flat = [[getattr(r, a) for a in ATTRS] + [r.params.get(k) for k in pk] + [r.metrics.get(k) for k in mk]
                + [best.get(r.run_id, {}).get(k) for k in mk] + [r.tags.get(k) for k in tk] for r in rows]
        tmp = temp_path_for(out.resolve())
        try:
            _write_table(tmp, fmt, headers, flat, n_text=len(ATTRS), pk=len(pk), mk=2 * len(mk))
            tmp.replace(out)
        finally:
            tmp.unlink(missing_ok=True)
    if args.json:
        print_json({"path": str(out), "runs": len(rows), "format": fmt})
    else:
        print(f"exported {len(rows)} run(s) to {out}")
    return 0


def _write_table(path: Path, fmt: str, headers: list[str], rows: list[list[Any]], *, n_text: int, pk: int,
                 mk: int) -> None:
    if fmt == "csv":
        import csv

        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(headers)
            w.writerows([["" if v is None else v for v in r] for r in rows])
        return
    import polars as pl

    types: dict[str, Any] = {}
    for i, h in enumerate(headers):
        numeric = h in ("start_ts", "end_ts") or n_text + pk <= i < n_text + pk + mk
        types[h] = pl.Float64 if numeric else pl.Utf8
    data = {h: [None if r[i] is None else (float(r[i]) if types[h] == pl.Float64 else str(r[i])) for r in rows]
            for i, h in enumerate(headers)}
    pl.DataFrame(data, schema=types).write_parquet(path)
