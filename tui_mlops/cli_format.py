"""Plain-text output for the CLI: aligned tables, human sizes and times, JSON, progress lines."""

from __future__ import annotations

import json
import math
import os
import sys
import threading
from typing import Any, Callable, Iterable, Sequence, TextIO

from tui_mlops.formatting import human_number, human_size, human_time  # noqa: F401 (re-exported)

# A table cell longer than this is cut, so one wide value cannot push every other column away.
MAX_CELL = 40


def percent(share: float | None) -> str:
    if share is None:
        return ""
    return f"{share * 100:.1f}%"


def cell(value: Any) -> str:
    """One value as table text: NULL for missing, numbers formatted, long text cut."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return human_number(value)
    return raw_cell(value)


def stat_cell(value: Any) -> str:
    """Like cell(), but a statistic that does not apply is left blank rather than NULL."""
    return "" if value is None else cell(value)


def raw_cell(value: Any) -> str:
    """A data value as it is (no number formatting), on one line, long text cut."""
    if value is None:
        return "NULL"
    text = str(value).replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
    if len(text) > MAX_CELL:
        text = text[: MAX_CELL - 3] + "..."
    return text


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, indent: str = "",
          fmt: Callable[[Any], str] = cell) -> str:
    """An aligned plain-text table; columns whose values are all numbers are right-aligned."""
    raw = [list(r) for r in rows]
    ncols = len(headers)
    numeric = [
        bool(raw) and all(
            r[i] is None or r[i] == "" or (isinstance(r[i], (int, float)) and not isinstance(r[i], bool))
            for r in raw
        )
        for i in range(ncols)
    ]
    text_rows = [[fmt(v) for v in r] for r in raw]
    widths = [max([len(h)] + [len(r[i]) for r in text_rows]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]) for i, v in enumerate(values)]
        return (indent + "  ".join(parts)).rstrip()

    out = [line(list(headers))]
    out.extend(line(r) for r in text_rows)
    return "\n".join(out)


def key_values(pairs: Sequence[tuple[str, Any]], *, indent: str = "") -> str:
    """`key   value` lines with the values aligned."""
    width = max((len(k) for k, _ in pairs), default=0)
    return "\n".join(f"{indent}{k.ljust(width)}  {v if isinstance(v, str) else cell(v)}".rstrip()
                     for k, v in pairs)


def jsonable(obj: Any) -> Any:
    """JSON has no NaN/Infinity: those become null; dates, decimals and the like become text."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    if hasattr(obj, "to_dict"):
        return jsonable(obj.to_dict())
    return str(obj)


def print_json(obj: Any, out: TextIO | None = None) -> None:
    stream = out or sys.stdout
    stream.write(json.dumps(jsonable(obj), indent=2, ensure_ascii=False) + "\n")
    stream.flush()


class ProgressLine:
    """`label: 42%` on stderr, rewritten in place with \\r; silent unless enabled."""

    def __init__(self, label: str, enabled: bool, stream: TextIO | None = None) -> None:
        self.label = label
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self._last = -1
        self._shown = False

    def start(self) -> None:
        # Shown at once, so a person (or a test) sees the work has begun before DuckDB reports.
        self.update(0.0)

    def update(self, fraction: float) -> None:
        if not self.enabled:
            return
        pct = max(0, min(100, int(fraction * 100)))
        if pct == self._last:
            return
        self._last = pct
        self._shown = True
        self.stream.write(f"\r{self.label}: {pct}%")
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled and self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False

    @property
    def callback(self) -> Callable[[float], None]:
        return self.update


class Cancelled(Exception):
    """The user pressed Ctrl-C; the work was stopped and cleaned up (CLI exit 130)."""


def run_cancellable(work: Callable[[threading.Event], Any], cancelled_message: str, *,
                    grace_s: float = 30.0) -> Any:
    """Run `work(cancel_event)` in a thread so Ctrl-C can set the event and wait for clean-up.

    DuckDB holds the main thread inside C code, where KeyboardInterrupt would arrive late or
    leave temp files behind; here the main thread only waits, and the service stops itself.
    The wait is on our own Event, not Thread.join: on Python 3.11 a KeyboardInterrupt inside
    join() can mark a still-running thread as finished, and exiting while a thread is inside
    DuckDB aborts the interpreter ("FATAL: exception not rethrown").
    """
    cancel = threading.Event()
    done = threading.Event()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = work(cancel)
        except BaseException as exc:  # handed back to the main thread as is
            box["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=target, name="mlops-cli-work", daemon=True)
    try:
        worker.start()
        while not done.wait(0.2):
            pass
    except KeyboardInterrupt:
        cancel.set()
        if worker.ident is not None:
            try:
                done.wait(grace_s)
            except KeyboardInterrupt:
                # A second Ctrl-C: stop at once. _exit skips interpreter shutdown, which would
                # crash in the worker's DuckDB call; stale temp files are removed on next use.
                sys.stderr.write("\nmlops-tui: interrupted again; stopped at once\n")
                sys.stderr.flush()
                os._exit(130)
        raise Cancelled(cancelled_message) from None
    if "error" in box:
        raise box["error"]
    return box.get("value")
