"""The [triggers] table of a pipeline file (folders to watch, monitor alerts, a schedule) and the
durations it is written in ("6h", "30m", "10s")."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui_mlops.pipeline.spec import PipelineFileError

SETTLE_S = 1.0
KEYS = ("watch", "on_alert", "every", "settle")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?)\s*([smhd])\s*")


@dataclass(frozen=True)
class TriggerSpec:
    """The pipeline file's [triggers] table; folders are absolute (relative ones are taken from
    the pipeline file's folder)."""

    watch: tuple[Path, ...] = ()
    on_alert: bool = False
    every_s: float | None = None
    settle_s: float = SETTLE_S

    @property
    def empty(self) -> bool:
        return not (self.watch or self.on_alert or self.every_s)


def format_duration(seconds: float) -> str:
    for unit in ("d", "h", "m"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def parse_duration(value: Any, where: str) -> float:
    """"6h", "30m", "10s", "1d", "1h30m" or a number of seconds -> seconds (> 0)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise PipelineFileError(f"{where}: expected a duration like \"6h\", \"30m\" or \"10s\", got {value!r}")
    if isinstance(value, str):
        pos, total = 0, 0.0
        while pos < len(value):
            m = _DURATION.match(value, pos)
            if not m or m.end() == pos:
                total = -1.0
                break
            total += float(m.group(1)) * _UNITS[m.group(2)]
            pos = m.end()
        if not value.strip() or total < 0:
            raise PipelineFileError(f"{where}: expected a duration like \"6h\", \"30m\" or \"10s\", got {value!r}")
        seconds = total
    else:
        seconds = float(value)
    if seconds <= 0:
        raise PipelineFileError(f"{where}: the duration must be more than 0, got {value!r}")
    return seconds


def _key_line(lines: list[str], key: str | None) -> int:
    """1-based line of `key` inside the [triggers] table (the header's line for key None)."""
    header = next((i for i, ln in enumerate(lines) if re.match(r"\s*\[\s*triggers\s*\]", ln)), None)
    if header is None:
        return next((i + 1 for i, ln in enumerate(lines) if re.match(r"\s*triggers\s*=", ln)), 1)
    if key is not None:
        for i in range(header + 1, len(lines)):
            if re.match(r"\s*\[", lines[i]):
                break
            if re.match(rf"\s*{re.escape(key)}\s*=", lines[i]):
                return i + 1
    return header + 1


def load_triggers(path: str | os.PathLike[str]) -> TriggerSpec:
    """Read the [triggers] table of a pipeline file (no table: an empty spec)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    path = Path(path).resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PipelineFileError(f"{path}: no such pipeline file (`mlops-tui init` writes one)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PipelineFileError(f"{path}: cannot read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PipelineFileError(f"{path.name}: invalid TOML: {exc}") from None
    table = data.get("triggers")
    if table is None:
        return TriggerSpec()
    lines = text.splitlines()

    def where(key: str | None) -> str:
        return f"{path.name} line {_key_line(lines, key)}: [triggers]" + (f" {key}" if key else "")

    if not isinstance(table, dict):
        raise PipelineFileError(f"{where(None)}: expected a table")
    for key in table:
        if key not in KEYS:
            raise PipelineFileError(f"{where(key)}: unknown key (keys: {', '.join(KEYS)})")
    watch = table.get("watch", [])
    if isinstance(watch, str):
        watch = [watch]
    if not isinstance(watch, list) or not all(isinstance(w, str) and w.strip() for w in watch):
        raise PipelineFileError(f"{where('watch')}: expected a folder or a list of folders, got {watch!r}")
    on_alert = table.get("on_alert", False)
    if not isinstance(on_alert, bool):
        raise PipelineFileError(f"{where('on_alert')}: expected true or false, got {on_alert!r}")
    every = parse_duration(table["every"], where("every")) if "every" in table else None
    settle = parse_duration(table["settle"], where("settle")) if "settle" in table else SETTLE_S
    folders = tuple((path.parent / Path(w).expanduser()).resolve() for w in watch)
    return TriggerSpec(watch=folders, on_alert=on_alert, every_s=every, settle_s=settle)
