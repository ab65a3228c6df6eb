"""A validation report (its dict) as titled tables: rendered as Markdown for export, and reused by
the CLI to print the same sections as plain-text tables."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


# The metrics a slice table shows (the primary one first), by task.
SLICE_METRICS = {"binary": ["auc", "logloss", "accuracy", "f1"], "multiclass": ["logloss", "accuracy", "f1_macro"],
                 "regression": ["rmse", "mae", "r2"]}


@dataclass
class Section:
    title: str
    headers: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)   # lines under the table


def num(x: Any) -> str:
    from tui_mlops.formatting import human_number

    return human_number(x, "") if x is not None else ""


def _when(ts: Any) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(ts)))
    except (TypeError, ValueError):
        return str(ts)


def _holdout(d: dict[str, Any]) -> Section:
    s = Section("Holdout metrics", ["metric", "value", "ci_lo", "ci_hi"])
    ci = d.get("ci") or {}
    for k, v in (d.get("holdout") or {}).items():
        c = ci.get(k) or {}
        s.rows.append([k, v, c.get("lo"), c.get("hi")])
    n = (d.get("settings") or {}).get("bootstrap")
    s.notes.append(f"{d.get('rows')} rows of {d.get('data_ref')}; threshold {d.get('threshold')}; "
                   + (f"95% bootstrap CIs from {n} resamples" if ci else "no bootstrap CIs"))
    return s


def _details(d: dict[str, Any]) -> Section | None:
    det = d.get("details") or {}
    if "confusion" in det:
        labels = det.get("labels") or []
        s = Section("Confusion matrix (rows: true, columns: predicted)", ["true", *labels])
        for lab, row in zip(labels, det["confusion"]):
            s.rows.append([lab, *row])
        return s
    if "residuals" in det:
        s = Section("Residuals", ["stat", "value"])
        s.rows = [[k, v] for k, v in det["residuals"].items()]
        return s
    return None


def _calibration(d: dict[str, Any]) -> Section | None:
    bins = d.get("calibration")
    if not bins:
        return None
    s = Section("Calibration", ["bin", "n", "mean_pred", "frac_pos"])
    for b in bins:
        if b.get("n"):
            s.rows.append([f"{num(b.get('bin_lo'))}-{num(b.get('bin_hi'))}", b.get("n"), b.get("mean_pred"),
                           b.get("frac_pos")])
    return s


def _cv(d: dict[str, Any]) -> Section:
    cv = d.get("cv")
    if not cv:
        return Section("Cross-validation", notes=["not run (folds 0)"])
    s = Section(f"Cross-validation ({cv.get('k')} folds over {cv.get('rows')} {cv.get('rows_from')} rows)",
                ["metric", "mean", "std", "folds"])
    for k, v in (cv.get("metrics") or {}).items():
        s.rows.append([k, v.get("mean"), v.get("std"), " ".join(num(f) for f in v.get("folds") or [])])
    return s


def _slices(d: dict[str, Any]) -> Section | None:
    sl = d.get("slices")
    if not sl:
        return None
    metric = sl.get("metric")
    shown = SLICE_METRICS.get(str(d.get("task")), [metric])
    s = Section(f"Slices by {sl.get('column')}", ["value", "rows", *shown])
    for g in sl.get("groups") or []:
        m = g.get("metrics") or {}
        if g.get("too_small"):
            s.rows.append([g.get("value"), g.get("n"), f"(under {sl.get('min_rows')} rows)", *[None] * (len(shown) - 1)])
        else:
            s.rows.append([g.get("value"), g.get("n"), *[m.get(k) for k in shown]])
    w = sl.get("worst")
    s.notes.append(f"worst slice: {sl.get('column')} = {w['value']!r} ({metric} {num(w['score'])}, {w['n']} rows)"
                   if w else f"no slice has enough rows (>= {sl.get('min_rows')}) to rank")
    return s


def _noise(d: dict[str, Any]) -> Section | None:
    nz = d.get("noise")
    if not nz:
        return None
    s = Section("Noise sensitivity", ["measure", "value"])
    if "flip_share" in nz:
        s.rows.append(["flip_share", nz["flip_share"]])
    s.rows.append(["mean_abs_change", nz.get("mean_abs_change")])
    cols = nz.get("columns") or []
    s.notes.append(f"gaussian noise of {nz.get('scale')} x std on {len(cols)} numeric input(s)"
                   + (f": {', '.join(cols)}" if cols else ""))
    return s


def _drift(d: dict[str, Any]) -> Section | None:
    dr = d.get("drift")
    if not dr:
        return None
    s = Section("Drift (training rows vs evaluated data)",
                ["column", "kind", "psi", "ks", "chi2_p", "js", "null_ref", "null_cur", "new", "drifted"])
    for f in dr.get("features") or []:
        s.rows.append([f.get("column"), f.get("kind"), f.get("psi"), f.get("ks"), f.get("chi2_p"), f.get("js"),
                       f.get("null_ref"), f.get("null_cur"), len(f.get("new_categories") or []),
                       "yes" if f.get("drifted") else "no"])
    share = dr.get("share_drifted")
    drifted = dr.get("drifted") or []
    s.notes.append(f"share drifted: {num(share)}" + (f" ({', '.join(drifted)})" if drifted else ""))
    return s


def _champion(d: dict[str, Any]) -> Section | None:
    ch = d.get("champion")
    if ch is None:
        return None
    if ch.get("skipped"):
        return Section("Champion (production)", notes=[f"skipped: {ch['skipped']}"])
    title = f"Champion: {ch.get('model')}@{ch.get('version')} (run {ch.get('run_id')})"
    s = Section(title, ["metric", "production", "this run"])
    mine = d.get("holdout") or {}
    for k, v in (ch.get("metrics") or {}).items():
        s.rows.append([k, v, mine.get(k)])
    p = ch.get("paired")
    if p:
        verdict = "better beyond noise" if p.get("b_better") else "not better beyond noise"
        s.notes.append(f"paired bootstrap on {p.get('metric')}: delta {num(p.get('delta'))} "
                       f"[{num(p.get('lo'))}, {num(p.get('hi'))}], p={num(p.get('p_value'))}: this run is {verdict}")
    dl = ch.get("delong")
    if dl:
        s.notes.append(f"DeLong: AUC {num(dl.get('auc_a'))} (production) vs {num(dl.get('auc_b'))}, "
                       f"z={num(dl.get('z'))}, p={num(dl.get('p_value'))}")
    return s


def gate_section(d: dict[str, Any]) -> Section | None:
    g = d.get("gates")
    if g is None:
        return None
    s = Section("Gates", ["gate", "verdict", "value", "threshold", "message"])
    for r in g.get("results") or []:
        s.rows.append([r.get("name"), r.get("verdict", "").upper(), r.get("value"), r.get("threshold"),
                       r.get("message")])
    failed = [r.get("name") for r in g.get("results") or [] if r.get("verdict") == "fail"]
    s.notes.append("PASSED" if g.get("passed") else f"FAILED: {', '.join(failed)}")
    return s


def sections(d: dict[str, Any]) -> list[Section]:
    """The report's sections in reading order (those that apply)."""
    parts = [_holdout(d), _details(d), _calibration(d), _cv(d), _slices(d), _noise(d), _drift(d), _champion(d),
             gate_section(d)]
    out = [p for p in parts if p is not None]
    if d.get("warnings"):
        out.append(Section("Warnings", notes=list(d["warnings"])))
    return out


