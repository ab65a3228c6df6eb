"""CLI handlers for data quality and derived versions: `data profile/validate/rules/clean/split`."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

from tui_mlops.cli_data import _with_ref, params_brief, progress_enabled, uncut
from tui_mlops.cli_format import (
    ProgressLine, cell, human_number, key_values, percent, print_json, raw_cell, run_cancellable, stat_cell, table,
)
from tui_mlops.errors import InputError, NotFoundError, ValidationFailed
from tui_mlops.store.home import Home, check_name

PROG = "mlops-tui"


# -- profile ------------------------------------------------------------------------------------
def cmd_profile(args: argparse.Namespace, home: Home) -> int:
    from tui_mlops.data.profile import compute_profile, get_profile
    from tui_mlops.data.versions import resolve

    v = resolve(home, args.ref)
    prof = None if args.recompute else get_profile(home, v)
    if prof is None:
        line = ProgressLine(f"profiling {v.name}@{v.short}", progress_enabled(args))

        def work(cancel: Any) -> Any:
            line.start()
            return compute_profile(home, v, progress=line.update, cancel=cancel)

        try:
            prof = run_cancellable(work, f"profile of {v.name}@{v.short} stopped; nothing was stored")
        finally:
            line.finish()
    columns = prof.get("columns") or []
    if args.column is not None:
        col = next((c for c in columns if c.get("name") == args.column), None)
        if col is None:
            raise NotFoundError(f"{v.name}@{v.short} has no column {args.column!r} "
                                f"(columns: {', '.join(c.get('name', '?') for c in columns)})")
        if args.json:
            print_json({"ref": v.ref, "computed_at": prof.get("computed_at"), "column": col})
        else:
            print_column(v, col)
        return 0
    if args.json:
        print_json({"ref": v.ref, **prof})
        return 0
    print(f"{v.name}@{v.short}: {human_number(prof.get('rows', v.rows))} rows, {len(columns)} columns")
    rows = []
    for c in columns:
        q = c.get("quantiles") or {}
        rows.append([c.get("name"), c.get("type"), c.get("kind"), c.get("nulls"), percent(c.get("null_share")),
                     c.get("distinct"), c.get("min"), q.get("p50"), c.get("max"), c.get("mean"), c.get("std")])
    print(table(["column", "type", "kind", "nulls", "null%", "distinct", "min", "p50", "max", "mean", "std"], rows,
                fmt=stat_cell))
    return 0


def print_column(v: Any, col: dict[str, Any]) -> None:
    from tui_mlops import charts
    from tui_mlops.settings import load_settings

    q = col.get("quantiles") or {}
    pairs: list[tuple[str, Any]] = [
        ("column", col.get("name")), ("type", col.get("type")), ("kind", col.get("kind")),
        ("nulls", f"{cell(col.get('nulls'))} ({percent(col.get('null_share'))})"),
        ("distinct", col.get("distinct")), ("min", col.get("min")), ("max", col.get("max")),
    ]
    if col.get("mean") is not None:
        pairs += [("mean", col.get("mean")), ("std", col.get("std"))]
    pairs += [(k, q[k]) for k in ("p1", "p5", "p25", "p50", "p75", "p95", "p99") if k in q]
    print(f"{v.name}@{v.short}")
    print(key_values([(k, "" if val is None else val) for k, val in pairs], indent="  "))
    width = max(40, min(shutil.get_terminal_size((100, 24)).columns, 100))
    marker = charts.bar_marker(load_settings().chart_marker)  # the config's, as in the app
    if col.get("histogram"):
        print()
        print(charts.histogram_text(col, width, 15, marker))
    elif col.get("top_values"):
        print()
        print(charts.top_values_text(col, width, 15, marker))


# -- validate / rules ---------------------------------------------------------------------------
def _rule_label(rule: Any) -> str:
    label = getattr(rule, "label", None)
    if label:
        return str(label)
    column = getattr(rule, "column", None)
    return f"{rule.type} {column}" if column else str(rule.type)


def examples_table(examples: list[dict[str, Any]]) -> str:
    """Example rows as a table: the row number (1-based, as `data preview` counts) and the values."""
    flat = []
    for ex in examples:
        values = ex.get("values") if isinstance(ex.get("values"), dict) else {
            k: x for k, x in ex.items() if k != "row"}
        row = ex.get("row")
        flat.append({"row": row + 1 if isinstance(row, int) else row, **values})
    headers = list(dict.fromkeys(k for ex in flat for k in ex))
    return table(headers, [[ex.get(h) for h in headers] for ex in flat], indent="  ", fmt=raw_cell)


def cmd_validate(args: argparse.Namespace, home: Home) -> int:
    from tui_mlops.data import rules as R
    from tui_mlops.data.versions import resolve

    v = resolve(home, args.ref)
    if args.rules:
        path = Path(args.rules)
        if not path.is_file():
            raise NotFoundError(f"{path}: no such rules file")
        rules = R.load_rules(path)
    else:
        path = R.rules_path(home, v.name)
        if not path.exists():
            raise NotFoundError(
                f"no validation rules for {v.name!r}: write them to {path} "
                f"(`{PROG} data rules {v.name} --init` writes a commented example there)"
            )
        rules = None
    report = R.validate(home, v, rules)
    failed = [r for r in report.results if not r.passed]
    if args.json:
        print_json(report.to_dict())
    else:
        rows = [["PASS" if r.passed else "FAIL", _rule_label(r.rule), r.checked, r.failing, r.message]
                for r in report.results]
        print(f"{v.name}@{v.short}: {len(report.results)} rule(s) from {path}")
        # Messages are the point of the report: never cut them (cell() cuts long text).
        print(table(["verdict", "rule", "checked", "failing", "message"], rows,
                    fmt=uncut))
        for r in failed:
            if r.examples:
                print(f"\nexample failing rows for {_rule_label(r.rule)}:")
                print(examples_table(r.examples))
        print(f"\nrules: {len(report.results) - len(failed)} of {len(report.results)} passed")
    if failed:
        raise ValidationFailed(f"{len(failed)} of {len(report.results)} rule(s) failed for {v.name}@{v.short}")
    return 0


def cmd_rules(args: argparse.Namespace, home: Home) -> int:
    from tui_mlops.data import rules as R

    name = check_name(args.name)
    path = R.rules_path(home, name)
    created = False
    if args.init:
        if path.exists():
            print(f"{path} already exists; left unchanged", file=sys.stderr)
        else:
            R.save_rules(home, name, R.EXAMPLE_RULES)
            created = True
    exists = path.exists()
    content = path.read_text(encoding="utf-8") if exists else None
    if args.json:
        print_json({"name": name, "path": str(path), "exists": exists, "created": created, "content": content})
        return 0
    if args.show:
        if content is None:
            raise NotFoundError(f"no rules file for {name!r} at {path}; `{PROG} data rules {name} --init` makes one")
        print(content, end="" if content.endswith("\n") else "\n")
        return 0
    if created:
        print(f"wrote example rules to {path}; edit them, then run `{PROG} data validate {name}`")
        return 0
    print(f"rules for {name}: {path}")
    if content is None:
        print(f"(no rules file yet; `{PROG} data rules {name} --init` writes a commented example)")
    else:
        print()
        print(content, end="" if content.endswith("\n") else "\n")
    return 0


# -- clean / split ------------------------------------------------------------------------------
def cmd_clean(args: argparse.Namespace, home: Home) -> int:
    from tui_mlops.data.clean import clean, parse_step
    from tui_mlops.data.versions import resolve

    steps = [parse_step(s) for s in args.steps]
    if args.into:
        check_name(args.into)
    v = resolve(home, args.ref)
    new, created = clean(home, v, steps, into=args.into)
    if args.json:
        print_json({**_with_ref(new), "created": created})
        return 0
    what = "created" if created else "already exists (same input and steps):"
    print(f"{what} {new.name}@{new.short} from {v.name}@{v.short}: "
          f"{v.rows:,} -> {new.rows:,} rows, {len(v.columns)} -> {len(new.columns)} columns")
    print(f"  steps: {params_brief(new.params)}")
    return 0


def parse_ratios(text: str) -> tuple[float, float, float]:
    try:
        parts = [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise InputError(f"--ratios expects numbers like 0.7,0.15,0.15, got {text!r}") from None
    if len(parts) == 2:
        parts = [parts[0], 0.0, parts[1]]  # train,test: no validation part
    if len(parts) != 3:
        raise InputError(f"--ratios expects 2 or 3 numbers (train,valid,test), got {text!r}")
    return parts[0], parts[1], parts[2]


def cmd_split(args: argparse.Namespace, home: Home) -> int:
    from tui_mlops.data.split import split
    from tui_mlops.data.versions import resolve

    method = args.method or ("stratified" if args.stratify else "time" if args.time_column else "random")
    ratios = parse_ratios(args.ratios)
    cutoffs = [c.strip() for c in args.cutoffs.split(",") if c.strip()] if args.cutoffs else None
    v = resolve(home, args.ref)
    parts = split(home, v, method=method, ratios=ratios, seed=args.seed, stratify=args.stratify,
                  time_column=args.time_column, cutoffs=cutoffs)
    if args.json:
        print_json({part: _with_ref(pv) for part, pv in parts.items()})
        return 0
    total = sum(pv.rows for pv in parts.values()) or 1
    print(f"split {v.name}@{v.short} ({v.rows:,} rows, {method}, seed {args.seed}):")
    print(table(["part", "version", "rows", "share"],
                [[part, f"{pv.name}@{pv.short}", pv.rows, percent(pv.rows / total)] for part, pv in parts.items()],
                indent="  "))
    return 0
