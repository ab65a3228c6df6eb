"""CLI handlers that start training jobs: `train`, `sweep` and `runs rerun` (with `--wait`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tui_mlops.errors import InputError

PROG = "mlops-tui"
MODELS = ("lightgbm", "random_forest", "logistic", "linear", "hist_gb")
TASKS = ("binary", "multiclass", "regression")


def add_parsers(sub: Any, common: list[argparse.ArgumentParser]) -> None:
    """`train` and `sweep` (they share the spec flags)."""
    from tui_mlops.cli import _nonneg_int, _pos_int

    spec_opt = argparse.ArgumentParser(add_help=False)
    g = spec_opt.add_argument_group("training spec")
    g.add_argument("--dataset", required=True, metavar="NAME[@VER]", help="training data (default: latest version)")
    g.add_argument("--target", required=True, metavar="COL", help="the column to predict")
    g.add_argument("--model", choices=MODELS, default="lightgbm", help="default lightgbm")
    g.add_argument("--task", choices=TASKS, help="default: inferred from the target")
    g.add_argument("--param", dest="params", action="append", default=[], metavar="K=V",
                   help="model parameter, e.g. --param num_leaves=31 (repeatable)")
    g.add_argument("--feature", dest="features", action="append", default=[], metavar="COL",
                   help="use only these feature columns (repeatable; default: all but the target)")
    g.add_argument("--drop", action="append", default=[], metavar="COL", help="leave a column out (repeatable)")
    g.add_argument("--transform", dest="transforms", action="append", default=[], metavar="SPEC",
                   help="log:COL | bins:COL:N | date_parts:COL[:year,month,day,dayofweek,hour,...] | "
                        "ratio:NUM:DEN[:NAME] (repeatable, applied at training and prediction)")
    g.add_argument("--valid", metavar="NAME[@VER]", help="validation data (default: a held-out share)")
    g.add_argument("--valid-fraction", type=float, metavar="F", help="held-out share without --valid (default 0.2)")
    g.add_argument("--filter", metavar="EXPR", help="train on the rows matching EXPR, e.g. \"age >= 18\"")
    g.add_argument("--rounds", type=_pos_int, metavar="N", help="LightGBM boosting rounds (default 200)")
    g.add_argument("--early-stopping", type=_nonneg_int, metavar="N",
                   help="stop after N rounds without improvement (default 20; 0 turns it off)")
    g.add_argument("--device", choices=("cpu", "gpu"), default="cpu", help="LightGBM device (see `devices`)")
    g.add_argument("--experiment", default="default", metavar="NAME", help="default: default")
    g.add_argument("--name", metavar="NAME", help="a name for the run")
    g.add_argument("--tag", dest="tags", action="append", default=[], metavar="K=V", help="tag (repeatable)")
    g.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    wait_opt = argparse.ArgumentParser(add_help=False)
    wait_opt.add_argument("--wait", action="store_true",
                          help="follow the run until it ends, printing metrics (exit 2 unless it finished)")
    wait_opt.add_argument("--every", type=_pos_int, metavar="N",
                          help="with --wait: a progress line every N rounds (default 10; sweeps: every trial)")

    p = sub.add_parser("train", parents=[*common, spec_opt, wait_opt], help="train a model as a background job",
                       description="Check the spec, start a training job and print its run id.")
    p.set_defaults(handler="tui_mlops.cli_train:cmd_train")

    p = sub.add_parser("sweep", parents=[*common, spec_opt, wait_opt], help="grid or random search as parallel jobs",
                       description="Start a sweep: one trial run per parameter set, under a parent sweep run.")
    p.add_argument("--space", required=True, metavar="SPACE",
                   help='e.g. "num_leaves=15,31,63; learning_rate=0.01:0.3:log; min_child_samples=5:50:int"')
    p.add_argument("--method", choices=("grid", "random"), default="grid", help="default grid")
    p.add_argument("--trials", type=_pos_int, metavar="N",
                   help="number of trials (default: the whole grid; random: 10)")
    p.add_argument("--parallel", type=_pos_int, metavar="N", help="trials at once (default: the job limit)")
    p.set_defaults(handler="tui_mlops.cli_train:cmd_sweep")


def parse_tags(items: list[str], flag: str = "--tag") -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{flag} expects KEY=VALUE, got {item!r}")
        tags[key.strip()] = value
    return tags


def parse_transform(text: str) -> dict[str, Any]:
    """`log:income`, `bins:age:5`, `date_parts:observed_at:year,month`, `ratio:a:b[:name]` (or `ratio:a/b`)."""
    from tui_mlops.training.features import parse_transform as parse

    op, _, rest = text.strip().partition(":")
    parts = rest.split(":")
    if op.strip().lower() == "ratio" and len(parts) in (2, 3) and "/" not in parts[0]:
        text = f"ratio:{parts[0]}/{parts[1]}" + (f":{parts[2]}" if len(parts) == 3 else "")
    return parse(text)


def build_spec(args: argparse.Namespace) -> Any:
    """A TrainSpec from the flags (not yet checked against the data: prepare does that)."""
    from tui_mlops.training import spec as S

    fields: dict[str, Any] = dict(
        dataset=args.dataset, target=args.target, model=args.model, task=args.task,
        features=list(args.features) or None, drop=list(args.drop),
        transforms=[parse_transform(t) for t in args.transforms], params=S.parse_params(args.params),
        seed=args.seed, valid=args.valid, filter=args.filter, device=args.device,
        experiment=args.experiment, name=args.name, tags=parse_tags(args.tags),
    )
    if args.rounds is not None:
        fields["num_boost_round"] = args.rounds
    if args.early_stopping is not None:
        fields["early_stopping_rounds"] = args.early_stopping or None
    if args.valid_fraction is not None:
        if not 0 < args.valid_fraction < 1:
            raise InputError(f"--valid-fraction must be between 0 and 1, got {args.valid_fraction:g}")
        fields["valid_fraction"] = args.valid_fraction
    return S.TrainSpec(**fields)


def _submitted(args: argparse.Namespace, home: Any, run_id: str, what: str) -> int:
    from tui_mlops.cli_format import print_json

    if args.json and not args.wait:
        print_json({"run_id": run_id, "status": "queued"})
        return 0
    if not args.wait:
        print(run_id)
        print(f"{what} {run_id} started in the background; `{PROG} runs show {run_id}` shows it, "
              f"`{PROG} jobs cancel {run_id}` stops it", file=sys.stderr)
        return 0
    return wait_and_report(args, home, run_id)


def cmd_train(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.training.train import start_training

    run_id = start_training(home, build_spec(args))
    return _submitted(args, home, run_id, "training run")


def cmd_sweep(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.training import sweep as W

    space = W.parse_space(args.space)
    sweep_spec = W.SweepSpec(base=build_spec(args), space=space, method=args.method, trials=args.trials,
                             seed=args.seed, parallel=args.parallel)
    run_id = W.start_sweep(home, sweep_spec)
    return _submitted(args, home, run_id, "sweep")


def cmd_rerun(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.training.train import rerun

    run_id = rerun(home, args.run)
    return _submitted(args, home, run_id, "re-run")


# -- following a run until it ends --------------------------------------------------------------
class ProgressPrinter:
    """Turns a run's events into compact lines: one per `every` rounds, plus status and device."""

    def __init__(self, every: int | None, stream: Any) -> None:
        self.every = every or 10
        self.explicit = every is not None
        self.label = "round"
        self.stream = stream
        self.pending: dict[int, dict[str, float]] = {}
        self.printed_step = 0
        self.device: str | None = None
        self.status: str | None = None

    def __call__(self, events: list[dict[str, Any]]) -> None:
        for e in events:
            kind = e.get("type")
            step = e.get("step")
            if kind == "run_start" and e.get("kind") == "sweep":
                # A sweep's steps are finished trials: few, and each one news.
                self.label, self.every = "trial", self.every if self.explicit else 1
            elif kind == "status" and e.get("status") != self.status:
                self.status = e.get("status")
                self._say(f"status: {self.status}")
            elif kind == "device":
                self.device = e.get("device")
                detail = str(e.get("detail") or "")
                self._say(f"device: {detail if detail.startswith(str(self.device)) else f'{self.device} {detail}'}")
            elif kind == "metric" and isinstance(step, int):
                self.pending.setdefault(step, {})[str(e.get("key"))] = e.get("value")
            elif kind == "metrics" and isinstance(step, int):
                self.pending.setdefault(step, {}).update(e.get("values") or {})
        if self.pending:
            # A step is complete once a later one has begun; the last one waits for the end.
            last = max(self.pending)
            for step in sorted(s for s in self.pending if s < last):
                self._emit(step)

    def finish(self) -> None:
        if self.pending:
            self._emit(max(self.pending), force=True)

    def _emit(self, step: int, force: bool = False) -> None:
        values = self.pending.pop(step)
        if step % self.every and step != 1 and not force:
            return
        if step <= self.printed_step:
            return
        self.printed_step = step
        from tui_mlops.cli_format import human_number

        text = "  ".join(f"{k}={human_number(float(v))}" for k, v in sorted(values.items())
                         if isinstance(v, (int, float)))
        self._say(f"{self.label} {step}  {text}")

    def _say(self, line: str) -> None:
        self.stream.write(line.rstrip() + "\n")
        self.stream.flush()


