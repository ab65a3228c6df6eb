"""Monitor reports for sharing outside the terminal: one data dict over a span of windows, rendered
as Markdown, JSON or a single self-contained HTML file (inline CSS, no scripts, values escaped)."""

from __future__ import annotations

import html
import json
import math
import re
import time
from typing import Any

from tui_mlops.errors import InputError

FORMATS = ("md", "json", "html")
TREND_WINDOWS = 20
SPARK = "▁▂▃▄▅▆▇█"
NOT_METRICS = frozenset({"rows", "n", "labelled", "matched"})
QUALITY_ORDER = ("auc", "accuracy", "f1", "precision", "recall", "logloss", "brier", "rmse", "mae", "r2")


# -- window selection ----------------------------------------------------------------------------
def select_windows(windows: list[dict], window: str | None) -> list[dict]:
    """"last" (default), "all", "N" (the last N windows) or "SEQ1-SEQ2" (windows overlapping those
    batch numbers)."""
    text = (window or "last").strip().lower()
    if text == "last":
        return windows[-1:]
    if text == "all":
        return list(windows)
    if re.fullmatch(r"\d+", text):
        n = int(text)
        if n < 1:
            raise InputError(f"invalid report window {window!r}: N must be at least 1")
        return windows[-n:]
    m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", text)
    if m:
        lo, hi = int(m.group(1)), int(m.group(2))
        if lo > hi:
            raise InputError(f"invalid report window {window!r}: the first batch number is after the last")
        return [w for w in windows if _int(w.get("end_seq"), -1) >= lo and _int(w.get("start_seq"), 1 << 62) <= hi]
    raise InputError(f"invalid report window {window!r}: use last, all, N (last N windows) or SEQ1-SEQ2")


def _int(x: Any, default: int) -> int:
    return x if isinstance(x, int) and not isinstance(x, bool) else default


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _columns(drift: dict | None) -> list[dict]:
    cols = (drift or {}).get("columns") or []
    if isinstance(cols, dict):
        return [{"column": k, **v} for k, v in cols.items()]
    return [c for c in cols if isinstance(c, dict)]


def _band(bands: dict, *path: str) -> dict | None:
    cur: Any = bands or {}
    for key in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(key)
    return cur if isinstance(cur, dict) and "lower" in cur and "upper" in cur else None


def _outside(band: dict | None, value: float | None) -> bool | None:
    if band is None or value is None:
        return None
    lo, hi = _num(band.get("lower")), _num(band.get("upper"))
    return (lo is not None and value < lo) or (hi is not None and value > hi)


def _extreme(values: list[Any], pick: Any) -> Any:
    got = [v for v in values if v is not None]
    if not got:
        return None
    nums = [_num(v) for v in got]
    return pick(nums) if all(n is not None for n in nums) else pick(str(v) for v in got)


def _quality(sel: list[dict], source: str) -> tuple[dict, Any]:
    """The latest of these windows that has `source` metrics, and its last batch number."""
    for w in reversed(sel):
        got = w.get(source)
        if isinstance(got, dict) and got:
            return got, w.get("end_seq")
    return {}, None


