"""CLI for pipelines: `init [DIR]` and `pipeline run|status|history|dag` (exit codes 0/1/2/3 for CI)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from tui_mlops.cli_format import print_json, table

PROG = "mlops-tui"
P = "tui_mlops.cli_pipeline"
DEFAULT_FILE = "mlops.toml"


def add_parsers(sub: Any, common: list[argparse.ArgumentParser], home_opt: argparse.ArgumentParser | None = None) -> None:
    parents = [home_opt] if home_opt is not None else []
    file_opt = argparse.ArgumentParser(add_help=False)
    file_opt.add_argument("--file", "-f", default=DEFAULT_FILE, metavar="FILE",
                          help=f"the pipeline file (default: {DEFAULT_FILE})")

    p = sub.add_parser("init", parents=common, help=f"write a commented example {DEFAULT_FILE} (and sample data)")
    p.add_argument("dir", nargs="?", default=".", metavar="DIR", help="the project folder (default: here)")
    p.add_argument("--force", action="store_true", help=f"overwrite an existing {DEFAULT_FILE}")
    p.set_defaults(handler=f"{P}:cmd_init", needs_home=False)

    pipe = sub.add_parser("pipeline", parents=parents, help="run and inspect the pipeline of an mlops.toml",
                          description="Run the stages of a pipeline file in dependency order, skipping "
                                      "unchanged ones. Exit codes: 0 ok, 1 a gate failed, 2 a stage "
                                      "errored, 3 the file is invalid.")
    ps = pipe.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = ps.add_parser("run", parents=[*common, file_opt], help="run the pipeline (cached stages are skipped)")
    p.add_argument("--stage", metavar="NAME", help="run only this stage and the stages it needs")
    p.add_argument("--from", dest="rerun_from", metavar="NAME", help="re-run this stage and everything after it")
    p.add_argument("--force", action="store_true", help="run stages even when their inputs are unchanged")
    p.add_argument("--report", metavar="FILE", help="write a Markdown summary (e.g. $GITHUB_STEP_SUMMARY)")
    p.set_defaults(handler=f"{P}:cmd_run")

    p = ps.add_parser("status", parents=[*common, file_opt], help="each stage: last result, and whether it would re-run")
    p.set_defaults(handler=f"{P}:cmd_status")

    p = ps.add_parser("history", parents=[*common, file_opt], help="past runs of the pipeline, newest first")
    p.add_argument("--limit", type=int, default=20, metavar="N", help="runs to show (default 20)")
    p.add_argument("--name", metavar="PIPELINE", help="a pipeline name instead of reading --file")
    p.set_defaults(handler=f"{P}:cmd_history")

    p = ps.add_parser("dag", parents=[*common, file_opt], help="draw the stage graph")
    p.set_defaults(handler=f"{P}:cmd_dag")


def cmd_init(args: argparse.Namespace, home_path: Path) -> int:
    import shutil

    from tui_mlops.errors import InputError
    from tui_mlops.pipeline.spec import INIT_TEMPLATE

    folder = Path(args.dir)
    target = folder / DEFAULT_FILE
    if target.exists() and not args.force:
        raise InputError(f"{target} exists already (--force overwrites it)")
    folder.mkdir(parents=True, exist_ok=True)
    target.write_text(INIT_TEMPLATE, encoding="utf-8")
    data = folder / "data" / "churn.csv"
    copied = False
    if not data.exists():
        from tui_mlops.sample import sample_dir

        sample = sample_dir() / "churn.csv"
        if sample.is_file():
            data.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sample, data)
            copied = True
    if args.json:
        print_json({"file": str(target), "sample_data": str(data) if copied else None})
    else:
        print(f"wrote {target}" + (f" and the sample data {data}" if copied else ""))
        print(f"next: cd {folder} && {PROG} pipeline run")
    return 0


def _duration(x: float | None) -> str:
    return "" if x is None else f"{x:.1f} s"


def _outputs(outputs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in outputs.items())


def _stage_line(run: Any, name: str) -> str | None:
    rec = run.stages[name]
    if rec.status == "running":
        return f"  {name}: running..."
    if rec.status == "pending":
        return None
    extra = f" ({_duration(rec.duration)})" if rec.duration is not None and rec.status != "cached" else ""
    text = f"  {name}: {rec.status}{extra}"
    if rec.status == "cached":
        text += f" (unchanged since run {rec.cached_from})"
    elif rec.outputs and rec.status == "ok":
        text += f" -> {_outputs(rec.outputs)}"
    if rec.message and rec.status not in ("ok", "cached"):
        text += f": {rec.message}"
    return text


def cmd_run(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.cli_format import run_cancellable
    from tui_mlops.pipeline.report import markdown_report
    from tui_mlops.pipeline.run import run_pipeline
    from tui_mlops.pipeline.spec import load_pipeline

    spec = load_pipeline(args.file, home=home)  # exit 3 before anything runs
    for name in (args.stage, args.rerun_from):
        if name is not None and name not in spec.stages:
            from tui_mlops.errors import InputError

            raise InputError(f"no stage {name!r} in {args.file} (stages: {', '.join(spec.stages)})")

    def progress(run: Any, name: str) -> None:
        if args.json:
            return
        line = _stage_line(run, name)
        if line:
            print(line, file=sys.stderr, flush=True)

    if not args.json:
        print(f"pipeline {spec.name}: {len(spec.stages)} stage(s), up to {spec.max_parallel} at a time",
              file=sys.stderr, flush=True)

    def work(cancel: Any) -> Any:
        return run_pipeline(home, args.file, stage=args.stage, force=args.force, progress=progress,
                            cancel=cancel, rerun_from=args.rerun_from)

    # SIGTERM (kill, systemd, a CI timeout, the app's cancel) cancels like Ctrl-C: stages are
    # stopped, the record ends "cancelled" and the exit code is 130.
    import signal

    def _term(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _term)
    try:
        run = run_cancellable(work, "pipeline run cancelled")
    finally:
        signal.signal(signal.SIGTERM, previous)
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(markdown_report(run), encoding="utf-8")
    if args.json:
        print_json(run.to_dict())
    else:
        if run.message:
            print(run.message, file=sys.stderr)
        cached = sum(1 for r in run.stages.values() if r.status == "cached")
        print(f"run {run.run_id}: {run.status} in {_duration(run.duration)} "
              f"({len(run.stages)} stage(s), {cached} cached)")
        for name, rec in run.stages.items():
            if rec.status in ("failed", "gate_failed"):
                print(f"{PROG}: {name} {rec.status.replace('_', ' ')}: {rec.message}", file=sys.stderr)
    return run.exit_code


def cmd_status(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.pipeline.run import pipeline_status

    st = pipeline_status(home, args.file)
    if args.json:
        print_json(st)
        return 0
    last = st["last_run"]
    print(f"pipeline {st['pipeline']} ({st['file']})")
    if last:
        print(f"last run {last['run_id']}: {last['status']}" + (" (running now)" if st["running"] else ""))
    else:
        print("never run")
    print(table(["stage", "kind", "state", "last run", "outputs"],
                [[s["name"], s["kind"], s["state"], s["last_status"] or "", _outputs(s["outputs"] or {})]
                 for s in st["stages"]]))
    return 0


def cmd_history(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.pipeline.run import pipeline_history

    name = args.name
    if name is None:
        from tui_mlops.pipeline.spec import load_pipeline

        name = load_pipeline(args.file).name
    runs = pipeline_history(home, name)[: max(args.limit, 0)]
    if args.json:
        print_json([r.to_dict() for r in runs])
        return 0
    if not runs:
        print(f"pipeline {name}: no runs yet")
        return 0
    rows = []
    for r in runs:
        counts: dict[str, int] = {}
        for rec in r.stages.values():
            counts[rec.status] = counts.get(rec.status, 0) + 1
        rows.append([r.run_id, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.started)), r.status,
                     _duration(r.duration), ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))])
    print(table(["run", "started", "status", "took", "stages"], rows))
    return 0


def cmd_dag(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.pipeline import dag
    from tui_mlops.pipeline.spec import load_pipeline

    spec = load_pipeline(args.file)
    if args.json:
        print_json({"pipeline": spec.name, "levels": dag.levels(spec.stages),
                    "stages": [{"name": s.name, "kind": s.kind, "line": s.line, "inputs": s.inputs,
                                "after": list(s.after), "deps": list(s.deps)} for s in spec.stages.values()]})
    else:
        print(dag.dag_text(spec))
    return 0
