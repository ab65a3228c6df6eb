"""Reading one batch and making it usable: columns cast to their training types (bad values become
missing and are reported), missing/extra/all-null columns reported, and scoring with the model."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from tui_mlops.errors import MlopsError

_MODELS: dict[tuple[str, str], Any] = {}
_MODELS_LOCK = threading.Lock()
MAX_SHOWN = 3


def cached_model(home: Any, run_id: str) -> Any:
    """The monitored model, loaded once per process (and run)."""
    from tui_mlops.training.artifacts import load_model

    key = (str(home.root), run_id)
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = load_model(home, run_id)
        return _MODELS[key]


@dataclass
class Prepared:
    frame: Any                       # every model input, cast to its training type (missing: nulls)
    usable: list[str]                # inputs present with at least one value
    present: list[str]               # inputs present in the file
    problems: list[str] = field(default_factory=list)


def _shown(values: list[Any]) -> str:
    return ", ".join(repr(v) for v in values[:MAX_SHOWN]) + (", ..." if len(values) > MAX_SHOWN else "")


def _polars_type(duck: str | None) -> Any:
    import polars as pl

    return {"DOUBLE": pl.Float64, "FLOAT": pl.Float32, "BIGINT": pl.Int64, "INTEGER": pl.Int32,
            "SMALLINT": pl.Int16, "TINYINT": pl.Int8, "UBIGINT": pl.UInt64, "UINTEGER": pl.UInt32,
            "BOOLEAN": pl.Boolean, "VARCHAR": pl.String}.get(str(duck or "").upper())


def prepare(spec: Any, ref: dict[str, Any], frame: Any, source: str) -> Prepared:
    """Cast the model inputs to their training types; report what is wrong, one line per column.
    Columns already of that type are kept as they are, numbers are widened by polars, and only the
    rest (text from CSV, odd types) go through DuckDB's TRY_CAST, whose failures are reported."""
    import duckdb
    import polars as pl

    from tui_mlops.data.ingest import normalise_types
    from tui_mlops.data.profile import column_kind
    from tui_mlops.data.sql import quote_ident as q

    problems: list[str] = []
    present = [c for c in spec.features if c in frame.columns]
    for c in spec.features:
        if c not in frame.columns:
            problems.append(f"{source}: column {c!r} is missing: no drift for it, scored as missing")
    known = set(spec.features) | {spec.id_column, spec.time_column, spec.prediction_column, spec.score_column,
                                  spec.target}
    for c in frame.columns:
        if c not in known and not c.startswith("proba_"):
            problems.append(f"{source}: extra column {c!r} is not a model input: ignored")
    types = normalise_types(dict(ref.get("types") or {}))
    cols: dict[str, Any] = {}
    slow: list[str] = []
    for c in present:
        want, have = _polars_type(types.get(c)), frame.schema[c]
        if types.get(c) is None or have == want:
            cols[c] = frame[c]
        elif want is not None and want.is_numeric() and (have.is_numeric() or have == pl.Boolean):
            cols[c] = frame[c].cast(want, strict=False)
        else:
            slow.append(c)
    if slow:
        con = duckdb.connect()
        try:
            con.register("src", frame.select(slow).to_arrow())
            sql = ", ".join(f"TRY_CAST({q(c)} AS {types[c]}) AS {q(c)}" for c in slow)
            cast = pl.from_arrow(con.sql(f"SELECT {sql} FROM src").to_arrow_table())
        finally:
            con.close()
        for c in slow:
            cols[c] = cast[c]
    for c in spec.features:
        if c not in cols:
            want = _polars_type(types.get(c)) or pl.Float64
            cols[c] = pl.Series(c, [None] * frame.height, dtype=want)
    usable = []
    for c in present:
        after = cols[c]
        if c in slow:
            before = frame[c]
            bad = before.is_not_null() & after.is_null()
            n_bad = int(bad.sum())
            if n_bad:
                examples = before.filter(bad).cast(pl.String).unique(maintain_order=True).head(MAX_SHOWN + 1).to_list()
                kind = column_kind(types.get(c, "VARCHAR"))
                what = {"numeric": "numbers", "boolean": "true/false"}.get(kind, f"valid {types.get(c)}")
                problems.append(f"{source}: column {c!r}: {n_bad} value(s) are not {what} ({_shown(examples)}): "
                                f"treated as missing")
        if frame.height and after.null_count() == frame.height:
            problems.append(f"{source}: column {c!r} is null in every row: no drift for it")
        elif frame.height:
            usable.append(c)
    out = pl.DataFrame([cols[c].alias(c) for c in spec.features])
    return Prepared(out, usable, present, problems)