# -- the data ------------------------------------------------------------------------------------
def report_data(state: Any, alerts: list[dict], *, window: str | None = None) -> dict:
    """Everything a report shows, as JSON-able data, for the windows `window` selects."""
    spec = state.spec
    windows = list(getattr(state, "windows", None) or [])
    sel = select_windows(windows, window)
    seqs = (min(_int(w.get("start_seq"), 0) for w in sel), max(_int(w.get("end_seq"), 0) for w in sel)) if sel else None
    batches = [b for b in getattr(state, "batches", None) or []
               if seqs and isinstance(b.get("seq"), int) and seqs[0] <= b["seq"] <= seqs[1]]
    last = sel[-1] if sel else {}
    drift = last.get("drift") or {}
    trend_cols: dict[str, list] = getattr(state, "features", None) or {}
    # The trend shows the windows up to the span's end, however few the span holds.
    n_trend = TREND_WINDOWS
    # A feature's trend ends at the span's last window: its index among all windows.
    end_idx = (windows.index(last) + 1 if last in windows else len(windows)) if sel else 0
    bands = getattr(state, "bands", None) or {}
    features = []
    for c in _columns(drift):
        col = str(c.get("column"))
        series = list(trend_cols.get(col) or [])[:end_idx]
        features.append({
            "column": col, "kind": c.get("kind"), "method": c.get("method"), "score": _num(c.get("score")),
            "threshold": _num(c.get("threshold")), "drifted": bool(c.get("drifted")),
            "null_rate": _num(c.get("null_rate")), "new_category_rate": _num(c.get("new_category_rate")),
            "trend": [_num(s) for s in series[-max(n_trend, 2):]],
            "band": _band(bands, "features", col)})
    mv_value = _num(last.get("multivariate"))
    mv_band = _band(bands, "multivariate")
    # Labels arrive late: quality may come from an earlier window than the span's last one.
    realized, realized_seq = _quality(windows[:end_idx], "realized")
    estimated, estimated_seq = _quality(windows[:end_idx], "estimated")
    if seqs is None or (window or "last").strip().lower() == "all":
        in_span = list(alerts)
    else:
        in_span = [a for a in alerts if isinstance(a.get("batch_seq"), int) and seqs[0] <= a["batch_seq"] <= seqs[1]]
    t0 = _extreme([w.get("t0") for w in sel], min)
    t1 = _extreme([w.get("t1") for w in sel], max)
    return {
        "monitor": spec.name, "model": spec.model, "model_version": getattr(spec, "model_version", None),
        "task": getattr(spec, "task", None), "reference": getattr(spec, "reference", None),
        "generated": time.time(),
        "window": {"spec": window or "last", "windows": len(sel), "of": len(windows),
                   "start_seq": seqs[0] if seqs else None, "end_seq": seqs[1] if seqs else None,
                   "t0": t0, "t1": t1},
        "batches": len(batches), "rows": sum(_int(w.get("rows"), 0) for w in sel),
        "total_batches": len(getattr(state, "batches", None) or []), "total_rows": getattr(state, "rows", None),
        "drift": {"share": _num(drift.get("share")), "drifted": bool(drift.get("drifted")),
                  "dataset_share": getattr(spec, "dataset_share", None), "band": _band(bands, "drift_share"),
                  "columns_drifted": sum(1 for f in features if f["drifted"]), "columns": len(features)},
        "features": features,
        "prediction": last.get("prediction"), "prediction_band": _band(bands, "prediction"),
        "multivariate": {"value": mv_value, "band": mv_band, "outside": _outside(mv_band, mv_value)},
        "quality": {"estimated": estimated, "estimated_seq": estimated_seq,
                    "realized": realized, "realized_seq": realized_seq,
                    "bands": {m: _band(bands, src, m) for src in ("estimated", "realized")
                              for m in (bands.get(src) or {}) if _band(bands, src, m)}},
        "windows": [{"start_seq": w.get("start_seq"), "end_seq": w.get("end_seq"), "rows": w.get("rows"),
                     "t0": w.get("t0"), "t1": w.get("t1"), "share": _num((w.get("drift") or {}).get("share")),
                     "drifted": bool((w.get("drift") or {}).get("drifted")),
                     "prediction_score": _num((w.get("prediction") or {}).get("score")),
                     "multivariate": _num(w.get("multivariate"))} for w in sel],
        "alerts": in_span,
    }


# -- rendering helpers ---------------------------------------------------------------------------
def _n(x: Any, digits: int = 4) -> str:
    v = _num(x)
    if v is None:
        return "" if x is None else str(x)
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.{digits}g}"


def _pct(x: Any) -> str:
    v = _num(x)
    return "" if v is None else f"{v * 100:.1f}%"


def _when(ts: Any) -> str:
    v = _num(ts)
    if v is None:
        return "" if ts is None else str(ts)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(v))


