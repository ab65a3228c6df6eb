"""The pipeline file `mlops.toml`: parsed into a PipelineSpec, every error naming its TOML line."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_mlops.errors import InputError

TOP_TABLES = ("pipeline", "stages", "triggers")
PIPELINE_KEYS = ("name", "executor", "scheduler", "max_parallel")
EXECUTORS = ("local", "dask")
RESERVED = ("kind", "after")
# Params that may name another stage's output ("STAGE" or "STAGE.OUTPUT"). Used when the kind
# table (stages.KINDS) does not say which of its params are references.
REF_PARAMS: dict[str, tuple[str, ...]] = {
    "validate_data": ("input",), "clean": ("input",), "split": ("input",),
    "train": ("dataset", "valid"), "sweep": ("dataset", "valid"),
    "validate": ("run", "data"), "register": ("run",), "promote": ("version",),
    "predict": ("model", "data"),
}
# Of those, the params that can only name a stage (a dataset ref would make no sense).
STAGE_ONLY = ("run", "version")


class PipelineFileError(InputError):
    """The pipeline file is invalid (CLI exit code 3)."""

    exit_code = 3


@dataclass(frozen=True)
class StageSpec:
    name: str
    kind: str
    params: dict[str, Any]
    inputs: dict[str, str]  # param -> "STAGE" or "STAGE.OUTPUT"
    after: tuple[str, ...]
    line: int

    @property
    def deps(self) -> tuple[str, ...]:
        """Upstream stage names (data inputs first, then `after`), without repeats."""
        heads = [ref.partition(".")[0] for ref in self.inputs.values()]
        return tuple(dict.fromkeys([*heads, *self.after]))


@dataclass(frozen=True)
class PipelineSpec:
    name: str
    path: Path
    root: Path
    executor: str = "local"
    scheduler: str | None = None
    max_parallel: int = 2
    stages: dict[str, StageSpec] = field(default_factory=dict)
    triggers: dict[str, Any] = field(default_factory=dict)
    triggers_line: int = 0


class _Lines:
    """Where tables and keys sit in the TOML text (tomllib gives values but no positions)."""

    _HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
    _KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_.\-"' ]+?)\s*=""")

    def __init__(self, text: str) -> None:
        self.tables: dict[tuple[str, ...], int] = {}
        self.keys: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        for n, line in enumerate(text.splitlines(), start=1):
            m = self._HEADER.match(line)
            if m:
                table = _split_key(m.group(1))
                self.tables.setdefault(table, n)
                continue
            m = self._KEY.match(line)
            if m:
                full = table + _split_key(m.group(1))
                for i in range(len(table) + 1, len(full) + 1):
                    self.keys.setdefault(full[:i], n)  # dotted keys also place their parents

    def table(self, *path: str) -> int:
        found = self.tables.get(path) or self.keys.get(path)
        if found:
            return found
        # `[stages.x.params]` alone still places `stages.x`; dotted keys place their parents too.
        deeper = [n for p, n in (*self.tables.items(), *self.keys.items()) if p[:len(path)] == path]
        return min(deeper, default=0)

    def key(self, *path: str) -> int:
        return self.keys.get(path) or self.table(*path[:-1])


def _split_key(text: str) -> tuple[str, ...]:
    parts = re.findall(r'"([^"]*)"|\'([^\']*)\'|([^.\s]+)', text)
    return tuple(a or b or c for a, b, c in parts)


def _toml() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    return tomllib


def _type_ok(value: Any, typ: Any) -> bool:
    if isinstance(typ, tuple):
        return any(_type_ok(value, t) for t in typ)
    if isinstance(typ, str):
        typ = {"str": str, "int": int, "float": float, "bool": bool, "list": list, "dict": dict,
               "path": str, "ref": str}.get(typ.split("[")[0], object)
    if typ is bool:
        return isinstance(value, bool)
    if typ is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if typ is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, typ)


def _type_name(typ: Any) -> str:
    if isinstance(typ, tuple):
        return " or ".join(_type_name(t) for t in typ)
    if isinstance(typ, str):
        return typ
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false",
            list: "a list", dict: "a table"}.get(typ, getattr(typ, "__name__", str(typ)))


def _kind_params(kind: Any) -> dict[str, tuple]:
    params = getattr(kind, "params", None)
    return dict(params) if params is not None else {}


def _kind_outputs(kind: Any) -> tuple[str, ...]:
    return tuple(getattr(kind, "outputs", ()) or ())


