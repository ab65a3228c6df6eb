"""Import an MLflow store into ours: each MLflow run becomes a run folder with events.jsonl (id derived
from MLflow's run id, so re-imports are idempotent and incremental), then registered models."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import polars as pl

from tui_mlops.errors import InputError, MlopsError
from tui_mlops.importers.mlflow_files import OUR_STATUS, FileStore, MlModelVersion, MlRun, local_path
from tui_mlops.importers.mlflow_model_meta import model_meta
from tui_mlops.importers.mlflow_models import SKOPS_FILE, ModelFile, model_file
from tui_mlops.store.catalog import open_catalog
from tui_mlops.store.events import append_events, read_events
from tui_mlops.store.home import Home

NOTE_TAG, PARENT_TAG, RUN_TAG = "mlflow.note.content", "mlflow.parentRunId", "mlflow.run_id"
COUNTED = ("experiments", "runs", "params", "metric_points", "artifacts", "model_versions", "dataset_inputs")
INPUTS_TAG, INPUTS_FILE = "mlflow.inputs", "artifacts/mlflow_inputs.json"
CHUNK_RUNS = 100  # runs whose metric files are parsed together (bounds memory, amortises the parse)
_EMPTY = pl.DataFrame(schema={"key": pl.Utf8, "ts": pl.Int64, "value": pl.Float64, "step": pl.Int64})


@dataclass
class ImportResult:
    source: str
    added: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTED, 0))
    present: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTED, 0))
    skipped: list[str] = field(default_factory=list)
    unpickled: list[str] = field(default_factory=list)  # models loaded from a pickle (--trust-pickles)

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
        self.counts: Counter[str] = Counter()  # points per metric key
        self.files = 0  # points files (metrics-N.parquet) so far
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
                self.counts.update(ev["values"].keys())
            elif t == "metric":
                self.counts[ev["key"]] += 1
            elif t == "metrics_file":
                self.files += 1
                self.counts.update({str(k): int(n) for k, n in (ev.get("keys") or {}).items()})
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


class _Importer:
    def __init__(self, home: Home, reader: Any, result: ImportResult) -> None:
        self.home, self.reader, self.result = home, reader, result
        self.staging = home.root / f".mlflow-import-{os.getpid()}"
        self.meta: dict[str, dict[str, bytes]] = {}  # MLflow run id -> features.json and spec.json

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

    def stage_run(self, run: MlRun, model: ModelFile | None, points: pl.DataFrame) -> _Staged:
        rid = our_run_id(run.uuid)
        events_path = self.home.runs_dir / rid / "events.jsonl"
        old = _Existing(events_path) if events_path.is_file() and events_path.stat().st_size else None
        status = OUR_STATUS.get(run.status.upper(), "finished")
        note = run.tags.get(NOTE_TAG)
        tags = {k: v for k, v in run.tags.items() if k != NOTE_TAG}
        tags[RUN_TAG] = run.uuid
        if run.inputs:  # searchable and shown with the run; the full records are an artifact
            tags[INPUTS_TAG] = ", ".join(f"{i['name']}@{i['digest']}" + (f" ({i['context']})" if i["context"] else "")
                                         for i in run.inputs)
        parent = run.tags.get(PARENT_TAG)
        seq = [old.seq if old else 0]
        lines: list[str] = []

        def emit(ev: dict[str, Any]) -> int:
            seq[0] += 1
            ev["seq"] = seq[0]
            lines.append(json.dumps(ev, separators=(",", ":"), sort_keys=True))
            return seq[0]

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
        files = self._points(rid, old, points, start_ts, emit)
        files += self._artifacts(run, rid, old, model, status, emit)
        if status in ("finished", "failed", "cancelled") and not (old and old.ended):
            end = (run.end_ms or run.start_ms or 0) / 1000
            emit({"type": "run_end", "ts": end, "status": status,
                  "error": "failed in MLflow" if status == "failed" else None})
        if old is None:
            folder = self.staging / rid
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "events.jsonl").write_text("".join(ln + "\n" for ln in lines), encoding="utf-8")
        return _Staged(rid, old is None, lines, files)

    def _points(self, rid: str, old: _Existing | None, points: pl.DataFrame, ts: float,
                emit: Any) -> list[str]:
        """Stage the points not imported yet as a Parquet file a `metrics_file` event names. MLflow
        appends to a metric's history, so those are each key's points past the count we hold."""
        total = points.height
        if old is not None and total:
            have = pl.DataFrame({"key": list(old.counts), "have": list(old.counts.values())},
                                schema={"key": pl.Utf8, "have": pl.Int64})
            points = (points.with_columns(i=pl.int_range(pl.len()).over("key"))
                      .join(have, on="key", how="left", maintain_order="left")
                      .filter(pl.col("i") >= pl.col("have").fill_null(0)).drop("i", "have"))
        self.result.present["metric_points"] += total - points.height
        if points.height == 0:
            return []
        name = f"metrics-{(old.files if old else 0) + 1}.parquet"
        seq = emit({"type": "metrics_file", "ts": ts, "path": name, "points": points.height,
                    "keys": dict(points.group_by("key", maintain_order=True).len().iter_rows())})
        dst = self.staging / rid / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        # In (step, time) order, so a key's last point is MLflow's latest (highest step, then newest).
        table = points.sort(["key", "step", "ts"], maintain_order=True).select(
            "key", "step", "value", ts=pl.col("ts") / 1000, seq=pl.lit(seq, dtype=pl.Int64),
            ord=pl.int_range(pl.len(), dtype=pl.Int64))
        table.write_parquet(dst, compression="lz4", statistics=False)
        self.result.added["metric_points"] += points.height
        return [name]

    def _artifacts(self, run: MlRun, rid: str, old: _Existing | None, model: ModelFile | None, status: str,
                   emit: Any) -> list[str]:
        files = _artifact_files(run.artifact_dir)
        if model is not None and status == "finished":
            files[model[0]] = model[1]  # our registry's model artifact
            files.update(self.meta.get(run.uuid, {}))  # what load_model needs to replay it
        made: dict[str, bytes] = {}
        if run.inputs:  # the logged datasets: name, digest, source, context, schema, profile
            made[INPUTS_FILE] = json.dumps(run.inputs, indent=1, sort_keys=True).encode()
            done = old is not None and INPUTS_FILE in old.artifacts
            (self.result.present if done else self.result.added)["dataset_inputs"] += len(run.inputs)
        staged = []
        for rel, src in [*files.items(), *made.items()]:
            dst = self.staging / rid / rel
            if old is not None and rel in old.artifacts:
                self.result.present["artifacts"] += 1
                continue
            if isinstance(src, bytes):
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.write_bytes(src)
                sha, size = hashlib.sha256(src).hexdigest(), len(src)
            else:
                sha, size = _sha_copy(src, dst)
            staged.append(rel)
            self.result.added["artifacts"] += 1
            emit({"type": "artifact", "ts": (run.end_ms or run.start_ms or 0) / 1000, "path": rel, "sha256": sha,
                  "size": size, "kind": "model" if model and rel == model[0] else "file"})
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


class ImportCancelled(MlopsError):
    """The caller's cancel event stopped an import before anything was moved into the store."""


