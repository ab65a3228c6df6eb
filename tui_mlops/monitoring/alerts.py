"""Monitor alerts: evaluate a monitor's rules on its state, fire once per episode, run the user's
command or drop a pipeline trigger, and keep the append-only alert log (alerts.jsonl)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COMMAND_TIMEOUT_S = 30.0
# Batch statuses whose problems also go to the alert log (the fault list).
PROBLEM_STATUSES = ("problems", "failed")
# Drift methods whose score is a p-value (small = drift): feature rules judge them the other way.
P_VALUE_METHODS = ("ks", "chisquare", "z")


@dataclass
class Verdict:
    """One rule evaluated on a state: bad is None when there is nothing to judge yet."""

    bad: bool | None
    value: float | None
    message: str


def _root(home: Any) -> Path:
    # A Home, or a plain path (whose own `.root` is "/", so test the type first).
    return Path(home) if isinstance(home, (str, os.PathLike)) else Path(home.root)


def monitor_dir(home: Any, name: str) -> Path:
    return _root(home) / "monitors" / name


def alerts_path(home: Any, name: str) -> Path:
    return monitor_dir(home, name) / "alerts.jsonl"


def read_alerts(home: Any, name: str) -> list[dict]:
    """Every event in the alert log, oldest first; a torn last line (a writer mid-append) is skipped."""
    path = alerts_path(home, name)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    out: list[dict] = []
    for line in data.splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if isinstance(ev, dict):
            out.append(ev)
    return out


def open_episodes(events: list[dict]) -> dict[str, dict]:
    """rule name -> its "fired" event, for every rule whose last event is "fired" (still open)."""
    last: dict[str, dict] = {}
    for ev in events:
        if ev.get("type") in ("fired", "resolved") and ev.get("rule"):
            last[str(ev["rule"])] = ev
    return {rule: ev for rule, ev in last.items() if ev.get("type") == "fired"}


# -- rule evaluation (pure) ----------------------------------------------------------------------
def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def _drift_share(rule: Any, state: Any) -> Verdict:
    windows = getattr(state, "windows", None) or []
    if not windows:
        return Verdict(None, None, "no window yet")
    share = _num((windows[-1].get("drift") or {}).get("share"))
    if share is None:
        return Verdict(None, None, "latest window has no drift share")
    bad = share > rule.threshold
    return Verdict(bad, share, f"dataset drift share {_fmt(share)} {'>' if bad else '<='} {_fmt(rule.threshold)}")


def _feature_series(state: Any, col: str, k: int) -> list[tuple[float | None, str | None]]:
    """(score, method) of `col` in the last k windows; the method comes from the window's drift."""
    windows = list(getattr(state, "windows", None) or [])[-k:]
    scores = list((getattr(state, "features", None) or {}).get(col) or [])[-k:]
    out = []
    for i, w in enumerate(windows[-len(scores):] if scores else []):
        entry = next((c for c in (w.get("drift") or {}).get("columns") or []
                      if isinstance(c, dict) and c.get("column") == col), {})
        out.append((_num(entry.get("score", scores[i])), entry.get("method")))
    return out


def _beyond(score: float, method: str | None, threshold: float) -> bool:
    # A p-value drifts downwards: "beyond the threshold" means below it for those methods.
    return score < threshold if method in P_VALUE_METHODS else score > threshold


def _severity(score: float, method: str | None, threshold: float) -> float:
    if method in P_VALUE_METHODS:
        return threshold / max(score, 1e-300)
    return score / threshold if threshold > 0 else score


def _feature(rule: Any, state: Any) -> Verdict:
    k = max(1, int(getattr(rule, "windows", 1) or 1))
    features: dict[str, list] = getattr(state, "features", None) or {}
    wanted = list(features) if rule.feature in (None, "*") else [rule.feature]
    judged = False
    hits: list[tuple[float, str, float, str | None]] = []
    latest: list[float] = []
    for col in wanted:
        series = _feature_series(state, col, k)
        if len(series) < k or any(s is None for s, _ in series):
            continue
        judged = True
        score, method = series[-1]
        latest.append(score)  # type: ignore[arg-type]
        if all(_beyond(s, m, rule.threshold) for s, m in series):  # type: ignore[arg-type]
            hits.append((_severity(score, method, rule.threshold), col, score, method))  # type: ignore[arg-type]
    if not judged:
        return Verdict(None, None, f"fewer than {k} window score(s) for {rule.feature or '*'}")
    span = f"for {k} window(s)" if k > 1 else "in the latest window"
    if hits:
        hits.sort(reverse=True)
        _, col, value, method = hits[0]
        what = f"{method} p-value {_fmt(value)} <" if method in P_VALUE_METHODS else f"drift score {_fmt(value)} >"
        others = f" (+{len(hits) - 1} more feature(s))" if len(hits) > 1 else ""
        return Verdict(True, value, f"feature {col} {what} {_fmt(rule.threshold)} {span}{others}")
    value = max(latest) if latest else None
    return Verdict(False, value, f"no feature beyond {_fmt(rule.threshold)} {span}")


