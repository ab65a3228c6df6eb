"""CLI for triggers: `mlops-tui watch` runs the pipeline on new files, monitor alerts or a schedule
until Ctrl-C or SIGTERM (issue 6)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

W = "tui_mlops.cli_watch"


def add_parsers(sub: Any, common: list[argparse.ArgumentParser], home_opt: argparse.ArgumentParser | None = None) -> None:
    p = sub.add_parser(
        "watch", parents=common,
        help="run the pipeline when files land, a monitor alerts, or on a schedule (until Ctrl-C)",
        description="Run the pipeline of --file whenever its [triggers] fire: a new file settles in a "
                    "watched folder (watch = [\"data/incoming\"]), a monitor alert with trigger=pipeline "
                    "drops a file in <home>/triggers (on_alert = true), or a period passes (every = \"6h\"). "
                    "One run at a time: triggers during a run queue one follow-up run. Stops on Ctrl-C or "
                    "SIGTERM (a run in progress is cancelled) with exit 0. Prints one line per trigger and run "
                    "result (--json: one JSON object per line).")
    p.add_argument("--file", default="mlops.toml", metavar="FILE", help="the pipeline file (default: mlops.toml)")
    p.set_defaults(handler=f"{W}:cmd_watch")


def _line(ev: Any, as_json: bool) -> str:
    if as_json:
        doc: dict[str, Any] = {"event": ev.kind, "message": ev.message, "ts": ev.ts}
        if ev.trigger is not None:
            doc.update(source=ev.trigger.source, detail=ev.trigger.detail, files=list(ev.trigger.files),
                       queued=ev.queued)
        if ev.triggers:
            doc["triggers"] = [{"source": t.source, "detail": t.detail} for t in ev.triggers]
        result = ev.result
        if result is not None:
            doc["result"] = result.to_dict() if hasattr(result, "to_dict") else result
        return json.dumps(doc, default=str)
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(ev.ts))} {ev.message}"


def cmd_watch(args: argparse.Namespace, home: Any) -> int:
    from tui_mlops.pipeline.spec import load_pipeline
    from tui_mlops.pipeline.watch import Watcher

    path = Path(args.file)
    load_pipeline(path, home)  # an invalid file fails now (exit 3), not at the first trigger
    lock = threading.Lock()

    def on_event(ev: Any) -> None:
        # From the watcher's threads: one whole line per event, flushed at once (journald, tmux, pipes).
        with lock:
            sys.stdout.write(_line(ev, args.json) + "\n")
            sys.stdout.flush()

    watcher = Watcher(home, path, on_event=on_event)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        watcher.start()
        if not args.json:
            print("Ctrl-C or SIGTERM stops watching", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        # A pipeline that ignores the cancel still gets this long to wind down.
        watcher.stop(timeout=60)
        signal.signal(signal.SIGTERM, previous)
    return 0
