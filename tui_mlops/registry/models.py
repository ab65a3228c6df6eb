"""Named model versions and their aliases, kept as events in <home>/registry/events.jsonl (the truth;
appended under a flock so version numbers and seqs are never shared) and folded on read."""

from __future__ import annotations

import fcntl
import os
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from tui_mlops.errors import InputError, NotFoundError, StoreError
from tui_mlops.store.events import append_events, read_events
from tui_mlops.store.home import Home, check_name

EVENTS_FILE = "events.jsonl"
PRODUCTION = "production"
_ALIAS_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_VERSION_RE = re.compile(r"^[vV]?([0-9]+)$")


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    run_id: str
    created: float
    user: str
    dataset: str | None
    lineage: list[str]
    task: str | None
    model_type: str | None
    metrics: dict[str, float]
    artifact: dict[str, Any]
    gates: dict[str, Any] | None
    aliases: tuple[str, ...] = ()
    note: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["aliases"] = list(self.aliases)
        d["gates_status"] = gates_status(self)
        return d


@dataclass(frozen=True)
class AliasMove:
    name: str
    alias: str
    version: int | None      # None: the alias was removed
    previous: int | None
    user: str
    ts: float
    reason: str | None = None
    forced: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ModelSummary:
    name: str
    versions: int
    latest: int
    aliases: dict[str, int] = field(default_factory=dict)
    updated: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def current_user() -> str:
    user = os.environ.get("MLOPS_TUI_USER", "").strip()
    if user:
        return user
    try:
        import getpass

        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return "unknown"


def gates_status(mv: ModelVersion) -> str:
    """passed / failed / not validated."""
    if not mv.gates or mv.gates.get("passed") is None:
        return "not validated"
    return "passed" if mv.gates.get("passed") else "failed"


# -- folding the log ------------------------------------------------------------------------------
@dataclass
class _State:
    versions: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    aliases: dict[str, dict[str, int]] = field(default_factory=dict)
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    updated: dict[str, float] = field(default_factory=dict)
    seq: int = 0


_CACHE: dict[str, tuple[tuple[int, int], _State]] = {}
_CACHE_LOCK = threading.Lock()


def _events_path(home: Home) -> Path:
    return home.registry_dir / EVENTS_FILE


def _fold(events: list[dict[str, Any]]) -> _State:
    st = _State()
    for e in events:
        try:
            st.seq = max(st.seq, int(e.get("seq") or 0))
            kind, name = e.get("type"), str(e["name"])
            ts = float(e.get("ts") or 0.0)
            if kind == "version":
                st.versions.setdefault(name, {})[int(e["version"])] = dict(e)
            elif kind == "gates":
                v = st.versions.get(name, {}).get(int(e["version"]))
                if v is None:
                    continue
                v["gates"] = {"passed": e.get("passed"), "results": e.get("results") or [],
                              "report_id": e.get("report_id")}
            elif kind == "alias":
                table = st.aliases.setdefault(name, {})
                if e.get("version") is None:
                    table.pop(str(e["alias"]), None)
                else:
                    table[str(e["alias"])] = int(e["version"])
                st.history.setdefault(name, []).append(dict(e))
            else:
                continue
            st.updated[name] = max(st.updated.get(name, 0.0), ts)
        except (KeyError, TypeError, ValueError):
            continue  # a malformed event (hand-edited log) is skipped, never fatal
    return st


def _state(home: Home) -> _State:
    """The folded registry, re-read only when the log's size or mtime changed."""
    path = _events_path(home)
    try:
        st = os.stat(path)
        key = (st.st_size, st.st_mtime_ns)
    except FileNotFoundError:
        return _State()
    with _CACHE_LOCK:
        hit = _CACHE.get(str(path))
        if hit is not None and hit[0] == key:
            return hit[1]
    state = _fold(read_events(path)[0])
    with _CACHE_LOCK:
        _CACHE[str(path)] = (key, state)
    return state


