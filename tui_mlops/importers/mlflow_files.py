"""Reader of MLflow's file store (mlruns/): the shared record types, a small safe YAML reader for its
meta.yaml files, and artifact-URI re-rooting. Never imports mlflow, never unpickles."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from tui_mlops.errors import InputError

# MLflow's RunStatus numbers (file store) and names (SQLite) -> our statuses.
STATUS_NAMES = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
OUR_STATUS = {"RUNNING": "running", "SCHEDULED": "queued", "FINISHED": "finished", "FAILED": "failed",
              "KILLED": "cancelled"}



@dataclass
class MlExperiment:
    id: str
    name: str


@dataclass
class MlRun:
    uuid: str
    experiment: str
    name: str
    status: str                 # MLflow's name: RUNNING, FINISHED, ...
    start_ms: int | None
    end_ms: int | None
    params: dict[str, str]
    tags: dict[str, str]
    artifact_dir: Path | None
    where: str                  # the file or table it came from, for errors
    handle: Any = None          # reader-specific (the run folder, or None)
    inputs: list[dict[str, Any]] = field(default_factory=list)  # logged datasets (dataset_input)


def dataset_input(name: Any, digest: Any, source_type: Any, source: Any, schema: Any, profile: Any,
                  tags: dict[str, Any]) -> dict[str, Any]:
    """A logged dataset input as we keep it: MLflow's fields, the source's URI pulled out."""
    uri = source
    try:
        parsed = json.loads(source) if isinstance(source, str) else None
        if isinstance(parsed, dict):
            uri = parsed.get("uri") or parsed.get("url") or parsed.get("path") or source
    except ValueError:
        pass
    tags = {str(k): str(v) for k, v in tags.items()}
    return {"name": str(name or ""), "digest": str(digest or ""), "source_type": str(source_type or ""),
            "source": str(uri or ""), "context": tags.pop("mlflow.data.context", ""), "tags": tags,
            "schema": schema, "profile": profile}


@dataclass
class MlModelVersion:
    name: str
    version: int
    run_uuid: str | None
    source: str
    storage_location: str | None
    aliases: list[str] = field(default_factory=list)
    where: str = ""


# -- YAML: MLflow's meta.yaml is flat `key: value` (plus small nested maps and lists) -------------
def _scalar(text: str) -> Any:
    t = text.strip()
    if t in ("", "null", "~"):
        return None
    if t[:1] in ("'", '"') and t[-1:] == t[:1] and len(t) >= 2:
        inner = t[1:-1]
        return inner.replace("''", "'") if t[0] == "'" else inner.encode().decode("unicode_escape")
    if t == "[]":
        return []
    if t == "{}":
        return {}
    if t in ("true", "false"):
        return t == "true"
    try:
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        return t


def _open_quote(value: str) -> bool:
    """Whether a quoted YAML scalar starts here but does not end on this line."""
    t = value.strip()
    if t[:1] == "'":
        return not (len(t) >= 2 and t[1:].replace("''", "").endswith("'"))
    if t[:1] == '"':
        body = t[1:]
        return not (body.endswith('"') and (len(body) - len(body[:-1].rstrip("\\")) - 1) % 2 == 0)
    return False


def _joined_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line), a quoted scalar that YAML folded over several lines joined into one
    (its line breaks become spaces, as YAML reads them): MLflow writes long dataset schemas so."""
    out: list[tuple[int, str]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        no, line = i + 1, lines[i]
        i += 1
        _, sep, value = line.partition(":")
        if sep and _open_quote(value):
            while i < len(lines) and _open_quote(line.partition(":")[2]):
                line = line.rstrip() + " " + lines[i].strip()
                i += 1
        out.append((no, line))
    return out


def read_meta(path: Path) -> dict[str, Any]:
    """The top-level keys of a meta.yaml (nested maps one level deep, lists of scalars)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: missing (an MLflow store needs it); the store looks damaged") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    out: dict[str, Any] = {}
    parent: str | None = None
    level = 0  # the indent of the current key's children; deeper lines are not needed
    for no, line in _joined_lines(text):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        body = line.strip()
        if indent and parent is not None:
            level = level or indent
            if indent > level:
                continue
            if body.startswith("- "):
                if not isinstance(out[parent], list):
                    out[parent] = []
                out[parent].append(_scalar(body[2:]))
                continue
            key, sep, value = body.partition(":")
            if sep:
                if not isinstance(out[parent], dict):
                    out[parent] = {}
                out[parent][_scalar(key)] = _scalar(value)
            continue  # deeper nesting: not needed for any field we read
        if indent:
            continue
        if body.startswith("- ") and parent is not None:
            if not isinstance(out[parent], list):
                out[parent] = []
            out[parent].append(_scalar(body[2:]))
            continue
        key, sep, value = body.partition(":")
        if not sep:
            raise InputError(f"{path}, line {no}: not a 'key: value' line")
        key = key.strip()
        out[key] = _scalar(value) if value.strip() else None
        parent, level = key, 0
    return out


# -- artifact URIs ---------------------------------------------------------------------------------
def local_path(uri: str | None, bases: list[Path]) -> Path | None:
    """The local folder of an artifact URI; a path from another machine is re-rooted on `bases`
    (the longest tail of it that exists under one of them)."""
    if not uri:
        return None
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file") and len(parsed.scheme) > 1:
        return None  # s3://, mlflow-artifacts:/, models:/ ... are not local
    raw = Path(unquote(parsed.path if parsed.scheme else uri))
    if raw.is_absolute() and raw.exists():
        return raw
    parts = [p for p in raw.parts if p not in ("/", "")]
    for i in range(len(parts) - 1):  # at least <run>/artifacts: a bare 'artifacts' matches too much
        tail = Path(*parts[i:])
        for base in bases:
            cand = base / tail
            if cand.exists():
                return cand
    return None


# -- the file store --------------------------------------------------------------------------------
def _kv_folder(folder: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if not folder.is_dir():
        return out
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            p = Path(dirpath) / name
            try:
                out[p.relative_to(folder).as_posix()] = p.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise InputError(f"{p}: cannot read ({exc})") from None
    return out


def _ms(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class FileStore:
    """An mlruns/ folder: experiments are <id>/meta.yaml, runs <id>/<run>/meta.yaml."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bases = [root, root.parent]
        self.where = str(root)

    def experiments(self) -> list[MlExperiment]:
        out = []
        for entry in sorted(os.listdir(self.root)):
            folder = self.root / entry
            if entry.startswith(".") or entry == "models" or not folder.is_dir():
                continue
            meta = read_meta(folder / "meta.yaml")
            if meta.get("lifecycle_stage") == "deleted":
                continue
            out.append(MlExperiment(str(meta.get("experiment_id", entry)), str(meta.get("name") or entry)))
        return out

    def runs(self, exp: MlExperiment) -> list[MlRun]:
        folder = self.root / exp.id
        out = []
        for entry in sorted(os.listdir(folder)):
            rdir = folder / entry
            if entry.startswith(".") or entry in ("models", "datasets", "traces") or not rdir.is_dir():
                continue
            meta_path = rdir / "meta.yaml"
            meta = read_meta(meta_path)
            if meta.get("lifecycle_stage") == "deleted":
                continue
            uuid = str(meta.get("run_uuid") or meta.get("run_id") or entry)
            status = meta.get("status")
            status = STATUS_NAMES.get(status, str(status)) if isinstance(status, int) else str(status or "FINISHED")
            tags = _kv_folder(rdir / "tags")
            art = local_path(meta.get("artifact_uri"), self.bases) or (rdir / "artifacts")
            inputs = self._inputs(rdir, folder / "datasets")
            out.append(MlRun(uuid=uuid, experiment=exp.name, name=str(meta.get("run_name") or tags.get(
                "mlflow.runName") or uuid[:8]), status=status, start_ms=_ms(meta.get("start_time")),
                end_ms=_ms(meta.get("end_time")), params=_kv_folder(rdir / "params"), tags=tags,
                artifact_dir=art if art.is_dir() else None, where=str(meta_path), handle=rdir, inputs=inputs))
        return out

    def _inputs(self, rdir: Path, datasets: Path) -> list[dict[str, Any]]:
        """The datasets a run logged: inputs/<id>/meta.yaml points to the experiment's datasets/<id>."""
        folder = rdir / "inputs"
        if not folder.is_dir():
            return []
        out = []
        for entry in sorted(os.listdir(folder)):
            meta = read_meta(folder / entry / "meta.yaml")
            if str(meta.get("source_type")) != "DATASET":
                continue
            ds = read_meta(datasets / str(meta.get("source_id")) / "meta.yaml")
            tags = meta.get("tags") if isinstance(meta.get("tags"), dict) else {}
            out.append(dataset_input(ds.get("name"), ds.get("digest"), ds.get("source_type"), ds.get("source"),
                                     ds.get("schema"), ds.get("profile"), tags))
        return out

    def metric_frame(self, runs: list[MlRun]) -> Any:
        """The points of these runs as one frame (mlflow_points' columns), parsed in bulk."""
        from tui_mlops.importers.mlflow_points import file_store_points  # it imports this module

        return file_store_points([r.handle for r in runs])

    def model_versions(self) -> list[MlModelVersion]:
        models = self.root / "models"
        out: list[MlModelVersion] = []
        if not models.is_dir():
            return out
        for name in sorted(os.listdir(models)):
            mdir = models / name
            if not mdir.is_dir():
                continue
            meta = read_meta(mdir / "meta.yaml")
            aliases = {str(k): int(v) for k, v in (meta.get("aliases") or {}).items()} if isinstance(
                meta.get("aliases"), dict) else {}
            adir = mdir / "aliases"
            if adir.is_dir():
                for a in os.listdir(adir):
                    aliases[a] = int((adir / a).read_text().strip())
            for entry in sorted(os.listdir(mdir)):
                if not entry.startswith("version-"):
                    continue
                vpath = mdir / entry / "meta.yaml"
                v = read_meta(vpath)
                number = int(v.get("version") or entry.split("-", 1)[1])
                out.append(MlModelVersion(
                    name=str(meta.get("name") or name), version=number, run_uuid=v.get("run_id") or None,
                    source=str(v.get("source") or ""), storage_location=v.get("storage_location") or None,
                    aliases=sorted(a for a, n in aliases.items() if n == number), where=str(vpath)))
        return out

    def close(self) -> None:
        return None


def parse_metric_file(path: Path) -> list[tuple[int, float, int]]:
    """Lines `timestamp value step` (old stores: no step); a malformed line is an InputError."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    tokens = data.split()
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    try:
        if len(tokens) == 3 * lines:
            # Every line counts, duplicates too (MLflow 3 re-logs a run's metrics for its logged model),
            # as MLflow's own get_metric_history returns them.
            return list(zip(map(int, tokens[0::3]), map(float, tokens[1::3]), map(int, tokens[2::3])))
    except ValueError:
        pass
    # The slow path finds the bad line (or reads an old two-column file, where every line has two).
    out = []
    text = data.decode("utf-8", "replace").splitlines()
    width = len(text[0].split()) if text else 3
    for no, line in enumerate(text, 1):
        parts = line.split()
        try:
            if len(parts) == width == 2:
                out.append((int(parts[0]), float(parts[1]), 0))
                continue
            if len(parts) == width and width in (3, 4):  # logged-model metrics add the run id
                out.append((int(parts[0]), float(parts[1]), int(parts[2])))
                continue
        except ValueError:
            pass
        raise InputError(f"{path}, line {no}: not 'timestamp value step' ({line[:60]!r}); the file is truncated "
                         f"or corrupt")
    return out
