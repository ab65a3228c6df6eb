"""A run's live facts read straight from its files: metric histories from events.jsonl and the
tail of job.log, each read from where the previous read stopped (only new bytes, no catalog).

Plain Python, no Textual: the run detail screen keeps one RunHistory per open run and calls
`read_new` from a thread worker at 1-2 Hz while the run is active.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SYSTEM_PREFIX = "system/"
LOG_TAIL_BYTES = 64 * 1024


@dataclass(frozen=True)
class MetricStats:
    """Summary of one metric's history: last value, min, max, the step of the best value."""

    key: str
    last: float
    last_step: float
    min: float
    max: float
    best: float
    best_step: float
    n: int


class RunHistory:
    """Per-key (xs, ys) lists of one run, grown by `read_new`; lists only ever grow.

    x is the logged step (or the point's ordinal when it was logged without one); for system
    metrics x is seconds since the run started. The lists are appended to under `lock`; a reader
    in another thread may take `xs[:n]` slices of a length it read under the lock.
    """

    def __init__(self, run_dir: Path) -> None:
        self.events_path = Path(run_dir) / "events.jsonl"
        self.offset = 0
        self.lock = threading.Lock()
        self.series: dict[str, tuple[list[float], list[float]]] = {}
        self.start_ts: float | None = None
        self.device: str | None = None
        self.device_detail: str | None = None
        self.ended = False
        self.size_seen = -1

    def read_new(self) -> bool:
        """Fold the bytes appended since the last call; True when any event was read."""
        from tui_mlops.store.events import read_events

        try:
            size = os.stat(self.events_path).st_size
        except OSError:
            return False
        if size == self.size_seen:
            return False  # nothing appended: skip the open and read
        events, offset = read_events(self.events_path, self.offset)
        with self.lock:
            self.offset = offset
            # A torn last line stays unread: look at the file again next time even if its size
            # does not change in between.
            self.size_seen = size if offset == size else -1
            for ev in events:
                self._fold(ev)
        return bool(events)

    def _fold(self, ev: dict[str, Any]) -> None:
        kind = ev.get("type")
        if kind == "metric":
            self._add(ev.get("key"), ev.get("step"), ev.get("value"))
        elif kind == "metrics":
            values = ev.get("values")
            if isinstance(values, dict):
                for key, value in values.items():
                    self._add(key, ev.get("step"), value)
        elif kind == "system":
            values = ev.get("values")
            ts = _num(ev.get("ts"))
            if isinstance(values, dict) and ts is not None:
                x = ts - (self.start_ts if self.start_ts is not None else ts)
                for key, value in values.items():
                    self._add(SYSTEM_PREFIX + str(key), x, value)
        elif kind == "metrics_file":
            self._add_file(ev)
        elif kind == "run_start":
            self.start_ts = _num(ev.get("ts"))
        elif kind == "device":
            self.device = str(ev.get("device") or "") or None
            self.device_detail = str(ev.get("detail") or "") or None
        elif kind == "run_end":
            self.ended = True

    def _add_file(self, ev: dict[str, Any]) -> None:
        """Bulk points (an import) in the Parquet file the event names, in the file's order."""
        import polars as pl

        from tui_mlops.store.points_files import points_file_name

        name = points_file_name(ev)
        if name is None:
            return
        try:
            frame = pl.read_parquet(self.events_path.parent / name, columns=["key", "step", "value"])
        except (OSError, pl.exceptions.PolarsError):
            return  # gone or damaged: the other events still count
        for key, step, value in frame.iter_rows():
            self._add(key, step, value)

    def _add(self, key: Any, step: Any, value: Any) -> None:
        y = _num(value)
        if not isinstance(key, str) or y is None:
            return
        xs, ys = self.series.setdefault(key, ([], []))
        x = _num(step)
        xs.append(float(len(xs) + 1) if x is None else x)
        ys.append(y)

    # -- views --------------------------------------------------------------------------------
    def keys(self, system: bool = False) -> list[str]:
        """Metric keys in name order; `system=True` gives the system/* keys instead."""
        with self.lock:
            names = list(self.series)
        return sorted(k for k in names if k.startswith(SYSTEM_PREFIX) == system)

    def snapshot(self, keys: list[str]) -> dict[str, tuple[list[float], list[float]]]:
        """Copies of the named series as they are now (missing keys are left out)."""
        with self.lock:
            return {k: (list(self.series[k][0]), list(self.series[k][1]))
                    for k in keys if k in self.series}

    def stats(self, direction: Any) -> list[MetricStats]:
        """One MetricStats per non-system key; `direction(key)` says "min" or "max" is best."""
        out = []
        for key in self.keys():
            with self.lock:
                xs, ys = self.series[key]
                n = len(ys)
                xs, ys = xs[:n], ys[:n]
            if not n:
                continue
            pick = min if direction(key) == "min" else max
            best_i = ys.index(pick(ys))
            out.append(MetricStats(key, ys[-1], xs[-1], min(ys), max(ys), ys[best_i], xs[best_i], n))
        return out


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    x = float(value)
    return x if math.isfinite(x) else None


def metric_direction(key: str) -> str:
    """"min" or "max": tracking.query's rule where it exists, else a name-based guess."""
    try:
        from tui_mlops.tracking.query import metric_direction as direction

        return direction(key)
    except ImportError:
        low = key.lower()
        words = ("loss", "error", "rmse", "mae", "mse", "logloss", "l1", "l2", "mape")
        return "min" if any(w in low for w in words) else "max"


class LogTail:
    """The last lines of a growing text file (job.log), read incrementally like `tail -f`."""

    def __init__(self, path: Path, max_lines: int = 500) -> None:
        self.path = Path(path)
        self.max_lines = max_lines
        self.offset: int | None = None
        self.partial = b""

    def read_new(self) -> list[str] | None:
        """Whole new lines since the last call; None when the file is missing.

        The first call returns up to `max_lines` lines from the end (at most LOG_TAIL_BYTES).
        """
        try:
            size = os.stat(self.path).st_size
        except OSError:
            return None
        if self.offset is not None and size == self.offset:
            return []
        if self.offset is None or size < self.offset:  # first read, or the file was replaced
            self.offset = max(0, size - LOG_TAIL_BYTES)
            self.partial = b""
            skip_first = self.offset > 0
        else:
            skip_first = False
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read(size - self.offset)
        self.offset += len(data)
        data = self.partial + data
        end = data.rfind(b"\n")
        if end < 0:
            self.partial = data
            return []
        self.partial = data[end + 1:]
        lines = data[:end].decode("utf-8", errors="replace").split("\n")
        if skip_first:
            lines = lines[1:]  # the cut-off first line of the tail window
        return [ln.rstrip("\r") for ln in lines][-self.max_lines:]


def last_lines(path: Path, n: int = 5) -> list[str]:
    """The last `n` non-empty lines of a text file ([] when it is missing)."""
    tail = LogTail(path, max_lines=10 * n)
    lines = tail.read_new() or []
    if tail.partial:  # a killed process may leave its last line without a newline
        lines.append(tail.partial.decode("utf-8", errors="replace"))
    return [ln for ln in lines if ln.strip()][-n:]
