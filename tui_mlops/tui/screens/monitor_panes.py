"""Pieces of the Monitor screen: header lines, feature-table cells with sparklines, the alerts and
system panes, and the notes shown for batches and alerts. Plain functions of a MonitorState."""

from __future__ import annotations

import math
import time
from typing import Any

from rich.text import Text

from tui_mlops.formatting import human_number

# (label, key) of the features table, in order.
FEATURE_COLUMNS = (("feature", "feature"), ("method", "method"), ("score", "score"),
                   ("threshold", "threshold"), ("last windows", "spark"), ("state", "state"),
                   ("nulls", "nulls"))
SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 16
# Methods whose score is a p-value: drift when the score is LOW.
P_VALUE_METHODS = ("ks", "chisquare", "z")
# Quality metrics shown in the header, in order of preference.
QUALITY_METRICS = ("auc", "accuracy", "f1", "rmse", "mae", "r2")
ALERT_LINES = 6
ALERT_STYLES = {"fired": ("FIRED", "bold red"), "resolved": ("resolved", "green"),
                "problem": ("problem", "yellow")}


def empty_text(monitors_dir: Any) -> str:
    return ("No monitors yet. Create one for a registered model:\n\n"
            "    mlops-tui monitor create NAME --model MODEL@production\n\n"
            f"Then drop inference batches (CSV, Parquet, JSON) into\n"
            f"    {monitors_dir}/NAME/incoming/\n"
            "and labels (id + label columns) into NAME/labels/. They are picked up within a second "
            "while this screen is open, or by `mlops-tui monitor run NAME` without it.")


def get(obj: Any, key: str, default: Any = None) -> Any:
    """A field of a dict or a dataclass (the engine's results come as both)."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def num(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}g}" if abs(x) < 1e4 else human_number(x)
    return human_number(x)


def clock(ts: Any) -> str:
    """A unix time as local `HH:MM:SS` today, `YYYY-MM-DD HH:MM` before ('–' when missing)."""
    if not isinstance(ts, (int, float)) or ts <= 0:
        return "–"
    when = time.localtime(ts)
    if time.strftime("%Y-%m-%d", when) == time.strftime("%Y-%m-%d"):
        return time.strftime("%H:%M:%S", when)
    return time.strftime("%Y-%m-%d %H:%M", when)


def short_clock(ts: Any) -> str:
    if not isinstance(ts, (int, float)) or ts <= 0:
        return "–"
    return time.strftime("%H:%M:%S", time.localtime(ts))


def verdict(drifted: Any) -> Text:
    if drifted is None:
        return Text("–", style="dim")
    return Text("drift", style="bold red") if drifted else Text("ok", style="green")


# -- windows and columns ----------------------------------------------------------------------
def windows(state: Any) -> list[dict]:
    return list(get(state, "windows") or [])


def latest_window(state: Any) -> dict | None:
    ws = windows(state)
    return ws[-1] if ws else None


def window_columns(window: dict | None) -> dict[str, dict]:
    """column -> ColumnDrift dict of one window's dataset drift."""
    drift = get(window, "drift") or {}
    return {c["column"]: c for c in (get(drift, "columns") or []) if isinstance(c, dict)}


def feature_names(state: Any) -> list[str]:
    spec = get(state, "spec")
    names = list(get(spec, "features") or [])
    for col in window_columns(latest_window(state)):
        if col not in names:
            names.append(col)
    return names


def is_drift(score: Any, threshold: Any, method: str | None) -> bool | None:
    if not isinstance(score, (int, float)) or not isinstance(threshold, (int, float)):
        return None
    if method in P_VALUE_METHODS:
        return score < threshold if method in ("chisquare", "z") else score <= threshold
    return score >= threshold


def feature_history(state: Any, column: str, last: int | None = None
                    ) -> tuple[list[float], list[bool | None]]:
    """The feature's score per window (the `last` windows only, if given), oldest first, and
    whether each window drifted."""
    scores: list[float] = []
    flags: list[bool | None] = []
    shown = windows(state)
    for w in shown[-last:] if last else shown:
        col = window_columns(w).get(column)
        if col is None or not isinstance(col.get("score"), (int, float)):
            continue
        scores.append(float(col["score"]))
        flags.append(col.get("drifted"))
    if not scores:  # older engines: the per-column score lists of the state
        history = list((get(state, "features") or {}).get(column, []))
        scores = [float(s) for s in (history[-last:] if last else history)
                  if isinstance(s, (int, float))]
        flags = [None] * len(scores)
    return scores, flags