def _md_cell(v: Any) -> str:
    text = num(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else ("" if v is None else str(v))
    return text.replace("|", "\\|").replace("\n", " ")


def render(d: dict[str, Any]) -> str:
    """The report as Markdown: a header, then one table per section."""
    who = f"model {d['model_ref']} (run {d['run_id']})" if d.get("model_ref") else f"run {d.get('run_id')}"
    lines = [f"# Validation report {d.get('id')}", "",
             f"- {who}, task {d.get('task')}",
             f"- data: {d.get('data_ref')} ({d.get('rows')} rows)",
             f"- created: {_when(d.get('created'))}"]
    g = d.get("gates")
    if g is not None:
        lines.append(f"- gates: {'passed' if g.get('passed') else 'FAILED'}")
    for s in sections(d):
        lines += ["", f"## {s.title}", ""]
        if s.headers and s.rows:
            lines.append("| " + " | ".join(_md_cell(h) for h in s.headers) + " |")
            lines.append("|" + "|".join("---" for _ in s.headers) + "|")
            lines.extend("| " + " | ".join(_md_cell(v) for v in r) + " |" for r in s.rows)
            if s.notes:
                lines.append("")
        lines.extend(f"{n}" if len(s.notes) == 1 else f"- {n}" for n in s.notes)
    return "\n".join(lines) + "\n"
