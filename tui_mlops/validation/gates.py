"""Quality gates: thresholds declared in TOML `[[gates]]` tables, checked against a validation report
(pass / fail / skip per gate; the outcome passes when no gate fails)."""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tui_mlops.errors import InputError

ON = ("holdout", "cv_mean", "cv_std", "ci_lower", "ci_upper", "drift_share", "vs_production")
KEYS = ("name", "on", "metric", "min", "max", "max_drop")
GATES_DIR = "gates"


@dataclass(frozen=True)
class Gate:
    name: str
    on: str = "holdout"
    metric: str | None = None
    min: float | None = None
    max: float | None = None
    max_drop: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GateOutcome:
    passed: bool
    results: list[dict[str, Any]] = field(default_factory=list)
    # each: {"name","on","metric","verdict": "pass"|"fail"|"skip","value","threshold","message"}

    @property
    def failed(self) -> list[str]:
        return [r["name"] for r in self.results if r["verdict"] == "fail"]

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "results": [dict(r) for r in self.results]}


def _toml() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10 (GPU boxes)
        import tomli as tomllib
    return tomllib


def _known_metrics() -> tuple[str, ...]:
    from tui_mlops.validation import metrics as M

    return tuple(dict.fromkeys((*M.CLASSIFICATION, *M.MULTICLASS, *M.REGRESSION)))


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def default_name(on: str, metric: str | None, lo: float | None, hi: float | None, drop: float | None) -> str:
    what = "drift_share" if on == "drift_share" else (metric if on == "holdout" else f"{on} {metric}")
    if on == "vs_production":
        return f"{metric} vs production (drop <= {_fmt(drop or 0.0)})"
    if lo is not None and hi is not None:
        return f"{what} in [{_fmt(lo)}, {_fmt(hi)}]"
    return f"{what} >= {_fmt(lo)}" if lo is not None else f"{what} <= {_fmt(hi if hi is not None else 0.0)}"


