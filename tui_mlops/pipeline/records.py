"""Pipeline run records (<home>/pipelines/<name>/runs/<run_id>.json), the stage cache (cache.json),
and detection of runs whose process died without an end."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tui_mlops.store.home import Home, atomic_write_json, read_json

# Stage states: pending -> running -> ok | cached | gate_failed | failed; skipped (an upstream
# stage did not succeed), cancelled, interrupted (the run's process died).
DONE_OK = ("ok", "cached")
RUN_EXIT = {"ok": 0, "gate_failed": 1, "failed": 2, "cancelled": 2, "interrupted": 2, "running": 2}


@dataclass
class StageRecord:
    name: str
    kind: str
    status: str = "pending"
    started: float | None = None
    ended: float | None = None
    fingerprint: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    gates: dict[str, Any] | None = None
    cached_from: str | None = None  # the run whose result a cached stage reused
    log: str | None = None

    @property
    def duration(self) -> float | None:
        if self.started is None or self.ended is None:
            return None
        return self.ended - self.started


@dataclass
class PipelineRun:
    run_id: str
    pipeline: str
    file: str
    status: str = "running"  # running | ok | gate_failed | failed | cancelled | interrupted
    started: float = 0.0
    ended: float | None = None
    pid: int | None = None
    pid_started: float | None = None
    host: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, StageRecord] = field(default_factory=dict)
    resumed_interrupted: list[str] = field(default_factory=list)
    message: str = ""

    @property
    def exit_code(self) -> int:
        return RUN_EXIT.get(self.status, 2)

    @property
    def duration(self) -> float | None:
        return None if self.ended is None else self.ended - self.started

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stages"] = {k: {**asdict(v), "duration": v.duration} for k, v in self.stages.items()}
        d["exit_code"] = self.exit_code
        d["duration"] = self.duration
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PipelineRun":
        known = {f for f in cls.__dataclass_fields__}
        run = cls(**{k: v for k, v in d.items() if k in known and k != "stages"})
        sk = set(StageRecord.__dataclass_fields__)
        run.stages = {k: StageRecord(**{a: b for a, b in v.items() if a in sk}) for k, v in d.get("stages", {}).items()}
        return run


def pipeline_dir(home: Home, name: str) -> Path:
    return home.root / "pipelines" / name


def runs_dir(home: Home, name: str) -> Path:
    return pipeline_dir(home, name) / "runs"


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]


def save_run(home: Home, run: PipelineRun) -> None:
    atomic_write_json(runs_dir(home, run.pipeline) / f"{run.run_id}.json", run.to_dict())


def load_run(path: Path) -> PipelineRun | None:
    try:
        return PipelineRun.from_dict(read_json(path))
    except (OSError, ValueError, TypeError, KeyError):
        return None  # a stray or torn file (writes are atomic, so only a foreign one)


def list_runs(home: Home, name: str) -> list[PipelineRun]:
    """Runs of a pipeline, newest first; runs whose process died are marked interrupted first."""
    mark_interrupted(home, name)
    folder = runs_dir(home, name)
    runs = [r for p in folder.glob("*.json") if not p.name.startswith(".") and (r := load_run(p))]
    return sorted(runs, key=lambda r: (r.started, r.run_id), reverse=True)


def own_process() -> tuple[int, float | None]:
    import psutil

    pid = os.getpid()
    try:
        return pid, psutil.Process(pid).create_time()
    except psutil.Error:
        return pid, None


def mark_interrupted(home: Home, name: str) -> list[str]:
    """Mark runs still `running` whose process is gone (killed, crashed): returns their ids."""
    from tui_mlops.jobs.state import hostname, process_alive

    marked = []
    here = hostname()
    for path in sorted(runs_dir(home, name).glob("*.json")):
        run = load_run(path)
        if run is None or run.status != "running":
            continue
        if run.host not in (None, here) or process_alive(run.pid, run.pid_started):
            continue  # another machine's run cannot be checked; a live one is running
        run.status = "interrupted"
        run.message = f"the run's process (pid {run.pid}) ended without finishing; marked interrupted"
        now = time.time()
        run.ended = now
        for st in run.stages.values():
            if st.status in ("running", "pending"):
                st.status = "interrupted"
                st.ended = now if st.started else None
        save_run(home, run)
        marked.append(run.run_id)
    return marked


def active_run(home: Home, name: str) -> PipelineRun | None:
    """The run of this pipeline whose process is alive now, if any."""
    mark_interrupted(home, name)
    for path in runs_dir(home, name).glob("*.json"):
        run = load_run(path)
        if run is not None and run.status == "running":
            return run
    return None


class Cache:
    """stage -> {fingerprint, outputs, run_id, ended}: the last successful result of each stage."""

    def __init__(self, home: Home, name: str) -> None:
        self.path = pipeline_dir(home, name) / "cache.json"
        self._lock = threading.Lock()
        try:
            data = read_json(self.path)
            self.entries: dict[str, dict[str, Any]] = data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            self.entries = {}

    def hit(self, stage: str, fingerprint: str) -> dict[str, Any] | None:
        entry = self.entries.get(stage)
        return entry if entry and entry.get("fingerprint") == fingerprint else None

    def put(self, stage: str, fingerprint: str, outputs: dict[str, Any], run_id: str) -> None:
        with self._lock:
            self.entries[stage] = {"fingerprint": fingerprint, "outputs": outputs, "run_id": run_id,
                                   "ended": time.time()}
            atomic_write_json(self.path, self.entries)


def jsonable(obj: Any) -> Any:
    """Outputs and gates as stored: anything JSON cannot hold becomes its text."""
    return json.loads(json.dumps(obj, default=str))