def _locked(home: Home, make: Callable[[_State], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Under the log's flock: fold it, let `make` decide the events, append them with the next seqs."""
    path = _events_path(home)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StoreError(f"cannot open the registry log {path}: {exc.strerror or exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        state = _state(home)
        events = make(state)
        if events:
            seq, now = state.seq, time.time()
            for e in events:
                seq += 1
                e["seq"], e["ts"] = seq, now
            try:
                append_events(path, events)
            except OSError as exc:
                raise StoreError(f"cannot write the registry log {path}: {exc.strerror or exc}") from exc
        return events
    finally:
        os.close(fd)  # releases the lock


def _model_version(state: _State, name: str, version: int) -> ModelVersion:
    e = state.versions[name][version]
    aliases = tuple(sorted(a for a, v in state.aliases.get(name, {}).items() if v == version))
    return ModelVersion(name=name, version=version, run_id=str(e.get("run_id")), created=float(e.get("ts") or 0),
                        user=str(e.get("user") or ""), dataset=e.get("dataset"), lineage=list(e.get("lineage") or []),
                        task=e.get("task"), model_type=e.get("model_type"), metrics=dict(e.get("metrics") or {}),
                        artifact=dict(e.get("artifact") or {}), gates=dict(e["gates"]) if e.get("gates") else None,
                        aliases=aliases, note=e.get("note"))


def _move(e: dict[str, Any]) -> AliasMove:
    return AliasMove(name=str(e["name"]), alias=str(e["alias"]), version=e.get("version"),
                     previous=e.get("previous"), user=str(e.get("user") or ""), ts=float(e.get("ts") or 0),
                     reason=e.get("reason"), forced=bool(e.get("forced")))


def _versions(state: _State, name: str) -> dict[int, dict[str, Any]]:
    check_name(name, "model name")
    found = state.versions.get(name)
    if not found:
        raise NotFoundError(f"no model named {name!r} (see `mlops-tui models list`)")
    return found


def _version_number(version: Any) -> int:
    m = _VERSION_RE.match(str(version).strip())
    if isinstance(version, bool) or not m or int(m.group(1)) < 1:
        raise InputError(f"invalid model version {version!r}: use a number like 3 or v3")
    return int(m.group(1))


def _check_version(state: _State, name: str, version: Any) -> int:
    versions = _versions(state, name)
    number = _version_number(version)
    if number not in versions:
        raise NotFoundError(f"model {name} has no version {number} (versions 1-{max(versions)})")
    return number


def check_alias(alias: str) -> str:
    if not isinstance(alias, str) or not _ALIAS_RE.match(alias) or _VERSION_RE.match(alias) or alias == "latest":
        raise InputError(f"invalid alias {alias!r}: use 1-64 letters, digits, '_' or '-', starting with a "
                         f"letter (not 'latest' or a version like v3)")
    return alias


# -- reading --------------------------------------------------------------------------------------
def list_models(home: Home) -> list[ModelSummary]:
    state = _state(home)
    return [ModelSummary(name, len(vs), max(vs), dict(sorted(state.aliases.get(name, {}).items())),
                         state.updated.get(name, 0.0))
            for name, vs in sorted(state.versions.items()) if vs]


def get_versions(home: Home, name: str) -> list[ModelVersion]:
    """Every version of a model, oldest first."""
    state = _state(home)
    return [_model_version(state, name, v) for v in sorted(_versions(state, name))]


def alias_history(home: Home, name: str) -> list[AliasMove]:
    """Every alias move of a model, oldest first."""
    state = _state(home)
    _versions(state, name)
    return [_move(e) for e in state.history.get(name, [])]


def resolve_model(home: Home, ref: str) -> ModelVersion:
    """`NAME` (latest version), `NAME@latest`, `NAME@ALIAS`, `NAME@3` or `NAME@v3`."""
    name, at, sel = str(ref).strip().partition("@")
    if at and not sel:
        raise InputError(f"invalid model reference {ref!r}: nothing after '@'")
    state = _state(home)
    versions = _versions(state, name)
    if not sel or sel == "latest":
        return _model_version(state, name, max(versions))
    if _VERSION_RE.match(sel):
        return _model_version(state, name, _check_version(state, name, sel))
    aliases = state.aliases.get(name, {})
    if sel not in aliases:
        known = ", ".join(sorted(aliases)) or "none"
        raise NotFoundError(f"model {name} has no alias {sel!r} (aliases: {known})")
    return _model_version(state, name, aliases[sel])


def versions_of_run(home: Home, run_id: str) -> list[ModelVersion]:
    state = _state(home)
    return [_model_version(state, name, v) for name, vs in sorted(state.versions.items())
            for v in sorted(vs) if vs[v].get("run_id") == run_id]


def production(home: Home, name: str) -> ModelVersion | None:
    state = _state(home)
    version = state.aliases.get(name, {}).get(PRODUCTION)
    if version is None or version not in state.versions.get(name, {}):
        return None
    return _model_version(state, name, version)


# -- registering ----------------------------------------------------------------------------------
def register_model(home: Home, run_ref: str, name: str, *, note: str | None = None,
                   user: str | None = None) -> ModelVersion:
    """A new version of `name` from a finished run's model; the run's existing version if it already
    is one of `name` (registering twice makes no duplicate)."""
    from tui_mlops.registry.run_facts import run_facts

    check_name(name, "model name")
    facts = run_facts(home, run_ref)
    found: list[int] = []

    def make(state: _State) -> list[dict[str, Any]]:
        versions = state.versions.get(name, {})
        same = [v for v, e in versions.items() if e.get("run_id") == facts["run_id"]]
        if same:
            found.append(min(same))
            return []
        found.append(max(versions, default=0) + 1)
        return [{"type": "version", "name": name, "version": found[0], "user": user or current_user(),
                 "note": note, **facts}]

    _locked(home, make)
    return _model_version(_state(home), name, found[0])


def record_gates(home: Home, name: str, version: int, outcome: dict[str, Any], report_id: str,
                 run_id: str) -> None:
    """Store a validation report's gate outcome on a version (the latest one counts)."""

    def make(state: _State) -> list[dict[str, Any]]:
        number = _check_version(state, name, version)
        owner = state.versions[name][number].get("run_id")
        if owner != run_id:
            raise InputError(f"model {name} v{number} is run {owner}, not run {run_id}")
        return [{"type": "gates", "name": name, "version": number, "run_id": run_id, "report_id": report_id,
                 "passed": bool(outcome.get("passed")), "results": list(outcome.get("results") or [])}]

    _locked(home, make)


# -- aliases --------------------------------------------------------------------------------------
def _failed_gates(gates: dict[str, Any]) -> str:
    names = [str(r.get("name") or r.get("message") or "?") for r in gates.get("results") or []
             if isinstance(r, dict) and r.get("verdict") == "fail"]
    return ", ".join(names) or "see its validation report"


def set_alias(home: Home, name: str, version: Any, alias: str, *, reason: str | None = None,
              force: bool = False, user: str | None = None) -> AliasMove:
    """Point `alias` at a version (moving it off any other). Promotion to production of a version
    whose latest gates failed needs force=True and a reason, both recorded."""
    check_alias(alias)
    reason = " ".join(str(reason).split()) if reason is not None else None
    if force and not reason:
        raise InputError("a forced promotion needs --reason")

    def make(state: _State) -> list[dict[str, Any]]:
        number = _check_version(state, name, version)
        gates = state.versions[name][number].get("gates")
        failed = alias == PRODUCTION and isinstance(gates, dict) and gates.get("passed") is False
        if failed and not force:
            raise InputError(f"model {name} v{number} failed its gates ({_failed_gates(gates)}): "
                             f"promote with --force --reason TEXT")
        return [{"type": "alias", "name": name, "alias": alias, "version": number,
                 "previous": state.aliases.get(name, {}).get(alias), "user": user or current_user(),
                 "reason": reason, "forced": bool(failed)}]

    return _move(_locked(home, make)[0])


def remove_alias(home: Home, name: str, alias: str, *, reason: str | None = None,
                 user: str | None = None) -> AliasMove:
    check_alias(alias)

    def make(state: _State) -> list[dict[str, Any]]:
        _versions(state, name)
        previous = state.aliases.get(name, {}).get(alias)
        if previous is None:
            raise NotFoundError(f"model {name} has no alias {alias!r}")
        return [{"type": "alias", "name": name, "alias": alias, "version": None, "previous": previous,
                 "user": user or current_user(), "reason": reason, "forced": False}]

    return _move(_locked(home, make)[0])
