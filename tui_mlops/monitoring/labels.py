"""Process one labels file: join its ids with the stored scores of earlier batches, keep each batch's
labelled rows (labelled/<key>.parquet) and record realised metrics per batch in a labels event."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tui_mlops.monitoring import log

MAX_SHOWN = 3


@dataclass
class LabelsResult:
    key: str
    file: str
    status: str                      # ok | problems | failed | empty | duplicate
    rows: int = 0
    matched: int = 0
    unmatched: int = 0
    duplicates: int = 0
    batches: list[str] = field(default_factory=list)
    realized: dict[str, dict[str, float]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    seq: int | None = None
    ts: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _shown(values: list[Any]) -> str:
    return ", ".join(repr(v) for v in values[:MAX_SHOWN]) + (", ..." if len(values) > MAX_SHOWN else "")


def _label_column(spec: Any, frame: Any) -> str | None:
    for c in (spec.target, "label", "y"):
        if c in frame.columns and c != spec.id_column:
            return c
    rest = [c for c in frame.columns if c != spec.id_column]
    return rest[0] if len(rest) == 1 else None


def _joined(folder: Path, key: str, id_col: str, new: Any) -> Any:
    """This batch's labelled rows so far, updated with `new` (id, label; a newer label wins)."""
    import polars as pl

    path = folder / "labelled" / f"{key}.parquet"
    if path.exists():
        old = pl.read_parquet(path)
        old = old.filter(~old[id_col].is_in(new[id_col].implode()))
        new = pl.concat([old, new], how="vertical_relaxed")
    return new


def _candidates(home: Any, name: str, folder: Path, ids: Any) -> list[Path]:
    """Scores files that can hold these ids: batches whose numeric id range overlaps theirs (batches
    without a range, e.g. text ids, are always read), so a labels file does not scan all history."""
    import polars as pl

    ranges = log.recorded(home, name).id_ranges
    nums = ids.cast(pl.Float64, strict=False)
    exact = len(ids) > 0 and nums.null_count() == 0
    lo, hi = (float(nums.min()), float(nums.max())) if exact else (None, None)
    out = []
    for key, rng in ranges.items():
        if rng is None or lo is None or not (rng[1] < lo or rng[0] > hi):
            path = folder / "scores" / f"{key}.parquet"
            if path.exists():
                out.append(path)
    return sorted(out)