def sparkline(values: list[float], flags: list[bool | None] | None = None,
              width: int = SPARK_WIDTH) -> Text:
    """Unicode blocks for the last `width` values (min..max scaled), drifted windows in red."""
    values = [v for v in values if math.isfinite(v)][-width:]
    flags = (flags or [None] * len(values))[-len(values):] if values else []
    if not values:
        return Text("", style="dim")
    lo, hi = min(values), max(values)
    span = hi - lo
    text = Text(no_wrap=True)
    for v, f in zip(values, flags):
        level = 0 if span <= 0 else min(len(SPARK_BLOCKS) - 1, int((v - lo) / span * len(SPARK_BLOCKS)))
        text.append(SPARK_BLOCKS[level if span > 0 else 3],
                    style="red" if f else ("green" if f is False else ""))
    return text


def severity(state: Any, column: str) -> tuple[bool, float]:
    """Sort key, most alarming first: drifted, then how far past (or close to) its threshold."""
    col = window_columns(latest_window(state)).get(column) or {}
    score, threshold = col.get("score"), col.get("threshold")
    if not isinstance(score, (int, float)) or not isinstance(threshold, (int, float)) or threshold <= 0:
        return (True, 0.0)
    if col.get("method") in P_VALUE_METHODS:  # a small p-value is the alarming one
        ratio = threshold / max(score, 1e-300)
    else:
        ratio = score / threshold
    return (not col.get("drifted"), -ratio)


def feature_cells(state: Any, column: str) -> list[Text]:
    latest = latest_window(state)
    col = window_columns(latest).get(column) or {}
    method = col.get("method") or "–"
    scores, flags = feature_history(state, column, SPARK_WIDTH)
    drifted = col.get("drifted")
    if drifted is None and col:
        drifted = is_drift(col.get("score"), col.get("threshold"), col.get("method"))
    nulls = col.get("null_rate")
    style = "bold red" if drifted else ""
    return [Text(column, style=style), Text(str(method)), Text(num(col.get("score")), style=style),
            Text(num(col.get("threshold"))), sparkline(scores, flags), verdict(drifted if col else None),
            Text(f"{nulls:.1%}" if isinstance(nulls, (int, float)) else "–")]


# -- header ----------------------------------------------------------------------------------
def _quality(window: dict | None, windows: list | None = None) -> str:
    est = get(window, "estimated") or {}
    real = get(window, "realized") or {}
    late = ""
    if not real:  # labels arrive late: the newest window that has them
        labelled = [w for w in windows or [] if get(w, "realized")]
        if labelled:
            real = get(labelled[-1], "realized") or {}
            late = f" (labels up to batch {get(labelled[-1], 'end_seq', '?')})"
    for metric in QUALITY_METRICS:
        e, r = est.get(metric), real.get(metric)
        if e is None and r is None:
            continue
        label = metric.upper() if metric == "auc" else metric
        parts = [f"{label} est {num(e, 2)}" if e is not None else f"{label} est –",
                 f"realised {num(r, 2)}{late}" if r is not None else "realised – (no labels yet)"]
        return " · ".join(parts)
    return "quality – (no estimate, no labels yet)"


def _band_text(value: Any, band: Any) -> Text:
    if not isinstance(value, (int, float)):
        return Text("multivariate –", style="dim")
    lower, upper = get(band, "lower"), get(band, "upper")
    if not isinstance(lower, (int, float)) or not isinstance(upper, (int, float)):
        return Text(f"multivariate {num(value)}")
    out = not (lower <= value <= upper)
    return Text(f"multivariate {num(value)} {'outside' if out else 'in'} band [{num(lower)}, {num(upper)}]",
                style="bold red" if out else "")