def load_pipeline(path: str | Path, home: Any = None) -> PipelineSpec:
    """Parse and check a pipeline file; with `home`, bare dataset refs must exist there too."""
    path = Path(path)
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PipelineFileError(f"{label}: no such pipeline file (`mlops-tui init` writes an example)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PipelineFileError(f"{label}: cannot read the pipeline file: {exc}") from None
    tomllib = _toml()
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        where = f" line {m.group(1)}" if m else ""
        raise PipelineFileError(f"{label}{where}: invalid TOML: {re.sub(r' ?[(]at line.*[)]', '', msg)}") from None
    lines = _Lines(text)

    def fail(line: int, msg: str) -> PipelineFileError:
        return PipelineFileError(f"{label} line {line}: {msg}" if line else f"{label}: {msg}")

    for key in doc:
        if key not in TOP_TABLES:
            raise fail(lines.table(key), f"unknown table [{key}] (tables: {', '.join(TOP_TABLES)})")
    head = doc.get("pipeline", {})
    if not isinstance(head, dict):
        raise fail(lines.key("pipeline"), "[pipeline] must be a table")
    for key in head:
        if key not in PIPELINE_KEYS:
            raise fail(lines.key("pipeline", key), f"[pipeline]: unknown key {key!r} (keys: {', '.join(PIPELINE_KEYS)})")

    def head_value(key: str, typ: Any, default: Any) -> Any:
        value = head.get(key, default)
        if key in head and not _type_ok(value, typ):
            raise fail(lines.key("pipeline", key), f"[pipeline]: {key} must be {_type_name(typ)}, got {value!r}")
        return value

    from tui_mlops.store.home import check_name, name_from_filename

    root = path.resolve().parent
    name = head_value("name", str, name_from_filename(root.name))
    try:
        check_name(name, "pipeline name")
    except InputError as exc:
        raise fail(lines.key("pipeline", "name"), str(exc)) from None
    executor = head_value("executor", str, "local")
    if executor not in EXECUTORS:
        raise fail(lines.key("pipeline", "executor"), f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    scheduler = head_value("scheduler", str, None)
    max_parallel = head_value("max_parallel", int, 2)
    if max_parallel < 1:
        raise fail(lines.key("pipeline", "max_parallel"), f"max_parallel must be >= 1, got {max_parallel}")

    raw = doc.get("stages", {})
    if not isinstance(raw, dict) or not raw:
        raise fail(lines.table("stages"), "no stages: add at least one [stages.NAME] table")
    from tui_mlops.pipeline.stages import KINDS

    stages: dict[str, StageSpec] = {}
    for sname, body in raw.items():
        sline = lines.table("stages", sname)
        where = f"stage {sname!r}"
        if not isinstance(body, dict):
            raise fail(sline, f"{where}: must be a table [stages.{sname}]")
        try:
            check_name(sname, "stage name")
        except InputError as exc:
            raise fail(sline, str(exc)) from None
        kind = body.get("kind")
        if kind is None:
            raise fail(sline, f"{where}: no kind (kinds: {', '.join(KINDS)})")
        if kind not in KINDS:
            raise fail(lines.key("stages", sname, "kind"), f"{where}: unknown kind {kind!r} (kinds: {', '.join(KINDS)})")
        declared = _kind_params(KINDS[kind])
        after = body.get("after", [])
        if isinstance(after, str):
            after = [after]
        if not isinstance(after, list) or not all(isinstance(a, str) for a in after):
            raise fail(lines.key("stages", sname, "after"), f"{where}: after must be a list of stage names")
        params = {k: v for k, v in body.items() if k not in RESERVED}
        for key, value in params.items():
            if key not in declared:
                raise fail(lines.key("stages", sname, key),
                           f"{where}: unknown param {key!r} for kind {kind!r} (params: {', '.join(declared) or 'none'})")
            typ = declared[key][0]
            if not _type_ok(value, typ):
                raise fail(lines.key("stages", sname, key),
                           f"{where}: {key} must be {_type_name(typ)}, got {value!r}")
        for key, spec in declared.items():
            required = len(spec) > 1 and bool(spec[1])
            if required and key not in params:
                raise fail(sline, f"{where}: missing param {key!r} for kind {kind!r}")
        stages[sname] = StageSpec(sname, kind, params, {}, tuple(after), sline)

    # References need every stage known first: a stage may name one declared below it.
    for sname, st in list(stages.items()):
        where = f"stage {sname!r}"
        inputs: dict[str, str] = {}
        kind = KINDS[st.kind]
        refs = getattr(kind, "refs", None)
        if refs is None:
            refs = {k: ("run" if k in STAGE_ONLY else "dataset") for k in REF_PARAMS.get(st.kind, ())}
        for key, role in dict(refs).items():
            value = st.params.get(key)
            line = lines.key("stages", sname, key)
            if role == "map" and isinstance(value, dict):
                for sub, item in value.items():
                    if isinstance(item, str) and _stage_ref(stages, sname, item, line, fail, where, key):
                        inputs[f"{key}.{sub}"] = item
                continue
            if not isinstance(value, str):
                continue
            if _stage_ref(stages, sname, value, line, fail, where, key):
                inputs[key] = value
            elif home is not None:
                _check_external(home, spec_root(path), role, value, fail(line, ""), where, key)
            elif role in STAGE_ONLY and "@" not in value:
                raise fail(line, f"{where}: missing input: {key} = {value!r} names no stage "
                                 f"(stages: {', '.join(stages)})")
        if home is not None and not st.deps:
            for key in getattr(kind, "paths", ()):
                value = st.params.get(key)
                if isinstance(value, str) and not (spec_root(path) / value).expanduser().exists():
                    raise fail(lines.key("stages", sname, key),
                               f"{where}: missing input: {key} = {value!r}: no such file in {spec_root(path)}")
        for dep in st.after:
            if dep not in stages:
                raise fail(lines.key("stages", sname, "after"),
                           f"{where}: missing input: after names no stage {dep!r} (stages: {', '.join(stages)})")
        stages[sname] = StageSpec(sname, st.kind, st.params, inputs, st.after, st.line)

    from tui_mlops.pipeline.dag import find_cycle

    cycle = find_cycle(stages)
    if cycle:
        raise fail(stages[cycle[0]].line, f"stages {' -> '.join(cycle)} form a cycle")
    triggers = doc.get("triggers", {})
    if not isinstance(triggers, dict):
        raise fail(lines.key("triggers"), "[triggers] must be a table")
    return PipelineSpec(name=name, path=path.resolve(), root=root, executor=executor, scheduler=scheduler,
                        max_parallel=max_parallel, stages=stages, triggers=triggers,
                        triggers_line=lines.table("triggers"))


def spec_root(path: Path) -> Path:
    return Path(path).resolve().parent


def _stage_ref(stages: dict[str, StageSpec], sname: str, value: str, line: int, fail: Any, where: str,
               key: str) -> bool:
    """True when `value` names a stage ("STAGE" / "STAGE.OUTPUT"); a bad output or self-reference raises."""
    from tui_mlops.pipeline.stages import KINDS

    head_name, dot, out = value.partition(".")
    if head_name not in stages or "@" in value:
        return False
    if head_name == sname:
        raise fail(line, f"stages {sname} -> {sname} form a cycle")
    outputs = _kind_outputs(KINDS[stages[head_name].kind])
    if dot and outputs and out not in outputs:
        raise fail(line, f"{where}: {key} = {value!r}: stage {head_name!r} has no output {out!r} "
                         f"(outputs: {', '.join(outputs)})")
    return True


def _check_external(home: Any, root: Path, role: str, value: str, err: PipelineFileError, where: str,
                    key: str) -> None:
    """A value that names no stage must name something that exists now: a dataset, model, run or file."""
    from tui_mlops.errors import MlopsError

    prefix = str(err).rstrip(": ")
    try:
        if role == "data" and (root / value).expanduser().is_file():
            return
        if role in ("dataset", "data"):
            from tui_mlops.data.versions import resolve

            resolve(home, value)
        elif role == "model":
            from tui_mlops.registry.models import resolve_model

            resolve_model(home, value)
        elif role == "run":
            from tui_mlops.jobs.manager import resolve_run

            resolve_run(home, value)
    except MlopsError as exc:
        raise PipelineFileError(f"{prefix}: {where}: missing input: {key} = {value!r} names no stage and "
                                f"no {role} ({exc})") from None


INIT_TEMPLATE = '''\
# mlops-tui pipeline: `mlops-tui pipeline run` runs these stages in dependency order, independent
# stages in parallel. A stage is skipped ("cached") while its params and the fingerprints of its
# inputs are unchanged since its last successful run; --force runs it anyway.
# Exit codes: 0 success, 1 a gate failed, 2 a stage errored, 3 this file is invalid.

[pipeline]
name = "churn"                 # records live in <home>/pipelines/<name>/
executor = "local"             # or "dask" (pip install 'mlops-tui[dask]')
# scheduler = "local:2"        # dask only: "tcp://host:8786" or "local:N"
max_parallel = 2               # stages run at the same time, at most

[stages.ingest]
kind = "ingest"
path = "data/churn.csv"        # relative to this file's folder
name = "churn"

[stages.split]
kind = "split"
input = "ingest"               # a stage name (its output) or a dataset ref "NAME@VER"
method = "stratified"
stratify = "churned"
seed = 1

[stages.train]
kind = "train"
dataset = "split.train"        # "STAGE.OUTPUT" picks one named output of a stage
valid = "split.valid"
target = "churned"
model = "lightgbm"
params = { num_threads = 1, num_iterations = 50 }

[stages.gate]
kind = "validate"
run = "train"
data = "split.test"
gates = [ { metric = "auc", min = 0.75 } ]     # or gates_file = "gates.toml"

[stages.register]
kind = "register"
run = "train"
model = "churn"
after = ["gate"]               # register only a model that passed its gates

[stages.promote]
kind = "promote"
version = "register"
alias = "production"

[stages.report]
kind = "shell"
command = "echo pipeline done"
after = ["promote"]            # ordering without a data dependency
'''
