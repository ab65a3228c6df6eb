"""Import an MLflow store into ours: each MLflow run becomes a run folder with events.jsonl (id derived
from MLflow's run id, so re-imports are idempotent and incremental), then registered models."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tui_mlops.errors import InputError, MlopsError
from tui_mlops.importers.mlflow_files import OUR_STATUS, FileStore, MlModelVersion, MlRun, local_path, read_meta
from tui_mlops.store.events import append_events, read_events
from tui_mlops.store.home import Home

NOTE_TAG, PARENT_TAG, RUN_TAG = "mlflow.note.content", "mlflow.parentRunId", "mlflow.run_id"
COUNTED = ("experiments", "runs", "params", "metric_points", "artifacts", "model_versions")


@dataclass
class ImportResult:
    source: str
    added: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTED, 0))
    present: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTED, 0))
    skipped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def our_run_id(uuid: str) -> str:
    return hashlib.sha256(f"mlflow:{uuid}".encode()).hexdigest()[:12]


def open_source(path_or_uri: str) -> Any:
    """A reader for an mlruns folder, an mlflow.db file, or a file:// / sqlite:/// URI."""
    text = str(path_or_uri)
    if text.startswith("sqlite:///"):
        path = Path(text[len("sqlite:///"):] if text.startswith("sqlite:////") else text[len("sqlite://"):])
    elif text.startswith("file://"):
        path = local_path(text, []) or Path(text[len("file://"):])
    else:
        path = Path(text)
    if not path.exists():
        raise InputError(f"{path}: no such MLflow store (give an mlruns folder or an mlflow.db file)")
    if path.is_dir():
        return FileStore(path)
    from tui_mlops.importers.mlflow_sqlite import SqliteStore

    return SqliteStore(path)


def _num(v: float) -> str:
    if math.isfinite(v):
        return repr(v)
    return "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")


