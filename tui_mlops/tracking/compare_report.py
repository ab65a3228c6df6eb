"""A comparison of runs (tracking/compare.py) as a Markdown or self-contained HTML report: params
that differ, metrics with the best marked and deltas to the baseline, importance, data warnings."""

from __future__ import annotations

import html
import os
import time
from pathlib import Path

from tui_mlops.errors import InputError
from tui_mlops.tracking.compare import Comparison, deltas

__all__ = ["render_compare_report", "write_compare_report", "REPORT_FORMATS"]

REPORT_FORMATS = {"md": "md", "markdown": "md", "html": "html", "htm": "html"}
TOP_FEATURES = 10
_CSS = ("body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}"
        "th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}td.num{text-align:right}"
        ".best{font-weight:bold;background:#e6f4ea}.warn{color:#a50e0e}caption{text-align:left;color:#555}")


def _num(v: float | None) -> str:
    if v is None:
        return ""
    return f"{v:.6g}"


def _delta(d: float | None) -> str:
    return "" if d is None else f"{d:+.4g}"


def _heads(cmp: Comparison) -> list[str]:
    return [(r.name or r.run_id[:8]) + f" ({r.run_id[:8]})" + (" [baseline]" if i == cmp.baseline else "")
            for i, r in enumerate(cmp.runs)]


def _sections(cmp: Comparison) -> list[tuple[str, list[str], list[list[tuple[str, bool]]], str]]:
    """(title, header, rows of (text, is_best) cells, note) for each table of the report."""
    heads = _heads(cmp)
    out = []
    info = [[(a, False)] + [(str(getattr(r, a) or ""), False) for r in cmp.runs]
            for a in ("experiment", "status", "model")]
    info.append([("dataset", False)] + [(d or "", False) for d in cmp.datasets])
    out.append(("Runs", ["", *heads], info, ""))
    differ = [p for p in cmp.params if p.differs] if len(cmp.runs) > 1 else cmp.params
    same = len(cmp.params) - len(differ)
    note = f"{same} param(s) the same in every run are not shown." if same else ""
    out.append(("Params that differ", ["param", *heads],
                [[(p.key, False)] + [("" if v is None else str(v), False) for v in p.values] for p in differ], note))
    rows = []
    for m in cmp.metrics:
        ds = deltas(cmp, m)
        cells = []
        for i, (v, d) in enumerate(zip(m.values, ds)):
            text = _num(v) + (f" ({_delta(d)})" if d is not None else "")
            cells.append((text, i == m.best and len(m.values) > 1 and v is not None))
        label = m.key + ("" if m.higher_better else " (lower is better)")
        rows.append([(label, False)] + cells)
        if any(s is not None for s in m.steps):
            rows.append([(f"{m.key}: best @ step", False)] + [
                ("" if s is None else f"{_num(s.get('best'))} @ {s.get('best_step')}", False) for s in m.steps])
    base = ""
    if cmp.baseline is not None:
        base = f" Deltas (in brackets) are against {cmp.runs[cmp.baseline].run_id[:8]}."
    out.append(("Metrics", ["metric", *heads], rows, "Last value of each metric; the best run is marked." + base))
    if cmp.importance:
        feats = list(cmp.importance)[:TOP_FEATURES]
        out.append((f"Feature importance (top {len(feats)}, share of each run's total)", ["feature", *heads],
                    [[(f, False)] + [("" if v is None else f"{v * 100:.1f}%", False) for v in cmp.importance[f]]
                     for f in feats], ""))
    return out


def _md_cell(text: str) -> str:
    # A pipe or newline would end the cell; HTML-significant characters are escaped for viewers
    # that render inline HTML in Markdown.
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", " ")


def _markdown(cmp: Comparison, title: str, stamp: str) -> str:
    lines = [f"# {_md_cell(title)}", "", f"{len(cmp.runs)} run(s)" + (f", {cmp.task}" if cmp.task else "")
             + f"; written {stamp} by mlops-tui.", ""]
    for w in cmp.warnings:
        lines.append(f"> **Warning:** {_md_cell(w)}")
    if cmp.warnings:
        lines.append("")
    for sec_title, header, rows, note in _sections(cmp):
        lines += [f"## {sec_title}", ""]
        if note:
            lines += [_md_cell(note), ""]
        if not rows:
            lines += ["(none)", ""]
            continue
        lines.append("| " + " | ".join(_md_cell(h) for h in header) + " |")
        lines.append("|" + "|".join("---" for _ in header) + "|")
        for row in rows:
            lines.append("| " + " | ".join(f"**{_md_cell(t)}** \u2605" if best else _md_cell(t)
                                           for t, best in row) + " |")
        lines.append("")
    return "\n".join(lines)


def _html(cmp: Comparison, title: str, stamp: str) -> str:
    e = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{e(title)}</title>",
             f"<style>{_CSS}</style></head><body>", f"<h1>{e(title)}</h1>",
             f"<p>{len(cmp.runs)} run(s){e(', ' + cmp.task) if cmp.task else ''}; written {e(stamp)} by mlops-tui."
             "</p>"]
    for w in cmp.warnings:
        parts.append(f'<p class="warn"><strong>Warning:</strong> {e(w)}</p>')
    for sec_title, header, rows, note in _sections(cmp):
        parts.append(f"<h2>{e(sec_title)}</h2>")
        if note:
            parts.append(f"<p>{e(note)}</p>")
        if not rows:
            parts.append("<p>(none)</p>")
            continue
        parts.append("<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr></thead><tbody>")
        for row in rows:
            cells = [f"<th>{e(row[0][0])}</th>"]
            for text, best in row[1:]:
                cls = "best" if best else ""
                cells.append(f'<td class="{cls}">{e(text)}{" &#9733;" if best else ""}</td>')
            parts.append("<tr>" + "".join(cells) + "</tr>")
        parts.append("</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def render_compare_report(cmp: Comparison, fmt: str, *, title: str | None = None) -> str:
    """The report as text: fmt "md" or "html" (HTML is self-contained, escaped, without scripts)."""
    if fmt not in ("md", "html"):
        raise InputError(f"unknown report format {fmt!r}: use md or html")
    title = title or "Comparison of " + ", ".join(r.run_id[:8] for r in cmp.runs)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    return _markdown(cmp, title, stamp) if fmt == "md" else _html(cmp, title, stamp)


def write_compare_report(cmp: Comparison, out: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Write the report to `out`, its format from the suffix (.md or .html), atomically."""
    from tui_mlops.store.home import atomic_write_bytes

    path = Path(out)
    fmt = REPORT_FORMATS.get(path.suffix.lower().lstrip("."))
    if fmt is None:
        raise InputError(f"--report {out}: the file name must end in .md or .html")
    if not path.resolve().parent.is_dir():
        raise InputError(f"--report {out}: folder {path.resolve().parent} does not exist")
    atomic_write_bytes(path, render_compare_report(cmp, fmt, title=title).encode("utf-8"))
    return path