def score(home: Any, spec: Any, ref: dict[str, Any], prepared: Prepared, frame: Any, source: str,
          problems: list[str]) -> Any:
    """Prediction columns of the batch: the file's own (from `predict --monitor`) or the model's."""
    import polars as pl

    from tui_mlops.registry.predict import conform, score_frame

    own = [spec.prediction_column] + ([spec.score_column] if spec.task == "binary" else [])
    if all(c in frame.columns for c in own):
        return frame.select(own + [c for c in frame.columns if c.startswith("proba_")])
    try:
        model = cached_model(home, spec.run_id)
        conformed, _ = conform(model.pipeline, {}, prepared.frame, source)
        scored = score_frame(model, conformed)
    except (MlopsError, ValueError, TypeError, pl.exceptions.PolarsError) as exc:
        problems.append(f"{source}: cannot score it with {spec.model}: {exc}")
        return None
    renames = {"prediction": spec.prediction_column}
    if spec.task == "binary":
        renames["score"] = spec.score_column
    scored = scored.rename({k: v for k, v in renames.items() if k != v})
    return scored.select(own + [c for c in scored.columns if c.startswith("proba_")])


def check_ids(spec: Any, frame: Any, source: str, problems: list[str]) -> Any:
    """The id column (None when the monitor has none or the file lacks it); duplicates reported."""
    if not spec.id_column:
        return None
    if spec.id_column not in frame.columns:
        problems.append(f"{source}: no id column {spec.id_column!r}: labels cannot be joined to this batch")
        return None
    ids = frame[spec.id_column]
    dup = ids.filter(ids.is_duplicated() & ids.is_not_null()).unique(maintain_order=True)
    if len(dup):
        problems.append(f"{source}: column {spec.id_column!r} has {len(dup)} duplicate id(s) "
                        f"({_shown(dup.to_list())}): labels for them are ambiguous")
    nulls = ids.null_count()
    if nulls:
        problems.append(f"{source}: column {spec.id_column!r} is empty in {nulls} row(s)")
    return ids


def id_range(ids: Any) -> tuple[float | None, float | None]:
    """(min, max) of numeric ids, so a labels file reads only the scores it can match."""
    if ids is None or not ids.dtype.is_numeric() or ids.null_count() == len(ids):
        return None, None
    return float(ids.min()), float(ids.max())


def time_range(spec: Any, frame: Any, source: str, problems: list[str]) -> tuple[float | None, float | None]:
    """(min, max) of the batch's time column as epoch seconds (None without one)."""
    import polars as pl

    col = spec.time_column
    if not col:
        return None, None
    if col not in frame.columns:
        problems.append(f"{source}: no time column {col!r}: the batch is placed at its arrival time")
        return None, None
    s = frame[col]
    if s.dtype == pl.String:
        s = s.str.to_datetime(strict=False)
    elif s.dtype == pl.Date:
        s = s.cast(pl.Datetime("us"))
    if not isinstance(s.dtype, pl.Datetime) or s.null_count() == len(s):
        problems.append(f"{source}: time column {col!r} has no readable timestamps: the batch is placed at "
                        f"its arrival time")
        return None, None
    epoch = s.dt.epoch("us").cast(pl.Float64) / 1e6
    return float(epoch.min()), float(epoch.max())
