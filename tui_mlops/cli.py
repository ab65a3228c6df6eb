"""The `mlops-tui` command: no subcommand opens the app; subcommands run headless.

Start-up stays light: this module imports only the standard library and the base layer; each
command handler imports the services it needs when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from tui_mlops import __version__
from tui_mlops.cli_format import Cancelled
from tui_mlops.errors import MlopsError

PROG = "mlops-tui"
EXIT_INTERRUPTED = 130


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def _pos_int(text: str) -> int:
    value = _nonneg_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected a number >= 1, got 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    # `--home` may also come after the subcommand; SUPPRESS keeps a later parser from
    # overwriting a value the top-level parser already set.
    home_opt = argparse.ArgumentParser(add_help=False)
    home_opt.add_argument("--home", metavar="PATH", default=argparse.SUPPRESS,
                          help="the store's home folder (default: $MLOPS_TUI_HOME, then the user data dir)")
    json_opt = argparse.ArgumentParser(add_help=False)
    json_opt.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    common = [home_opt, json_opt]

    top = argparse.ArgumentParser(
        prog=PROG,
        description="A keyboard-driven terminal ML workbench. With no command, opens the app.",
    )
    top.add_argument("--home", metavar="PATH", default=None,
                     help="the store's home folder (default: $MLOPS_TUI_HOME, then the user data dir)")
    top.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = top.add_subparsers(dest="command", metavar="COMMAND")

    # -- data --------------------------------------------------------------------------------
    data = sub.add_parser("data", parents=[home_opt], help="register, inspect, validate, clean and split datasets",
                          description="Register, inspect, validate, clean and split datasets.")
    ds = data.add_subparsers(dest="action", metavar="ACTION", required=True)
    D, Q = "tui_mlops.cli_data", "tui_mlops.cli_quality"

    p = ds.add_parser("add", parents=common, help="register a data file, or every data file in a folder")
    p.add_argument("path", metavar="FILE_OR_DIR")
    p.add_argument("--name", help="dataset name (default: from the file name)")
    p.add_argument("--format", metavar="FMT", help="csv, tsv, parquet, json or ndjson (default: from the suffix)")
    p.add_argument("--type", dest="types", metavar="COL=TYPE", action="append", default=[],
                   help="override a column's type, e.g. --type zip=VARCHAR (repeatable)")
    p.add_argument("--progress", action="store_true", help="show a progress line even when stderr is not a terminal")
    p.set_defaults(handler=f"{D}:cmd_add")

    p = ds.add_parser("list", parents=common, help="list datasets")
    p.set_defaults(handler=f"{D}:cmd_list")

    p = ds.add_parser("show", parents=common, help="details, columns, lineage and versions of a version")
    p.add_argument("ref", metavar="NAME[@VER]")
    p.set_defaults(handler=f"{D}:cmd_show")

    p = ds.add_parser("preview", parents=common, help="print a page of rows")
    p.add_argument("ref", metavar="NAME[@VER]")
    p.add_argument("--offset", type=_nonneg_int, default=0, metavar="N", help="first row (0-based, default 0)")
    p.add_argument("--limit", type=_pos_int, default=20, metavar="N", help="rows to print (default 20)")
    p.set_defaults(handler=f"{D}:cmd_preview")

    p = ds.add_parser("rm", parents=common, help="remove a version (or, with --all, a whole dataset)")
    p.add_argument("ref", metavar="NAME[@VER]")
    p.add_argument("--all", action="store_true", help="remove every version of the dataset")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.set_defaults(handler=f"{D}:cmd_rm")

    p = ds.add_parser("profile", parents=common, help="per-column statistics (computed once, then stored)")
    p.add_argument("ref", metavar="NAME[@VER]")
    p.add_argument("--recompute", action="store_true", help="compute again even if a profile is stored")
    p.add_argument("--column", metavar="COL", help="details of one column, with its histogram or top values")
    p.add_argument("--progress", action="store_true", help="show a progress line even when stderr is not a terminal")
    p.set_defaults(handler=f"{Q}:cmd_profile")

    p = ds.add_parser("validate", parents=common, help="check a version against its rules (exit 1 on failure)")
    p.add_argument("ref", metavar="NAME[@VER]")
    p.add_argument("--rules", metavar="FILE", help="rules file (default: the dataset's rules in the home)")
    p.set_defaults(handler=f"{Q}:cmd_validate")

    p = ds.add_parser("rules", parents=common, help="show (or create) a dataset's validation rules file")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--init", action="store_true", help="write a commented example rules file if none exists")
    p.add_argument("--show", action="store_true", help="print only the file's content")
    p.set_defaults(handler=f"{Q}:cmd_rules")

    p = ds.add_parser("clean", parents=common, help="apply cleaning steps, making a new version")
    p.add_argument("ref", metavar="NAME[@VER]")
    p.add_argument("--step", dest="steps", metavar="STEP", action="append", required=True,
                   help="drop_duplicates | drop_columns:a,b | rename:a=b | cast:a=DOUBLE | "
                        "fill_nulls:a=median | fill_nulls:c=constant:x | filter:EXPR (repeatable, applied in order)")
    p.add_argument("--into", metavar="NAME", help="write the result as a version of another dataset")
    p.set_defaults(handler=f"{Q}:cmd_clean")

    p = ds.add_parser("split", parents=common, help="split into NAME.train / NAME.valid / NAME.test")
    p.add_argument("ref", metavar="NAME[@VER]")
    p.add_argument("--method", choices=("random", "stratified", "time"),
                   help="default: stratified with --stratify, time with --time-column, else random")
    p.add_argument("--ratios", default="0.7,0.15,0.15", metavar="TRAIN,VALID,TEST",
                   help="shares of rows (default 0.7,0.15,0.15; two values mean train,test)")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument("--stratify", metavar="COL", help="column to stratify by (method stratified)")
    p.add_argument("--time-column", metavar="COL", help="time column (method time)")
    p.add_argument("--cutoffs", metavar="T1[,T2]", help="time cut-offs: train < T1 <= valid < T2 <= test")
    p.set_defaults(handler=f"{Q}:cmd_split")
    from tui_mlops.cli_exports import add_data_parser

    add_data_parser(ds, common)  # data export

    # -- store -------------------------------------------------------------------------------
    store = sub.add_parser("store", parents=[home_opt], help="maintain the store",
                           description="Maintain the store: rebuild the catalog, verify files, show the home.")
    ss = store.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = ss.add_parser("rebuild", parents=common, help="recreate the catalog from the files alone")
    p.set_defaults(handler="tui_mlops.cli:cmd_store_rebuild")
    p = ss.add_parser("check", parents=common, help="verify every snapshot against its fingerprint (exit 1 on problems)")
    p.set_defaults(handler="tui_mlops.cli:cmd_store_check")
    p = ss.add_parser("path", parents=[home_opt], help="print the store's home folder")
    p.set_defaults(handler="tui_mlops.cli:cmd_store_path", needs_home=False)

    # -- inbox -------------------------------------------------------------------------------
    p = sub.add_parser("inbox", parents=common, help="register the files in <home>/inbox (once, or --watch)")
    p.add_argument("--watch", action="store_true", help="keep watching until Ctrl-C")
    p.set_defaults(handler="tui_mlops.cli:cmd_inbox")

    # -- training, runs and jobs: their parsers live beside their handlers ------------------------
    from tui_mlops import (
        cli_compare, cli_config, cli_import, cli_jobs, cli_models, cli_monitor, cli_pipeline, cli_runs, cli_serve,
        cli_train, cli_validate, cli_watch,
    )

    cli_train.add_parsers(sub, common)
    runs_actions = cli_runs.add_parsers(sub, common, home_opt)
    cli_compare.add_parsers(runs_actions, common)
    cli_jobs.add_parsers(sub, common, home_opt)
    cli_validate.add_parsers(sub, common, home_opt)
    cli_models.add_parsers(sub, common, home_opt)
    cli_monitor.add_parsers(sub, common, home_opt)
    cli_pipeline.add_parsers(sub, common, home_opt)
    cli_watch.add_parsers(sub, common, home_opt)
    cli_import.add_parsers(sub, common, home_opt)
    cli_serve.add_parsers(sub, common, home_opt)
    cli_config.add_parsers(sub, common, home_opt)
    return top


# -- store and inbox handlers (small; the data handlers live in cli_data / cli_quality) ----------
def cmd_store_path(args: argparse.Namespace, home_path: Path) -> int:
    print(home_path)
    return 0


def cmd_store_rebuild(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.cli_format import print_json
    from tui_mlops.data.versions import rebuild_catalog

    count = rebuild_catalog(home)
    if args.json:
        print_json({"catalog": str(home.catalog_path), "versions": count})
    else:
        print(f"rebuilt {home.catalog_path} from the files: {count} version(s) indexed")
    return 0


def cmd_store_check(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.cli_format import print_json
    from tui_mlops.data.versions import check_store, list_versions

    problems = check_store(home)
    if args.json:
        print_json({"ok": not problems, "problems": problems})
    elif problems:
        for line in problems:
            print(line)
    else:
        print(f"store OK: {len(list_versions(home))} version(s) verified in {home.root}")
    if problems:
        print(f"{PROG}: error: store check found {len(problems)} problem(s); "
              f"`{PROG} store rebuild` re-indexes from the files", file=sys.stderr)
        return 1
    return 0


def _inbox_line(ev: Any) -> str:
    if ev.ok and ev.version is not None:
        v = ev.version
        return f"registered {ev.path} -> {v.name}@{v.short} ({v.rows:,} rows)"
    if ev.ok:
        return f"registered {ev.path}: {ev.message}"
    return f"rejected {ev.path}: {ev.message}"


def cmd_inbox(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.cli_format import print_json
    from tui_mlops.data import inbox

    if not args.watch:
        events = inbox.process_inbox_once(home)
        if args.json:
            print_json([{"path": e.path, "ok": e.ok, "message": e.message,
                         "version": e.version.to_dict() if e.version else None} for e in events])
        else:
            for e in events:
                print(_inbox_line(e))
            if not events:
                print(f"inbox empty: {home.inbox_dir}")
        return 0 if all(e.ok for e in events) else 2

    import json
    import threading

    lock = threading.Lock()

    def on_result(ev: Any) -> None:
        # Called from the watcher's thread: one whole line per event, flushed at once.
        with lock:
            if args.json:
                line = json.dumps({"path": ev.path, "ok": ev.ok, "message": ev.message,
                                   "version": ev.version.to_dict() if ev.version else None}, default=str)
            else:
                line = _inbox_line(ev)
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    watcher = inbox.InboxWatcher(home, on_result)
    watcher.start()
    if not args.json:
        print(f"watching {home.inbox_dir} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    stop = threading.Event()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        watcher.stop()
    print("stopped watching", file=sys.stderr)
    return 0


# -- entry point --------------------------------------------------------------------------------
def _launch_app(home_path: Path) -> int:
    served = bool(os.environ.get("TEXTUAL_DRIVER"))  # textual-serve's web driver: pipes, no tty
    if not served and not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise MlopsError(f"the app needs a terminal; run `{PROG} --help` for the headless commands")
    from tui_mlops.settings import apply_environment, load_settings

    apply_environment(load_settings())  # the colour depth must be set before Textual is imported
    from tui_mlops.tui.app import run_app

    return int(run_app(home_path) or 0)


def _handler(spec: str) -> Any:
    module, _, func = spec.partition(":")
    return getattr(importlib.import_module(module), func)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        # Values and tables may hold any text; never crash on a terminal that cannot show it.
        sys.stdout.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        pass
    try:
        from tui_mlops.config import resolve_home

        home_path = resolve_home(args.home)
        if args.command is None:
            return _launch_app(home_path)
        handler = _handler(args.handler)
        if getattr(args, "needs_home", True):
            from tui_mlops.store.home import Home

            return int(handler(args, Home.open(home_path)) or 0)
        return int(handler(args, home_path) or 0)
    except MlopsError as exc:
        print(f"{PROG}: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except Cancelled as exc:
        print(f"{PROG}: cancelled: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `mlops-tui data list | head`: the reader left; that is not an error of ours.
        try:
            sys.stdout = open("/dev/null", "w")  # noqa: SIM115 - stop the interpreter's flush complaining
        except OSError:
            pass
        return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