def analyse(home: Any, spec: Any, ref: dict[str, Any], frame: Any, source: str, folder: Path) -> dict[str, Any]:
    import duckdb
    import polars as pl

    from tui_mlops.errors import InputError
    from tui_mlops.monitoring import quality
    from tui_mlops.monitoring.reference import labels_array, prediction_array
    from tui_mlops.registry.predict import write_frame
    from tui_mlops.validation.metrics import holdout_metrics

    problems: list[str] = []
    out: dict[str, Any] = {"rows": frame.height, "matched": 0, "unmatched": 0, "duplicates": 0, "batches": [],
                           "realized": {}, "quality": {}, "problems": problems}
    id_col = spec.id_column
    if not id_col:
        raise InputError(f"{source}: monitor {spec.name} has no id column, so labels cannot be joined")
    if id_col not in frame.columns:
        raise InputError(f"{source}: no id column {id_col!r} (columns: {', '.join(frame.columns)})")
    label = _label_column(spec, frame)
    if label is None:
        raise InputError(f"{source}: no label column {spec.target!r} (columns: {', '.join(frame.columns)})")
    if frame.height == 0:
        out["status"] = "empty"
        return out
    ids = frame[id_col].cast(pl.String)
    y = labels_array(spec, frame, list(ref.get("classes") or []), label)
    bad = ~pl.Series(y).is_finite().fill_null(False) if y is not None else None
    n_bad = int(bad.sum()) if bad is not None else 0
    if n_bad:
        shown = frame[label].filter(bad).cast(pl.String).unique(maintain_order=True).to_list()
        problems.append(f"{source}: column {label!r}: {n_bad} label(s) are not classes of the model "
                        f"({_shown(shown)}): ignored")
    lab = pl.DataFrame({"id": ids, "y": y}).filter(pl.col("y").is_finite() & pl.col("id").is_not_null())
    dups = lab["id"].filter(lab["id"].is_duplicated()).unique(maintain_order=True)
    out["duplicates"] = len(dups)
    if len(dups):
        problems.append(f"{source}: column {id_col!r} has {len(dups)} duplicate id(s) ({_shown(dups.to_list())}): "
                        f"the last label counts")
        lab = lab.unique("id", keep="last", maintain_order=True)
    scores = _candidates(home, spec.name, folder, lab["id"])
    hits = pl.DataFrame({"id": [], "key": []}, schema={"id": pl.String, "key": pl.String})
    if scores:
        con = duckdb.connect()
        try:
            con.register("lab", lab.select("id").to_arrow())
            q = f'"{id_col}"'
            hits = pl.from_arrow(con.sql(
                f"SELECT DISTINCT CAST(s.{q} AS VARCHAR) AS id, parse_filename(s.filename, true) AS key "
                f"FROM read_parquet(?, filename = true) s JOIN lab ON CAST(s.{q} AS VARCHAR) = lab.id",
                params=[[str(p) for p in scores]]).to_arrow_table())
        finally:
            con.close()
    seen = set(hits["id"].to_list())
    unmatched = lab.filter(~pl.col("id").is_in(list(seen)))
    out["matched"], out["unmatched"] = lab.height - unmatched.height, unmatched.height
    if unmatched.height:
        problems.append(f"{source}: {unmatched.height} id(s) were never seen in a batch "
                        f"({_shown(unmatched['id'].to_list())}): kept for nothing")
    for key in sorted(set(hits["key"].to_list())):
        mine = lab.filter(pl.col("id").is_in(hits.filter(pl.col("key") == key)["id"].implode()))
        joined = _joined(folder, key, "id", mine)
        write_frame(joined, folder / "labelled" / f"{key}.parquet")   # before the commit: idempotent
        sc = pl.read_parquet(folder / "scores" / f"{key}.parquet")
        sc = sc.with_columns(sc[id_col].cast(pl.String).alias("_id")).unique("_id", keep="first")
        both = joined.join(sc, left_on="id", right_on="_id", how="inner")
        yv, pv = both["y"].to_numpy(), prediction_array(spec, both)
        try:
            out["realized"][key] = holdout_metrics(spec.task, yv, pv)
            out["quality"][key] = quality.counts(spec.task, yv, pv)
        except InputError as exc:
            problems.append(f"{source}: no metrics for batch {key[:12]} ({exc})")
        out["batches"].append(key)
    out["status"] = "problems" if problems else "ok"
    return out


def process_labels(home: Any, name: str, path: Any, *, settle_s: float = 0.3) -> LabelsResult | None:
    """Record one labels file exactly once (same commit rule as batches). None when it vanished."""
    from tui_mlops.monitoring.reference import load_reference
    from tui_mlops.monitoring.spec import as_home, get_monitor, monitor_dir
    from tui_mlops.registry.predict import read_file

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
            return LabelsResult(key, path.name, "duplicate", seq=seen, ts=time.time(),
                                problems=[f"{path.name}: same bytes as event {seen}: counted once"])
        ref = load_reference(home, name)
        try:
            frame = read_file(path, [c for c in (spec.id_column,) if c])
            fields = analyse(home, spec, ref, frame, path.name, folder)
        except Exception as exc:  # noqa: BLE001 - an unusable labels file is reported, never a crash
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            text = text.replace(f"'{path}'", path.name).replace(str(path), path.name)
            text = text if text.startswith(path.name) else f"{path.name}: {text}"
            fields = {"status": "failed", "rows": 0, "problems": [text], "error": text}
        event = {"type": "labels", "key": key, "file": path.name, "ts": time.time(), **fields}
        log.test_pause(log.PAUSE_AFTER_SCORE)
        log.append(home, name, event)
        log.move_to(path, folder / ("failed" if event["status"] == "failed" else "processed"))
    keys = set(LabelsResult.__dataclass_fields__)
    return LabelsResult(**{k: v for k, v in event.items() if k in keys})