def _quality(rule: Any, state: Any) -> Verdict:
    from tui_mlops.validation.metrics import higher_is_better

    source = getattr(rule, "source", None) or "realized"
    metric = rule.metric or ""
    value = None
    for w in reversed(getattr(state, "windows", None) or []):
        # Labels arrive late: judge the latest window that has the metric at all.
        value = _num((w.get(source) or {}).get(metric))
        if value is not None:
            break
    if value is None:
        return Verdict(None, None, f"no {source} {metric} yet")
    higher = higher_is_better(metric)
    bad = value < rule.threshold if higher else value > rule.threshold
    worse = ("below" if higher else "above") if bad else ("at or above" if higher else "at or below")
    return Verdict(bad, value, f"{source} {metric} {_fmt(value)} {worse} {_fmt(rule.threshold)}")


def _no_batch(rule: Any, state: Any, now: float) -> Verdict:
    minutes = _num(getattr(rule, "minutes", None))
    if minutes is None:
        minutes = _num(rule.threshold) or 0.0
    last = _num(getattr(state, "last_batch_ts", None))
    since = "the last batch"
    if last is None:
        # A monitor that never saw a batch is silent since it was created.
        last, since = _num(getattr(getattr(state, "spec", None), "created", None)), "the monitor was created"
    if last is None:
        return Verdict(None, None, "no batch and no creation time")
    idle = max(0.0, (now - last) / 60.0)
    bad = idle > minutes
    return Verdict(bad, idle, f"{_fmt(idle)} min since {since} ({'>' if bad else '<='} {_fmt(minutes)} min)")


def evaluate(rule: Any, state: Any, *, now: float | None = None) -> Verdict:
    """Judge one rule on a MonitorState-like object (windows, features, last_batch_ts, spec)."""
    kind = rule.kind
    if kind == "drift_share":
        return _drift_share(rule, state)
    if kind == "feature":
        return _feature(rule, state)
    if kind == "quality":
        return _quality(rule, state)
    if kind == "no_batch":
        return _no_batch(rule, state, time.time() if now is None else now)
    return Verdict(None, None, f"unknown rule kind {kind!r}")


# -- check: episodes, log, side effects -----------------------------------------------------------
class _Locked:
    """An exclusive lock on alerts.jsonl.lock: the app and a headless runner may check at once."""

    def __init__(self, path: Path) -> None:
        self.path = path.with_name(path.name + ".lock")
        self.fd = -1

    def __enter__(self) -> "_Locked":
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: Any) -> None:
        import fcntl

        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _append(path: Path, events: list[dict]) -> None:
    if not events:
        return
    data = "".join(json.dumps(ev, sort_keys=True, default=str) + "\n" for ev in events).encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _latest_seq(state: Any) -> int | None:
    batches = getattr(state, "batches", None) or []
    seqs = [b.get("seq") for b in batches if isinstance(b.get("seq"), int)]
    return max(seqs) if seqs else None


def _problem_text(event: dict, what: str) -> str:
    lines = [str(x) for x in event.get("problems") or []] or [str(event.get("error") or event.get("status"))]
    name = str(event.get("file") or event.get("key") or "")
    text = "; ".join(lines)
    # The engine's problem lines usually name the file already.
    return text if name and text.startswith(name) else f"{what}{name}: {text}"


def _problem_events(state: Any, logged: list[dict], ts: float) -> list[dict]:
    """Batches with problems not yet in the log (by batch key, else seq: each is logged once)."""
    done = {ev.get("batch_key") or ev.get("batch_seq") for ev in logged if ev.get("type") == "problem"}
    out = []
    for b in getattr(state, "batches", None) or []:
        seq = b.get("seq")
        ident = b.get("key") or seq
        if b.get("status") not in PROBLEM_STATUSES or ident is None or ident in done:
            continue
        done.add(ident)
        out.append({"type": "problem", "rule": None, "message": _problem_text(b, ""), "value": None,
                    "ts": ts, "batch_seq": seq,
                    "batch_key": b.get("key"), "status": b.get("status")})
    # Labels files: ids never seen, duplicate ids, unreadable files.
    done = {ev.get("labels_key") for ev in logged if ev.get("type") == "problem"}
    for lab in getattr(state, "labels", None) or []:
        key = lab.get("key")
        if lab.get("status") not in PROBLEM_STATUSES or not key or key in done:
            continue
        done.add(key)
        out.append({"type": "problem", "rule": None, "message": _problem_text(lab, "labels "), "value": None,
                    "ts": ts, "batch_seq": None,
                    "labels_key": key, "status": lab.get("status")})
    return out


