"""Feature engineering fitted on the training rows and replayed identically at prediction time:
transforms (log, bins, date parts, ratios), drops, categorical encoding, imputation and scaling.

The fitted pipeline is plain JSON (`to_dict`), stored with the model as features.json.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from tui_mlops.errors import InputError

FORMAT = 1
TRANSFORM_OPS = ("log", "bins", "date_parts", "ratio")
DATE_PARTS = ("year", "quarter", "month", "day", "dayofweek", "dayofyear", "hour", "minute")
DEFAULT_DATE_PARTS = ("year", "month", "day", "dayofweek", "hour")
# native: category codes with NaN for null/unseen (LightGBM's own categorical splits);
# ordinal: codes with -1 for null/unseen (scikit-learn trees); onehot: indicator columns.
ENCODINGS = ("native", "ordinal", "onehot")
MAX_CATEGORIES = 10_000   # rarer values than the 10,000 most frequent count as unseen
MAX_ONEHOT = 50           # one-hot keeps the 50 most frequent values; others are all-zero rows


def parse_transform(text: str) -> dict[str, Any]:
    """CLI/form syntax: `log:COL`, `bins:COL:N`, `date_parts:COL[:year,month,...]`,
    `ratio:NUM/DEN[:NAME]`."""
    op, _, rest = text.strip().partition(":")
    op = op.strip().lower()
    parts = [p.strip() for p in rest.split(":")] if rest else []
    if op == "log" and len(parts) == 1 and parts[0]:
        return {"op": "log", "column": parts[0]}
    if op == "bins" and len(parts) == 2 and parts[0]:
        try:
            return {"op": "bins", "column": parts[0], "bins": int(parts[1])}
        except ValueError:
            raise InputError(f"bad transform {text!r}: the number of bins must be an integer") from None
    if op == "date_parts" and 1 <= len(parts) <= 2 and parts[0]:
        t: dict[str, Any] = {"op": "date_parts", "column": parts[0]}
        if len(parts) == 2 and parts[1]:
            t["parts"] = [p.strip() for p in parts[1].split(",") if p.strip()]
        return t
    if op == "ratio" and 1 <= len(parts) <= 2 and "/" in parts[0]:
        num, _, den = parts[0].partition("/")
        t = {"op": "ratio", "num": num.strip(), "den": den.strip()}
        if len(parts) == 2 and parts[1]:
            t["name"] = parts[1]
        return t
    raise InputError(f"bad transform {text!r}: expected log:COL, bins:COL:N, "
                     "date_parts:COL[:year,month,...] or ratio:NUM/DEN[:NAME]")


def check_transform(t: Any) -> tuple[list[str], list[str], bool]:
    """(source columns, output names, whether the outputs replace the source) of one transform,
    or InputError when it is malformed."""
    if not isinstance(t, dict) or t.get("op") not in TRANSFORM_OPS:
        op = t.get("op") if isinstance(t, dict) else t
        raise InputError(f"bad transform {op!r}: the operations are {', '.join(TRANSFORM_OPS)}")
    op = t["op"]
    if op == "ratio":
        num, den = t.get("num"), t.get("den")
        if not isinstance(num, str) or not isinstance(den, str) or not num or not den:
            raise InputError("bad transform ratio: give the numerator and denominator columns (num, den)")
        return [num, den], [str(t.get("name") or f"{num}_per_{den}")], False
    col = t.get("column")
    if not isinstance(col, str) or not col:
        raise InputError(f"bad transform {op}: give the column")
    if op == "log":
        return [col], [f"log_{col}"], True
    if op == "bins":
        n = t.get("bins")
        if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= 1000:
            raise InputError(f"bad transform bins on {col!r}: bins must be an integer from 2 to 1000, not {n!r}")
        return [col], [f"{col}_bin"], True
    parts = t.get("parts") or list(DEFAULT_DATE_PARTS)
    bad = [p for p in parts if p not in DATE_PARTS]
    if bad or not isinstance(parts, list):
        raise InputError(f"bad transform date_parts on {col!r}: unknown part {bad[0] if bad else parts!r} "
                         f"(parts: {', '.join(DATE_PARTS)})")
    return [col], [f"{col}_{p}" for p in parts], True


def plan_columns(columns: list[str], target: str, features: list[str] | None, drop: list[str],
                 transforms: list[dict]) -> tuple[list[str], list[str]]:
    """(raw input columns to read, feature names after transforms and drops, in order).

    log, bins and date_parts replace their source column (in its place); ratio adds a column."""
    candidates = list(features) if features else [c for c in columns if c != target]
    specs = [check_transform(t) for t in transforms]
    replaced = {src[0] for src, _, rep in specs if rep}
    outputs: list[str] = []
    for c in candidates:
        if c not in replaced:
            outputs.append(c)
            continue
        for src, outs, rep in specs:
            if rep and src[0] == c:
                outputs.extend(outs)
    for src, outs, rep in specs:
        if not rep or src[0] not in candidates:
            outputs.extend(outs)
    dropped = set(drop)
    outputs = _unique([o for o in outputs if o not in dropped])
    needed = set(outputs) | {s for src, _, _ in specs for s in src}
    inputs = _unique([c for c in candidates if c in needed] + [s for src, _, _ in specs for s in src])
    return inputs, outputs


def _unique(names: list[str]) -> list[str]:
    seen: set[str] = set()
    return [n for n in names if not (n in seen or seen.add(n))]


def _kind(dtype: Any) -> str | None:
    import polars as pl

    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, (pl.Categorical, pl.Enum)):
        return "categorical"
    if dtype == pl.Boolean or dtype.is_numeric() or dtype == pl.Null:
        return "numeric"
    if dtype in (pl.Date,) or isinstance(dtype, pl.Datetime):
        return "temporal"
    if isinstance(dtype, pl.Duration):
        return "duration"
    if dtype == pl.Time:
        return "time"
    return None


@dataclass
class FeaturePipeline:
    """A fitted feature pipeline; `transform(frame)` gives the float64 model matrix."""

    target: dict[str, Any]                 # {"name", "task", "classes": [...] | None}
    inputs: list[str]
    transforms: list[dict[str, Any]]       # fitted: bins carry their learned "edges"
    features: list[dict[str, Any]]         # {"name", "kind", "categories"?, "fill"?, "mean"?, "std"?}
    encoding: str = "native"
    format: int = FORMAT
    names: list[str] = field(default_factory=list)   # model matrix column names
    unused: list[str] = field(default_factory=list)  # planned features left out at fit (all null)

    # ---- fitting ---------------------------------------------------------------------------
    @classmethod
    def fit(cls, frame: Any, *, target: str, task: str, classes: list[Any] | None,
            features: list[str] | None, drop: list[str], transforms: list[dict],
            encoding: str = "native", impute: bool = False, scale: bool = False) -> "FeaturePipeline":
        import numpy as np

        if encoding not in ENCODINGS:
            raise InputError(f"unknown encoding {encoding!r} (encodings: {', '.join(ENCODINGS)})")
        inputs, outputs = plan_columns(list(frame.columns), target, features, drop, transforms)
        fitted = [dict(t) for t in transforms]
        for t in fitted:
            if t["op"] == "bins":
                x = _floats(frame, t["column"])
                finite = x[~np.isnan(x)]
                if finite.size:
                    edges = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, t["bins"] + 1)))
                    t["edges"] = [float(e) for e in edges[1:-1]]
                else:
                    t["edges"] = []
        pipe = cls({"name": target, "task": task, "classes": classes}, inputs, fitted, [], encoding)
        derived = pipe._derive(frame)
        for name in outputs:
            if derived.height and derived[name].null_count() == derived.height:
                # No information, and some learners (hist_gb's binning) fail on an all-NaN column.
                print(f"feature {name!r} is null in every training row: left out", flush=True)
                pipe.unused.append(name)
                continue
            kind = _kind(derived.schema[name])
            if kind is None:
                raise InputError(f"column {name!r} has type {derived.schema[name]}, which cannot be a "
                                 f"feature: drop it")
            spec: dict[str, Any] = {"name": name, "kind": kind}
            if kind == "categorical":
                spec["categories"] = _top_categories(derived[name], MAX_ONEHOT if encoding == "onehot"
                                                     else MAX_CATEGORIES)
            else:
                x = _numeric(derived[name], kind)
                if impute:
                    med = float(np.nanmedian(x)) if np.any(~np.isnan(x)) else 0.0
                    spec["fill"] = med
                    x = np.where(np.isnan(x), med, x)
                if scale:
                    mean = float(np.nanmean(x)) if np.any(~np.isnan(x)) else 0.0
                    std = float(np.nanstd(x)) if np.any(~np.isnan(x)) else 1.0
                    spec["mean"], spec["std"] = mean, (std if std > 0 and math.isfinite(std) else 1.0)
            pipe.features.append(spec)
        pipe.names = pipe._matrix_names()
        return pipe

    # ---- applying --------------------------------------------------------------------------
    def _derive(self, frame: Any) -> Any:
        import numpy as np
        import polars as pl

        missing = [c for c in self.inputs if c not in frame.columns]
        if missing:
            raise InputError(f"the data lacks column(s) the model needs: {', '.join(map(repr, missing))}")
        df = frame.select(self.inputs)
        exprs = []
        for t in self.transforms:
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
        for t in self.transforms:
            if t["op"] == "bins":
                x = _floats(df, t["column"])
                codes = np.searchsorted(np.asarray(t.get("edges", []), dtype=float), x, side="right")
                codes = np.where(np.isnan(x), np.nan, codes.astype(float))
                df = df.with_columns(pl.Series(f"{t['column']}_bin", codes, dtype=pl.Float64))
        return df

    def transform(self, frame: Any) -> Any:
        """The model matrix (float64, rows x len(names)) for `frame`."""
        import numpy as np

        df = self._derive(frame)
        cols = []
        for spec in self.features:
            name, kind = spec["name"], spec["kind"]
            if kind == "categorical":
                codes = _codes(df[name], spec["categories"])
                if self.encoding == "onehot":
                    k = len(spec["categories"])
                    block = np.zeros((len(codes), k))
                    ok = ~np.isnan(codes)
                    block[np.flatnonzero(ok), codes[ok].astype(np.int64)] = 1.0
                    cols.extend(block.T)
                else:
                    cols.append(np.where(np.isnan(codes), -1.0, codes) if self.encoding == "ordinal" else codes)
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

    def _matrix_names(self) -> list[str]:
        names: list[str] = []
        for spec in self.features:
            if spec["kind"] == "categorical" and self.encoding == "onehot":
                names.extend(f"{spec['name']}={c}" for c in spec["categories"])
            else:
                names.append(spec["name"])
        return names

    @property
    def categorical_indices(self) -> list[int]:
        """Matrix columns LightGBM should treat as categorical (native encoding only)."""
        if self.encoding != "native":
            return []
        return [i for i, spec in enumerate(self.features) if spec["kind"] == "categorical"]

    # ---- target ----------------------------------------------------------------------------
    def encode_target(self, frame: Any) -> Any:
        """Class indices (classification) or float64 values (regression) of the target column."""
        import numpy as np
        import polars as pl

        name, classes = self.target["name"], self.target.get("classes")
        if name not in frame.columns:
            raise InputError(f"the data lacks the target column {name!r}")
        s = frame[name]
        if classes is None:
            return s.cast(pl.Float64).to_numpy()
        codes = s.replace_strict(classes, list(range(len(classes))), default=None, return_dtype=pl.Float64)
        unknown = codes.is_null() & s.is_not_null()
        if unknown.any():
            raise InputError(f"target {name!r} has the value {s.filter(unknown)[0]!r}, a class the model "
                             f"never saw (classes: {', '.join(map(str, classes))})")
        return np.asarray(codes.to_numpy(), dtype=np.float64)

    def decode_labels(self, codes: Any) -> Any:
        import numpy as np

        classes = self.target.get("classes")
        if classes is None:
            return np.asarray(codes)
        return np.asarray(classes)[np.asarray(codes, dtype=np.int64)]

    # ---- JSON ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "target": self.target, "inputs": self.inputs,
                "transforms": self.transforms, "features": self.features, "encoding": self.encoding,
                "names": self.names, "unused": self.unused}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FeaturePipeline":
        if d.get("format") != FORMAT:
            raise InputError(f"features.json has format {d.get('format')!r}; this version reads {FORMAT}")
        return cls(dict(d["target"]), list(d["inputs"]), [dict(t) for t in d["transforms"]],
                   [dict(f) for f in d["features"]], d["encoding"], FORMAT, list(d["names"]),
                   list(d.get("unused") or []))


def _floats(frame: Any, column: str) -> Any:
    import numpy as np
    import polars as pl

    return np.asarray(frame[column].cast(pl.Float64).to_numpy(), dtype=np.float64)


def _numeric(s: Any, kind: str) -> Any:
    import numpy as np
    import polars as pl

    if kind == "temporal":
        s = s.dt.epoch("s")
    elif kind == "duration":
        s = s.dt.total_seconds()
    elif kind == "time":
        s = s.to_physical() / 1e9
    return np.asarray(s.cast(pl.Float64).to_numpy(), dtype=np.float64)


def _date_part(c: Any, part: str, dtype: Any) -> Any:
    import polars as pl

    if part in ("hour", "minute") and dtype == pl.Date:
        return c.dt.year() * 0  # a date has no time of day: constant 0, null where the date is
    return {"year": c.dt.year, "quarter": c.dt.quarter, "month": c.dt.month, "day": c.dt.day,
            "dayofweek": c.dt.weekday, "dayofyear": c.dt.ordinal_day, "hour": c.dt.hour,
            "minute": c.dt.minute}[part]()


def _top_categories(s: Any, limit: int) -> list[str]:
    import polars as pl

    # Renamed first: a column called "count" would clash with value_counts' own column.
    vc = s.drop_nulls().cast(pl.String).rename("value").value_counts(name="n")
    vc = vc.sort(["n", "value"], descending=[True, False])
    return vc["value"].head(limit).to_list()


def _codes(s: Any, categories: list[str]) -> Any:
    import numpy as np
    import polars as pl

    codes = s.cast(pl.String).replace_strict(categories, list(range(len(categories))), default=None,
                                             return_dtype=pl.Float64)
    return np.asarray(codes.to_numpy(), dtype=np.float64)
