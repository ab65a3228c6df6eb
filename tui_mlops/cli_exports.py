"""CLI handlers for exports: `runs export-history`, `runs chart` (SVG, PNG or plotext text) and
`data export` (a dataset version to CSV/Parquet)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tui_mlops.cli_format import print_json
from tui_mlops.errors import InputError
from tui_mlops.settings import CHART_MARKERS

E = "tui_mlops.cli_exports"
CHART_FORMATS = ("svg", "png", "txt")


def add_run_parsers(rs: Any, common: list[argparse.ArgumentParser]) -> None:
    """Adds `export-history` and `chart` to the `runs` subcommands."""
    p = rs.add_parser("export-history", parents=common, help="metric histories of runs to CSV or Parquet",
                      description="One row per logged point: run_id, key, step, value, ts.")
    p.add_argument("runs", metavar="ID", nargs="+", help="run ids (or unique prefixes of 4+ characters)")
    p.add_argument("--metric", "-m", action="append", metavar="METRIC",
                   help="a metric to export (repeatable; default: every metric but system/*)")
    p.add_argument("--out", required=True, metavar="FILE", help="FILE.csv or FILE.parquet")
    p.set_defaults(handler=f"{E}:cmd_export_history")
    p = rs.add_parser("chart", parents=common, help="a metric's curves of runs to an SVG, PNG or text file",
                      description="FILE.svg or FILE.png: a line chart (one line per run, axes and legend); "
                                  "FILE.txt: the chart as the terminal draws it.")
    p.add_argument("run", metavar="ID")
    p.add_argument("metric", metavar="METRIC", help="e.g. valid/auc")
    p.add_argument("more", metavar="ID", nargs="*", help="more runs to overlay")
    p.add_argument("--out", required=True, metavar="FILE", help="FILE.svg, FILE.png or FILE.txt")
    p.add_argument("--width", type=int, default=None, metavar="N",
                   help="pixels for SVG/PNG (default 800), characters for text (default 100)")
    p.add_argument("--height", type=int, default=None, metavar="N",
                   help="pixels for SVG/PNG (default 450), lines for text (default 24)")
    p.add_argument("--log-y", action="store_true", help="log scale y axis (values <= 0 are left out)")
    p.add_argument("--marker", choices=CHART_MARKERS, default=None,
                   help="text charts only: braille, block, or ascii for fonts without braille "
                        "(default: the config file's chart_marker)")
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
        raise InputError(f"--out {out}: the file name must end in .svg, .png or .txt")
    if args.marker is not None and fmt != "txt":
        raise InputError(f"--marker {args.marker}: only text charts (--out FILE.txt) use markers")
    if not out.resolve().parent.is_dir():
        raise InputError(f"--out {out}: folder {out.resolve().parent} does not exist")
    key = args.metric.removeprefix("metrics.").strip("`")
    runs = [get_run(home, r) for r in dict.fromkeys([args.run, *args.more])]
    if not any(key in (d.metric_summary or {}) for d in runs):
        known = sorted({k for d in runs for k in (d.metric_summary or {})})
        raise InputError(f"no run of {', '.join(d.run_id[:8] for d in runs)} has metric {key!r} "
                         f"(metrics: {', '.join(known) or 'none'})")
    if fmt != "txt":
        width = _positive(args.width, 800, "--width", 200)
        height = _positive(args.height, 450, "--height", 150)
    else:
        width = _positive(args.width, 100, "--width", 40)
        height = _positive(args.height, 24, "--height", 10)
    hist = metric_histories(home, [d.run_id for d in runs], key, columns=width)
    series = {_label(d): hist.get(d.run_id, ([], [])) for d in runs}
    if not any(len(xs) for xs, _ys in series.values()):
        raise InputError(f"no point of {key!r} to draw in run(s) {', '.join(d.run_id[:8] for d in runs)}")
    atomic_write_bytes(out, render_chart(fmt, series, key, width, height, args.log_y, args.marker))
    points = {d.run_id: len(series[_label(d)][0]) for d in runs}
    if args.json:
        print_json({"path": str(out), "format": fmt, "metric": key, "points": points})
    else:
        print(f"wrote {key} of {len(runs)} run(s) to {out}")
    return 0


def render_chart(fmt: str, series: dict, key: str, width: int, height: int, log_y: bool,
                 marker: str | None) -> bytes:
    """The chart file's bytes: "svg", "png" (same layout) or "txt" (plotext, with `marker`,
    default the config file's chart_marker)."""
    if fmt == "png":
        from tui_mlops.png_chart import line_chart_png

        return line_chart_png(series, title=key, y_label=key, width=width, height=height, log_y=log_y)
    if fmt == "svg":
        from tui_mlops.svg_chart import line_chart_svg

        return line_chart_svg(series, title=key, y_label=key, width=width, height=height,
                              log_y=log_y).encode("utf-8")
    from tui_mlops.charts import line_chart_text
    from tui_mlops.settings import load_settings

    marker = marker or load_settings().chart_marker
    return (f"{key}\n" + line_chart_text(series, width, height, log_y=log_y, marker=marker) + "\n").encode("utf-8")


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