def _sha_copy(src: Path, dst: Path) -> tuple[str, int]:
    """Hard-link (same filesystem) or copy src to dst; returns its sha256 and size."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    h, size = hashlib.sha256(), 0
    with open(dst, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def _artifact_files(folder: Path | None) -> dict[str, Path]:
    out: dict[str, Path] = {}
    if folder is None:
        return out
    for dirpath, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                p = Path(dirpath) / name
                out["artifacts/" + p.relative_to(folder).as_posix()] = p
    return out


class _Existing:
    """What our copy of a run already holds (read back from its events.jsonl)."""

    def __init__(self, path: Path) -> None:
        self.params: dict[str, Any] = {}
        self.tags: dict[str, str] = {}
        self.note: str | None = None
        self.points: Counter[tuple[str, int, int, str]] = Counter()
        self.artifacts: dict[str, str] = {}
        self.ended = False
        self.seq = 0
        for ev in read_events(path)[0]:
            t = ev.get("type")
            self.seq = max(self.seq, int(ev.get("seq") or 0))
            if t == "run_start":
                self.params.update(ev.get("params") or {})
                self.tags.update(ev.get("tags") or {})
            elif t == "params":
                self.params.update(ev["params"])
            elif t == "tags":
                self.tags.update(ev["tags"])
            elif t == "note":
                self.note = ev["text"]
            elif t == "metrics":
                ms = round(float(ev["ts"]) * 1000)
                for k, v in ev["values"].items():
                    self.points[(k, int(ev.get("step") or 0), ms, _num(float(v)))] += 1
            elif t == "metric":
                self.points[(ev["key"], int(ev.get("step") or 0), round(float(ev["ts"]) * 1000),
                             _num(float(ev["value"])))] += 1
            elif t == "artifact":
                self.artifacts[ev["path"]] = ev.get("sha256")
            elif t == "run_end":
                self.ended = True


@dataclass
class _Staged:
    run_id: str
    new: bool
    lines: list[str]
    files: list[str]  # artifact paths staged under staging/<run_id>/


def _lgb_text(model_dir: Path | None) -> Path | None:
    """The LightGBM text model of an MLflow model folder with a lightgbm flavor (never a pickle)."""
    if model_dir is None or not (model_dir / "MLmodel").is_file():
        return None
    flavors = read_meta(model_dir / "MLmodel").get("flavors")
    if not isinstance(flavors, dict) or "lightgbm" not in flavors:
        return None
    for name in ("model.lgb", "model.txt"):
        p = model_dir / name
        if p.is_file():
            with open(p, "rb") as fh:
                if fh.read(4) == b"tree":
                    return p
    return None


class _Importer:
    def __init__(self, home: Home, reader: Any, result: ImportResult) -> None:
        self.home, self.reader, self.result = home, reader, result
        self.staging = home.root / f".mlflow-import-{os.getpid()}"

    def model_dir(self, mv: MlModelVersion, runs: dict[str, MlRun]) -> Path | None:
        bases = list(getattr(self.reader, "bases", []))
        if mv.source.startswith("runs:/"):
            uuid, _, sub = mv.source[len("runs:/"):].partition("/")
            run = runs.get(uuid)
            return run.artifact_dir / sub if run is not None and run.artifact_dir is not None else None
        for uri in (mv.storage_location, None if mv.source.startswith("models:/") else mv.source):
            found = local_path(uri, bases)
            if found is not None:
                return found
        return None

    def stage_run(self, run: MlRun, model_file: Path | None) -> _Staged:
        rid = our_run_id(run.uuid)
        events_path = self.home.runs_dir / rid / "events.jsonl"
        old = _Existing(events_path) if events_path.is_file() and events_path.stat().st_size else None
        status = OUR_STATUS.get(run.status.upper(), "finished")
        note = run.tags.get(NOTE_TAG)
        tags = {k: v for k, v in run.tags.items() if k != NOTE_TAG}
        tags[RUN_TAG] = run.uuid
        parent = run.tags.get(PARENT_TAG)
        seq = [old.seq if old else 0]
        lines: list[str] = []

        def emit(ev: dict[str, Any]) -> None:
            seq[0] += 1
            ev["seq"] = seq[0]
            lines.append(json.dumps(ev, separators=(",", ":"), sort_keys=True))

        start_ts = (run.start_ms or 0) / 1000
        params = dict(run.params)
        if old is None:
            emit({"type": "run_start", "ts": start_ts, "run_id": rid, "experiment": run.experiment,
                  "name": run.name, "kind": "script", "parent_run_id": our_run_id(parent) if parent else None,
                  "params": params, "tags": tags, "spec": None, "dataset": None, "model": None, "pid": None,
                  "pid_started": None, "host": None})
            self.result.added["params"] += len(params)
            if note:
                emit({"type": "note", "ts": start_ts, "text": note})
        else:
            newp = {k: v for k, v in params.items() if str(old.params.get(k)) != v}
            newt = {k: v for k, v in tags.items() if old.tags.get(k) != v}
            self.result.added["params"] += len(newp)
            self.result.present["params"] += len(params) - len(newp)
            if newp:
                emit({"type": "params", "ts": start_ts, "params": newp})
            if newt:
                emit({"type": "tags", "ts": start_ts, "tags": newt})
            if note and note != old.note:
                emit({"type": "note", "ts": start_ts, "text": note})
        self._points(run, old, lines, seq)
        files = self._artifacts(run, rid, old, model_file, status, emit)
        if status in ("finished", "failed", "cancelled") and not (old and old.ended):
            end = (run.end_ms or run.start_ms or 0) / 1000
            emit({"type": "run_end", "ts": end, "status": status,
                  "error": "failed in MLflow" if status == "failed" else None})
        if old is None:
            folder = self.staging / rid
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "events.jsonl").write_text("".join(ln + "\n" for ln in lines), encoding="utf-8")
        return _Staged(rid, old is None, lines, files)

    def _points(self, run: MlRun, old: _Existing | None, lines: list[str], seq: list[int]) -> None:
        # One `metrics` event per (timestamp, step): log_batch points share both, so this is compact.
        groups: dict[tuple[int, int], list[str]] = {}
        singles: list[tuple[int, int, str]] = []
        present = 0
        for key, pts in self.reader.metrics(run).items():
            kj = json.dumps(key)
            seen: set[tuple[int, int]] = set()
            for ts, v, st in pts:
                if old is not None:
                    probe = (key, st, ts, _num(v))
                    if old.points[probe] > 0:
                        old.points[probe] -= 1
                        present += 1
                        continue
                item = f"{kj}:{_num(v)}"
                if (ts, st) in seen:  # the same key twice at one (ts, step): its own event
                    singles.append((ts, st, item))
                    continue
                seen.add((ts, st))
                g = groups.get((ts, st))
                if g is None:
                    groups[(ts, st)] = [item]
                else:
                    g.append(item)
        self.result.present["metric_points"] += present
        added = 0
        entries = sorted(list(groups.items()) + [((ts, st), [it]) for ts, st, it in singles], key=lambda e: e[0])
        for (ts, st), items in entries:
            seq[0] += 1
            added += len(items)
            lines.append(f'{{"seq":{seq[0]},"step":{st},"ts":{ts / 1000!r},"type":"metrics","values":{{'
                         f'{",".join(items)}}}}}')
        self.result.added["metric_points"] += added

    def _artifacts(self, run: MlRun, rid: str, old: _Existing | None, model_file: Path | None, status: str,
                   emit: Any) -> list[str]:
        files = _artifact_files(run.artifact_dir)
        if model_file is not None and status == "finished":
            files["artifacts/model.txt"] = model_file  # our registry's model artifact
        staged = []
        for rel, src in files.items():
            dst = self.staging / rid / rel
            if old is not None and rel in old.artifacts:
                self.result.present["artifacts"] += 1
                continue
            sha, size = _sha_copy(src, dst)
            staged.append(rel)
            self.result.added["artifacts"] += 1
            emit({"type": "artifact", "ts": (run.end_ms or run.start_ms or 0) / 1000, "path": rel, "sha256": sha,
                  "size": size, "kind": "model" if rel == "artifacts/model.txt" else "file"})
        return staged

    def commit(self, staged: list[_Staged]) -> None:
        runs_dir = self.home.runs_dir
        runs_dir.mkdir(parents=True, exist_ok=True)
        for s in staged:
            target = runs_dir / s.run_id
            if s.new:
                if target.is_dir() and not any(target.iterdir()):
                    target.rmdir()
                os.rename(self.staging / s.run_id, target)
            else:
                for rel in s.files:
                    (target / rel).parent.mkdir(parents=True, exist_ok=True)
                    os.replace(self.staging / s.run_id / rel, target / rel)
                if s.lines:
                    append_events(target / "events.jsonl", (json.loads(ln) for ln in s.lines))


def import_mlflow(home: Home, source: str, experiments: list[str] | None = None) -> ImportResult:
    """Import (or bring up to date) the runs and registered models of an MLflow store."""
    reader = open_source(source)
    result = ImportResult(source=str(reader.where))
    imp = _Importer(home, reader, result)
    try:
        exps = reader.experiments()
        if experiments:
            unknown = sorted(set(experiments) - {e.name for e in exps})
            if unknown:
                raise InputError(f"{reader.where}: no experiment {', '.join(map(repr, unknown))} "
                                 f"(there are: {', '.join(e.name for e in exps) or 'none'})")
            exps = [e for e in exps if e.name in experiments]
        versions = reader.model_versions()
        runs = {r.uuid: r for e in exps for r in reader.runs(e)}
        models: dict[str, Path] = {}
        for mv in versions:
            if mv.run_uuid in runs and mv.run_uuid not in models:
                found = _lgb_text(imp.model_dir(mv, runs))
                if found is not None:
                    models[mv.run_uuid] = found
        staged: list[_Staged] = []
        exp_new: dict[str, bool] = {}
        for run in runs.values():
            s = imp.stage_run(run, models.get(run.uuid))
            staged.append(s)
            (result.added if s.new else result.present)["runs"] += 1
            exp_new[run.experiment] = exp_new.get(run.experiment, True) and s.new
        for new in exp_new.values():
            (result.added if new else result.present)["experiments"] += 1
        imp.commit(staged)
    except BaseException:
        shutil.rmtree(imp.staging, ignore_errors=True)
        raise
    finally:
        reader.close()
    shutil.rmtree(imp.staging, ignore_errors=True)
    _register(home, versions, runs, models, result)
    return result


def _register(home: Home, versions: list[MlModelVersion], runs: dict[str, MlRun], models: dict[str, Path],
              result: ImportResult) -> None:
    from tui_mlops.registry import models as registry

    for mv in versions:
        ref = f"MLflow model {mv.name} v{mv.version}"
        run = runs.get(mv.run_uuid or "")
        if run is None:
            result.skipped.append(f"{ref}: its run {mv.run_uuid} was not imported")
            continue
        if mv.run_uuid not in models or OUR_STATUS.get(run.status.upper()) != "finished":
            result.skipped.append(f"{ref}: no LightGBM text model in a finished run (other flavors are not "
                                  f"loaded; pickles never are)")
            continue
        rid = our_run_id(run.uuid)
        try:
            had = [v for v in registry.versions_of_run(home, rid) if v.name == mv.name]
            ours = had[0] if had else registry.register_model(home, rid, mv.name, note=f"imported from {ref}")
            (result.present if had else result.added)["model_versions"] += 1
            current = {s.name: s.aliases for s in registry.list_models(home)}.get(mv.name, {})
            for alias in mv.aliases:
                if current.get(alias) != ours.version:
                    registry.set_alias(home, mv.name, ours.version, alias, reason=f"alias from {ref}")
        except MlopsError as exc:
            result.skipped.append(f"{ref}: {exc}")