def spark(values: list[Any]) -> str:
    vals = [_num(v) for v in values]
    got = [v for v in vals if v is not None]
    if not got:
        return ""
    lo, hi = min(got), max(got)
    span = hi - lo
    return "".join(" " if v is None else SPARK[0 if span == 0 else min(7, int((v - lo) / span * 7.999))]
                   for v in vals)


def _metric_names(q: dict) -> list[str]:
    """Metric names in both sources, the usual ones first (counts such as "rows" are not metrics)."""
    names = {k for src in ("estimated", "realized") for k, v in (q.get(src) or {}).items()
             if k not in NOT_METRICS and _num(v) is not None}
    return [m for m in QUALITY_ORDER if m in names] + sorted(names - set(QUALITY_ORDER))


def _sections(d: dict) -> list[tuple[str, list[str], list[list[str]], list[str]]]:
    """(title, headers, rows, notes) for each section, as text cells; md and html render these."""
    w = d["window"]
    span = (f"batches {w['start_seq']}-{w['end_seq']}, {w['windows']} of {w['of']} window(s)"
            if w["start_seq"] is not None else "no batches yet")
    times = f"{_when(w['t0'])} .. {_when(w['t1'])}" if w["t0"] is not None or w["t1"] is not None else ""
    head = [["monitor", d["monitor"]], ["model", f"{d['model']} (v{d['model_version']}, {d['task'] or '-'})"],
            ["reference", d["reference"] or "-"], ["window", f"{w['spec']}: {span}"],
            ["batches", f"{d['batches']} (of {d['total_batches']})"],
            ["rows", f"{_n(d['rows'])} (of {_n(d['total_rows'])})"], ["time range", times or "-"]]
    dr = d["drift"]
    verdict = "DRIFT" if dr["drifted"] else "no drift"
    drift_rows = [["share of drifted columns", _pct(dr["share"])],
                  ["columns drifted", f"{dr['columns_drifted']} of {dr['columns']}"],
                  ["dataset drift at share >=", _n(dr["dataset_share"])], ["verdict", verdict]]
    if dr.get("band"):
        drift_rows.insert(1, ["reference band", f"{_pct(dr['band'].get('lower'))} .. {_pct(dr['band'].get('upper'))}"])
    feats = [[f["column"], f["method"] or "", _n(f["score"]), _n(f["threshold"]), "yes" if f["drifted"] else "no",
              _pct(f["null_rate"]), _pct(f["new_category_rate"]), spark(f["trend"]),
              " ".join(_n(v, 3) for v in f["trend"][-6:])] for f in d["features"]]
    out = [("Monitor", ["", ""], head, []),
           (f"Dataset drift: {verdict}", ["", ""], drift_rows, []),
           ("Features", ["feature", "method", "score", "threshold", "drifted", "null rate", "new categories",
                         "trend", "last scores"], feats, [] if feats else ["no window yet"])]
    p = d.get("prediction") or {}
    pb = d.get("prediction_band") or {}
    pred = [[str(p.get("column") or "prediction"), str(p.get("method") or ""), _n(p.get("score")),
             _n(p.get("threshold")), "yes" if p.get("drifted") else "no",
             f"{_n(pb.get('lower'))} .. {_n(pb.get('upper'))}" if pb else ""]] if p else []
    out.append(("Prediction drift", ["output", "method", "score", "threshold", "drifted", "reference band"], pred,
                [] if pred else ["no prediction drift computed"]))
    mv = d["multivariate"]
    band = mv["band"] or {}
    mv_rows = [[_n(mv["value"]), _n(band.get("lower")), _n(band.get("upper")),
                "" if mv["outside"] is None else ("OUTSIDE" if mv["outside"] else "inside")]] \
        if mv["value"] is not None else []
    out.append(("Multivariate drift (PCA reconstruction error)", ["error", "band lower", "band upper", "state"],
                mv_rows, [] if mv_rows else ["not computed"]))
    q = d["quality"]
    qb = q.get("bands") or {}
    qrows = [[m, _n((q["estimated"] or {}).get(m)), _n((q["realized"] or {}).get(m)),
              f"{_n(qb[m].get('lower'))} .. {_n(qb[m].get('upper'))}" if qb.get(m) else ""] for m in _metric_names(q)]
    notes = []
    if q.get("realized_seq") is not None:
        notes.append(f"realised from labels up to batch {q['realized_seq']}")
    if not qrows:
        notes.append("no estimate and no labels yet")
    out.append(("Quality: estimated vs realised", ["metric", "estimated", "realised", "reference band"], qrows, notes))
    if len(d["windows"]) > 1:
        out.append(("Windows", ["batches", "rows", "drift share", "drift", "prediction score", "multivariate"],
                    [[f"{x['start_seq']}-{x['end_seq']}", _n(x["rows"]), _pct(x["share"]),
                      "yes" if x["drifted"] else "no", _n(x["prediction_score"]), _n(x["multivariate"])]
                     for x in d["windows"]], []))
    arows = [[_when(a.get("ts")), str(a.get("type") or ""), str(a.get("rule") or ""), str(a.get("message") or ""),
              _n(a.get("value")), "" if a.get("batch_seq") is None else str(a.get("batch_seq"))]
             for a in d["alerts"]]
    out.append(("Alerts", ["time", "event", "rule", "message", "value", "batch"], arows,
                [] if arows else ["no alerts in this span"]))
    return out


