"""Row filter expressions (`age >= 18 and country in ('DE', 'FR')`) compiled to a safe SQL WHERE
clause: identifiers quoted, every value bound as a parameter, nothing the user typed pasted in.

Grammar (keywords case-insensitive):
  expr   := and ("or" and)*          and := not ("and" not)*        not := "not" not | pred
  pred   := "(" expr ")" | operand [ cmp operand | ["not"] "in" "(" value ("," value)* ")"
            | "is" ["not"] "null" | ["not"] "between" operand "and" operand | ["not"] "like" operand ]
  operand := column | value        value := number | 'string' | "string" | true | false | null
Columns are bare names (letters, digits, `_`, `.`) or quoted in backticks; a double-quoted word that
is exactly a column name means that column, otherwise it is a string.

`compile_with(expr, resolver)` compiles the same grammar over names a caller resolves (the runs
query: `metrics.auc`, params.`a b`, `status`): a resolved Field is compared as a number when the
other side is a number and as text otherwise, and bare names may also hold `/` and `@`.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Callable

from tui_mlops.data.sql import quote_ident
from tui_mlops.errors import InputError

KEYWORDS = {"and", "or", "not", "in", "is", "null", "between", "like", "true", "false"}
COMPARISONS = {"=": "=", "==": "=", "!=": "<>", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
PATH_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_./@]*")  # resolver mode: metrics.valid/auc, ndcg@5


@dataclass(frozen=True)
class Field:
    """A name a resolver understood: SQL to compare it as text and/or as a number (None: cannot)."""

    text_sql: str | None
    num_sql: str | None = None
    label: str = ""
    pos: int = 0


Resolver = Callable[[str, int], Field]  # (name, 0-based position) -> Field; raises InputError if unknown


class _Val(str):
    """SQL of a literal (`?` or TRUE/FALSE) remembering its kind and parameter slot."""

    kind: str
    index: int | None
    raw: Any


@dataclass(frozen=True)
class Token:
    kind: str   # "ident", "quoted" (double quotes), "backtick", "string", "number", "op", "punct", "kw", "end"
    text: str   # source text of the token
    value: Any  # the parsed value (number, string, keyword lower-cased)
    pos: int    # 0-based offset in the expression


def _error(expr: str, pos: int, what: str) -> InputError:
    return InputError(f"{what} at position {pos + 1} in filter {expr!r}")


def _scan_quoted(expr: str, i: int) -> tuple[str, int]:
    """The text inside the quote starting at `i`, and the offset after its closing quote."""
    ch, n = expr[i], len(expr)
    j, buf = i + 1, []
    while True:
        if j >= n:
            raise _error(expr, i, f"unterminated quote {ch}")
        if expr[j] == ch:
            if j + 1 < n and expr[j + 1] == ch:  # a doubled quote stands for itself
                buf.append(ch)
                j += 2
                continue
            break
        buf.append(expr[j])
        j += 1
    return "".join(buf), j + 1


def tokenize(expr: str, ident: re.Pattern[str] = _IDENT) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(expr)
    while i < n:
        ch = expr[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "'\"`":
            text, end = _scan_quoted(expr, i)
            kind = {"'": "string", '"': "quoted", "`": "backtick"}[ch]
            tokens.append(Token(kind, expr[i:end], text, i))
            i = end
            continue
        m = _NUMBER.match(expr, i)
        if m and (ch.isdigit() or ch == "." or (ch in "+-" and _signed_number_allowed(tokens))):
            text = m.group(0)
            value: Any = float(text) if any(c in text for c in ".eE") else int(text)
            tokens.append(Token("number", text, value, i))
            i = m.end()
            continue
        m = ident.match(expr, i)
        if m:
            word = m.group(0)
            if word.endswith(".") and m.end() < n and expr[m.end()] == "`":
                # prefix.`any name`: one dotted name whose last part is quoted
                text, end = _scan_quoted(expr, m.end())
                tokens.append(Token("ident", expr[i:end], word + text, i))
                i = end
                continue
            kind = "kw" if word.lower() in KEYWORDS else "ident"
            tokens.append(Token(kind, word, word.lower() if kind == "kw" else word, i))
            i = m.end()
            continue
        two = expr[i:i + 2]
        if two in COMPARISONS:
            tokens.append(Token("op", two, COMPARISONS[two], i))
            i += 2
            continue
        if ch in COMPARISONS:
            tokens.append(Token("op", ch, COMPARISONS[ch], i))
            i += 1
            continue
        if ch in "(),":
            tokens.append(Token("punct", ch, ch, i))
            i += 1
            continue
        raise _error(expr, i, f"unexpected {ch!r}")
    tokens.append(Token("end", "", None, n))
    return tokens


def _signed_number_allowed(tokens: list[Token]) -> bool:
    """A sign belongs to a number only where an operand may start (not after an operand)."""
    if not tokens:
        return True
    last = tokens[-1]
    return last.kind in ("op", "punct") and last.text != ")" or (last.kind == "kw" and last.value in (
        "and", "or", "not", "in", "between", "like"))


class _Parser:
    def __init__(self, expr: str, columns: list[str], resolver: Resolver | None = None) -> None:
        self.expr = expr
        self.columns = list(columns)
        self.resolver = resolver
        self.tokens = tokenize(expr, PATH_IDENT if resolver else _IDENT)
        self.i = 0
        self.params: list[Any] = []

    # -- helpers -----------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        t = self.tokens[self.i]
        self.i += 1
        return t

    def at_kw(self, *words: str) -> bool:
        return self.tok.kind == "kw" and self.tok.value in words

    def expect_kw(self, word: str) -> None:
        if not self.at_kw(word):
            raise self.unexpected(f"expected '{word.upper()}'")
        self.advance()

    def expect_punct(self, ch: str) -> None:
        if not (self.tok.kind == "punct" and self.tok.text == ch):
            raise self.unexpected(f"expected '{ch}'")
        self.advance()

    def unexpected(self, hint: str = "") -> InputError:
        t = self.tok
        what = "unexpected end" if t.kind == "end" else f"unexpected {t.text!r}"
        err = _error(self.expr, t.pos, what)
        return InputError(f"{err} ({hint})") if hint else err

    def column(self, name: str, pos: int) -> str | None:
        if name in self.columns:
            return name
        folded = [c for c in self.columns if c.lower() == name.lower()]
        return folded[0] if len(folded) == 1 else None

    def unknown_column(self, name: str, pos: int) -> InputError:
        close = difflib.get_close_matches(name, self.columns, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        shown = ", ".join(self.columns[:20]) + (", ..." if len(self.columns) > 20 else "")
        return InputError(f"unknown column {name!r} at position {pos + 1} in filter {self.expr!r} "
                          f"({hint}columns: {shown})")

    def bind(self, value: Any) -> str:
        self.params.append(value)
        return "?"

    def literal(self, sql: str, kind: str, raw: Any) -> _Val:
        index = None
        if sql == "?":
            index = len(self.params) - 1
        elif self.resolver is not None:  # bound, so a text field can get it as 'true'/'false'
            sql, index = self.bind(raw), len(self.params)
        val = _Val(sql)
        val.kind, val.index, val.raw = kind, index, raw
        return val

    def sql(self, x: Any, peers: list[Any]) -> str:
        """SQL for an operand; a resolved Field as a number or as text, as its peers need."""
        if not isinstance(x, Field):
            return x
        vals = [p for p in peers if isinstance(p, _Val) and p.index is not None]
        kinds = {v.kind for v in vals}
        if kinds & {"string", "bool"} or ("number" in kinds and x.num_sql is None):
            if x.text_sql is None:
                raise InputError(f"{x.label} is a number: compare it with a number, at position {x.pos + 1} "
                                 f"in filter {self.expr!r}")
            for v in vals:  # text comparison: numbers and booleans as the text the store keeps
                if v.kind == "number":
                    self.params[v.index] = _number_text(v.raw)
                elif v.kind == "bool":
                    self.params[v.index] = "true" if v.raw else "false"
            return x.text_sql
        if "number" in kinds:
            return x.num_sql  # type: ignore[return-value]
        fields = [p for p in peers if isinstance(p, Field)]
        if fields and x.num_sql is not None and all(f.num_sql is not None for f in fields):
            return x.num_sql
        return x.text_sql if x.text_sql is not None else x.num_sql  # type: ignore[return-value]

    # -- grammar -------------------------------------------------------------------------------
    def parse(self) -> str:
        if self.tok.kind == "end":
            raise InputError("the filter expression is empty")
        sql = self.or_expr()
        if self.tok.kind != "end":
            raise self.unexpected("expected AND, OR or the end of the filter")
        return sql

    def or_expr(self) -> str:
        parts = [self.and_expr()]
        while self.at_kw("or"):
            self.advance()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def and_expr(self) -> str:
        parts = [self.not_expr()]
        while self.at_kw("and"):
            self.advance()
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def not_expr(self) -> str:
        if self.at_kw("not"):
            self.advance()
            return f"(NOT {self.not_expr()})"
        return self.predicate()

    def predicate(self) -> str:
        if self.tok.kind == "punct" and self.tok.text == "(":
            self.advance()
            inner = self.or_expr()
            self.expect_punct(")")
            return inner
        left, left_is_null = self.operand()
        t = self.tok
        if t.kind == "op":
            self.advance()
            right, right_is_null = self.operand()
            if left_is_null or right_is_null:
                # `x = null` is never true in SQL; what people mean is IS [NOT] NULL.
                if t.value not in ("=", "<>"):
                    raise _error(self.expr, t.pos, f"cannot compare with null using {t.text!r}")
                other = self.sql(right if left_is_null else left, [])
                return f"({other} IS {'NOT ' if t.value == '<>' else ''}NULL)"
            return f"({self.sql(left, [right])} {t.value} {self.sql(right, [left])})"
        negate = ""
        if self.at_kw("not"):
            self.advance()
            negate = "NOT "
            if not self.at_kw("in", "between", "like"):
                raise self.unexpected("expected IN, BETWEEN or LIKE after NOT")
        if self.at_kw("in"):
            self.advance()
            self.expect_punct("(")
            items = [self.value_operand()]
            while self.tok.kind == "punct" and self.tok.text == ",":
                self.advance()
                items.append(self.value_operand())
            self.expect_punct(")")
            return f"({self.sql(left, items)} {negate}IN ({', '.join(items)}))"
        if self.at_kw("between"):
            self.advance()
            lo, _ = self.operand()
            self.expect_kw("and")
            hi, _ = self.operand()
            return (f"({self.sql(left, [lo, hi])} {negate}BETWEEN {self.sql(lo, [left])} "
                    f"AND {self.sql(hi, [left])})")
        if self.at_kw("like"):
            self.advance()
            pattern, _ = self.operand()
            return f"({self.sql(left, [pattern])} {negate}LIKE {self.sql(pattern, [left])})"
        if self.at_kw("is"):
            self.advance()
            neg = "NOT " if self.at_kw("not") else ""
            if neg:
                self.advance()
            self.expect_kw("null")
            return f"({self.sql(left, [])} IS {neg}NULL)"
        if isinstance(left, Field):
            raise self.unexpected("expected a comparison such as =, <, IN, IS NULL, BETWEEN or LIKE")
        if t.kind == "end" or (t.kind == "kw" and t.value in ("and", "or")) or t.text == ")":
            # A bare column or `true`/`false` used as a condition.
            return left
        raise self.unexpected("expected a comparison such as =, <, IN, IS NULL, BETWEEN or LIKE")

    def operand(self) -> tuple[Any, bool]:
        """SQL for a column or a bound value (a Field in resolver mode), and whether it was NULL."""
        t = self.tok
        if self.resolver is not None and t.kind in ("ident", "backtick"):
            self.advance()
            return self.resolver(t.value, t.pos), False
        if t.kind in ("ident", "backtick") or (t.kind == "quoted" and self.column(t.value, t.pos)):
            self.advance()
            name = self.column(t.value, t.pos)
            if name is None:
                raise self.unknown_column(t.value, t.pos)
            return quote_ident(name), False
        if self.at_kw("null"):
            self.advance()
            return "NULL", True
        return self.value_operand(), False

    def value_operand(self) -> str:
        t = self.tok
        if t.kind in ("number", "string", "quoted"):
            self.advance()
            return self.literal(self.bind(t.value), "number" if t.kind == "number" else "string", t.value)
        if self.at_kw("true", "false"):
            self.advance()
            return self.literal("TRUE" if t.value == "true" else "FALSE", "bool", t.value == "true")
        raise self.unexpected("expected a column name, a number, a 'string', true or false")


def compile_filter(expr: str, columns: list[str]) -> tuple[str, list[Any]]:
    """(SQL condition with `?` placeholders, parameters) for a filter over `columns`."""
    parser = _Parser(expr, columns)
    return parser.parse(), parser.params


def compile_with(expr: str, resolver: Resolver) -> tuple[str, list[Any]]:
    """Like compile_filter, but every name goes to `resolver` (which returns a Field)."""
    parser = _Parser(expr, [], resolver)
    return parser.parse(), parser.params


def _number_text(value: Any) -> str:
    """A number as the text the runs store keeps for it (31 -> '31', 0.1 -> '0.1')."""
    return str(value)
