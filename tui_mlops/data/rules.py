"""Validation rules per dataset, declared in TOML (`<home>/rules/<dataset>.toml`), and their
evaluation in DuckDB over a version's Parquet snapshot (bound values, quoted identifiers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_mlops.data.sql import first_line, json_value
from tui_mlops.errors import InputError, NotFoundError
from tui_mlops.store.home import Home, atomic_write_bytes, check_name
from tui_mlops.store.records import DatasetVersion

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

MAX_EXAMPLES = 5
RULE_TYPES = ("not_null", "range", "allowed_values", "unique", "regex", "row_count",
              "column_present", "max_null_share")
# type -> (required keys, optional keys); "type" and "name" are allowed everywhere.
_KEYS: dict[str, tuple[set[str], set[str]]] = {
    "not_null": ({"column"}, set()),
    "range": ({"column"}, {"min", "max"}),
    "allowed_values": ({"column", "values"}, set()),
    "unique": (set(), {"column", "columns"}),
    "regex": ({"column", "pattern"}, set()),
    "row_count": (set(), {"min", "max"}),
    "column_present": ({"column"}, {"dtype"}),
    "max_null_share": ({"column", "max"}, set()),
}
_TYPE_ALIASES = {
    "INT": "INTEGER", "INT4": "INTEGER", "SIGNED": "INTEGER", "INT8": "BIGINT", "LONG": "BIGINT",
    "INT2": "SMALLINT", "SHORT": "SMALLINT", "INT1": "TINYINT", "FLOAT8": "DOUBLE",
    "FLOAT4": "FLOAT", "REAL": "FLOAT", "NUMERIC": "DECIMAL", "STRING": "VARCHAR", "TEXT": "VARCHAR",
    "CHAR": "VARCHAR", "BPCHAR": "VARCHAR", "BOOL": "BOOLEAN", "LOGICAL": "BOOLEAN",
    "DATETIME": "TIMESTAMP", "TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE",
}

EXAMPLE_RULES = '''\
# Validation rules for one dataset: `mlops-tui data validate NAME` checks every rule.
# Each [[rule]] has a type; `name` is an optional label shown in reports.

[[rule]]
type = "row_count"          # the number of rows, within [min, max] (either may be left out)
min = 1

[[rule]]
type = "column_present"     # the column exists (and, with dtype, has that DuckDB type)
column = "age"
dtype = "BIGINT"

[[rule]]
type = "not_null"           # no missing values
column = "age"

[[rule]]
type = "range"              # every value within [min, max]; dates work too: min = 2020-01-01
column = "age"
min = 0
max = 120

[[rule]]
type = "allowed_values"     # every value is one of these
column = "country"
values = ["DE", "FR", "US"]

[[rule]]
type = "unique"             # no two rows share the key (column = "id", or several columns)
columns = ["id"]

[[rule]]
type = "regex"              # every value matches the pattern (RE2 syntax, unanchored: use ^ and $)
column = "email"
pattern = '^[^@ ]+@[^@ ]+$'

[[rule]]
type = "max_null_share"     # at most this share (0..1) of the values are missing
column = "income"
max = 0.05
name = "income mostly known"
'''


@dataclass
class Rule:
    type: str
    column: str | None
    params: dict[str, Any]
    label: str
    number: int | None = None  # 1-based position in its rules file
    line: int | None = None    # line of its [[rule]] header in the file

    @property
    def columns(self) -> list[str]:
        if self.type == "unique" and self.params.get("columns"):
            return list(self.params["columns"])
        return [self.column] if self.column else []

    @property
    def where(self) -> str:
        if self.number is None:
            return f"rule {self.label!r}"
        at = f" (line {self.line})" if self.line else ""
        return f"rule {self.number}{at} {self.label!r}"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "column": self.column, "params": json_value(self.params),
                "label": self.label, "number": self.number}


@dataclass
class RuleResult:
    rule: Rule
    passed: bool
    failing: int
    checked: int
    message: str
    examples: list[dict] = field(default_factory=list)  # {"row": 0-based row, "values": {col: value}}

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule.to_dict(), "passed": self.passed, "failing": self.failing,
                "checked": self.checked, "message": self.message, "examples": self.examples}


@dataclass
class ValidationReport:
    ref: str
    results: list[RuleResult]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> list[RuleResult]:
        return [r for r in self.results if not r.passed]

    def to_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, "passed": self.passed, "rules": len(self.results),
                "failed": len(self.failed), "results": [r.to_dict() for r in self.results]}


# -- loading -----------------------------------------------------------------------------------

def rules_path(home: Home, name: str) -> Path:
    return home.rules_dir / f"{check_name(name)}.toml"


def load_rules(path: str | Path) -> list[Rule]:
    """Parse and check a rules file; InputError names the file and the rule number."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"{p}: no such rules file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: cannot read the rules file ({exc})") from exc
    return parse_rules(text, str(p))


