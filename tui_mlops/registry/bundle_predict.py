"""Score a data file with this exported model: `python predict.py INPUT.csv OUTPUT.csv`.

Standalone: needs only numpy, polars and lightgbm (model.txt) or scikit-learn (model.pkl). It replays
the feature pipeline in features.json exactly as the model was trained with it, and checks every
file against the sha256 in manifest.json before reading it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DATE_PARTS = ("year", "month", "day", "dayofweek", "hour")
INTEGER = ("TINYINT", "SMALLINT", "INTEGER", "INT", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
           "UBIGINT", "UHUGEINT")
FLOAT = ("FLOAT", "DOUBLE", "REAL", "DECIMAL", "NUMERIC")
TRUE = ("true", "t", "1", "yes", "y")
FALSE = ("false", "f", "0", "no", "n")


class BadInput(Exception):
    pass


def verified(name, manifest):
    """A bundle file's bytes, only if they match the sha256 that manifest.json recorded."""
    expected = (manifest.get("files") or {}).get(name, {}).get("sha256")
    data = (HERE / name).read_bytes()
    if not expected or hashlib.sha256(data).hexdigest() != expected:
        raise BadInput(f"{name} does not match the sha256 in manifest.json; refusing to load it")
    return data


# -- reading and typing the input -------------------------------------------------------------------
def read_input(path):
    import polars as pl

    suffix = path.name.lower().removesuffix(".gz").rsplit(".", 1)[-1]
    if suffix in ("csv", "tsv", "txt"):
        # All text first: each input column is then parsed as its trained type, bad values reported.
        return pl.read_csv(path, infer_schema=False, separator="\t" if suffix == "tsv" else ",")
    if suffix in ("parquet", "pq"):
        return pl.read_parquet(path)
    if suffix in ("ndjson", "jsonl"):
        return pl.read_ndjson(path)
    if suffix == "json":
        return pl.read_json(path)
    raise BadInput(f"{path}: unsupported file type .{suffix}; use CSV, TSV, Parquet, JSON or NDJSON")


def _base(duck_type):
    return duck_type.upper().split("(", 1)[0].strip()


def _cast(s, duck_type):
    import polars as pl

    base = _base(duck_type)
    if base in ("", "VARCHAR", "TEXT", "STRING"):
        return s if not duck_type else s.cast(pl.String)
    text = s.dtype == pl.String
    if text:
        s = s.str.strip_chars()
    if base in INTEGER:
        return s.cast(pl.Int64, strict=False)
    if base in FLOAT:
        return s.cast(pl.Float64, strict=False)
    if base in ("BOOLEAN", "BOOL"):
        if not text:
            return s.cast(pl.Boolean, strict=False)
        low = s.str.to_lowercase()
        return low.replace_strict([*TRUE, *FALSE], [True] * len(TRUE) + [False] * len(FALSE), default=None,
                                  return_dtype=pl.Boolean)
    if base == "DATE":
        return s.str.to_date(strict=False) if text else s.cast(pl.Date, strict=False)
    if base.startswith("TIMESTAMP"):
        zone = "UTC" if "TIME ZONE" in duck_type.upper() or base == "TIMESTAMPTZ" else None
        if text:
            return s.str.to_datetime(time_unit="us", time_zone=zone, strict=False)
        return s.cast(pl.Datetime("us", zone), strict=False)
    if base == "TIME":
        return s.str.to_time(strict=False) if text else s.cast(pl.Time, strict=False)
    return s


def conform(frame, schema, source):
    """Input columns cast to the types the model was trained on; a value that cannot be read as its
    type stops with the column, row and value."""
    types = {c["name"]: c.get("type") or "" for c in schema["columns"]}
    missing = [c for c in types if c not in frame.columns]
    if missing:
        raise BadInput(f"{source}: column {missing[0]!r} is missing (the model needs {', '.join(types)})")
    cast = []
    for name, duck_type in types.items():
        raw = frame[name]
        s = _cast(raw, duck_type)
        bad = s.is_null() & raw.is_not_null()
        if bad.any():
            row = int(bad.arg_true()[0])
            what = "a number" if _base(duck_type) in INTEGER + FLOAT else f"a valid {duck_type}"
            raise BadInput(f"{source}: column {name!r} row {row + 1}: {str(raw[row])!r} is not {what} "
                           f"(trained as {duck_type})")
        cast.append(s.alias(name))
    return frame.with_columns(cast) if cast else frame


# -- the feature pipeline (features.json) -----------------------------------------------------------
def _floats(frame, column):
    import numpy as np
    import polars as pl

    return np.asarray(frame[column].cast(pl.Float64).to_numpy(), dtype=np.float64)


def _date_part(c, part, dtype):
    import polars as pl

    if part in ("hour", "minute") and dtype == pl.Date:
        return c.dt.year() * 0
    return {"year": c.dt.year, "quarter": c.dt.quarter, "month": c.dt.month, "day": c.dt.day,
            "dayofweek": c.dt.weekday, "dayofyear": c.dt.ordinal_day, "hour": c.dt.hour,
            "minute": c.dt.minute}[part]()


