"""CLI for live monitoring: `monitor create|list|status|run|alerts|report|rm` (issue 5)."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import Any

from tui_mlops.cli_format import key_values, print_json, table
from tui_mlops.errors import InputError

PROG = "mlops-tui"
M = "tui_mlops.cli_monitor"
RECENT_ALERTS = 20


def add_parsers(sub: Any, common: list[argparse.ArgumentParser], home_opt: argparse.ArgumentParser | None = None) -> None:
    from tui_mlops.cli import _pos_int

    parents = [home_opt] if home_opt is not None else []
    mon = sub.add_parser("monitor", parents=parents, help="watch a production model: drift, quality, alerts",
                         description="Live monitoring: batches dropped into a monitor's incoming/ folder are "
                                     "scored for drift against the model's reference data.")
    ms = mon.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = ms.add_parser("create", parents=common, help="create a monitor for a registered model version or alias")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--model", required=True, metavar="MODEL@ALIAS", help="e.g. churn@production")
    p.add_argument("--reference", metavar="NAME@VER", help="reference dataset version (default: the model's training data)")
    p.add_argument("--target", metavar="COL", help="label column of label files, for a model that does not record "
                   "it (an MLflow import); default: the model's target")
    p.add_argument("--id", dest="id_column", metavar="COL", help="id column used to join labels (default: id, or *_id)")
    p.add_argument("--time", dest="time_column", metavar="COL", help="timestamp column of the batches")
    w = p.add_mutually_exclusive_group()
    w.add_argument("--window-rows", type=_pos_int, metavar="N", help="rolling window of N rows (default 5000)")
    w.add_argument("--window-time", metavar="SPAN", help="rolling window by time, e.g. 1h, 30m, 1d")
    p.add_argument("--method", dest="methods", action="append", default=[], metavar="COL=METHOD",
                   help="drift method for a column: auto, wasserstein, jensenshannon, ks, chisquare, z, psi (repeatable)")
    p.add_argument("--threshold", dest="thresholds", action="append", default=[], metavar="COL=X",
                   help="drift threshold for a column (repeatable)")
    p.add_argument("--alert", dest="alerts", action="append", default=[], metavar="RULE",
                   help='e.g. "drift_share>0.3", "feature:age>0.2x3", "quality:auc<0.7", "no_batch>30m", '
                        'with optional "; run=CMD" or "; trigger=pipeline" (repeatable)')
    p.add_argument("--replace", action="store_true", help="replace an existing monitor of that name (its history is cleared)")
    p.set_defaults(handler=f"{M}:cmd_create")

    p = ms.add_parser("list", parents=common, help="monitors with their model, batches and open alerts")
    p.set_defaults(handler=f"{M}:cmd_list")

    p = ms.add_parser("status", parents=common, help="latest numbers, per-feature drift scores and open alerts")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(handler=f"{M}:cmd_status")

    p = ms.add_parser("run", parents=common, help="watch the monitor's folders headless until Ctrl-C")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--once", action="store_true", help="process the files already waiting, then exit")
    p.set_defaults(handler=f"{M}:cmd_run")

    p = ms.add_parser("alerts", parents=common, help="the alert log (open alerts and recent events)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--all", action="store_true", help=f"every event, not only the last {RECENT_ALERTS}")
    p.set_defaults(handler=f"{M}:cmd_alerts")

    p = ms.add_parser("report", parents=common, help="a shareable report (Markdown, JSON or HTML)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--window", default="last", metavar="W",
                   help="last (default), all, N (the last N windows) or SEQ1-SEQ2 (batch numbers)")
    p.add_argument("--format", dest="fmt", choices=("md", "json", "html"),
                   help="default: from --out's suffix, else md (--json alone means json)")
    p.add_argument("--out", metavar="FILE", help="write the report to FILE instead of printing it")
    p.set_defaults(handler=f"{M}:cmd_report")

    p = ms.add_parser("rm", parents=common, help="remove a monitor and its history")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.set_defaults(handler=f"{M}:cmd_rm")


# -- helpers --------------------------------------------------------------------------------------
def _pairs(items: list[str], flag: str, convert: Any = str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        col, sep, value = item.partition("=")
        if not sep or not col.strip() or not value.strip():
            raise InputError(f"{flag} {item!r}: expected COL=VALUE")
        try:
            out[col.strip()] = convert(value.strip())
        except ValueError:
            raise InputError(f"{flag} {item!r}: {value.strip()!r} is not a number") from None
    return out


def _n(x: Any) -> str:
    from tui_mlops.monitoring.report import _n as n

    return n(x)


def _pct(x: Any) -> str:
    from tui_mlops.monitoring.report import _pct as pct

    return pct(x)


def _when(ts: Any) -> str:
    from tui_mlops.monitoring.report import _when as when

    return when(ts) or "-"


def _alert_line(ev: dict) -> str:
    kind = str(ev.get("type") or "")
    rule = f" {ev['rule']}" if ev.get("rule") else ""
    batch = f" (batch {ev['batch_seq']})" if ev.get("batch_seq") is not None else ""
    return f"alert {kind}{rule}: {ev.get('message') or ''}{batch}"


def _summary(home: Any, name: str) -> dict:
    """The numbers `list` and `status` show, from the monitor's state and alert log."""
    from tui_mlops.monitoring.alerts import open_episodes, read_alerts
    from tui_mlops.monitoring.report import report_data
    from tui_mlops.monitoring.spec import get_monitor
    from tui_mlops.monitoring.state import monitor_state

    get_monitor(home, name)  # a clear "no monitor named" before anything else
    state = monitor_state(home, name)
    alerts = read_alerts(home, name)
    data = report_data(state, alerts, window="last")
    data["open_alerts"] = list(open_episodes(alerts).values())
    data["last_batch_ts"] = getattr(state, "last_batch_ts", None)
    data["windows_total"] = len(getattr(state, "windows", None) or [])
    data["problems"] = sum(1 for b in getattr(state, "batches", None) or []
                           if b.get("status") in ("problems", "failed"))
    return data


