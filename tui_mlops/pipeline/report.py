"""A pipeline run as Markdown, fit for a CI job summary (`pipeline run --report FILE`)."""

from __future__ import annotations

import time
from typing import Any

HEADLINE = {"ok": "passed", "gate_failed": "a gate failed", "failed": "a stage failed",
            "cancelled": "cancelled", "interrupted": "interrupted", "running": "running"}


def _secs(x: float | None) -> str:
    return "" if x is None else f"{x:.1f} s"


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _outputs(outputs: dict[str, Any]) -> str:
    return ", ".join(f"{k}: `{v}`" for k, v in outputs.items())


def markdown_report(run: Any) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.started))
    lines = [f"# Pipeline `{run.pipeline}`: {HEADLINE.get(run.status, run.status)}", "",
             f"Run `{run.run_id}` started {when}, took {_secs(run.duration) or '?'}; "
             f"exit code {run.exit_code}.", ""]
    if run.message:
        lines += [run.message, ""]
    cached = [n for n, r in run.stages.items() if r.status == "cached"]
    lines += ["| stage | kind | status | time | outputs | message |", "|---|---|---|---|---|---|"]
    for name, rec in run.stages.items():
        lines.append(f"| {_cell(name)} | {rec.kind} | **{rec.status}** | {_secs(rec.duration)} | "
                     f"{_cell(_outputs(rec.outputs))} | {_cell(rec.message)} |")
    if cached:
        lines += ["", "Reused cached results: " + ", ".join(
            f"`{n}` (from run `{run.stages[n].cached_from}`)" for n in cached) + "."]
    for name, rec in run.stages.items():
        if not rec.gates:
            continue
        verdict = "passed" if rec.gates.get("passed") else "FAILED"
        lines += ["", f"## Gates of stage `{name}`: {verdict}", "",
                  "| gate | metric | value | threshold | verdict |", "|---|---|---|---|---|"]
        for r in rec.gates.get("results", []):
            value = r.get("value")
            value = f"{value:.4g}" if isinstance(value, float) else value
            lines.append(f"| {_cell(r.get('name', ''))} | {_cell(r.get('metric', ''))} | {_cell(value)} | "
                         f"{_cell(r.get('threshold', ''))} | {r.get('verdict', '')} |")
    failed = [(n, r) for n, r in run.stages.items() if r.status in ("failed", "gate_failed")]
    if failed:
        lines += ["", "## What went wrong", ""]
        lines += [f"- `{n}` ({r.status.replace('_', ' ')}): {r.message}" for n, r in failed]
    return "\n".join(lines) + "\n"
