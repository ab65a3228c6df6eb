"""CLI handlers for exports: `runs export-history`, `runs chart` (SVG or plotext text) and
`data export` (a dataset version to CSV/Parquet)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tui_mlops.cli_format import print_json
from tui_mlops.errors import InputError

E = "tui_mlops.cli_exports"
CHART_FORMATS = ("svg", "txt")


def add_run_parsers(rs: Any, common: list[argparse.ArgumentParser]) -> None:
    """Adds `export-history` and `chart` to the `runs` subcommands."""
    p = rs.add_parser("export-history", parents=common, help="metric histories of runs to CSV or Parquet",
                      description="One row per logged point: run_id, key, step, value, ts.")
    p.add_argument("runs", metavar="ID", nargs="+", help="run ids (or unique prefixes of 4+ characters)")
    p.add_argument("--metric", "-m", action="append", metavar="METRIC",
                   help="a metric to export (repeatable; default: every metric but system/*)")
    p.add_argument("--out", required=True, metavar="FILE", help="FILE.csv or FILE.parquet")
    p.set_defaults(handler=f"{E}:cmd_export_history")
    p = rs.add_parser("chart", parents=common, help="a metric's curves of runs to an SVG or text file",
                      description="FILE.svg: a line chart (one line per run, axes and legend); "
                                  "FILE.txt: the chart as the terminal draws it.")
    p.add_argument("run", metavar="ID")
    p.add_argument("metric", metavar="METRIC", help="e.g. valid/auc")
    p.add_argument("more", metavar="ID", nargs="*", help="more runs to overlay")
    p.add_argument("--out", required=True, metavar="FILE", help="FILE.svg or FILE.txt")
    p.add_argument("--width", type=int, default=None, metavar="N",
                   help="pixels for SVG (default 800), characters for text (default 100)")
    p.add_argument("--height", type=int, default=None, metavar="N",
                   help="pixels for SVG (default 450), lines for text (default 24)")
    p.set_defaults(handler=f"{E}:cmd_chart")


def add_data_parser(ds: Any, common: list[argparse.ArgumentParser]) -> None:
    """Adds `export` to the `data` subcommands."""
    p = ds.add_parser("export", parents=common, help="write a dataset version to CSV or Parquet")
    p.add_argument("ref", metavar="NAME[@VERSION]")
    p.add_argument("--out", required=True, metavar="FILE", help="FILE.csv or FILE.parquet")
    p.add_argument("--columns", metavar="COLS", help="only these columns, comma separated, in this order")
    p.set_defaults(handler=f"{E}:cmd_data_export")


def cmd_export_history(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.tracking.exports import export_histories

    done = export_histories(home, args.runs, args.out, args.metric)
    if args.json:
        print_json({"path": str(done.path), "runs": done.runs, "metrics": done.keys, "points": done.points,
                    "format": done.format})
    else:
        print(f"exported {done.points} point(s) of {len(done.keys)} metric(s) from {len(done.runs)} run(s) "
              f"to {done.path}")
    return 0


def _positive(value: int | None, default: int, flag: str, least: int) -> int:
    if value is None:
        return default
    if value < least:
        raise InputError(f"{flag} {value}: must be at least {least}")
    return value


def cmd_chart(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.store.home import atomic_write_bytes
    from tui_mlops.tracking.query import get_run, metric_histories

    out = Path(args.out)
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in CHART_FORMATS:
        raise InputError(f"--out {out}: the file name must end in .svg or .txt")
    if not out.resolve().parent.is_dir():
        raise InputError(f"--out {out}: folder {out.resolve().parent} does not exist")
    key = args.metric.removeprefix("metrics.").strip("`")
    runs = [get_run(home, r) for r in dict.fromkeys([args.run, *args.more])]
    if not any(key in (d.metric_summary or {}) for d in runs):
        known = sorted({k for d in runs for k in (d.metric_summary or {})})
        raise InputError(f"no run of {', '.join(d.run_id[:8] for d in runs)} has metric {key!r} "
                         f"(metrics: {', '.join(known) or 'none'})")
    if fmt == "svg":
        width = _positive(args.width, 800, "--width", 200)
        height = _positive(args.height, 450, "--height", 150)
    else:
        width = _positive(args.width, 100, "--width", 40)
        height = _positive(args.height, 24, "--height", 10)
    hist = metric_histories(home, [d.run_id for d in runs], key, columns=width)
    series = {_label(d): hist.get(d.run_id, ([], [])) for d in runs}
    if fmt == "svg":
        from tui_mlops.svg_chart import line_chart_svg

        text = line_chart_svg(series, title=key, y_label=key, width=width, height=height)
    else:
        from tui_mlops.charts import line_chart_text

        text = f"{key}\n" + line_chart_text(series, width, height) + "\n"
    atomic_write_bytes(out, text.encode("utf-8"))
    points = {d.run_id: len(series[_label(d)][0]) for d in runs}
    if args.json:
        print_json({"path": str(out), "format": fmt, "metric": key, "points": points})
    else:
        print(f"wrote {key} of {len(runs)} run(s) to {out}")
    return 0


def _label(d: Any) -> str:
    return f"{d.run_id[:8]} {d.name}" if d.name else d.run_id[:8]


def cmd_data_export(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.data.export import export_version

    columns = args.columns.split(",") if args.columns else None
    if columns is not None and not any(c.strip() for c in columns):
        raise InputError("--columns: give column names separated by commas")
    done = export_version(home, args.ref, args.out, columns)
    if args.json:
        print_json({"path": str(done.path), "ref": done.ref, "rows": done.rows, "columns": done.columns,
                    "format": done.format})
    else:
        print(f"exported {done.rows} row(s) x {len(done.columns)} column(s) of {done.ref} to {done.path}")
    return 0
