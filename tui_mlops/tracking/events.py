"""The run event schema (JSON lines in runs/<id>/events.jsonl and edits.jsonl) and run-folder paths.

Every event is {"seq", "ts", "type", ...}; the keys of each type are listed in EVENT_KEYS.
"""

from __future__ import annotations

import math
import os
import re
import uuid
from pathlib import Path
from typing import Any

from tui_mlops.errors import InputError, NotFoundError
from tui_mlops.store.home import Home

# File names and statuses are shared with the catalog fold (store layer, which cannot import us).
# EDITS_TOUCHED is the home-level list of run ids whose edits.jsonl grew: the fold reads it from
# an offset instead of stat-ing every run's edits file on each catalog open.
from tui_mlops.store.runs_catalog import (  # noqa: F401 - re-exported
    EDITS_FILE, EDITS_TOUCHED, END_STATUSES, EVENTS_FILE, LIVE_STATUSES, param_text,
)

__all__ = ["EDITS_FILE", "EDITS_TOUCHED", "END_STATUSES", "EVENTS_FILE", "LIVE_STATUSES", "param_text",
           "ARTIFACTS_DIR", "KINDS", "ARTIFACT_KINDS", "DEVICES", "EVENT_KEYS", "MIN_PREFIX", "new_run_id",
           "check_run_id", "run_dir", "edits_touched_path", "resolve_run_dir", "param_value", "clean_params",
           "clean_tags", "one_line"]

ARTIFACTS_DIR = "artifacts"
KINDS = ("script", "train", "sweep", "command")
ARTIFACT_KINDS = ("model", "features", "importance", "environment", "file", "report")
DEVICES = ("cpu", "gpu")

# Keys of each event type besides seq, ts and type (the shared contract).
EVENT_KEYS: dict[str, tuple[str, ...]] = {
    "run_start": ("run_id", "experiment", "name", "kind", "parent_run_id", "params", "tags", "spec",
                  "dataset", "model", "pid", "pid_started", "host"),
    "status": ("status",),
    "params": ("params",),
    "tags": ("tags",),
    "note": ("text",),
    "metric": ("key", "value", "step"),
    "metrics": ("values", "step"),
    "system": ("values",),
    "artifact": ("path", "sha256", "size", "kind"),
    "device": ("device", "detail"),
    "run_end": ("status", "error"),
}

_RUN_ID_RE = re.compile(r"^[0-9a-f]{4,32}$")
MIN_PREFIX = 4


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not _RUN_ID_RE.match(run_id):
        raise InputError(f"invalid run id {run_id!r}: use 4-32 lower-case hex digits")
    return run_id


def run_dir(home: Home, run_id: str) -> Path:
    return home.runs_dir / check_run_id(run_id)


def edits_touched_path(home: Home) -> Path:
    return home.runs_dir / EDITS_TOUCHED


def resolve_run_dir(home: Home, ref: str) -> Path:
    """The folder of the run whose id is `ref` or starts with it (>= 4 characters, unique)."""
    ref = str(ref).strip().lower()
    if len(ref) < MIN_PREFIX or not re.fullmatch(r"[0-9a-f]+", ref):
        raise InputError(f"invalid run id {ref!r}: give the id or a prefix of at least {MIN_PREFIX} hex digits")
    exact = home.runs_dir / ref
    if exact.is_dir():
        return exact
    try:
        names = [n for n in os.listdir(home.runs_dir) if n.startswith(ref)]
    except FileNotFoundError:
        names = []
    names = [n for n in names if (home.runs_dir / n).is_dir()]
    if not names:
        raise NotFoundError(f"no run {ref!r} in {home.runs_dir}")
    if len(names) > 1:
        shown = ", ".join(sorted(names)[:5]) + (", ..." if len(names) > 5 else "")
        raise InputError(f"run id prefix {ref!r} is ambiguous: {shown}")
    return home.runs_dir / names[0]


def param_value(value: Any) -> Any:
    """A param value JSON can hold: numbers, strings, booleans and None as they are, others as text."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy":  # numpy scalars become Python ones
        try:
            return param_value(item())
        except (TypeError, ValueError):
            pass
    return str(value)


def clean_params(params: dict[str, Any] | None) -> dict[str, Any]:
    return {str(k): param_value(v) for k, v in (params or {}).items()}


def clean_tags(tags: dict[str, Any] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (tags or {}).items()}


def one_line(text: str, limit: int = 500) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