def import_mlflow(home: Home, source: str, experiments: list[str] | None = None, *,
                  trust_pickles: bool = False, progress: Callable[[float], None] | None = None,
                  cancel: threading.Event | None = None) -> ImportResult:
    """Import (or bring up to date) the runs and registered models of an MLflow store, then index
    them in the catalog. `progress(fraction)` follows the runs read; setting `cancel` before the
    runs are moved in stops it with ImportCancelled and nothing imported. `trust_pickles` lets
    scikit-learn models stored as pickles be unpickled (that can run code) and kept as skops."""
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
        runs = {}
        for e in exps:
            found = reader.runs(e)
            runs.update((r.uuid, r) for r in found)
            if not found:  # nothing of it to keep: our experiments are the names runs carry
                result.skipped.append(f"experiment {e.name!r}: no runs")
        models: dict[str, ModelFile] = {}
        why: dict[str, str] = {}
        for mv in versions:
            if mv.run_uuid in runs and mv.run_uuid not in models:
                found = model_file(mdir := imp.model_dir(mv, runs), trust_pickles)
                if isinstance(found, str):
                    why[mv.run_uuid] = found
                else:
                    models[mv.run_uuid] = found
                    meta = model_meta(mdir, found, runs[mv.run_uuid].experiment)
                    if isinstance(meta, str):
                        result.skipped.append(f"validation and prediction of MLflow model {mv.name} v{mv.version} "
                                              f"(the model itself is imported): {meta}")
                    else:
                        imp.meta[mv.run_uuid] = meta
                    if found[0] == SKOPS_FILE and not isinstance(found[1], Path):
                        result.unpickled.append(f"MLflow model {mv.name} v{mv.version}")
        staged: list[_Staged] = []
        exp_new: dict[str, bool] = {}
        order = list(runs.values())
        for at in range(0, len(order), CHUNK_RUNS):
            chunk = order[at:at + CHUNK_RUNS]
            by_run = reader.metric_frame(chunk).partition_by("run", as_dict=True, include_key=False)
            for i, run in enumerate(chunk):
                points = by_run.get((i,))
                staged.append(imp.stage_run(run, models.get(run.uuid), _EMPTY if points is None else points))
            if cancel is not None and cancel.is_set():
                raise ImportCancelled(f"import of {reader.where} stopped; nothing was imported")
            if progress is not None:
                progress(0.9 * len(staged) / max(1, len(order)))
        for run, s in zip(order, staged):
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
    with open_catalog(home):
        pass  # index what came in now (bulk points load in one statement), not on the next read
    _register(home, versions, runs, models, why, result)
    if progress is not None:
        progress(1.0)
    return result


def _register(home: Home, versions: list[MlModelVersion], runs: dict[str, MlRun], models: dict[str, ModelFile],
              why: dict[str, str], result: ImportResult) -> None:
    from tui_mlops.registry import models as registry

    for mv in versions:
        ref = f"MLflow model {mv.name} v{mv.version}"
        run = runs.get(mv.run_uuid or "")
        if run is None:
            result.skipped.append(f"{ref}: its run {mv.run_uuid} was not imported")
            continue
        if mv.run_uuid not in models:
            result.skipped.append(f"{ref}: {why.get(run.uuid, 'no model folder found')}")
            continue
        if OUR_STATUS.get(run.status.upper()) != "finished":
            result.skipped.append(f"{ref}: its run is {run.status.lower()}, only finished runs' models come in")
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