def _md_cell(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def render_markdown(d: dict) -> str:
    lines = [f"# Monitor report: {_md_cell(d['monitor'])}", "", f"Generated {_when(d['generated'])}.", ""]
    for title, headers, rows, notes in _sections(d):
        lines += [f"## {title}", ""]
        if rows:
            lines.append("| " + " | ".join(_md_cell(h) for h in headers) + " |")
            lines.append("|" + "|".join("---" for _ in headers) + "|")
            lines += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows]
            lines.append("")
        lines += [*notes, ""] if notes else []
    return "\n".join(lines).rstrip() + "\n"


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222;background:#fff}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}.yes,.bad{color:#b00020;font-weight:bold}.note{color:#666}
.spark{font-family:monospace;letter-spacing:1px}"""


def render_html(d: dict) -> str:
    e = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>Monitor report: {e(str(d['monitor']))}</title>", f"<style>{_CSS}</style></head><body>",
             f"<h1>Monitor report: {e(str(d['monitor']))}</h1>",
             f'<p class="note">Generated {e(_when(d["generated"]))}.</p>']
    for title, headers, rows, notes in _sections(d):
        parts.append(f"<h2>{e(title)}</h2>")
        if rows:
            parts.append("<table>")
            if any(headers):
                parts.append("<tr>" + "".join(f"<th>{e(h)}</th>" for h in headers) + "</tr>")
            for r in rows:
                cells = []
                for h, c in zip(headers, r):
                    cls = ' class="spark"' if h == "trend" else (' class="bad"' if c in ("yes", "DRIFT", "OUTSIDE", "fired") else "")
                    cells.append(f"<td{cls}>{e(str(c))}</td>")
                parts.append("<tr>" + "".join(cells) + "</tr>")
            parts.append("</table>")
        parts += [f'<p class="note">{e(n)}</p>' for n in notes]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def render(d: dict, fmt: str = "md") -> str:
    if fmt == "json":
        from tui_mlops.cli_format import jsonable

        return json.dumps(jsonable(d), indent=2, ensure_ascii=False) + "\n"
    if fmt == "html":
        return render_html(d)
    if fmt == "md":
        return render_markdown(d)
    raise InputError(f"unknown report format {fmt!r}: use one of {', '.join(FORMATS)}")


def render_report(home: Any, name: str, *, window: str | None = None, fmt: str = "md") -> str:
    """The monitor's report over `window` ("last", "all", "N" or "SEQ1-SEQ2") as md, json or html."""
    from tui_mlops.monitoring.alerts import read_alerts
    from tui_mlops.monitoring.state import monitor_state

    if fmt not in FORMATS:
        raise InputError(f"unknown report format {fmt!r}: use one of {', '.join(FORMATS)}")
    select_windows([], window)   # a bad window is reported before any work
    state = monitor_state(home, name)
    return render(report_data(state, read_alerts(home, name), window=window), fmt)
