"""Pieces of the Pipelines screen: reading every pipeline's runs, table cells and the coloured DAG,
and the processes it starts (`pipeline run` re-runs, the watcher's runs) or interrupts."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.text import Text

from tui_mlops.tui.screens.run_detail_panes import duration_text, when_text

# Stage and run states -> theme variables (component classes `pipe-state--<state>`).
STATE_VARS = {"pending": "$text-muted", "running": "$text-primary", "ok": "$text-success",
              "cached": "$text-accent", "failed": "$text-error", "gate_failed": "$text-error",
              "skipped": "$text-muted", "cancelled": "$text-warning", "interrupted": "$text-warning"}
STATE_CLASSES = {f"pipe-state--{s}" for s in STATE_VARS}
STATE_CSS = "\n".join(f"& > .pipe-state--{s} {{ color: {v}; text-style: bold; }}" for s, v in STATE_VARS.items())
MESSAGE_WIDTH = 60
EXIT_STATUS = {0: "ok", 1: "gate_failed", 2: "failed", 3: "invalid pipeline file", 130: "cancelled"}


def state_text(node: Any, state: str | None) -> Text:
    """`state` styled by `node`'s `pipe-state--<state>` component class (plain when unknown)."""
    state = state or "-"
    if f"pipe-state--{state}" in getattr(node, "COMPONENT_CLASSES", ()):
        return Text(state, style=node.get_component_rich_style(f"pipe-state--{state}"))
    return Text(state)


# -- reading ----------------------------------------------------------------------------------
def pipeline_names(home: Any) -> list[str]:
    folder = Path(home.root) / "pipelines"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and (p / "runs").is_dir())


def all_runs(home: Any) -> list[Any]:
    """Every run of every pipeline under <home>/pipelines, newest first (dead ones marked)."""
    from tui_mlops.pipeline.records import list_runs

    runs = [r for name in pipeline_names(home) for r in list_runs(home, name)]
    return sorted(runs, key=lambda r: (r.started, r.run_id), reverse=True)


@dataclass
class SpecCache:
    """Parsed pipeline files by path, parsed again only when the file's mtime changes."""

    entries: dict[str, tuple[float, Any, str | None]] = field(default_factory=dict)

    def get(self, path: str) -> tuple[Any, str | None]:
        """(PipelineSpec or None, error text or None)."""
        from tui_mlops.errors import MlopsError
        from tui_mlops.pipeline.spec import load_pipeline

        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            return None, f"{path}: the pipeline file is gone"
        hit = self.entries.get(path)
        if hit is not None and hit[0] == mtime:
            return hit[1], hit[2]
        try:
            spec, error = load_pipeline(path), None
        except MlopsError as exc:
            spec, error = None, exc.message
        except OSError as exc:
            spec, error = None, str(exc)
        self.entries[path] = (mtime, spec, error)
        return spec, error


# -- cells ------------------------------------------------------------------------------------
def stage_counts(run: Any) -> str:
    counts = {"ok": 0, "cached": 0, "failed": 0}
    for rec in run.stages.values():
        key = "failed" if rec.status in ("failed", "gate_failed") else rec.status
        if key in counts:
            counts[key] += 1
    return f"{counts['ok']}/{counts['cached']}/{counts['failed']}"


def run_cells(node: Any, run: Any, now: float) -> list[Any]:
    end = run.ended if run.status != "running" else None
    took = duration_text(run.started, end, now) if run.status == "running" or end else "-"
    return [Text(run.pipeline), Text(run.run_id), state_text(node, run.status),
            Text(when_text(run.started, now)), Text(took), Text(stage_counts(run))]


def stage_cells(node: Any, rec: Any, now: float) -> list[Any]:
    if rec.started is None or rec.status == "cached":
        took = "-"
    else:
        took = duration_text(rec.started, rec.ended if rec.status != "running" else None, now)
        if rec.status != "running" and rec.ended is None:
            took = "-"
    message = " ".join(str(rec.message or "").split())
    if len(message) > MESSAGE_WIDTH:
        message = message[: MESSAGE_WIDTH - 1] + "…"
    return [Text(rec.name), Text(rec.kind), state_text(node, rec.status), Text(took), Text(message)]


def stage_order(run: Any, spec: Any) -> list[str]:
    """The run's stages in dependency order (records are stored with sorted keys)."""
    if spec is not None:
        from tui_mlops.pipeline.dag import topo_order

        try:
            order = [n for n in topo_order(spec.stages) if n in run.stages]
        except ValueError:
            order = []
        return order + [n for n in run.stages if n not in order]
    return sorted(run.stages, key=lambda n: (run.stages[n].started is None, run.stages[n].started or 0, n))