def derive(pipe, frame):
    import numpy as np
    import polars as pl

    df = frame.select(pipe["inputs"])
    exprs = []
    for t in pipe["transforms"]:
        op = t["op"]
        if op == "log":
            x = pl.col(t["column"]).cast(pl.Float64)
            exprs.append((x.sign() * x.abs().log1p()).alias(f"log_{t['column']}"))
        elif op == "date_parts":
            c = pl.col(t["column"])
            for part in t.get("parts") or DEFAULT_DATE_PARTS:
                exprs.append(_date_part(c, part, df.schema[t["column"]]).cast(pl.Float64)
                             .alias(f"{t['column']}_{part}"))
        elif op == "ratio":
            num, den = pl.col(t["num"]).cast(pl.Float64), pl.col(t["den"]).cast(pl.Float64)
            name = t.get("name") or f"{t['num']}_per_{t['den']}"
            exprs.append(pl.when(den == 0).then(None).otherwise(num / den).alias(name))
    if exprs:
        df = df.with_columns(exprs)
    for t in pipe["transforms"]:
        if t["op"] == "bins":
            x = _floats(df, t["column"])
            codes = np.searchsorted(np.asarray(t.get("edges", []), dtype=float), x, side="right")
            codes = np.where(np.isnan(x), np.nan, codes.astype(float))
            df = df.with_columns(pl.Series(f"{t['column']}_bin", codes, dtype=pl.Float64))
    return df


def _numeric(s, kind):
    import numpy as np
    import polars as pl

    if kind == "temporal":
        s = s.dt.epoch("s")
    elif kind == "duration":
        s = s.dt.total_seconds()
    elif kind == "time":
        s = s.to_physical() / 1e9
    return np.asarray(s.cast(pl.Float64).to_numpy(), dtype=np.float64)


def _codes(s, categories):
    import numpy as np
    import polars as pl

    codes = s.cast(pl.String).replace_strict(categories, list(range(len(categories))), default=None,
                                             return_dtype=pl.Float64)
    return np.asarray(codes.to_numpy(), dtype=np.float64)


def transform(pipe, frame):
    """The float64 model matrix, column for column as at training."""
    import numpy as np

    df = derive(pipe, frame)
    encoding = pipe["encoding"]
    cols = []
    for spec in pipe["features"]:
        name, kind = spec["name"], spec["kind"]
        if kind == "categorical":
            codes = _codes(df[name], spec["categories"])
            if encoding == "onehot":
                block = np.zeros((len(codes), len(spec["categories"])))
                ok = ~np.isnan(codes)
                block[np.flatnonzero(ok), codes[ok].astype(np.int64)] = 1.0
                cols.extend(block.T)
            else:
                cols.append(np.where(np.isnan(codes), -1.0, codes) if encoding == "ordinal" else codes)
            continue
        x = _numeric(df[name], kind)
        if "fill" in spec:
            x = np.where(np.isnan(x), spec["fill"], x)
        if "mean" in spec:
            x = (x - spec["mean"]) / spec["std"]
        cols.append(x)
    if not cols:
        return np.empty((df.height, 0))
    return np.ascontiguousarray(np.column_stack(cols), dtype=np.float64)


# -- model and output -------------------------------------------------------------------------------
def load_model(manifest):
    if manifest["kind"] == "lightgbm":
        import lightgbm as lgb

        return lgb.Booster(model_str=verified("model.txt", manifest).decode())
    import pickle

    data = verified("model.pkl", manifest)  # checked before unpickling: a pickle runs code
    return pickle.loads(data)  # noqa: S301 - our own file, hash-checked above


def score(manifest, model, X):
    """Positive-class probability (binary), class probabilities (multiclass) or values."""
    import numpy as np

    task = manifest["task"]
    if manifest["kind"] == "lightgbm":
        return np.asarray(model.predict(X), dtype=float)
    if task == "regression":
        return np.asarray(model.predict(X), dtype=float)
    proba = np.asarray(model.predict_proba(X), dtype=float)
    return proba[:, 1] if task == "binary" else proba


def scored_frame(manifest, pipe, frame, raw):
    import numpy as np
    import polars as pl

    task, classes = manifest["task"], pipe["target"].get("classes")
    cols = []
    if task == "regression":
        cols.append(pl.Series("prediction", raw))
    else:
        proba = np.column_stack([1.0 - raw, raw]) if task == "binary" else raw
        labels = np.asarray(classes)[proba.argmax(axis=1)]
        cols.append(pl.Series("prediction", labels.tolist()))
        cols += [pl.Series(f"proba_{c}", proba[:, i]) for i, c in enumerate(classes)]
        if task == "binary":
            cols.append(pl.Series("score", proba[:, 1]))
    names = {s.name for s in cols}
    kept = frame.drop([c for c in frame.columns if c in names])
    return kept.with_columns(cols) if kept.width else pl.DataFrame(cols)


def write_output(frame, path):
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".tsv", ".parquet", ".pq"):
        raise BadInput(f"{path}: unsupported output type {suffix or '(none)'}; use .csv or .parquet")
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        if suffix in (".parquet", ".pq"):
            frame.write_parquet(tmp)
        else:
            frame.write_csv(tmp, separator="\t" if suffix == ".tsv" else ",")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def main(argv):
    if len(argv) != 2 or argv[0] in ("-h", "--help"):
        print("usage: python predict.py INPUT OUTPUT   (INPUT: .csv/.tsv/.parquet/.json/.ndjson; "
              "OUTPUT: .csv or .parquet)", file=sys.stderr)
        return 2
    src, out = Path(argv[0]), Path(argv[1])
    try:
        manifest = json.loads((HERE / "manifest.json").read_text())
        pipe = json.loads(verified("features.json", manifest))
        schema = json.loads(verified("schema.json", manifest))
        if not src.is_file():
            raise BadInput(f"no file {src}")
        frame = conform(read_input(src), schema, str(src))
        model = load_model(manifest)
        result = scored_frame(manifest, pipe, frame, score(manifest, model, transform(pipe, frame)))
        write_output(result, out)
    except BadInput as exc:
        print(f"predict.py: error: {exc}", file=sys.stderr)
        return 2
    print(f"scored {result.height} rows with {manifest['name']} v{manifest['version']} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