def parse_rules(text: str, source: str = "rules") -> list[Rule]:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: invalid TOML: {exc}") from exc
    extra = sorted(set(doc) - {"rule"})
    if extra:
        raise InputError(f"{source}: unknown top-level key {extra[0]!r}; rules go in [[rule]] tables")
    entries = doc.get("rule", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise InputError(f"{source}: 'rule' must be an array of tables ([[rule]])")
    headers = [i + 1 for i, ln in enumerate(text.splitlines()) if re.match(r"\s*\[\[\s*rule\s*\]\]", ln)]
    rules = []
    for i, entry in enumerate(entries, start=1):
        line = headers[i - 1] if len(headers) == len(entries) else None
        where = f"{source}: rule {i}" + (f" (line {line})" if line else "")
        rule = _make_rule(entry, where)
        rule.number, rule.line = i, line
        rules.append(rule)
    return rules


def _make_rule(entry: dict[str, Any], where: str) -> Rule:
    rtype = entry.get("type")
    if rtype not in _KEYS:
        raise InputError(f"{where}: type must be one of {', '.join(RULE_TYPES)}, not {rtype!r}")
    where = f"{where} ({rtype})"
    required, optional = _KEYS[rtype]
    unknown = sorted(set(entry) - required - optional - {"type", "name"})
    if unknown:
        allowed = ", ".join(sorted(required | optional | {"name"}))
        raise InputError(f"{where}: unknown key {unknown[0]!r} (allowed: {allowed})")
    missing = sorted(required - set(entry))
    if missing:
        raise InputError(f"{where}: missing key {missing[0]!r}")
    column = entry.get("column")
    if column is not None and (not isinstance(column, str) or not column):
        raise InputError(f"{where}: column must be a non-empty string")
    params = {k: v for k, v in entry.items() if k not in ("type", "name", "column")}
    if rtype == "unique":
        if ("column" in entry) == ("columns" in entry):
            raise InputError(f"{where}: give either column = \"...\" or columns = [...]")
        cols = entry.get("columns", [column])
        if not cols or not all(isinstance(c, str) and c for c in cols):
            raise InputError(f"{where}: columns must be a non-empty list of column names")
        params["columns"] = list(cols)
    if rtype in ("range", "row_count"):
        if "min" not in entry and "max" not in entry:
            raise InputError(f"{where}: give min, max or both")
        for k in ("min", "max"):
            if k in entry and isinstance(entry[k], (list, dict, bool)):
                raise InputError(f"{where}: {k} must be a number, date or string")
        if rtype == "row_count" and any(not isinstance(entry.get(k, 0), int) for k in ("min", "max")):
            raise InputError(f"{where}: min and max must be whole numbers")
    if rtype == "max_null_share":
        share = entry["max"]
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
            raise InputError(f"{where}: max must be a share between 0 and 1, not {share!r}")
    if rtype == "allowed_values":
        vals = entry["values"]
        if not isinstance(vals, list) or not vals or any(isinstance(x, (list, dict)) for x in vals):
            raise InputError(f"{where}: values must be a non-empty list of plain values")
    if rtype == "regex":
        if not isinstance(entry["pattern"], str):
            raise InputError(f"{where}: pattern must be a string")
        problem = regex_problem(entry["pattern"])
        if problem:
            raise InputError(f"{where}: invalid regular expression {entry['pattern']!r}: {problem}")
    if rtype == "column_present" and "dtype" in entry and not isinstance(entry["dtype"], str):
        raise InputError(f"{where}: dtype must be a type name such as \"BIGINT\"")
    label = entry.get("name")
    if label is not None and not isinstance(label, str):
        raise InputError(f"{where}: name must be a string")
    return Rule(rtype, column if rtype != "unique" or column else None, params,
                label or default_label(rtype, column, params))


def default_label(rtype: str, column: str | None, params: dict[str, Any]) -> str:
    if rtype == "unique":
        return f"unique({', '.join(params['columns'])})"
    if rtype in ("range", "row_count"):
        lo, hi = params.get("min", ""), params.get("max", "")
        inner = f"{column}, " if column else ""
        return f"{rtype}({inner}{lo}..{hi})"
    if rtype == "max_null_share":
        return f"max_null_share({column} <= {params['max']})"
    if rtype == "column_present" and params.get("dtype"):
        return f"column_present({column}: {params['dtype']})"
    return f"{rtype}({column})"


def regex_problem(pattern: str) -> str | None:
    """DuckDB's (RE2's) complaint about a pattern, or None when it compiles."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SELECT regexp_matches('', ?)", [pattern]).fetchall()
    except duckdb.Error as exc:
        return first_line(exc).split(": ", 1)[-1]
    finally:
        con.close()
    return None


def save_rules(home: Home, name: str, text: str) -> list[Rule]:
    """Check the rules text, then write it as the dataset's rules file (atomically)."""
    path = rules_path(home, name)
    rules = parse_rules(text, str(path))
    atomic_write_bytes(path, text.encode("utf-8"))
    return rules


def normalise_dtype(dtype: str) -> str:
    t = " ".join(dtype.upper().split())
    base, paren, rest = t.partition("(")
    base = _TYPE_ALIASES.get(base.strip(), base.strip())
    return base + (paren + rest if paren else "")


# -- evaluation --------------------------------------------------------------------------------

def validate(home: Home, v: DatasetVersion, rules: list[Rule] | None = None) -> ValidationReport:
    """Check every rule against version `v` (rules None: the dataset's rules file)."""
    from tui_mlops.data.rules_eval import evaluate

    if rules is None:
        path = rules_path(home, v.name)
        if not path.exists():
            raise NotFoundError(f"no rules for dataset {v.name!r}: write them to {path}")
        rules = load_rules(path)
    return ValidationReport(v.ref, evaluate(home, v, rules))