# -- handlers -------------------------------------------------------------------------------------
def cmd_create(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.monitoring.spec import create_monitor, parse_alert

    methods = _pairs(args.methods, "--method")
    thresholds = _pairs(args.thresholds, "--threshold", float)
    rules = [parse_alert(text) for text in args.alerts]
    spec = create_monitor(home, args.name, args.model, reference=args.reference, target=args.target,
                          id_column=args.id_column, time_column=args.time_column, window_rows=args.window_rows,
                          window_time=args.window_time, methods=methods or None,
                          thresholds=thresholds or None, alerts=rules or None, replace=args.replace)
    folder = Path(home.monitors_dir) / spec.name
    if args.json:
        print_json({**spec.to_dict(), "incoming": str(folder / "incoming"), "labels": str(folder / "labels")})
        return 0
    window = f"{spec.window_time} by time" if spec.window_time else f"{spec.window_rows} rows"
    print(f"created monitor {spec.name} on {spec.model} (v{spec.model_version}), reference {spec.reference}, "
          f"{len(spec.features)} feature(s), window {window}, {len(spec.alerts)} alert rule(s)")
    print(f"drop batches into {folder / 'incoming'} and labels into {folder / 'labels'}; "
          f"then `{PROG} monitor run {spec.name}`")
    return 0


def cmd_list(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.monitoring.spec import list_monitors

    specs = list_monitors(home)
    rows = []
    for spec in specs:
        s = _summary(home, spec.name)
        rows.append({"name": spec.name, "model": spec.model, "model_version": spec.model_version,
                     "reference": spec.reference, "batches": s["total_batches"], "rows": s["total_rows"],
                     "last_batch_ts": s["last_batch_ts"], "drift_share": s["drift"]["share"],
                     "open_alerts": [a.get("rule") for a in s["open_alerts"]]})
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print(f"no monitors (create one with `{PROG} monitor create NAME --model MODEL@production`)")
        return 0
    print(table(["name", "model", "reference", "batches", "rows", "last batch", "drift share", "open alerts"],
                [[r["name"], f"{r['model']} (v{r['model_version']})", r["reference"], r["batches"], r["rows"] or 0,
                  _when(r["last_batch_ts"]), _pct(r["drift_share"]), ", ".join(map(str, r["open_alerts"])) or "-"]
                 for r in rows]))
    return 0


def cmd_status(args: argparse.Namespace, home: Any) -> int:
    s = _summary(home, args.name)
    if args.json:
        print_json(s)
        return 0
    dr = s["drift"]
    pred = s.get("prediction") or {}
    mv = s["multivariate"]
    q = s["quality"]
    from tui_mlops.monitoring.report import _metric_names

    names = _metric_names(q)
    quality = "  ".join([f"{k}={_n(q['estimated'][k])}" for k in names if k in (q["estimated"] or {})][:3]) or "-"
    realized = "  ".join([f"{k}={_n(q['realized'][k])}" for k in names if k in (q["realized"] or {})][:3]) or "-"
    if q.get("realized_seq") is not None:
        realized += f"  (labels up to batch {q['realized_seq']})"
    band = mv.get("band") or {}
    print(key_values([
        ("monitor", s["monitor"]), ("model", f"{s['model']} (v{s['model_version']}, {s['task'] or '-'})"),
        ("reference", s["reference"] or "-"),
        ("batches", f"{s['total_batches']} ({s['problems']} with problems), {s['windows_total']} window(s)"),
        ("rows", _n(s["total_rows"] or 0)), ("last batch", _when(s["last_batch_ts"])),
        ("dataset drift", f"{_pct(dr['share'])} of columns ({dr['columns_drifted']}/{dr['columns']})"
                          f" -> {'DRIFT' if dr['drifted'] else 'no drift'}" if dr["share"] is not None else "-"),
        ("prediction drift", f"{pred.get('method')} {_n(pred.get('score'))}"
                             f"{' DRIFT' if pred.get('drifted') else ''}" if pred else "-"),
        ("multivariate", f"{_n(mv['value'])}" + (f" (band {_n(band.get('lower'))}..{_n(band.get('upper'))}"
                                                  f"{', OUTSIDE' if mv['outside'] else ''})" if band else "")
         if mv["value"] is not None else "-"),
        ("estimated", quality), ("realised", realized)]))
    if s["features"]:
        from tui_mlops.monitoring.report import spark

        print("\nfeatures (latest window)")
        print(table(["feature", "method", "score", "threshold", "drifted", "nulls", "new cats", "trend"],
                    [[f["column"], f["method"], f["score"], f["threshold"], "yes" if f["drifted"] else "no",
                      _pct(f["null_rate"]), _pct(f["new_category_rate"]), spark(f["trend"])] for f in s["features"]],
                    indent="  "))
    print("\nopen alerts" if s["open_alerts"] else "\nno open alerts")
    for a in s["open_alerts"]:
        print(f"  {a.get('rule')}: {a.get('message')} (since {_when(a.get('ts'))})")
    return 0


def _result_dict(res: Any) -> dict:
    from dataclasses import asdict, is_dataclass

    d = asdict(res) if is_dataclass(res) else dict(getattr(res, "__dict__", {}))
    d["what"] = "labels" if hasattr(res, "matched") else "batch"
    return d


def _result_line(res: Any) -> str:
    d = _result_dict(res)
    name = Path(str(d.get("file") or "")).name
    problems = d.get("problems") or []
    tail = f"; {len(problems)} problem(s): {problems[0]}" + (" ..." if len(problems) > 1 else "") if problems else ""
    if d["what"] == "labels":
        return (f"labels {name}: {d.get('status')}, {d.get('rows')} row(s), {d.get('matched')} matched, "
                f"{d.get('unmatched')} unmatched{tail}")
    drift = d.get("drift") or {}
    share = f", drift share {_pct(drift.get('share'))}" if drift.get("share") is not None else ""
    seq = f" #{d['seq']}" if d.get("seq") is not None else ""
    return f"batch{seq} {name}: {d.get('status')}, {d.get('rows')} row(s){share}{tail}"


def cmd_run(args: argparse.Namespace, home: Any) -> int:
    import json

    from tui_mlops.monitoring.alerts import read_alerts
    from tui_mlops.monitoring.runner import run_monitor
    from tui_mlops.monitoring.spec import get_monitor

    get_monitor(home, args.name)  # NotFoundError before anything starts
    lock = threading.Lock()
    seen = [len(read_alerts(home, args.name))]

    def emit(line: str, obj: dict) -> None:
        with lock:
            sys.stdout.write((json.dumps(obj, default=str) if args.json else line) + "\n")
            sys.stdout.flush()

    def new_alerts() -> None:
        # The runner logs alerts itself; the log is the one source, whoever wrote to it.
        with lock:
            events = read_alerts(home, args.name)
            fresh, seen[0] = events[seen[0]:], len(events)
        for ev in fresh:
            emit(_alert_line(ev), {"what": "alert", **ev})

    def on_result(res: Any) -> None:
        emit(_result_line(res), _result_dict(res))
        new_alerts()

    if args.once:
        count = run_monitor(home, args.name, once=True, on_result=on_result, on_alert=lambda _: new_alerts())
        new_alerts()
        if not args.json:
            print(f"processed {count} file(s)", file=sys.stderr)
        return 0
    stop = threading.Event()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["count"] = run_monitor(home, args.name, stop=stop, on_result=on_result,
                                       on_alert=lambda _: new_alerts())
        except BaseException as exc:  # handed back to the main thread
            box["error"] = exc
        finally:
            stop.set()

    worker = threading.Thread(target=target, name="mlops-monitor-run", daemon=True)
    worker.start()
    if not args.json:
        print(f"watching {Path(home.monitors_dir) / args.name} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        while not stop.wait(0.5):
            new_alerts()
    except KeyboardInterrupt:
        stop.set()
    done = threading.Event()
    # Let the runner finish the file in hand (its commit point makes a kill safe too).
    waiter = threading.Thread(target=lambda: (worker.join(), done.set()), daemon=True)
    waiter.start()
    done.wait(30)
    new_alerts()
    if "error" in box:
        raise box["error"]
    print("stopped", file=sys.stderr)
    return 0


def cmd_alerts(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.monitoring.alerts import open_episodes, read_alerts
    from tui_mlops.monitoring.spec import get_monitor

    get_monitor(home, args.name)
    events = read_alerts(home, args.name)
    opened = list(open_episodes(events).values())
    shown = events if args.all else events[-RECENT_ALERTS:]
    if args.json:
        print_json({"open": opened, "events": shown, "total": len(events)})
        return 0
    if not events:
        print(f"no alerts for monitor {args.name}")
        return 0
    print(table(["time", "event", "rule", "message", "batch"],
                [[_when(e.get("ts")), e.get("type"), e.get("rule") or "-", e.get("message") or "",
                  "" if e.get("batch_seq") is None else e.get("batch_seq")] for e in shown],
                fmt=lambda v: str(v) if v is not None else ""))
    if len(shown) < len(events):
        print(f"({len(events) - len(shown)} older event(s); --all shows every one)")
    print(f"open: {', '.join(str(e.get('rule')) for e in opened)}" if opened else "no open alerts")
    return 0


def cmd_report(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.monitoring.report import render_report
    from tui_mlops.store.home import atomic_write_bytes

    fmt = args.fmt
    if fmt is None:
        suffix = Path(args.out).suffix.lower() if args.out else ""
        fmt = {".html": "html", ".htm": "html", ".json": "json"}.get(suffix, "json" if args.json and not args.out else "md")
    text = render_report(home, args.name, window=args.window, fmt=fmt)
    if not args.out:
        sys.stdout.write(text)
        return 0
    out = Path(args.out)
    if out.is_dir():
        raise InputError(f"--out {args.out}: is a folder; give a file name")
    if not out.parent.is_dir():
        raise InputError(f"--out {args.out}: folder {out.parent} does not exist")
    atomic_write_bytes(out, text.encode())
    if args.json:
        print_json({"path": str(out), "format": fmt, "bytes": len(text.encode())})
    else:
        print(f"wrote {fmt} report of monitor {args.name} to {out}")
    return 0


def cmd_rm(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.monitoring.spec import get_monitor, remove_monitor

    spec = get_monitor(home, args.name)
    if not args.yes:
        if not sys.stdin.isatty():
            raise InputError(f"not removing monitor {spec.name} without confirmation: pass --yes")
        answer = input(f"remove monitor {spec.name} and its history? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("nothing removed")
            return 0
    remove_monitor(home, spec.name)
    if args.json:
        print_json({"removed": spec.name})
    else:
        print(f"removed monitor {spec.name}")
    return 0
