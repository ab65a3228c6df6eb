"""Process one batch file: settle, key it (sha256), read, check, score, measure drift against the
cached reference, then append its event (the commit point) and move the file to processed/."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tui_mlops.errors import MlopsError
from tui_mlops.monitoring import log

STATUSES = ("ok", "problems", "failed", "empty", "duplicate")
MULTIVARIATE_ROWS = 20_000   # rows (evenly spaced) behind a batch's mean PCA reconstruction error


@dataclass
class BatchResult:
    key: str
    file: str
    status: str
    rows: int = 0
    seq: int | None = None
    drift: dict[str, Any] | None = None          # DatasetDrift dict of the model inputs
    prediction: dict[str, Any] | None = None     # ColumnDrift dict: score (binary) or prediction
    prediction_label: dict[str, Any] | None = None   # binary: drift of the predicted label
    null_rates: dict[str, float] = field(default_factory=dict)
    new_category_rates: dict[str, float] = field(default_factory=dict)
    multivariate: float | None = None
    estimated: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)
    ts: float = 0.0
    time_min: float | None = None
    time_max: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def result_from_event(e: dict[str, Any]) -> BatchResult:
    keys = set(BatchResult.__dataclass_fields__)
    return BatchResult(**{k: v for k, v in e.items() if k in keys})


def _read(path: Path, features: list[str], data: bytes) -> Any:
    import polars as pl

    from tui_mlops.registry.predict import read_file

    low = path.name.lower()
    if low.endswith((".csv", ".tsv")):
        lines = [ln for ln in data.decode("utf-8", "replace").splitlines() if ln.strip()]
        if len(lines) == 1:   # a header and no rows: an empty batch, not an unreadable file
            header = [h.strip().strip('"') for h in lines[0].split("\t" if low.endswith(".tsv") else ",")]
            return pl.DataFrame({h: [] for h in header}, schema={h: pl.String for h in header})
    return read_file(path, list(features))


def analyse(home: Any, spec: Any, ref: dict[str, Any], frame: Any, source: str) -> dict[str, Any]:
    """Every measurement of one readable batch, as the event's fields (without key/file/seq)."""
    from tui_mlops.monitoring import batch_checks as C
    from tui_mlops.monitoring.reference import numeric_values_keep, overrides, prediction_columns
    from tui_mlops.monitoring.summaries import summarise_column
    from tui_mlops.validation.drift_methods import dataset_drift

    prepared = C.prepare(spec, ref, frame, source)
    problems = prepared.problems
    ids = C.check_ids(spec, frame, source, problems)
    t0, t1 = C.time_range(spec, frame, source, problems)
    out: dict[str, Any] = {"rows": frame.height, "time_min": t0, "time_max": t1, "problems": problems,
                           "drift": None, "prediction": None, "prediction_label": None, "multivariate": None,
                           "estimated": None, "null_rates": {}, "new_category_rates": {}, "scored": False}
    if frame.height == 0:
        out["status"] = "empty"
        return out
    cast = prepared.frame
    kinds, bins = ref.get("kinds") or {}, ref.get("bins") or {}
    drift = dataset_drift(ref["profile"], cast, prepared.usable, dataset_share=spec.dataset_share,
                          **overrides(spec, prepared.usable)) if prepared.usable else None
    by_col = {c.column: c for c in drift.columns} if drift else {}
    out["drift"] = drift.to_dict() if drift else None
    out["null_rates"] = {c: cast[c].null_count() / frame.height for c in prepared.present}
    out["new_category_rates"] = {c: d.new_category_rate for c, d in by_col.items()
                                 if d.new_category_rate is not None}
    columns = {c: summarise_column(cast[c], kinds.get(c, "categorical"), bins.get(c),
                                   getattr(by_col.get(c), "new_category_rate", None))
               for c in prepared.present}
    summary: dict[str, Any] = {"columns": columns, "prediction": {}}
    scored = C.score(home, spec, ref, prepared, frame, source, problems)
    if scored is not None:
        out["scored"] = True
        pcols = prediction_columns(spec)
        pd = dataset_drift(ref["prediction_profile"], scored, pcols, **overrides(spec, pcols))
        pdc = {c.column: c for c in pd.columns}
        first = pdc.get(pcols[0])
        out["prediction"] = first.to_dict() if first else None
        if len(pcols) > 1 and pcols[1] in pdc:
            out["prediction_label"] = pdc[pcols[1]].to_dict()
        summary["prediction"] = {c: summarise_column(scored[c], kinds.get(c, "categorical"), bins.get(c),
                                                     getattr(pdc.get(c), "new_category_rate", None))
                                 for c in pcols}
        if spec.task == "binary" and ref.get("calibration"):
            from tui_mlops.monitoring import cbpe

            out["estimated"] = cbpe.estimate(ref["calibration"], numeric_values_keep(scored[spec.score_column]))
        if ids is not None:
            out["id_min"], out["id_max"] = C.id_range(ids)
            out["_scores"] = scored.with_columns(ids.alias(spec.id_column)).select(
                [spec.id_column, *scored.columns])
    if ref.get("pca") and prepared.usable:
        from tui_mlops.monitoring import multivariate

        step = -(-frame.height // MULTIVARIATE_ROWS)   # a mean error: evenly spaced rows estimate it well
        try:
            out["multivariate"] = multivariate.reconstruction_error(
                ref["pca"], cast.select(spec.features).gather_every(step))
        except (MlopsError, ValueError) as exc:
            problems.append(f"{source}: no multivariate drift ({exc})")
    out["summary"] = summary
    out["status"] = "problems" if problems else "ok"
    return out


def _failed(path: Path, exc: BaseException) -> dict[str, Any]:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = text.replace(f"'{path}'", path.name).replace(str(path), path.name)   # the file moves to failed/
    if not text.startswith(path.name):
        text = f"{path.name}: cannot read it ({text})"
    return {"status": "failed", "rows": 0, "problems": [text], "error": text}


def process_batch(home: Any, name: str, path: Any, *, settle_s: float = 0.3) -> BatchResult | None:
    """Record one batch exactly once (see the module docstring). Never raises for bad data: the
    event's status and problems say what was wrong. None when the file vanished before it was read
    (another process took it)."""
    from tui_mlops.monitoring.reference import load_reference
    from tui_mlops.monitoring.spec import as_home, get_monitor, monitor_dir
    from tui_mlops.registry.predict import write_frame

    home = as_home(home)
    spec = get_monitor(home, name)
    path = Path(path)
    folder = monitor_dir(home, name)
    if not log.settle(path, settle_s):
        return None
    with log.locked(home, name):
        claimed = log.read_claimed(home, name, path)
        if claimed is None:
            return None
        data, key, seen = claimed
        if seen is not None:
            return BatchResult(key, path.name, "duplicate", seq=seen, ts=time.time(),
                               problems=[f"{path.name}: same bytes as batch {seen}: counted once"])
        ref = load_reference(home, name)
        try:
            frame = _read(path, spec.features, data)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is a failed batch, never a crash
            fields = _failed(path, exc)
        else:
            try:
                fields = analyse(home, spec, ref, frame, path.name)
            except Exception as exc:  # noqa: BLE001 - a batch that breaks a check must not stop the monitor
                fields = {**_failed(path, exc), "rows": frame.height}
        scores = fields.pop("_scores", None)
        if scores is not None:
            write_frame(scores, folder / "scores" / f"{key}.parquet")   # before the commit: idempotent
        event = {"type": "batch", "key": key, "file": path.name, "ts": time.time(), **fields}
        log.test_pause(log.PAUSE_AFTER_SCORE)
        log.append(home, name, event)
        log.test_pause(log.PAUSE_AFTER_APPEND)
        log.move_to(path, folder / ("failed" if event["status"] == "failed" else "processed"))
    return result_from_event(event)