def _number(value: Any, where: str, key: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{where}: {key} must be a number, not {value!r}")
    return float(value)


def parse_gates(obj: Any, source: str) -> list[Gate]:
    """Gates from a list of tables (a TOML file's or the pipeline file's `[[gates]]`); errors name
    `source` and the gate's 1-based index."""
    if not isinstance(obj, list):
        raise InputError(f"{source}: gates must be [[gates]] tables, not {type(obj).__name__}")
    known = _known_metrics()
    gates: list[Gate] = []
    names: set[str] = set()
    for i, entry in enumerate(obj, 1):
        where = f"{source}: gate {i}"
        if not isinstance(entry, dict):
            raise InputError(f"{where}: expected a table of {', '.join(KEYS)}, not {entry!r}")
        extra = [k for k in entry if k not in KEYS]
        if extra:
            raise InputError(f"{where}: unknown key {extra[0]!r} (keys: {', '.join(KEYS)})")
        on = entry.get("on", "holdout")
        if on not in ON:
            raise InputError(f"{where}: unknown on = {on!r} (one of: {', '.join(ON)})")
        metric = entry.get("metric")
        if on == "drift_share":
            if metric is not None:
                raise InputError(f"{where}: a drift_share gate takes no metric")
        elif not isinstance(metric, str) or not metric:
            raise InputError(f"{where}: needs metric = \"...\" (one of: {', '.join(known)})")
        elif metric not in known:
            raise InputError(f"{where}: unknown metric {metric!r} (metrics: {', '.join(known)})")
        lo = _number(entry.get("min"), where, "min")
        hi = _number(entry.get("max"), where, "max")
        drop = _number(entry.get("max_drop"), where, "max_drop")
        if on == "vs_production":
            if drop is None or lo is not None or hi is not None:
                raise InputError(f"{where}: a vs_production gate takes max_drop (and no min or max)")
            if drop < 0:
                raise InputError(f"{where}: max_drop must be >= 0, not {_fmt(drop)}")
        else:
            if drop is not None:
                raise InputError(f"{where}: max_drop is only for on = \"vs_production\"")
            if lo is None and hi is None:
                raise InputError(f"{where}: give min or max (or both)")
            if lo is not None and hi is not None and lo > hi:
                raise InputError(f"{where}: min {_fmt(lo)} is above max {_fmt(hi)}")
        name = entry.get("name")
        if name is None:
            name = default_name(on, metric, lo, hi, drop)
        elif not isinstance(name, str) or not name.strip():
            raise InputError(f"{where}: name must be non-empty text, not {name!r}")
        if name in names:
            raise InputError(f"{where}: the name {name!r} is used by an earlier gate")
        names.add(name)
        gates.append(Gate(name.strip(), on, metric, lo, hi, drop))
    return gates


def load_gates(path: str | Path) -> list[Gate]:
    """Gates from a TOML file of `[[gates]]` tables."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"gate file {p} does not exist") from None
    except OSError as exc:
        raise InputError(f"cannot read gate file {p}: {exc.strerror or exc}") from None
    toml = _toml()
    try:
        doc = toml.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{p}: not UTF-8 text") from None
    except toml.TOMLDecodeError as exc:
        # tomllib's message ends with "(at line N, column M)".
        raise InputError(f"{p}: invalid TOML: {exc}") from None
    extra = [k for k in doc if k != "gates"]
    if extra:
        raise InputError(f"{p}: unknown top-level key {extra[0]!r} (expected [[gates]] tables)")
    if "gates" not in doc:
        raise InputError(f"{p}: no [[gates]] tables")
    return parse_gates(doc["gates"], str(p))


def experiment_gates(home: Any, experiment: str | None) -> list[Gate] | None:
    """The gates in <home>/gates/<experiment>.toml, or None when there is no such file."""
    if not experiment or "/" in experiment or "\\" in experiment or experiment.startswith("."):
        return None  # not a name a gates file can have
    path = Path(home.root) / GATES_DIR / f"{experiment}.toml"
    return load_gates(path) if path.is_file() else None


# -- evaluation ------------------------------------------------------------------------------------
def _part(report: Any, name: str) -> Any:
    return report.get(name) if isinstance(report, dict) else getattr(report, name, None)


def _lookup(gate: Gate, report: Any) -> tuple[float | None, str]:
    """(the value the gate checks, why it is missing when None)."""
    m = gate.metric
    if gate.on == "holdout":
        holdout = _part(report, "holdout") or {}
        return holdout.get(m), f"no holdout metric {m!r} for this model (task {_part(report, 'task')})"
    if gate.on in ("cv_mean", "cv_std"):
        cv = _part(report, "cv")
        if not cv:
            return None, "cross-validation was not run (folds 0)"
        entry = (cv.get("metrics") or {}).get(m)
        if entry is None:
            return None, f"cross-validation has no metric {m!r}"
        return entry.get("mean" if gate.on == "cv_mean" else "std"), f"cross-validation has no {m!r} value"
    if gate.on in ("ci_lower", "ci_upper"):
        ci = _part(report, "ci")
        if not ci:
            return None, "bootstrap confidence intervals were not computed (bootstrap 0)"
        entry = ci.get(m)
        if entry is None:
            return None, f"no confidence interval for {m!r}"
        return entry.get("lo" if gate.on == "ci_lower" else "hi"), f"no confidence interval for {m!r}"
    if gate.on == "drift_share":
        drift = _part(report, "drift")
        if not drift:
            return None, "drift was not computed"
        return drift.get("share_drifted"), "drift was not computed"
    # vs_production: how much worse the challenger is than production (negative = better)
    champ = _part(report, "champion")
    if not champ:
        return None, "no comparison with production (turned off)"
    if champ.get("skipped"):
        return None, str(champ["skipped"])
    prod = (champ.get("metrics") or {}).get(m)
    mine = (_part(report, "holdout") or {}).get(m)
    if prod is None or mine is None:
        return None, f"no {m!r} for both this model and production"
    from tui_mlops.validation.metrics import higher_is_better

    return (prod - mine) if higher_is_better(m) else (mine - prod), ""


def _threshold(gate: Gate) -> str:
    if gate.on == "vs_production":
        return f"drop <= {_fmt(gate.max_drop or 0.0)}"
    if gate.min is not None and gate.max is not None:
        return f"in [{_fmt(gate.min)}, {_fmt(gate.max)}]"
    return f">= {_fmt(gate.min)}" if gate.min is not None else f"<= {_fmt(gate.max or 0.0)}"


def evaluate_gate(gate: Gate, report: Any) -> dict[str, Any]:
    value, why = _lookup(gate, report)
    label = "drift share" if gate.on == "drift_share" else (
        f"{gate.metric} drop vs production" if gate.on == "vs_production" else
        (gate.metric if gate.on == "holdout" else f"{gate.metric} {gate.on}"))
    out = {"name": gate.name, "on": gate.on, "metric": gate.metric, "verdict": "skip", "value": None,
           "threshold": _threshold(gate), "message": why}
    if value is None:
        return out
    value = float(value)
    out["value"] = value
    if not math.isfinite(value):
        out.update(verdict="fail", message=f"{label} is not a number")
        return out
    if gate.on == "vs_production":
        ok = value <= (gate.max_drop or 0.0)
        worse = "worse" if value > 0 else "better"
        msg = f"{gate.metric} is {_fmt(abs(value))} {worse} than production (allowed drop {_fmt(gate.max_drop or 0.0)})"
    elif gate.min is not None and value < gate.min:
        ok, msg = False, f"{label} {_fmt(value)} is below the minimum {_fmt(gate.min)}"
    elif gate.max is not None and value > gate.max:
        ok, msg = False, f"{label} {_fmt(value)} is above the maximum {_fmt(gate.max)}"
    else:
        ok, msg = True, f"{label} {_fmt(value)} {_threshold(gate)}"
    out.update(verdict="pass" if ok else "fail", message=msg)
    return out


def evaluate_gates(gates: list[Gate], report: Any) -> GateOutcome:
    """Each gate's verdict on `report` (a ValidationReport or its dict); skipped gates do not fail."""
    results = [evaluate_gate(g, report) for g in gates]
    return GateOutcome(passed=not any(r["verdict"] == "fail" for r in results), results=results)
