"""Data stage kinds: ingest, validate_data, clean and split, each one call to the data services."""

from __future__ import annotations

from tui_mlops.errors import InputError
from tui_mlops.pipeline.stages import StageContext, StageResult


def run_ingest(ctx: StageContext) -> StageResult:
    from tui_mlops.data.ingest import IngestOptions, ingest_file

    path = ctx.path("path")
    opts = IngestOptions(name=ctx.param("name"), format=ctx.param("format"),
                         types={str(k): str(v) for k, v in ctx.param("types", {}).items()})
    res = ingest_file(ctx.home, path, opts, cancel=ctx.cancel)
    v = res.version
    ctx.log(f"{'registered' if res.created else 'already registered'} {v.ref} ({v.rows} rows) from {path}")
    return StageResult("ok", {"version": v.ref}, f"{v.ref}: {v.rows} rows")


def run_validate_data(ctx: StageContext) -> StageResult:
    from tui_mlops.data.rules import load_rules, validate

    v = ctx.dataset("input")
    path = ctx.path("rules_file")
    report = validate(ctx.home, v, load_rules(path) if path is not None else None)
    results = []
    for r in report.results:
        ctx.log(f"{'pass' if r.passed else 'FAIL'} {r.rule.label}: {r.message}")
        results.append({"name": r.rule.label, "verdict": "pass" if r.passed else "fail",
                        "value": r.failing, "threshold": f"{r.checked} rows checked", "message": r.message})
    gates = {"passed": report.passed, "results": results}
    outputs = {"version": v.ref, "passed": report.passed}
    if not report.passed:
        names = ", ".join(r.rule.label for r in report.failed)
        return StageResult("gate_failed", outputs, f"{v.ref}: {len(report.failed)} of {len(report.results)} "
                                                    f"rules failed: {names}", gates)
    return StageResult("ok", outputs, f"{v.ref}: all {len(report.results)} rules passed", gates)


def run_clean(ctx: StageContext) -> StageResult:
    from tui_mlops.data.clean import clean, parse_step

    steps_raw = ctx.param("steps")
    bad = [s for s in steps_raw if not isinstance(s, str)]
    if bad:
        raise InputError(f"steps must be strings like \"drop_duplicates\", not {bad[0]!r}")
    v = ctx.dataset("input")
    steps = [parse_step(s) for s in steps_raw]
    out, created = clean(ctx.home, v, steps, into=ctx.param("into"))
    ctx.log(f"{'wrote' if created else 'found'} {out.ref} ({out.rows} rows) from {v.ref}")
    return StageResult("ok", {"version": out.ref}, f"{out.ref}: {out.rows} rows")


def run_split(ctx: StageContext) -> StageResult:
    from tui_mlops.data.split import split

    v = ctx.dataset("input")
    kw = {"method": ctx.param("method", "random"), "seed": ctx.param("seed", 42),
          "stratify": ctx.param("stratify"), "time_column": ctx.param("time_column"),
          "cutoffs": ctx.param("cutoffs")}
    if ctx.param("ratios") is not None:
        kw["ratios"] = ctx.param("ratios")
    parts = split(ctx.home, v, **kw)
    outputs = {name: part.ref for name, part in parts.items()}
    for name, part in parts.items():
        ctx.log(f"{name}: {part.ref} ({part.rows} rows)")
    return StageResult("ok", outputs, ", ".join(f"{n} {p.rows}" for n, p in parts.items()) + " rows")