def check(home: Any, name: str, state: Any, *, now: float | None = None) -> list[dict]:
    """Evaluate the monitor's rules on `state`; log what changed; returns the new events.

    A rule fires when it enters its bad state and resolves when it leaves; staying bad (or having
    nothing to judge) writes nothing, so each episode fires once. Commands and triggers run after
    the log is written, outside the lock.
    """
    now = time.time() if now is None else float(now)
    spec = state.spec
    rules = list(getattr(spec, "alerts", None) or ())
    path = alerts_path(home, name)
    seq = _latest_seq(state)
    new: list[dict] = []
    with _Locked(path):
        logged = read_alerts(home, name)
        opened = open_episodes(logged)
        for rule in rules:
            v = evaluate(rule, state, now=now)
            if v.bad is None:
                continue
            is_open = rule.name in opened
            if v.bad and not is_open:
                new.append({"type": "fired", "rule": rule.name, "kind": rule.kind, "message": v.message,
                            "value": v.value, "ts": now, "batch_seq": seq})
            elif not v.bad and is_open:
                new.append({"type": "resolved", "rule": rule.name, "kind": rule.kind, "message": v.message,
                            "value": v.value, "ts": now, "batch_seq": seq})
        # A rule taken out of the spec (or edited: its name is its text) closes its open episode.
        current = {r.name for r in rules}
        for gone in sorted(set(opened) - current):
            new.append({"type": "resolved", "rule": gone, "kind": opened[gone].get("kind"),
                        "message": "rule removed from the monitor", "value": None, "ts": now, "batch_seq": seq})
        new.extend(_problem_events(state, logged, now))
        _append(path, new)
    by_name = {r.name: r for r in rules}
    for ev in new:
        rule = by_name.get(ev.get("rule") or "")
        if ev["type"] != "fired" or rule is None:
            continue
        if getattr(rule, "command", None):
            run_command(home, name, rule, ev)
        if getattr(rule, "trigger", None) == "pipeline":
            write_trigger(home, name, rule, ev)
    return new


def run_command(home: Any, name: str, rule: Any, event: dict) -> int | None:
    """Run the rule's shell command (the user's own config) with MLOPS_ALERT_* set; its output,
    exit status, timeout or start failure goes to alerts.log. Never raises; returns the exit code."""
    log = monitor_dir(home, name) / "alerts.log"
    env = dict(os.environ)
    env.update({"MLOPS_ALERT_MONITOR": name, "MLOPS_ALERT_RULE": str(rule.name),
                "MLOPS_ALERT_MESSAGE": str(event.get("message") or ""),
                "MLOPS_ALERT_VALUE": "" if event.get("value") is None else repr(float(event["value"])),
                "MLOPS_ALERT_EVENT": str(event.get("type"))})
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.get("ts") or time.time()))
    rc: int | None = None
    try:
        with open(log, "ab") as fh:
            fh.write(f"[{stamp}] {rule.name}: {rule.command}\n".encode())
            fh.flush()
            try:
                proc = subprocess.run(rule.command, shell=True, env=env, cwd=monitor_dir(home, name),
                                      stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                                      timeout=COMMAND_TIMEOUT_S)
                rc = proc.returncode
                tail = f"exit {rc}" + ("" if rc == 0 else " (command failed)")
            except subprocess.TimeoutExpired:
                tail = f"killed after {COMMAND_TIMEOUT_S:g} s (timeout)"
            except OSError as exc:
                tail = f"could not start: {exc}"
            fh.write(f"[{stamp}] {rule.name}: {tail}\n".encode())
    except OSError:
        pass  # an unwritable log must not stop the monitor
    return rc


def write_trigger(home: Any, name: str, rule: Any, event: dict) -> Path:
    """<home>/triggers/<ts>-<monitor>.json, written atomically, for the pipeline runner (issue 6)."""
    from tui_mlops.store.home import atomic_write_json

    ts = float(event.get("ts") or time.time())
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(ts)) + f"{int(ts * 1000) % 1000:03d}Z"
    folder = _root(home) / "triggers"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{stamp}-{name}.json"
    n = 1
    while target.exists():
        n += 1
        target = folder / f"{stamp}-{name}-{n}.json"
    atomic_write_json(target, {"source": "monitor", "monitor": name, "rule": rule.name, "ts": ts,
                               "message": event.get("message"), "value": event.get("value"),
                               "batch_seq": event.get("batch_seq")})
    return target