_BOX = re.compile(r"\[([^\[\]:]+): ([a-z_]+)\]")


def dag_content(node: Any, run: Any, spec: Any, error: str | None) -> Text:
    """The run's DAG (dag_text of its pipeline file) with each stage box coloured by its state."""
    from tui_mlops.pipeline.dag import dag_text

    states = {name: rec.status for name, rec in run.stages.items()}
    if spec is None:
        # The file is gone or no longer parses: the stages in run order, no arrows.
        text = Text(f"{error or 'pipeline file unreadable'}\n", style="italic")
        for i, (name, state) in enumerate(states.items()):
            text.append(" -> " if i else "")
            text.append(f"[{name}: ")
            text.append_text(state_text(node, state))
            text.append("]")
        return text
    # A stage this run did not select (run with --stage) still shows, as "-".
    raw = dag_text(spec, {n: states.get(n, "-") for n in spec.stages})
    text = Text()
    for line in raw.splitlines(keepends=True):
        pos = 0
        for m in _BOX.finditer(line):
            text.append(line[pos:m.start(2)])
            text.append_text(state_text(node, m.group(2)))
            pos = m.end(2)
        text.append(line[pos:])
    if spec.path.resolve() != Path(run.file).resolve():
        text.append(f"\n(from {spec.path})", style="dim")
    return text


# -- processes --------------------------------------------------------------------------------
def cli_argv(home: Any, file: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tui_mlops", "--home", str(home.root), "pipeline", "run",
            "--file", str(file), *extra]


def start_cli_run(home: Any, pipeline: str, file: str, *extra: str) -> tuple[subprocess.Popen, Path]:
    """`pipeline run --file FILE EXTRA...` as a detached process (own session: it outlives the app);
    its output goes to <home>/pipelines/<name>/launch-<time>.log."""
    from tui_mlops.pipeline.records import pipeline_dir

    log_path = pipeline_dir(home, pipeline) / f"launch-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cli_argv(home, file, *extra), cwd=str(Path(file).parent),
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    # Reap it when it ends so it never lingers as a zombie while the app runs.
    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()
    return proc, log_path


def interrupt_run(run: Any) -> str:
    """Ask a live local run's process to cancel: SIGINT, which `pipeline run` turns into its cancel
    event (running stages are stopped, the record ends "cancelled"). SIGTERM would kill it outright
    and leave its shell stages running. Returns what happened, for a notification."""
    from tui_mlops.jobs.state import hostname, process_alive

    if run.status != "running":
        return f"run {run.run_id} is {run.status}: nothing to cancel"
    if run.host not in (None, hostname()):
        return f"run {run.run_id} runs on {run.host}: cancel it there"
    if run.pid == os.getpid():
        return f"run {run.run_id} runs inside this app (its watcher): stop the watcher with w"
    if not process_alive(run.pid, run.pid_started):
        return f"run {run.run_id}: its process (pid {run.pid}) is gone"
    try:
        os.kill(int(run.pid), signal.SIGINT)
    except (ProcessLookupError, PermissionError) as exc:
        return f"run {run.run_id}: cannot signal pid {run.pid}: {exc}"
    return f"Cancelling run {run.run_id} (pid {run.pid})"


class CliRun:
    """The Watcher's run callable in the app: each run is a `pipeline run` process, so the app stays
    responsive, `x` cancels it like any other run, and stopping the watcher interrupts it."""

    def __init__(self, log_pipeline: str) -> None:
        self.pipeline = log_pipeline
        self.proc: subprocess.Popen | None = None

    def __call__(self, home: Any, path: Path, *, cancel: threading.Event | None = None) -> dict[str, Any]:
        proc, log_path = start_cli_run(home, self.pipeline, str(path))
        self.proc = proc
        while True:
            try:
                code = proc.wait(0.2)
                break
            except subprocess.TimeoutExpired:
                if cancel is not None and cancel.is_set():
                    _signal(proc, signal.SIGINT)
                    try:
                        code = proc.wait(30)
                    except subprocess.TimeoutExpired:
                        _signal(proc, signal.SIGKILL)
                        code = proc.wait()
                    break
        status = EXIT_STATUS.get(code, f"exit {code}")
        return {"status": status, "message": f"log {log_path}" if code else ""}


def _signal(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.kill(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_pipeline_watchers(app: Any, timeout: float = 10.0) -> None:
    """Stop every watcher the app started (for the app's on_unmount)."""
    for watcher in list(getattr(app, "pipeline_watchers", {}).values()):
        try:
            watcher.stop(timeout)
        except Exception:  # noqa: BLE001 - quitting must not fail on a watcher
            pass
    getattr(app, "pipeline_watchers", {}).clear()
