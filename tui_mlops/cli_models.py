"""CLI handlers for the model registry (`models list/show/register/alias/unalias/export`) and batch
scoring (`predict`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tui_mlops.cli_format import key_values, print_json, table

PROG = "mlops-tui"
M = "tui_mlops.cli_models"
# Metrics `models show` prints per version, by preference; the rest are in --json.
KEY_METRICS = ("valid/auc", "valid/logloss", "valid/accuracy", "valid/f1", "valid/f1_macro", "valid/rmse",
               "valid/mae", "valid/r2")


def add_parsers(sub: Any, common: list[argparse.ArgumentParser], home_opt: argparse.ArgumentParser | None = None) -> None:
    parents = [home_opt] if home_opt is not None else []
    models = sub.add_parser("models", parents=parents, help="register models, move aliases, export bundles",
                            description="The model registry: named model versions from finished train runs.")
    ms = models.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = ms.add_parser("list", parents=common, help="registered models with their versions and aliases")
    p.set_defaults(handler=f"{M}:cmd_list")
    p = ms.add_parser("show", parents=common, help="a model's versions (gates, metrics, aliases) and alias history")
    p.add_argument("name", metavar="NAME[@ALIAS|VERSION]", help="a model; with @..., one version's details")
    p.set_defaults(handler=f"{M}:cmd_show")
    p = ms.add_parser("register", parents=common, help="register a finished train run's model as a new version")
    p.add_argument("run", metavar="RUN", help="run id (or a unique prefix of 4+ characters)")
    p.add_argument("--name", required=True, metavar="NAME", help="the model's name")
    p.add_argument("--note", metavar="TEXT", help="a note kept with the version")
    p.set_defaults(handler=f"{M}:cmd_register")
    p = ms.add_parser("alias", parents=common, help="point an alias (staging, production, ...) at a version")
    p.add_argument("name", metavar="NAME")
    p.add_argument("version", metavar="VERSION", help="version number, e.g. 3 or v3")
    p.add_argument("alias", metavar="ALIAS")
    p.add_argument("--reason", metavar="TEXT", help="why (kept in the alias history)")
    p.add_argument("--force", action="store_true",
                   help="promote to production even though the version failed its gates (needs --reason)")
    p.set_defaults(handler=f"{M}:cmd_alias")
    p = ms.add_parser("unalias", parents=common, help="remove an alias from a model")
    p.add_argument("name", metavar="NAME")
    p.add_argument("alias", metavar="ALIAS")
    p.add_argument("--reason", metavar="TEXT", help="why (kept in the alias history)")
    p.set_defaults(handler=f"{M}:cmd_unalias")
    p = ms.add_parser("export", parents=common, help="write a self-contained bundle with a standalone predict.py")
    p.add_argument("ref", metavar="NAME[@ALIAS|VERSION]")
    p.add_argument("dest", metavar="DIR", help="a new (or empty) folder")
    p.set_defaults(handler=f"{M}:cmd_export")

    p = sub.add_parser("predict", parents=common, help="score a data file or dataset version with a registered model",
                       description="Batch scoring with the model's stored feature pipeline; the input is checked "
                                   "against the training schema.")
    p.add_argument("model", metavar="MODEL[@ALIAS|VERSION]")
    p.add_argument("data", metavar="DATA", help="a CSV/TSV/Parquet/JSON/NDJSON file, or a dataset NAME@VERSION")
    p.add_argument("--out", required=True, metavar="FILE", help="FILE.csv or FILE.parquet")
    p.add_argument("--monitor", metavar="NAME", help="also drop the scored batch into monitor NAME's incoming folder")
    p.set_defaults(handler=f"{M}:cmd_predict")


def _when(ts: Any) -> str:
    from tui_mlops.cli_jobs import _when as when

    return when(ts)


def _metrics_text(metrics: dict[str, float], limit: int = 3) -> str:
    keys = [k for k in KEY_METRICS if k in metrics][:limit]
    return "  ".join(f"{k.removeprefix('valid/')}={metrics[k]:.4g}" for k in keys)


def _move_text(move: Any) -> str:
    if move.version is None:
        return f"removed (was v{move.previous})"
    return f"v{move.previous} -> v{move.version}" if move.previous is not None else f"-> v{move.version}"


# -- handlers -------------------------------------------------------------------------------------
def cmd_list(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.registry.models import list_models

    models = list_models(home)
    if args.json:
        print_json([m.to_dict() for m in models])
        return 0
    if not models:
        print(f"no registered models (register one with `{PROG} models register RUN --name NAME`)")
        return 0
    print(table(["name", "versions", "latest", "aliases", "updated"],
                [[m.name, m.versions, f"v{m.latest}", ", ".join(f"{a}=v{v}" for a, v in m.aliases.items()),
                  _when(m.updated)] for m in models]))
    return 0


def _print_version(mv: Any) -> None:
    from tui_mlops.registry.models import gates_status

    print(key_values([
        ("model", mv.ref), ("aliases", ", ".join(mv.aliases) or "-"), ("run", mv.run_id),
        ("registered", f"{_when(mv.created)} by {mv.user}"), ("task", mv.task or "-"),
        ("model type", mv.model_type or "-"), ("dataset", mv.dataset or "-"),
        ("lineage", " <- ".join(mv.lineage) or "-"), ("gates", gates_status(mv)),
        ("artifact", f"{mv.artifact.get('path')} sha256 {str(mv.artifact.get('sha256'))[:16]}"),
        ("note", mv.note or "-")]))
    if mv.metrics:
        print("\nmetrics")
        print(table(["metric", "value"], [[k, v] for k, v in mv.metrics.items()], indent="  "))
    if mv.gates and mv.gates.get("results"):
        print(f"\ngates (report {mv.gates.get('report_id')})")
        print(table(["gate", "verdict", "value", "threshold"],
                    [[r.get("name"), r.get("verdict"), r.get("value"), r.get("threshold")]
                     for r in mv.gates["results"]], indent="  "))


def cmd_show(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.registry.models import alias_history, gates_status, get_versions, resolve_model

    if "@" in args.name:
        mv = resolve_model(home, args.name)
        if args.json:
            print_json(mv.to_dict())
        else:
            _print_version(mv)
        return 0
    versions = get_versions(home, args.name)
    history = alias_history(home, args.name)
    if args.json:
        print_json({"name": args.name, "versions": [v.to_dict() for v in versions],
                    "alias_history": [m.to_dict() for m in history]})
        return 0
    print(f"model {args.name}: {len(versions)} version(s)\n")
    print(table(["version", "aliases", "run", "registered", "user", "gates", "metrics"],
                [[f"v{v.version}", ", ".join(v.aliases), v.run_id, _when(v.created), v.user, gates_status(v),
                  _metrics_text(v.metrics, 2)] for v in reversed(versions)]))
    print("\nalias history")
    if not history:
        print("  (no alias moves yet)")
    else:
        print(table(["when", "alias", "move", "who", "why", "forced"],
                    [[_when(m.ts), m.alias, _move_text(m), m.user, m.reason or "", "FORCED" if m.forced else ""]
                     for m in reversed(history)], indent="  ", fmt=str))
    return 0


def cmd_register(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.registry.models import gates_status, register_model, versions_of_run
    from tui_mlops.tracking.events import resolve_run_dir

    run_id = resolve_run_dir(home, args.run).name
    existed = any(v.name == args.name for v in versions_of_run(home, run_id))
    mv = register_model(home, run_id, args.name, note=args.note)
    if args.json:
        print_json({**mv.to_dict(), "created": not existed})
    elif existed:
        print(f"run {run_id} is already {mv.name} v{mv.version}")
    else:
        print(f"registered {mv.name} v{mv.version} from run {run_id} (gates: {gates_status(mv)}; "
              f"{_metrics_text(mv.metrics) or 'no metrics'})")
    return 0


def cmd_alias(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.registry.models import set_alias

    move = set_alias(home, args.name, args.version, args.alias, reason=args.reason, force=args.force)
    if args.json:
        print_json(move.to_dict())
        return 0
    was = f" (was v{move.previous})" if move.previous is not None and move.previous != move.version else ""
    forced = " FORCED past failed gates" if move.forced else ""
    print(f"{move.name}@{move.alias} -> v{move.version}{was}{forced}")
    return 0


def cmd_unalias(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.registry.models import remove_alias

    move = remove_alias(home, args.name, args.alias, reason=args.reason)
    if args.json:
        print_json(move.to_dict())
    else:
        print(f"removed {move.name}@{move.alias} (was v{move.previous})")
    return 0


def cmd_export(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.registry.export import export_model
    from tui_mlops.registry.models import resolve_model

    mv = resolve_model(home, args.ref)
    dest = export_model(home, mv.ref, args.dest)
    files = sorted(p.name for p in dest.iterdir())
    if args.json:
        print_json({"model": mv.ref, "dest": str(dest), "files": files})
    else:
        print(f"exported {mv.ref} to {dest} ({', '.join(files)})")
        print(f"score with: python {dest / 'predict.py'} INPUT.csv OUTPUT.csv")
    return 0


def cmd_predict(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.registry.predict import predict

    res = predict(home, args.model, args.data, out=args.out, monitor=args.monitor)
    if args.json:
        print_json(res.to_dict())
        return 0
    for w in res.warnings:
        print(f"{PROG}: warning: {w}", file=sys.stderr)
    print(f"scored {res.rows:,} rows with {res.model_ref} -> {res.out}")
    if res.monitor_file is not None:
        print(f"monitor batch: {res.monitor_file}")
    return 0