def wait_and_report(args: argparse.Namespace, home: Any, run_id: str) -> int:
    """Follow a run to its end; print final metrics. Ctrl-C stops following, not the run."""
    from tui_mlops.cli_jobs import follow_run, run_summary
    from tui_mlops.cli_format import print_json

    stream = sys.stderr if args.json else sys.stdout
    stream.write(f"run {run_id}\n")
    stream.flush()
    printer = ProgressPrinter(args.every, stream)
    try:
        end = follow_run(home, run_id, printer)
    except KeyboardInterrupt:
        print(f"\n{PROG}: stopped following run {run_id}; it keeps running "
              f"(`{PROG} jobs cancel {run_id}` stops it)", file=sys.stderr)
        return 130
    printer.finish()
    summary = run_summary(home, run_id, end)
    if args.json:
        print_json(summary)
    else:
        print_final(summary)
    if summary["status"] != "finished":
        reason = f": {summary['error']}" if summary.get("error") else ""
        print(f"{PROG}: error: run {run_id} {summary['status']}{reason}", file=sys.stderr)
        return 2
    return 0


def print_final(summary: dict[str, Any]) -> None:
    from tui_mlops.cli_format import key_values

    dur = summary.get("duration_s")
    head = f"run {summary['run_id']} {summary['status']}"
    if dur is not None:
        head += f" in {dur:.1f} s"
    if summary.get("device"):
        head += f" on {summary['device']}"
    print(head)
    metrics = summary.get("metrics") or {}
    final = {k: v for k, v in metrics.items() if not k.startswith(("system/", "train/"))}
    if final:
        print(key_values(sorted(final.items()), indent="  "))
    trials = summary.get("trials") or []
    if trials:
        from tui_mlops.cli_format import stat_cell, table

        # The params the sweep varied, and the metrics it ranked by (its best/<metric> keys).
        keys = sorted({k for t in trials for k in t["params"]})
        varied = [k for k in keys if len({str(t["params"].get(k)) for t in trials}) > 1]
        ranked = [k[len("best/"):] for k in sorted(metrics) if k.startswith("best/")]
        print(table(["trial", "status"] + varied + ranked,
                    [[t["run_id"], t["status"]] + [t["params"].get(k) for k in varied]
                     + [t["metrics"].get(m) for m in ranked] for t in trials],
                    indent="  ", fmt=stat_cell))
    arts = summary.get("artifacts") or []
    if arts:
        print("  artifacts: " + ", ".join(str(a.get("path", "")).removeprefix("artifacts/") for a in arts))
