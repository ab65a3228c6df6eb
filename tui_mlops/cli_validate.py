"""`mlops-tui validate RUN_OR_MODEL`: holdout metrics, stability, drift, champion and gates, printed
section by section; exit 1 when a gate fails (what CI calls)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

PROG = "mlops-tui"


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text}")
    return value


def add_parsers(sub: Any, common: list[argparse.ArgumentParser], home_opt: argparse.ArgumentParser | None = None) -> None:
    from tui_mlops.cli import _nonneg_int

    p = sub.add_parser(
        "validate", parents=common, help="validate a run or model: metrics, CV, CIs, slices, drift, gates",
        description="Validate a trained run (id or prefix) or a registered model (NAME, NAME@ALIAS, "
                    "NAME@VERSION) on its own holdout rows or on a dataset version. The report is stored "
                    "with the run; exit 1 when a gate fails, 2 on bad input.")
    p.add_argument("ref", metavar="RUN_OR_MODEL", help="run id (or a prefix of 4+ characters) or NAME[@ALIAS|VER]")
    p.add_argument("--data", metavar="NAME@VER", help="labelled data to evaluate (default: the run's holdout rows)")
    p.add_argument("--target", metavar="COL",
                   help="the label column in --data, for a model that does not record it (an imported one)")
    p.add_argument("--gate", metavar="FILE",
                   help="TOML file of [[gates]] (default: <home>/gates/<experiment>.toml if present)")
    p.add_argument("--folds", type=_nonneg_int, default=5, metavar="K",
                   help="cross-validation folds (default 5; 0 skips cross-validation)")
    p.add_argument("--bootstrap", type=_nonneg_int, default=1000, metavar="N",
                   help="bootstrap resamples for the CIs and the champion test (default 1000; 0 skips)")
    p.add_argument("--slice", dest="slice_by", metavar="COL", help="metrics per value of this column")
    p.add_argument("--threshold", type=_threshold, default=0.5, metavar="T",
                   help="binary decision threshold for accuracy/precision/recall/F1 (default 0.5)")
    p.add_argument("--no-champion", action="store_true", help="skip the comparison with the production model")
    p.add_argument("--markdown", metavar="FILE", help="also write the report as Markdown to FILE")
    p.add_argument("--progress", action="store_true", help="a progress line on stderr even when it is not a terminal")
    p.set_defaults(handler="tui_mlops.cli_validate:cmd_validate")


def _progress(args: argparse.Namespace) -> Any:
    enabled = args.progress or sys.stderr.isatty()
    if not enabled or args.folds == 0:
        return None, lambda: None
    shown = {"any": False}

    def update(done: int, total: int, what: str) -> None:
        text = f"cross-validation: {what}" if done < total else f"cross-validation: {total} folds done"
        sys.stderr.write(f"\r{text:<40}")
        sys.stderr.flush()
        shown["any"] = True

    def finish() -> None:
        if shown["any"]:
            sys.stderr.write("\n")
            sys.stderr.flush()

    return update, finish


def print_report(d: dict[str, Any]) -> None:
    from tui_mlops.cli_format import key_values, stat_cell, table
    from tui_mlops.validation.report_markdown import sections

    who = f"{d['model_ref']} (run {d['run_id']})" if d.get("model_ref") else d["run_id"]
    print(key_values([("report", d["id"]), ("model", who), ("task", d["task"]),
                      ("data", f"{d['data_ref']} ({d['rows']} rows)")]))
    for s in sections(d):
        print()
        print(f"{s.title}:")
        if s.title == "Gates":
            # One line per gate, message whole: this is what a CI log shows.
            for r in (d.get("gates") or {}).get("results") or []:
                print(f"  {r['verdict'].upper():<4}  {r['name']}: {r['message']}")
        elif s.headers and s.rows:
            print(table(s.headers, s.rows, indent="  ", fmt=stat_cell))
        for note in s.notes:
            print(f"  {note}")


def cmd_validate(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.cli_format import Cancelled, print_json, run_cancellable
    from tui_mlops.errors import ValidationFailed
    from tui_mlops.store.home import atomic_write_bytes
    from tui_mlops.validation.report import validate
    from tui_mlops.validation.stability import ValidationCancelled

    progress, finish = _progress(args)

    def work(cancel: Any) -> Any:
        return validate(home, args.ref, data=args.data, gates=args.gate, folds=args.folds,
                        bootstrap=args.bootstrap, slice_by=args.slice_by, threshold=args.threshold,
                        champion=not args.no_champion, progress=progress, cancel=cancel,
                        target_column=args.target)

    try:
        report = run_cancellable(work, "validation stopped; no report was stored")
    except ValidationCancelled:
        raise Cancelled("validation stopped; no report was stored") from None
    finally:
        finish()
    d = report.to_dict()
    if args.markdown:
        from pathlib import Path

        atomic_write_bytes(Path(args.markdown), report.to_markdown().encode())
    if args.json:
        print_json(d)
    else:
        print_report(d)
        print()
        where = home.runs_dir / report.run_id / "validation" / f"{report.id}.json"
        print(f"stored {where}" + (f"; Markdown written to {args.markdown}" if args.markdown else ""))
    gates = d.get("gates")
    if gates is not None and not gates.get("passed"):
        failed = [r["name"] for r in gates.get("results") or [] if r.get("verdict") == "fail"]
        raise ValidationFailed(f"{len(failed)} gate(s) failed: {', '.join(failed)}")
    return 0
