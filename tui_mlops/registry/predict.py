"""Batch scoring with a registered model: read a file or dataset version, check it against the training
schema, replay the stored feature pipeline, and write the scored rows atomically."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_mlops.errors import InputError, MlopsError
from tui_mlops.store.home import Home, check_name, commit_file, fsync_dir, name_from_filename, temp_path_for

OUT_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "tsv"}
MAX_SHOWN = 5


@dataclass
class PredictResult:
    model_ref: str
    rows: int
    out: Path | None
    columns: list[str]
    warnings: list[str] = field(default_factory=list)
    monitor_file: Path | None = None
    frame: Any = None   # the scored polars frame

    def to_dict(self) -> dict[str, Any]:
        return {"model_ref": self.model_ref, "rows": self.rows, "out": str(self.out) if self.out else None,
                "columns": self.columns, "warnings": self.warnings,
                "monitor_file": str(self.monitor_file) if self.monitor_file else None}


def out_format(path: Path) -> str:
    fmt = OUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"{path}: unsupported output type {path.suffix or '(none)'!r}; use .parquet or .csv")
    return fmt


# -- reading --------------------------------------------------------------------------------------
def _duck_error(source: str, exc: Exception) -> InputError:
    first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), str(exc))
    return InputError(f"{source}: cannot read it ({first})")


def read_file(path: Path, text_columns: list[str]) -> Any:
    """A data file as a polars frame (DuckDB's reader, as at ingest); `text_columns` of a CSV/TSV are
    read as text so that one bad value is reported by the schema check, not by the reader."""
    import duckdb
    import polars as pl

    from tui_mlops.data.ingest import detect_format
    from tui_mlops.data.ingest_checks import check_csv, read_head

    fmt, gz = detect_format(path)
    params: list[Any] = [str(path)]
    if fmt in ("csv", "tsv"):
        layout = check_csv(path, read_head(path, gz), tsv=fmt == "tsv")
        header = [h.strip() for h in layout.header]
        args = "header = true, strict_mode = true, skip = 0, delim = ?, quote = '\"', escape = '\"'"
        params.append(layout.delimiter)
        types = {c: "VARCHAR" for c in text_columns if c in header}
        if types:
            args += ", types = ?"
            params.append(types)
        sql = f"SELECT * FROM read_csv(?, {args})"
    elif fmt == "parquet":
        sql = "SELECT * FROM read_parquet(?)"
    else:
        sql = f"SELECT * FROM read_json(?, format = '{'newline_delimited' if fmt == 'ndjson' else 'auto'}', " \
              f"records = 'true')"
    con = duckdb.connect()
    try:
        return pl.from_arrow(con.sql(sql, params=params).to_arrow_table())
    except duckdb.Error as exc:
        raise _duck_error(str(path), exc) from None
    finally:
        con.close()


def read_data(home: Home, data: str, text_columns: list[str]) -> tuple[Any, str, str]:
    """(frame, source label for messages, stem for file names) of a file path or a dataset ref."""
    path = Path(data).expanduser()
    if path.is_file():
        stem = name_from_filename(path.name)
        return read_file(path, text_columns), str(data), stem
    if path.exists():
        raise InputError(f"{data}: not a file")
    plain = path.name.lower().removesuffix(".gz")
    if os.sep in data or Path(plain).suffix in (".csv", ".tsv", ".parquet", ".pq", ".json", ".ndjson", ".jsonl",
                                                ".txt"):
        raise InputError(f"no file {data}")
    from tui_mlops.data.versions import resolve, snapshot_path

    try:
        v = resolve(home, data)
    except InputError:
        raise InputError(f"{data!r} is neither a file nor a dataset reference (NAME@VERSION)") from None
    return read_file(snapshot_path(home, v), []), v.ref, v.name


# -- schema ---------------------------------------------------------------------------------------
def _what(dtype: str) -> str:
    from tui_mlops.data.profile import column_kind

    kind = column_kind(dtype)
    return {"numeric": "a number", "boolean": "true or false"}.get(kind, f"a valid {dtype}")


def conform(pipeline: Any, training_columns: dict[str, str], frame: Any, source: str) -> tuple[Any, list[str]]:
    """The frame with the model's input columns cast to their training types, and warnings (new
    categories). Missing columns and values that cannot be read as the trained type raise InputError."""
    import duckdb
    import polars as pl

    from tui_mlops.data.ingest import normalise_types
    from tui_mlops.data.sql import quote_ident, unused_name

    missing = [c for c in pipeline.inputs if c not in frame.columns]
    if missing:
        raise InputError(f"{source}: column {missing[0]!r} is missing (the model needs "
                         f"{', '.join(pipeline.inputs)})")
    types = normalise_types({c: training_columns[c] for c in pipeline.inputs if c in training_columns})
    if types:
        row = unused_name(frame.columns, "_row")
        src = frame.with_row_index(row)
        con = duckdb.connect()
        try:
            con.register("src", src.to_arrow())
            q = {c: quote_ident(c) for c in src.columns}
            counts = con.execute("SELECT " + ", ".join(
                f"count({q[c]}) - count(TRY_CAST({q[c]} AS {t}))" for c, t in types.items()) + " FROM src").fetchall()[0]
            for (col, typ), bad in zip(types.items(), counts):
                if bad:
                    n, value = con.execute(
                        f"SELECT {q[row]}, CAST({q[col]} AS VARCHAR) FROM src WHERE {q[col]} IS NOT NULL AND "
                        f"TRY_CAST({q[col]} AS {typ}) IS NULL ORDER BY {q[row]} LIMIT 1").fetchall()[0]
                    raise InputError(f"{source}: column {col!r} row {int(n) + 1}: {value!r} is not "
                                     f"{_what(typ)} (trained as {typ})")
            select = ", ".join(f"TRY_CAST({q[c]} AS {types[c]}) AS {q[c]}" if c in types else q[c]
                               for c in frame.columns)
            frame = pl.from_arrow(con.sql(f"SELECT {select} FROM src ORDER BY {q[row]}").to_arrow_table())
        except duckdb.Error as exc:
            raise _duck_error(source, exc) from None
        finally:
            con.close()
    warnings = []
    for spec in pipeline.features:
        name = spec["name"]
        if spec["kind"] != "categorical" or name not in pipeline.inputs:
            continue
        values = frame[name].drop_nulls().cast(pl.String).unique().sort()
        new = values.filter(~values.is_in(list(spec.get("categories") or []))).to_list()
        if new:
            shown = ", ".join(repr(v) for v in new[:MAX_SHOWN]) + (", ..." if len(new) > MAX_SHOWN else "")
            warnings.append(f"{source}: column {name!r} has {len(new)} value(s) the model never saw "
                            f"({shown}): scored as unknown")
    return frame, warnings


def check_schema(pipeline: Any, training_columns: dict[str, str], frame: Any, source: str) -> list[str]:
    """InputError on a missing column or a value of the wrong type; warnings for new categories."""
    return conform(pipeline, training_columns, frame, source)[1]


def training_schema(home: Home, dataset: str | None) -> dict[str, str] | None:
    """Column -> DuckDB type of the data a model was trained on (None when that version is gone)."""
    from tui_mlops.data.versions import resolve

    if not dataset:
        return None
    try:
        return {c.name: c.type for c in resolve(home, dataset).columns}
    except MlopsError:
        return None


# -- scoring --------------------------------------------------------------------------------------
def score_frame(model: Any, frame: Any) -> Any:
    """`frame` with prediction (labels or values), proba_<class> per class and, for binary, score."""
    import numpy as np
    import polars as pl

    cols = []
    if model.task == "regression":
        cols.append(pl.Series("prediction", np.asarray(model.score(frame), dtype=float)))
    else:
        proba = model.predict_proba(frame)
        labels = model.pipeline.decode_labels(proba.argmax(axis=1))
        cols.append(pl.Series("prediction", labels.tolist()))
        for i, cls in enumerate(model.classes or []):
            cols.append(pl.Series(f"proba_{cls}", proba[:, i]))
        if model.task == "binary":
            cols.append(pl.Series("score", proba[:, 1]))
    names = {s.name for s in cols}
    kept = frame.drop([c for c in frame.columns if c in names])
    return kept.with_columns(cols) if kept.width else pl.DataFrame(cols)


def write_frame(frame: Any, target: Path) -> None:
    """Write as .parquet or .csv by suffix: to a temp name in the folder, then rename."""
    fmt = out_format(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(target)
    try:
        if fmt == "parquet":
            frame.write_parquet(tmp)
        else:
            frame.write_csv(tmp, separator="\t" if fmt == "tsv" else ",")
        commit_file(tmp, target)
    except OSError as exc:
        raise InputError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


def write_monitor_batch(home: Home, monitor: str, stem: str, frame: Any) -> Path:
    """<home>/monitors/<monitor>/incoming/<stem>-<UTC time>.parquet, never replacing a batch already
    there (a hard link claims the name only if it is free; a later batch in the same second gets -2)."""
    from datetime import datetime, timezone

    folder = home.monitors_dir / check_name(monitor, "monitor name") / "incoming"
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(folder / f"{stem}.parquet")
    try:
        frame.write_parquet(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        n = 1
        while True:
            target = folder / (f"{stem}-{stamp}.parquet" if n == 1 else f"{stem}-{stamp}-{n}.parquet")
            try:
                os.link(tmp, target)
                break
            except FileExistsError:
                n += 1
        fsync_dir(folder)
        return target
    except OSError as exc:
        raise InputError(f"cannot write to monitor folder {folder}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


def predict(home: Home, model_ref: str, data: str, *, out: str | os.PathLike[str] | None = None,
            monitor: str | None = None) -> PredictResult:
    """Score `data` (a file or a dataset ref) with a registered model (NAME, NAME@ALIAS, NAME@3)."""
    from tui_mlops.registry.models import resolve_model
    from tui_mlops.training.artifacts import load_model

    out_path = Path(out).expanduser() if out is not None else None
    if out_path is not None:
        out_format(out_path)
    if monitor is not None:
        check_name(monitor, "monitor name")
    mv = resolve_model(home, model_ref)
    model = load_model(home, mv.run_id)
    schema = training_schema(home, model.spec.dataset)
    warnings = []
    if not model.spec.dataset:
        # An imported model records no training data; its inputs are numeric (passthrough).
        schema = {f["name"]: "DOUBLE" for f in model.pipeline.features if f["kind"] == "numeric"}
    elif schema is None:
        warnings.append(f"the training data {model.spec.dataset} is gone: input types are not checked")
    frame, source, stem = read_data(home, str(data), list(model.pipeline.inputs) if schema else [])
    frame, found = conform(model.pipeline, schema or {}, frame, source)
    warnings += found
    scored = score_frame(model, frame)
    result = PredictResult(mv.ref, scored.height, out_path, list(scored.columns), warnings, frame=scored)
    if out_path is not None:
        write_frame(scored, out_path)
    if monitor is not None:
        result.monitor_file = write_monitor_batch(home, monitor, stem, scored)
    return result