def header_lines(state: Any) -> tuple[Text, Text, Text]:
    """Three lines: the monitor and its counts; dataset and prediction drift; multivariate and quality."""
    from tui_mlops.tui.screens.run_detail_panes import short_ref

    spec = get(state, "spec")
    batches = get(state, "batches") or []
    first = Text(no_wrap=True, overflow="ellipsis")
    first.append(str(get(spec, "name", "?")), style="bold")
    first.append(f" · {get(spec, 'model', '?')} (v{get(spec, 'model_version', '?')}) · "
                 f"{len(batches)} batches · {num(get(state, 'rows') or 0)} rows · last batch "
                 f"{clock(get(state, 'last_batch_ts'))} · reference {short_ref(get(spec, 'reference'))}")
    window = latest_window(state)
    second = Text(no_wrap=True, overflow="ellipsis")
    third = Text(no_wrap=True, overflow="ellipsis")
    drift = get(window, "drift")
    if drift is None:
        second.append("no batch yet: drift, prediction drift and quality appear with the first one",
                      style="dim")
        return first, second, third
    columns = get(drift, "columns") or []
    n_drift = sum(1 for c in columns if get(c, "drifted"))
    second.append(f"dataset drift share {num(get(drift, 'share'), 2)} ({n_drift}/{len(columns)} features) ")
    second.append_text(verdict(get(drift, "drifted")))
    pred = get(window, "prediction")
    if pred:
        second.append(f" · prediction {get(pred, 'method', '')} {num(get(pred, 'score'))} ")
        second.append_text(verdict(get(pred, "drifted")))
    if not get(window, "complete", True):
        second.append(f" · window open ({num(get(window, 'rows'))} rows)", style="dim")
    bands = get(state, "bands") or {}
    third.append_text(_band_text(get(window, "multivariate"), get(bands, "multivariate")))
    third.append(" · " + _quality(window, list(get(state, "windows") or [])))
    return first, second, third


# -- alerts and system -------------------------------------------------------------------------
def alert_text(alerts: list[dict], lines: int = ALERT_LINES) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    if not alerts:
        text.append("no alerts yet", style="dim")
        return text
    for i, a in enumerate(reversed(alerts[-lines:])):
        if i:
            text.append("\n")
        kind = a.get("type")
        text.append(f"{short_clock(a.get('ts'))[:5]} ")
        label, style = ALERT_STYLES.get(kind, (str(kind), ""))
        text.append(label, style=style)
        text.append(f" {a.get('message', '')}")
        if a.get("rule"):
            text.append(f" ({a['rule']})", style="dim")
    return text


def system_text(sample: dict[str, float], gpus: list[dict] | None) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    if "cpu_percent" in sample:
        text.append(f"CPU {sample['cpu_percent']:.0f}%\n")
    if "ram_mb" in sample:
        text.append(f"RAM {sample['ram_mb'] / 1024:.1f} GB ({sample.get('ram_percent', 0):.0f}%)\n")
    if not gpus:
        text.append("no NVIDIA GPU", style="dim")
        return text
    for i, gpu in enumerate(gpus):
        prefix = "gpu" if i == 0 else f"gpu{i}"
        util, mem, temp = (sample.get(f"{prefix}_{k}") for k in ("util", "mem_mb", "temp_c"))
        total = gpu.get("mem_total_mb")
        parts = [f"GPU{i} {util:.0f}%" if util is not None else f"GPU{i} –"]
        if mem is not None:
            parts.append(f"{mem / 1024:.1f}/{total / 1024:.0f} GB" if total else f"{mem / 1024:.1f} GB")
        if temp is not None:
            parts.append(f"{temp:.0f}°C")
        text.append(" ".join(parts) + ("\n" if i + 1 < len(gpus) else ""))
    return text


# -- notes for notifications -------------------------------------------------------------------
def batch_note(monitor: str, result: Any) -> tuple[str, str] | None:
    """(severity, message) for a batch or labels file that was not clean; None when it was."""
    status = get(result, "status")
    name = str(get(result, "file") or "?").rsplit("/", 1)[-1]
    problems = [str(p) for p in (get(result, "problems") or [])]
    if status not in ("failed", "problems", "empty") and not problems:
        return None
    why = problems[0] if problems else ("no rows" if status == "empty" else "could not be read")
    if not why.startswith(name):
        why = f"{name}: {why}"
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    if status == "failed":
        return "error", f"{monitor}: batch failed: {why} (moved to failed/)"
    return "warning", f"{monitor}: {why}{more}"


def alert_note(monitor: str, event: dict) -> tuple[str, str]:
    """(severity, message) for a fired or resolved alert."""
    rule, message = event.get("rule", "?"), event.get("message", "")
    if event.get("type") == "resolved":
        return "information", f"{monitor}: alert {rule} resolved. {message}".strip()
    severe = str(rule).startswith(("quality", "estimated", "no_batch"))
    return ("error" if severe else "warning"), f"{monitor}: alert {rule} fired: {message}".strip()
