"""A monitor's state for screens, alerts and reports: batches, windows (by rows or time) whose drift
comes from merged per-batch summaries, estimated vs realised quality. Folded incrementally: each call
reads only the new bytes of events.jsonl, so the cost follows new batches, not history."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_mlops.monitoring.spec import ALERTS_FILE, SPEC_FILE, monitor_dir


@dataclass
class MonitorState:
    spec: Any
    batches: list[dict[str, Any]] = field(default_factory=list)   # batch events (no summaries), in order
    rows: int = 0
    features: dict[str, list[float | None]] = field(default_factory=dict)   # col -> score per window
    windows: list[dict[str, Any]] = field(default_factory=list)   # the last may be open ("complete": False)
    latest: dict[str, Any] | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)
    last_batch_ts: float | None = None
    bands: dict[str, Any] = field(default_factory=dict)
    labels: list[dict[str, Any]] = field(default_factory=list)     # labels events, in order


@dataclass
class _Window:
    keys: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)     # with summaries, while open
    rows: int = 0
    bucket: int | None = None
    result: dict[str, Any] | None = None


@dataclass
class _Fold:
    offset: int = 0
    batches: list[dict[str, Any]] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)
    closed: list[_Window] = field(default_factory=list)
    open: _Window = field(default_factory=_Window)
    quality: dict[str, dict[str, Any]] = field(default_factory=dict)   # batch key -> latest counts
    window_of: dict[str, int] = field(default_factory=dict)           # batch key -> closed index
    rows: int = 0
    sig: tuple = ()
    state: MonitorState | None = None


_FOLDS: dict[str, _Fold] = {}
_LOCK = threading.Lock()


def _size(p: Path) -> tuple[int, int]:
    try:
        st = p.stat()
        return st.st_size, st.st_mtime_ns
    except FileNotFoundError:
        return 0, 0


def _when(e: dict[str, Any]) -> float:
    return float(e.get("time_min") if e.get("time_min") is not None else e.get("ts") or 0.0)


def _weighted(pairs: list[tuple[float, float | None]]) -> float | None:
    ok = [(w, v) for w, v in pairs if v is not None and math.isfinite(v) and w > 0]
    total = sum(w for w, _ in ok)
    return sum(w * v for w, v in ok) / total if total else None


def _estimated(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """CBPE over a window: expected confusion counts add up; AUC as the rows-weighted mean."""
    ests = [e["estimated"] for e in events if e.get("estimated") and e["estimated"].get("rows")]
    if not ests:
        return None
    tp, fp, tn, fn = (sum(float(x.get(k) or 0.0) for x in ests) for k in ("tp", "fp", "tn", "fn"))
    n = tp + fp + tn + fn
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    return {"accuracy": (tp + tn) / n if n else None, "precision": prec, "recall": rec,
            "f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0,
            "auc": _weighted([(x["rows"], x.get("auc")) for x in ests]), "rows": int(n)}


def _compute(spec: Any, ref: dict[str, Any], w: _Window, quality: dict[str, dict], complete: bool) -> dict:
    from tui_mlops.monitoring import quality as Q
    from tui_mlops.monitoring.reference import prediction_columns
    from tui_mlops.monitoring.summaries import merge, window_drift

    evs = w.events
    cols: dict[str, list] = {}
    preds: dict[str, list] = {}
    for e in evs:
        summ = e.get("summary") or {}
        for c, s in (summ.get("columns") or {}).items():
            cols.setdefault(c, []).append(s)
        for c, s in (summ.get("prediction") or {}).items():
            preds.setdefault(c, []).append(s)
    merged = {c: merge(v) for c, v in cols.items()}
    bins = ref.get("bins") or {}
    pcols = prediction_columns(spec)
    if len(evs) == 1:   # a window of one batch: its own (exact) drift
        drift = evs[0].get("drift")
        pcd = {pcols[0]: evs[0].get("prediction"), pcols[-1]: evs[0].get("prediction_label")}
    else:
        drift = window_drift(ref["profile"], bins, merged, spec, columns=spec.features)
        pd = window_drift(ref["prediction_profile"], bins, {c: merge(v) for c, v in preds.items()}, spec,
                          columns=pcols)
        pcd = {c["column"]: c for c in (pd or {}).get("columns", [])}
    times = [_when(e) for e in evs] + [float(e["time_max"]) for e in evs if e.get("time_max") is not None]
    return {"start_seq": evs[0]["seq"], "end_seq": evs[-1]["seq"], "rows": w.rows, "batches": len(evs),
            "t0": min(times), "t1": max(times), "keys": list(w.keys), "complete": complete,
            "drift": drift, "prediction": pcd.get(pcols[0]),
            "prediction_label": pcd.get(pcols[1]) if len(pcols) > 1 else None,
            "multivariate": _weighted([(e.get("rows") or 0, e.get("multivariate")) for e in evs]),
            "estimated": _estimated(evs),
            "realized": Q.metrics(spec.task, Q.merge([quality[k] for k in w.keys if k in quality])),
            "labelled": sum(quality[k]["n"] for k in w.keys if k in quality),
            "null_rates": {c: m["nulls"] / m["n"] for c, m in merged.items() if m["n"]},
            "new_category_rates": {c: m["new"] / max(m["n"] - m["nulls"], 1) for c, m in merged.items() if "new" in m}}


def _fold_batch(f: _Fold, spec: Any, ref: dict[str, Any], e: dict[str, Any]) -> None:
    from tui_mlops.monitoring.spec import parse_duration

    light = {k: v for k, v in e.items() if k != "summary"}
    f.batches.append(light)
    if e.get("status") not in ("ok", "problems") or not e.get("rows") or not e.get("summary"):
        return
    f.rows += int(e["rows"])
    if spec.window_time:
        bucket = int(_when(e) // parse_duration(spec.window_time))
        if f.open.events and f.open.bucket is not None and bucket > f.open.bucket:
            _close(f, spec, ref)
        if f.open.bucket is None:
            f.open.bucket = bucket
    f.open.events.append(e)
    f.open.keys.append(e["key"])
    f.open.rows += int(e["rows"])
    if spec.window_rows and f.open.rows >= spec.window_rows:
        _close(f, spec, ref)


def _close(f: _Fold, spec: Any, ref: dict[str, Any]) -> None:
    w = f.open
    w.result = _compute(spec, ref, w, f.quality, True)
    w.events = []   # summaries are not needed once the window's drift is known
    for k in w.keys:
        f.window_of[k] = len(f.closed)
    f.closed.append(w)
    f.open = _Window()


def _fold_labels(f: _Fold, spec: Any, e: dict[str, Any]) -> set[int]:
    f.labels.append({k: v for k, v in e.items() if k != "quality"})
    touched = set()
    for key, counts in (e.get("quality") or {}).items():
        f.quality[key] = counts
        if key in f.window_of:
            touched.add(f.window_of[key])
    return touched


def _shape(spec: Any) -> tuple:
    """The spec fields that windows depend on (alert rules may change without a re-fold)."""
    return (spec.window_rows, spec.window_time, spec.features, spec.methods, spec.thresholds,
            spec.default_method, spec.dataset_share, spec.created)


def monitor_state(home: Any, name: str) -> MonitorState:
    """The monitor's state, cached while events.jsonl, alerts.jsonl and monitor.json are unchanged."""
    from tui_mlops.monitoring import quality as Q
    from tui_mlops.monitoring.alerts import read_alerts
    from tui_mlops.monitoring.log import events_path
    from tui_mlops.monitoring.reference import load_reference
    from tui_mlops.monitoring.spec import get_monitor
    from tui_mlops.store.events import read_events

    folder = monitor_dir(home, name)
    path = events_path(home, name)
    with _LOCK:
        f = _FOLDS.setdefault(str(path), _Fold())
    with _LOCK:
        sig = (_size(path), _size(folder / ALERTS_FILE), _size(folder / SPEC_FILE))
        if f.state is not None and sig == f.sig:
            return f.state
        spec = get_monitor(home, name)
        ref = load_reference(home, name)
        if sig[0][0] < f.offset or (f.state is not None and _shape(f.state.spec) != _shape(spec)):
            f = _FOLDS[str(path)] = _Fold()   # the log was replaced, or windows changed
        events, f.offset = read_events(path, f.offset)
        touched: set[int] = set()
        for e in events:
            if e.get("type") == "batch":
                _fold_batch(f, spec, ref, e)
            elif e.get("type") == "labels":
                touched |= _fold_labels(f, spec, e)
        for i in touched:
            w = f.closed[i]
            if w.result is not None:
                w.result["realized"] = Q.metrics(spec.task, Q.merge([f.quality[k] for k in w.keys if k in f.quality]))
                w.result["labelled"] = sum(f.quality[k]["n"] for k in w.keys if k in f.quality)
        windows = [w.result for w in f.closed if w.result is not None]
        if f.open.events:
            windows.append(_compute(spec, ref, f.open, f.quality, False))
        features: dict[str, list[float | None]] = {c: [] for c in spec.features}
        for w in windows:
            scores = {c["column"]: c.get("score") for c in (w.get("drift") or {}).get("columns", [])}
            for c in features:
                features[c].append(scores.get(c))
        last = f.batches[-1] if f.batches else None
        f.state = MonitorState(spec=spec, batches=list(f.batches), rows=f.rows, features=features,
                               windows=windows, latest=last, alerts=read_alerts(home, name),
                               last_batch_ts=last.get("ts") if last else None, bands=ref.get("bands") or {},
                               labels=list(f.labels))
        f.sig = sig
        return f.state
