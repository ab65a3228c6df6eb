"""Metric points of many runs at once, as columns (polars): MLflow's metric files are parsed in
bulk, so a 40M-point import never handles one point in Python.

Columns: run (index into the batch's runs), key, ts (ms), value, step; a key's points in log order.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl

from tui_mlops.importers.mlflow_files import parse_metric_file

_CSV = {"ts": pl.Int64, "value": pl.Float64, "step": pl.Int64}
_POINTS = {"run": pl.Int32, "key": pl.Utf8, "ts": pl.Int64, "value": pl.Float64, "step": pl.Int64}


def _metric_files(folder: Path) -> list[tuple[str, Path]]:
    """(key, file) under a run's metrics/ folder; a key with '/' is a nested folder."""
    out = []
    for dirpath, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            p = Path(dirpath) / name
            out.append((p.relative_to(folder).as_posix(), p))
    return out


def _from_lists(runs: list[int], keys: list[str], pts: list[list[tuple[int, float, int]]]) -> pl.DataFrame:
    ts = [p[0] for ps in pts for p in ps]
    return pl.DataFrame({
        "run": np.repeat(np.asarray(runs, dtype=np.int32), [len(ps) for ps in pts]),
        "key": [k for k, ps in zip(keys, pts) for _ in ps],
        "ts": ts, "value": [p[1] for ps in pts for p in ps], "step": [p[2] for ps in pts for p in ps]},
        schema=_POINTS)


def file_store_points(run_dirs: list[Path]) -> pl.DataFrame:
    """The points of the runs whose folders are given (file store). Plain `ts value step` files are
    parsed together; others (old two-column files, logged-model lines, a file the bulk parse
    rejects) go through parse_metric_file, which names a bad file and line (InputError)."""
    bufs: list[bytes] = []
    counts: list[int] = []
    bulk_files: list[tuple[int, str, Path]] = []  # (run, key, file) of each buffer
    odd: list[tuple[int, str, Path]] = []
    for r, rdir in enumerate(run_dirs):
        folder = rdir / "metrics"
        if not folder.is_dir():
            continue
        for key, path in _metric_files(folder):
            try:
                data = path.read_bytes()
            except OSError:
                odd.append((r, key, path))  # parse_metric_file says why
                continue
            if not data:
                continue
            if not data.endswith(b"\n"):
                data += b"\n"
            if len(data[:data.index(b"\n")].split()) != 3:
                odd.append((r, key, path))
                continue
            bufs.append(data)
            counts.append(data.count(b"\n"))
            bulk_files.append((r, key, path))
    frames = []
    if bufs:
        bulk = None
        try:
            bulk = pl.read_csv(b"".join(bufs), separator=" ", has_header=False, new_columns=list(_CSV),
                               schema_overrides=_CSV)
        except (pl.exceptions.PolarsError, ValueError):
            pass
        if bulk is None or bulk.height != sum(counts) or any(bulk.null_count().row(0)):
            odd.extend(bulk_files)  # something in them is malformed: parse each alone, so the error names it
        else:
            files = np.repeat(np.arange(len(bufs), dtype=np.int32), counts)
            keys = pl.Series("key", [k for _, k, _ in bulk_files], dtype=pl.Utf8)
            runs = pl.Series("run", [r for r, _, _ in bulk_files], dtype=pl.Int32)
            frames.append(bulk.with_columns(run=runs.gather(files), key=keys.gather(files)).select(list(_POINTS)))
    if odd:
        odd.sort(key=lambda o: (o[0], o[1]))
        frames.append(_from_lists([o[0] for o in odd], [o[1] for o in odd], [parse_metric_file(o[2]) for o in odd]))
    if not frames:
        return pl.DataFrame(schema=_POINTS)
    return pl.concat(frames) if len(frames) > 1 else frames[0]
