"""Monitor specs and alert rules: create, list, read, remove monitors (monitors/<name>/monitor.json)
and parse the alert rule syntax shared by the CLI and the app."""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from tui_mlops.errors import InputError, NotFoundError
from tui_mlops.store.home import Home, atomic_write_json, check_name, read_json

SPEC_FILE = "monitor.json"
REFERENCE_FILE = "reference.json"
EVENTS_FILE = "events.jsonl"
ALERTS_FILE = "alerts.jsonl"
FOLDERS = ("incoming", "labels", "processed", "failed", "scores", "labelled")
ALERT_KINDS = ("drift_share", "feature", "quality", "no_batch")
DEFAULT_WINDOW_ROWS = 5000
_TIME_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def as_home(home: Any) -> Home:
    return home if isinstance(home, Home) else Home.open(home)


def monitor_dir(home: Any, name: str) -> Path:
    return as_home(home).monitors_dir / check_name(name, "monitor name")


def parse_duration(text: str, what: str = "window") -> float:
    """'90s', '30m', '1h', '1d', '2w' -> seconds."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-z]+)\s*", str(text).lower())
    if not m or m.group(2) not in _TIME_UNITS or float(m.group(1)) <= 0:
        raise InputError(f"invalid {what} {text!r}: use a number and a unit, e.g. 30m, 1h, 1d")
    return float(m.group(1)) * _TIME_UNITS[m.group(2)]


@dataclass(frozen=True)
class AlertRule:
    name: str
    kind: str                       # drift_share | feature | quality | no_batch
    threshold: float
    feature: str | None = None      # "*" = any feature
    windows: int = 1                # K consecutive windows
    metric: str | None = None       # quality: auc, accuracy, ...
    source: str = "realized"        # realized | estimated
    minutes: float | None = None    # no_batch
    command: str | None = None
    trigger: str | None = None      # "pipeline"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AlertRule":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass(frozen=True)
class MonitorSpec:
    name: str
    model: str
    model_version: int
    run_id: str
    task: str
    reference: str
    features: list[str]
    target: str
    id_column: str | None = None
    time_column: str | None = None
    prediction_column: str = "prediction"
    score_column: str = "score"
    methods: dict[str, str] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    default_method: str = "auto"
    dataset_share: float = 0.5
    window_rows: int | None = DEFAULT_WINDOW_ROWS
    window_time: str | None = None
    sigma: float = 3.0
    alerts: tuple[AlertRule, ...] = ()
    created: float = 0.0
    user: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["alerts"] = [r.to_dict() for r in self.alerts]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "MonitorSpec":
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        kw["features"] = list(kw.get("features") or [])
        kw["alerts"] = tuple(AlertRule.from_dict(r) for r in kw.get("alerts") or [])
        return cls(**kw)


# -- alert rule syntax ----------------------------------------------------------------------------
_RULE_RE = re.compile(r"^(?P<head>[A-Za-z_]+)(?::(?P<arg>[^<>]+?))?\s*(?P<op>[<>])\s*(?P<num>[0-9.eE+-]+)"
                      r"(?P<unit>m|min|h|s)?(?:\s*x\s*(?P<k>[0-9]+))?$")


def parse_alert(text: str) -> AlertRule:
    """'drift_share>0.3', 'feature:age>0.2x3', 'feature:*>0.2x2', 'quality:auc<0.7',
    'estimated:accuracy<0.8', 'no_batch>30m'; optional '; run=CMD' and/or '; trigger=pipeline'."""
    raw = str(text).strip()
    head, *opts = [p.strip() for p in raw.split(";")]
    command = trigger = None
    for opt in opts:
        key, eq, value = opt.partition("=")
        key = key.strip().lower()
        if key == "run" and eq and value.strip():
            command = value.strip()
        elif key == "trigger" and value.strip() == "pipeline":
            trigger = "pipeline"
        else:
            raise InputError(f"alert rule {raw!r}: unknown option {opt!r} (use run=CMD or trigger=pipeline)")
    m = _RULE_RE.match(head.replace(" ", ""))
    if not m:
        raise InputError(f"invalid alert rule {raw!r}: e.g. drift_share>0.3, feature:age>0.2x3, "
                         f"quality:auc<0.7, estimated:accuracy<0.8, no_batch>30m")
    kind, arg, op, unit = m.group("head").lower(), m.group("arg"), m.group("op"), m.group("unit")
    try:
        value = float(m.group("num"))
    except ValueError:
        raise InputError(f"alert rule {raw!r}: {m.group('num')!r} is not a number") from None
    k = int(m.group("k") or 1)
    if k < 1:
        raise InputError(f"alert rule {raw!r}: the window count must be at least 1")
    base = {"name": head.replace(" ", ""), "threshold": value, "windows": k, "command": command, "trigger": trigger}
    if kind == "drift_share" and op == ">" and not arg and not unit:
        return AlertRule(kind="drift_share", **base)
    if kind == "feature" and op == ">" and arg and not unit:
        return AlertRule(kind="feature", feature=arg.strip(), **base)
    if kind in ("quality", "realized", "estimated") and arg and op == "<" and not unit:
        return AlertRule(kind="quality", metric=arg.strip().lower(),
                         source="estimated" if kind == "estimated" else "realized", **base)
    if kind == "quality" and arg and op == ">" and not unit:   # error metrics: quality:rmse>3
        return AlertRule(kind="quality", metric=arg.strip().lower(), **base)
    if kind == "no_batch" and op == ">" and not arg:
        minutes = value * {"h": 60.0, "s": 1 / 60}.get(unit or "m", 1.0)
        return AlertRule(kind="no_batch", minutes=minutes, **{**base, "threshold": minutes})
    raise InputError(f"invalid alert rule {raw!r}: e.g. drift_share>0.3, feature:age>0.2x3, "
                     f"quality:auc<0.7, estimated:accuracy<0.8, no_batch>30m")


def _rules(alerts: Any) -> tuple[AlertRule, ...]:
    out = []
    for r in alerts or ():
        rule = r if isinstance(r, AlertRule) else parse_alert(r) if isinstance(r, str) else AlertRule.from_dict(r)
        if rule.kind not in ALERT_KINDS:
            raise InputError(f"alert rule {rule.name!r}: unknown kind {rule.kind!r}")
        out.append(rule)
    names = [r.name for r in out]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise InputError(f"alert rule {dup!r} is given twice")
    return tuple(out)


# -- reading and writing specs --------------------------------------------------------------------
def get_monitor(home: Any, name: str) -> MonitorSpec:
    path = monitor_dir(home, name) / SPEC_FILE
    try:
        return MonitorSpec.from_dict(read_json(path))
    except FileNotFoundError:
        raise NotFoundError(f"no monitor named {name!r} (see `mlops-tui monitor list`)") from None
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path}: unreadable monitor spec ({exc})") from None


def list_monitors(home: Any) -> list[MonitorSpec]:
    root = as_home(home).monitors_dir
    out = []
    for d in sorted(root.iterdir()) if root.is_dir() else []:
        if (d / SPEC_FILE).is_file():
            try:
                out.append(get_monitor(home, d.name))
            except (InputError, NotFoundError):
                continue
    return out


def save_spec(home: Any, spec: MonitorSpec) -> None:
    atomic_write_json(monitor_dir(home, spec.name) / SPEC_FILE, spec.to_dict())


def set_alerts(home: Any, name: str, rules: list[Any]) -> MonitorSpec:
    spec = replace(get_monitor(home, name), alerts=_rules(rules))
    save_spec(home, spec)
    return spec


def remove_monitor(home: Any, name: str) -> None:
    folder = monitor_dir(home, name)
    if not (folder / SPEC_FILE).is_file():
        raise NotFoundError(f"no monitor named {name!r} (see `mlops-tui monitor list`)")
    (folder / SPEC_FILE).unlink()    # first: a half-removed folder is no monitor
    shutil.rmtree(folder, ignore_errors=True)


def _id_default(columns: list[str]) -> str | None:
    if "id" in columns:
        return "id"
    return next((c for c in columns if c.lower().endswith("_id")), None)


def create_monitor(home: Any, name: str, model_ref: str, *, reference: str | None = None,
                   id_column: str | None = None, time_column: str | None = None,
                   window_rows: int | None = None, window_time: str | None = None,
                   methods: dict[str, str] | None = None, thresholds: dict[str, float] | None = None,
                   default_method: str = "auto", alerts: Any = None, replace: bool = False,
                   dataset_share: float = 0.5, sigma: float = 3.0, target: str | None = None) -> MonitorSpec:
    """A monitor on a registered model; summarises the reference once into reference.json.
    `target`: the label column of label files, for a model that does not record it (an import)."""
    import polars as pl

    from tui_mlops.data.versions import resolve, snapshot_path
    from tui_mlops.monitoring.reference import build_reference, check_methods
    from tui_mlops.registry.models import current_user, resolve_model
    from tui_mlops.training.artifacts import load_model

    home = as_home(home)
    folder = monitor_dir(home, name)
    if (folder / SPEC_FILE).exists() and not replace:
        raise InputError(f"monitor {name!r} already exists (remove it first, or replace it)")
    if window_rows is not None and window_time is not None:
        raise InputError("give a window by rows or by time, not both")
    if window_time is not None:
        parse_duration(window_time)
    if window_rows is not None and int(window_rows) < 1:
        raise InputError(f"window rows must be at least 1, got {window_rows}")
    mv = resolve_model(home, model_ref)
    model = load_model(home, mv.run_id)
    ref_ref = reference or mv.dataset
    if not ref_ref:
        raise InputError(f"model {mv.ref} records no training data: give a reference (NAME@VERSION)")
    v = resolve(home, ref_ref)
    frame = pl.read_parquet(snapshot_path(home, v))
    features = list(model.pipeline.inputs)
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise InputError(f"reference {v.ref} has no column {missing[0]!r} (the model needs {', '.join(features)})")
    known = str(model.pipeline.target["name"])
    if target is not None and not str(target).strip():
        raise InputError("empty target column name")
    if target is not None and known and target != known:
        raise InputError(f"model {mv.ref} was trained on target {known!r}, not {target!r}")
    target = known or (target or "")
    for what, col in (("id", id_column), ("time", time_column)):
        if col is not None and not str(col).strip():
            raise InputError(f"empty {what} column name")
    rules = _rules(alerts)
    spec = MonitorSpec(
        name=name, model=model_ref, model_version=mv.version, run_id=mv.run_id, task=model.task, reference=v.ref,
        features=features, target=target, id_column=id_column if id_column is not None else _id_default(frame.columns),
        time_column=time_column, methods=dict(methods or {}), thresholds={k: float(x) for k, x in (thresholds or {}).items()},
        default_method=default_method, dataset_share=float(dataset_share),
        window_rows=None if window_time else int(window_rows or DEFAULT_WINDOW_ROWS), window_time=window_time,
        sigma=float(sigma), alerts=rules, created=time.time(), user=current_user())
    check_methods(spec)
    ref = build_reference(home, spec, model, frame)
    if replace and folder.exists():
        # Start over: the old history was judged against another reference. Waiting files stay.
        for sub in ("processed", "failed", "scores", "labelled"):
            shutil.rmtree(folder / sub, ignore_errors=True)
        for f in (EVENTS_FILE, ALERTS_FILE, "alerts.log"):
            (folder / f).unlink(missing_ok=True)
    for sub in FOLDERS:
        (folder / sub).mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / REFERENCE_FILE, ref)
    save_spec(home, spec)   # last: monitor.json marks a complete monitor
    return spec
