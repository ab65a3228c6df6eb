"""The runs query language: names (`metrics.valid/auc`, params.`a b`, `tags.team`, `status`) resolved
to SQL over the runs catalog, compiled with data/filter_expr's parser; sort keys; metric direction.

`metrics.auc > 0.9 and params.num_leaves in (31, 63) or tags.team = "risk"`: a param compared with
a number uses its numeric value, with a string its text.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Callable

from tui_mlops.data.filter_expr import PATH_IDENT, Field, compile_with, tokenize
from tui_mlops.errors import InputError

# Run attributes: name -> (text SQL, number SQL) over the runs table aliased `r`.
ATTRIBUTES: dict[str, tuple[str | None, str | None]] = {
    "run_id": ("r.run_id", None), "experiment": ("r.experiment", None), "name": ("r.name", None),
    "kind": ("r.kind", None), "status": ("r.status", None), "model": ("r.model", None),
    "dataset": ("r.dataset", None), "parent_run_id": ("r.parent_run_id", None), "host": ("r.host", None),
    "note": ("r.note", None), "error": ("r.error", None), "device": ("r.device", None),
    "start_ts": (None, "r.start_ts"), "end_ts": (None, "r.end_ts"),
    "duration": (None, "(coalesce(r.end_ts, epoch(current_timestamp)) - r.start_ts)"),
}
_PREFIXES = {"metrics": "metrics", "metric": "metrics", "params": "params", "param": "params",
             "tags": "tags", "tag": "tags", "attributes": "attributes", "attribute": "attributes",
             "attr": "attributes"}

_MIN_WORDS = ("loss", "error", "err", "rmse", "mae", "mse", "logloss", "l1", "l2", "mape", "huber", "fair",
              "poisson", "quantile", "gamma", "tweedie", "deviance", "cross_entropy", "xentropy",
              "kullback_leibler", "kldiv", "rmsle", "msle", "smape", "wape", "time", "duration", "seconds",
              "latency", "perplexity", "brier", "regret")
# Also anywhere in a name: losses, errors and times (fit_time, runtime, train_seconds, p99_latency).
_MIN_RE = re.compile(r"(^|[^a-z0-9])(" + "|".join(_MIN_WORDS) + r")([^a-z]|$)"
                     r"|loss|error|time|seconds|duration|latency")


def metric_direction(key: str) -> str:
    """"min" for losses, errors and times (loss, rmse, mae, logloss, l2, mape, fit_time, ...), else "max"."""
    name = str(key).lower().rsplit("/", 1)[-1]
    return "min" if _MIN_RE.search(name) else "max"


class RunFields:
    """Resolves query names to SQL, collecting the LEFT JOINs they need (params bound in order)."""

    def __init__(self, expr: str = "") -> None:
        self.expr = expr
        self._joins: dict[tuple[str, str], str] = {}

    def _join(self, table: str, key: str) -> str:
        alias = self._joins.get((table, key))
        if alias is None:
            alias = self._joins[(table, key)] = f"j{len(self._joins)}"
        return alias

    def joins(self) -> tuple[str, list[Any]]:
        """The FROM clause `runs r LEFT JOIN ...` and its parameters (the joined keys)."""
        parts, params = ["runs r"], []
        for (table, key), alias in self._joins.items():
            parts.append(f"LEFT JOIN {table} {alias} ON {alias}.run_id = r.run_id AND {alias}.key = ?")
            params.append(key)
        return " ".join(parts), params

    def __call__(self, name: str, pos: int) -> Field:
        return self.field(name, pos)

    def field(self, name: str, pos: int = 0) -> Field:
        prefix, dot, rest = name.partition(".")
        kind = _PREFIXES.get(prefix.lower()) if dot else None
        if kind is None and name in ATTRIBUTES:
            kind, rest = "attributes", name
        if kind is None or (not rest and kind != "attributes"):
            raise self.unknown(name, pos)
        if kind != "attributes":
            return self.key_field(kind, rest, name, pos)
        if rest not in ATTRIBUTES:
            raise self.unknown(name, pos)
        text, num = ATTRIBUTES[rest]
        return Field(text, num, name, pos)

    def key_field(self, kind: str, key: str, name: str, pos: int) -> Field:
        """A param, tag or metric (kind "params", "tags", "metrics") by its key."""
        if kind == "metrics":
            return Field(None, f"{self._join('metric_summary', key)}.last", name, pos)
        if kind == "params":
            alias = self._join("params", key)
            return Field(f"{alias}.value", f"{alias}.value_num", name, pos)
        return Field(f"{self._join('tags', key)}.value", None, name, pos)

    def unknown(self, name: str, pos: int) -> InputError:
        close = difflib.get_close_matches(name, list(ATTRIBUTES), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        where = f" at position {pos + 1} in filter {self.expr!r}" if self.expr else ""
        return InputError(f"unknown field {name!r}{where} ({hint}use metrics.NAME, params.NAME, tags.NAME "
                          f"or one of {', '.join(ATTRIBUTES)}; quote odd names: metrics.`a b`)")


class WideFields(RunFields):
    """Resolves names over one wide table aliased `r` (the in-memory mirror): a param or tag is a
    column found in `columns` ((kind, key) -> (text column, number column)), a metric's column comes
    from `metric_column(key)` (made on first use); a key no run has is NULL."""

    _ABSENT = {"params": ("NULL::VARCHAR", "NULL::DOUBLE"), "tags": ("NULL::VARCHAR", None),
               "metrics": (None, "NULL::DOUBLE")}

    def __init__(self, columns: dict[tuple[str, str], tuple[str | None, str | None]],
                 metric_column: Callable[[str], str | None], expr: str = "") -> None:
        super().__init__(expr)
        self.columns = columns
        self.metric_column = metric_column

    def key_field(self, kind: str, key: str, name: str, pos: int) -> Field:
        found = self.columns.get((kind, key)) if kind != "metrics" else (None, self.metric_column(key))
        if found is None or found == (None, None):
            return Field(*self._ABSENT[kind], name, pos)
        text, num = found
        return Field(text and f"r.{text}", num and f"r.{num}", name, pos)

    def joins(self) -> tuple[str, list[Any]]:
        return "wide r", []


def compile_query(query: str, fields: RunFields) -> tuple[str, list[Any]]:
    """(WHERE SQL, params) for a runs query; the joins it needs are left in `fields`."""
    fields.expr = query
    return compile_with(query, fields)


def sort_field(order_by: str, fields: RunFields) -> tuple[str, Field]:
    """The name and Field of one sort key such as `metrics.valid/auc` or `start_ts`."""
    text = str(order_by).strip()
    try:
        tokens = tokenize(text, PATH_IDENT)
    except InputError:
        tokens = []
    if len(tokens) != 2 or tokens[0].kind not in ("ident", "backtick"):
        raise InputError(f"cannot sort by {order_by!r}: give one field such as metrics.auc, "
                         "params.num_leaves, start_ts or name")
    name = tokens[0].value
    return name, fields.field(name, 0)


def order_sql(order_by: str | None, descending: bool, fields: RunFields) -> list[tuple[str, str]]:
    """ORDER BY (expression, direction) pairs: missing values last either way, then newest first."""
    direction = ("DESC" if descending else "ASC") + " NULLS LAST"
    keys: list[tuple[str, str]] = []
    if order_by:
        _, f = sort_field(order_by, fields)
        if f.num_sql is not None:
            keys.append((f.num_sql, direction))
        if f.text_sql is not None:
            keys.append((f.text_sql, direction))
    return keys + [("r.start_ts", "DESC NULLS LAST"), ("r.run_id", "ASC")]
