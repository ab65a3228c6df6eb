"""`mlops-tui runs compare ID ID ...`: runs side by side (tracking/compare.py), as tables or JSON."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tui_mlops.cli_format import cell, print_json, table
from tui_mlops.errors import InputError

TOP_FEATURES = 10  # of the comparison's 20, in the text output


def add_parsers(sub: Any, common: list[argparse.ArgumentParser], home_opt: argparse.ArgumentParser | None = None) -> None:
    """Adds `compare` to the `runs` subcommands."""
    p = sub.add_parser("compare", parents=common,
                       help="runs side by side: params, metrics (best marked), importance, evaluation, data",
                       description="Compare any number of runs: one column per run. Only the params that "
                                   "differ are shown unless --all; the best value of each metric ends in *.")
    p.add_argument("runs", metavar="ID", nargs="+", help="run ids (or unique prefixes of 4+ characters)")
    p.add_argument("--baseline", metavar="ID", help="one of the runs: the others show deltas against it")
    p.add_argument("--all", action="store_true", help="show every param, not only those that differ")
    p.add_argument("--report", metavar="FILE", help="also write a report: FILE.md or FILE.html")
    p.set_defaults(handler="tui_mlops.cli_compare:cmd_compare")


def _delta(d: float | None) -> str:
    return "" if d is None else f"{d:+.4f}"


def _metric_cells(cmp: Any, row: Any) -> list[str]:
    from tui_mlops.tracking.compare import deltas

    ds = deltas(cmp, row) if cmp.baseline is not None else [None] * len(row.values)
    out = []
    for i, (v, d) in enumerate(zip(row.values, ds)):
        text = "" if v is None else cell(v) + ("*" if i == row.best and len(row.values) > 1 else "")
        if d is not None:
            text += f" ({_delta(d)})"
        out.append(text)
    return out


def _evaluation_lines(cmp: Any, heads: list[str]) -> list[str]:
    evs = cmp.evaluation
    if not any(evs):
        return []
    lines = []
    if cmp.task == "regression" or any(isinstance(e, dict) and "residuals" in e for e in evs):
        keys = ("mean", "std", "mae", "p05", "p50", "p95", "max_abs")
        rows = [[k] + [cell((e or {}).get("residuals", {}).get(k)) if e else "" for e in evs] for k in keys]
        lines += ["", "residuals (y - prediction):", table(["stat"] + heads, rows, indent="  ", fmt=str)]
        return lines
    lines += ["", "confusion matrices (rows = true class, columns = predicted):"]
    for head, e in zip(heads, evs):
        if not isinstance(e, dict) or not isinstance(e.get("confusion"), list):
            continue
        labels = [str(x) for x in e.get("labels") or range(len(e["confusion"]))]
        note = f" at threshold {e['threshold']}" if cmp.task == "binary" and "threshold" in e else ""
        lines.append(f"  {head}{note}:")
        lines.append(table(["true \\ pred"] + labels,
                           [[lab] + list(r) for lab, r in zip(labels, e["confusion"])], indent="    "))
    return lines


def cmd_compare(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.tracking.compare import compare_runs

    if args.report:
        from tui_mlops.tracking.compare_report import REPORT_FORMATS

        if Path(args.report).suffix.lower().lstrip(".") not in REPORT_FORMATS:
            raise InputError(f"--report {args.report}: the file name must end in .md or .html")
    cmp = compare_runs(home, args.runs, baseline=args.baseline)
    if args.report:
        from tui_mlops.tracking.compare_report import write_compare_report

        write_compare_report(cmp, args.report)
        if not args.json:
            print(f"report written to {args.report}")
    if args.json:
        print_json(cmp)
        return 0
    heads = [r.run_id[:8] + (" (base)" if i == cmp.baseline else "") for i, r in enumerate(cmp.runs)]
    n = len(cmp.runs)
    task = f", {cmp.task}" if cmp.task else ""
    base = f"; deltas against {cmp.runs[cmp.baseline].run_id[:8]}" if cmp.baseline is not None else ""
    print(f"{n} run{'s' if n != 1 else ''}{task}{base}")
    info = [[a] + [str(getattr(r, a) or "") for r in cmp.runs] for a in ("experiment", "name", "status")]
    info.append(["dataset"] + [d or "" for d in cmp.datasets])
    print(table(["run"] + heads, info, fmt=str))

    shown = cmp.params if args.all or n == 1 else [p for p in cmp.params if p.differs]
    same = len(cmp.params) - len(shown)
    print("\nparams" + (f" ({same} the same in every run hidden; --all shows them)" if same else "") + ":")
    if shown:
        print(table(["param"] + heads, [[p.key] + ["" if v is None else v for v in p.values] for p in shown],
                    indent="  ", fmt=str))
    else:
        print("  (none differ)" if cmp.params else "  (none)")

    print("\nmetrics (last value; * = best" + (", (+/-) = delta to the baseline" if base else "") + "):")
    if cmp.metrics:
        rows = []
        for row in cmp.metrics:
            rows.append([row.key + (" (lower is better)" if not row.higher_better else "")] + _metric_cells(cmp, row))
            if any(s is not None for s in row.steps):
                rows.append(["  best @ step"] + ["" if s is None else f"{cell(s['best'])} @ {s['best_step']}"
                                                 for s in row.steps])
        print(table(["metric"] + heads, rows, indent="  ", fmt=str))
    else:
        print("  (none)")

    if cmp.importance:
        feats = list(cmp.importance)[:TOP_FEATURES]
        print(f"\nfeature importance (share of each run's total, top {len(feats)}):")
        print(table(["feature"] + heads, [[f] + ["" if v is None else f"{v * 100:.1f}%" for v in cmp.importance[f]]
                                          for f in feats], indent="  ", fmt=str))
    for line in _evaluation_lines(cmp, heads):
        print(line)
    known = [d for d in cmp.datasets if d]
    if known:
        print("\ndatasets: " + ", ".join(dict.fromkeys(known)))
    for w in cmp.warnings:
        print(f"warning: {w}")
    return 0
