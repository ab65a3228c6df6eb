"""Reference vs current histograms of one monitored feature, as two plotext texts on the same bins.

The reference side comes from the cached profile (numeric: exact value counts or quantiles;
categorical: value counts); the current side from the latest window's batch summaries (counts on
the reference's summary bins, category counts) in events.jsonl. The reference is scaled to the
window's row count, so the bars compare directly.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tui_mlops.tui.screens.monitor_panes import get, latest_window

MAX_BINS = 30
TAIL_BLOCK = 1 << 18  # events.jsonl is read backwards in blocks until the window's batches are found


def histogram_pair(home: Any, monitor: str, reference: Any, state: Any, column: str, width: int,
                   height: int, marker: str | None = None) -> tuple[str, str]:
    """(reference text, current text) for `column`, each drawn `width` x `height` in the
    chart_marker style `marker` (None: plotext's own bars)."""
    if width < 20 or height < 5:
        msg = "too small to draw (make the terminal larger)"
        return msg, msg
    from tui_mlops.charts import bar_marker
    from tui_mlops.monitoring.reference import profile_columns

    marker = bar_marker(marker)

    ref_col = profile_columns((reference or {}).get("profile") or {}).get(column)
    if ref_col is None:
        msg = f"{column}: not in the reference profile"
        return msg, msg
    window = latest_window(state)
    cur = window_summary(home, monitor, list(get(window, "keys") or []), column) if window else None
    if ref_col.get("kind") == "numeric":
        bins = ((reference or {}).get("bins") or {}).get(column)
        if not bins or not bins.get("edges"):
            msg = f"{column}: the reference has no values to bin"
            return msg, msg
        return _numeric(column, ref_col, bins["edges"], cur, width, height, marker)
    return _categorical(column, ref_col, cur, width, height, marker)


def window_summary(home: Any, monitor: str, keys: list[str], column: str) -> dict | None:
    """The merged summary of `column` over the batches `keys` (from the end of events.jsonl)."""
    from tui_mlops.monitoring.summaries import merge

    if not keys:
        return None
    from tui_mlops.monitoring.log import events_path

    path = events_path(home, monitor)
    wanted = set(keys)
    found: list[dict] = []
    for event in _events_backwards(path):
        if event.get("type") == "batch" and event.get("key") in wanted:
            wanted.discard(event["key"])
            col = ((event.get("summary") or {}).get("columns") or {}).get(column)
            if col:
                found.append(col)
            if not wanted:
                break
    return merge(found) if found else None


def _events_backwards(path: Path) -> Any:
    """Whole JSON lines of a log, newest first, reading only as far back as the caller goes."""
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return
    with fh:
        end = fh.seek(0, os.SEEK_END)
        rest = b""
        while end > 0:
            start = max(0, end - TAIL_BLOCK)
            fh.seek(start)
            block = fh.read(end - start) + rest
            end = start
            lines = block.split(b"\n")
            rest = lines.pop(0) if start > 0 else b""  # maybe cut: completed by the next block
            for raw in reversed(lines):
                if raw.strip():
                    try:
                        obj = json.loads(raw)
                    except ValueError:
                        continue  # a torn last line (a writer mid-append)
                    if isinstance(obj, dict):
                        yield obj


# -- drawing --------------------------------------------------------------------------------------
def _reference_bins(ref_col: dict, edges: Any) -> Any:
    """The reference's share in each summary bin: bin 0 = (-inf, e0], i = (e[i-1], e[i]], last > e[-1]."""
    import numpy as np

    if ref_col.get("values") is not None and ref_col.get("counts") is not None:
        values = np.asarray(ref_col["values"], dtype=float)
        idx = np.searchsorted(edges, values, side="left")
        counts = np.bincount(idx, weights=np.asarray(ref_col["counts"], dtype=float),
                             minlength=len(edges) + 1)
        return counts / max(counts.sum(), 1.0)
    q = np.asarray(ref_col.get("quantiles") or [], dtype=float)
    if len(q) < 2:
        return np.zeros(len(edges) + 1)
    probs = np.linspace(0.0, 1.0, len(q))
    # Share of the reference at or below each edge (a step CDF: exact for repeated values too).
    below = probs[np.clip(np.searchsorted(q, edges, side="right") - 1, 0, len(q) - 1)]
    cdf = np.concatenate([below, [1.0]])
    return np.diff(np.concatenate([[0.0], cdf]))


def _numeric(column: str, ref_col: dict, edges_list: list, cur: dict | None, width: int,
             height: int, marker: str | None) -> tuple[str, str]:
    import numpy as np

    from tui_mlops import charts

    edges = np.asarray(edges_list, dtype=float)
    ref_share = _reference_bins(ref_col, edges)
    cur_counts = None
    if cur and cur.get("counts") is not None and len(cur["counts"]) == len(edges) + 1:
        cur_counts = np.asarray(cur["counts"], dtype=float)
    lo, hi = float(edges[0]), float(edges[-1])
    if hi <= lo:
        note = f"{column}: every reference value is {charts.fmt_number(lo)}"
        if cur_counts is None:
            return note, f"{column}: no batch in the window yet"
        off = int(cur_counts.sum() - cur_counts[0])
        return note, f"{column}: {off} of {int(cur_counts.sum())} current values differ from it"
    # Summary bin i stands at its upper edge (the value itself for few-valued columns). Values
    # beyond the reference's range get a bin of their own on that side, centred on their mean.
    n_bins = int(max(2, min(MAX_BINS, (width - 10) // 3, len(edges))))
    if ref_col.get("values") is not None and len(edges) <= max(2, min(MAX_BINS, (width - 10) // 2)):
        # Few distinct values: one bar per value, between the midpoints of its neighbours.
        mids = (edges[:-1] + edges[1:]) / 2
        display = np.concatenate([[2 * edges[0] - mids[0]], mids, [2 * edges[-1] - mids[-1]]])
        n_bins = len(edges)
        index = np.minimum(np.arange(len(edges) + 1), n_bins - 1)
    else:
        display = np.linspace(lo, hi, n_bins + 1)
        at = np.concatenate([edges, [hi]])
        index = np.clip(np.searchsorted(display, at, side="right") - 1, 0, n_bins - 1)
    total = float(cur_counts.sum()) if cur_counts is not None else 0.0
    scale = total if total > 0 else float(ref_col.get("n") or 0) - float(ref_col.get("nulls") or 0)
    ref_hist = np.bincount(index, weights=ref_share * scale, minlength=n_bins)
    cur_hist = np.bincount(index, weights=cur_counts, minlength=n_bins) if cur_counts is not None else None
    if cur_counts is not None:
        step = (hi - lo) / n_bins
        above = float(cur_counts[-1])
        below = float((cur or {}).get("lo_n") or 0)
        if above > 0:
            cur_hist[-1] -= above
            mean = float(cur["hi_sum"]) / above
            display = np.append(display, max(display[-1] + step, 2 * mean - display[-1]))
            ref_hist, cur_hist = np.append(ref_hist, 0.0), np.append(cur_hist, above)
        if below > 0:
            cur_hist[0] -= below
            mean = float(cur["lo_sum"]) / below
            display = np.insert(display, 0, min(display[0] - step, 2 * mean - display[0]))
            ref_hist, cur_hist = np.insert(ref_hist, 0, 0.0), np.insert(cur_hist, 0, below)
    unit = f" (scaled to {int(total)})" if total > 0 else ""
    ref_text = charts.histogram_text({"name": f"reference {column}{unit}", "histogram": {
        "edges": display.tolist(), "counts": np.rint(ref_hist).astype(int).tolist()}}, width, height, marker)
    if cur_hist is None:
        return ref_text, f"{column}: no batch in the window yet"
    cur_text = charts.histogram_text({"name": f"current {column} ({int(total)} values)",
                                      "histogram": {"edges": display.tolist(),
                                                    "counts": np.rint(cur_hist).astype(int).tolist()}},
                                     width, height, marker)
    return ref_text, cur_text


def _key(value: Any) -> str:
    """A category as the profile spells it (polars casts booleans to "true" / "false")."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _categorical(column: str, ref_col: dict, cur: dict | None, width: int,
                 height: int, marker: str | None) -> tuple[str, str]:
    from tui_mlops import charts
    from tui_mlops.monitoring.summaries import OTHER

    ref = {_key(v): float(c) for v, c in zip(ref_col.get("values") or [], ref_col.get("counts") or [])}
    cur_counts: dict[str, float] = {}
    for v, c in zip((cur or {}).get("values") or [], (cur or {}).get("counts") or []):
        if v != OTHER:
            cur_counts[_key(v)] = cur_counts.get(_key(v), 0.0) + float(c)
    total_cur = sum(cur_counts.values())
    total_ref = (sum(ref.values()) + float(ref_col.get("other") or 0)) or 1.0
    scale = total_cur / total_ref if total_cur > 0 else 1.0
    # The same labels in the same order on both sides: the reference's most frequent first, then
    # values only the current window has (new categories).
    order = sorted(ref, key=lambda v: -ref[v])
    order += sorted((v for v in cur_counts if v not in ref), key=lambda v: -cur_counts[v])
    order = order[: max(1, height - 3)]
    label = {v: (v if v in ref else f"{v} (new)") for v in order}
    ref_top = [{"value": label[v], "count": round(ref.get(v, 0.0) * scale)} for v in order]
    # (top_values_text labels the axis "rows (NAME)"; plotext drops a label wider than the plot.)
    ref_text = charts.top_values_text({"name": f"reference {column}", "top_values": ref_top},
                                      width, height, marker)
    if not cur_counts:
        return ref_text, f"{column}: no batch in the window yet"
    cur_top = [{"value": label[v], "count": round(cur_counts.get(v, 0.0))} for v in order]
    cur_text = charts.top_values_text({"name": f"current {column}", "top_values": cur_top},
                                      width, height, marker)
    return ref_text, cur_text
