"""CLI for imports: `mlops-tui import mlflow PATH_OR_URI` brings an MLflow store's runs and models in."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parsers(sub: Any, common: list[argparse.ArgumentParser], home_opt: argparse.ArgumentParser | None = None) -> None:
    imp = sub.add_parser("import", help="import runs and models from another tool")
    kinds = imp.add_subparsers(dest="import_kind", metavar="SOURCE", required=True)
    p = kinds.add_parser("mlflow", parents=common, help="import an MLflow store (mlruns folder or mlflow.db)",
                         description="Import experiments, runs, params, metric histories, tags, notes, artifacts "
                                     "and LightGBM registered models from an MLflow store, without MLflow. "
                                     "Idempotent and incremental: run it again to bring in what is new.")
    p.add_argument("source", metavar="PATH_OR_URI", help="an mlruns folder, an mlflow.db file, file:///... or sqlite:///...")
    p.add_argument("--progress", action="store_true", help="show a progress line even when stderr is not a terminal")
    p.add_argument("--trust-pickles", action="store_true",
                   help="also load scikit-learn models stored as pickles (unpickling can run code: only for "
                        "a store you trust); they are kept as skops")
    p.add_argument("--experiment", action="append", default=None, metavar="NAME",
                   help="only this experiment (repeatable)")
    p.set_defaults(handler="tui_mlops.cli_import:cmd_import_mlflow")


def cmd_import_mlflow(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.cli_data import PROG, progress_enabled
    from tui_mlops.cli_format import ProgressLine, print_json, run_cancellable
    from tui_mlops.importers.mlflow_import import COUNTED, import_mlflow

    if args.trust_pickles:
        print(f"{PROG}: warning: --trust-pickles unpickles model files from {args.source}; a pickle can run any "
              f"code when loaded, so use it only for a store you trust", file=sys.stderr)
    line = ProgressLine(f"importing {args.source}", progress_enabled(args))

    def work(cancel: Any) -> Any:
        line.start()
        return import_mlflow(home, args.source, args.experiment, trust_pickles=args.trust_pickles,
                             progress=line.update, cancel=cancel)

    try:
        result = run_cancellable(work, f"import of {args.source} stopped; nothing was imported")
    finally:
        line.finish()
    if args.json:
        print_json(result.to_dict())
        return 0
    print(f"imported from {result.source}:")
    for key in COUNTED:
        print(f"  {key.replace('_', ' ')}: {result.added[key]} added, {result.present[key]} already present")
    for what in result.skipped:
        print(f"  skipped {what}")
    for what in result.unpickled:
        print(f"  unpickled (--trust-pickles) and kept as skops: {what}")
    return 0
