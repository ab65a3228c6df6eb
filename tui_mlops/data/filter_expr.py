"""Row filter expressions (`age >= 18 and country in ('DE', 'FR')`) compiled to a safe SQL WHERE
clause: identifiers quoted, every value bound as a parameter, nothing the user typed pasted in.

Grammar (keywords case-insensitive):
  expr   := and ("or" and)*          and := not ("and" not)*        not := "not" not | pred
  pred   := "(" expr ")" | operand [ cmp operand | ["not"] "in" "(" value ("," value)* ")"
            | "is" ["not"] "null" | ["not"] "between" operand "and" operand | ["not"] "like" operand ]
  operand := column | value        value := number | 'string' | "string" | true | false | null
Columns are bare names (letters, digits, `_`, `.`) or quoted in backticks; a double-quoted word that
is exactly a column name means that column, otherwise it is a string.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from tui_mlops.data.sql import quote_ident
from tui_mlops.errors import InputError

KEYWORDS = {"and", "or", "not", "in", "is", "null", "between", "like", "true", "false"}
COMPARISONS = {"=": "=", "==": "=", "!=": "<>", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


@dataclass(frozen=True)
class Token:
    kind: str   # "ident", "quoted" (double quotes), "backtick", "string", "number", "op", "punct", "kw", "end"
    text: str   # source text of the token
    value: Any  # the parsed value (number, string, keyword lower-cased)
    pos: int    # 0-based offset in the expression


def _error(expr: str, pos: int, what: str) -> InputError:
    return InputError(f"{what} at position {pos + 1} in filter {expr!r}")


def tokenize(expr: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(expr)
    while i < n:
        ch = expr[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "'\"`":
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
            kind = {"'": "string", '"': "quoted", "`": "backtick"}[ch]
            tokens.append(Token(kind, expr[i:j + 1], "".join(buf), i))
            i = j + 1
            continue
        m = _NUMBER.match(expr, i)
        if m and (ch.isdigit() or ch == "." or (ch in "+-" and _signed_number_allowed(tokens))):
            text = m.group(0)
            value: Any = float(text) if any(c in text for c in ".eE") else int(text)
            tokens.append(Token("number", text, value, i))
            i = m.end()
            continue
        m = _IDENT.match(expr, i)
        if m:
            word = m.group(0)
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
    def __init__(self, expr: str, columns: list[str]) -> None:
        self.expr = expr
        self.columns = list(columns)
        self.tokens = tokenize(expr)
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
                other = right if left_is_null else left
                return f"({other} IS {'NOT ' if t.value == '<>' else ''}NULL)"
            return f"({left} {t.value} {right})"
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
            return f"({left} {negate}IN ({', '.join(items)}))"
        if self.at_kw("between"):
            self.advance()
            lo, _ = self.operand()
            self.expect_kw("and")
            hi, _ = self.operand()
            return f"({left} {negate}BETWEEN {lo} AND {hi})"
        if self.at_kw("like"):
            self.advance()
            pattern, _ = self.operand()
            return f"({left} {negate}LIKE {pattern})"
        if self.at_kw("is"):
            self.advance()
            neg = "NOT " if self.at_kw("not") else ""
            if neg:
                self.advance()
            self.expect_kw("null")
            return f"({left} IS {neg}NULL)"
        if t.kind == "end" or (t.kind == "kw" and t.value in ("and", "or")) or t.text == ")":
            # A bare column or `true`/`false` used as a condition.
            return left
        raise self.unexpected("expected a comparison such as =, <, IN, IS NULL, BETWEEN or LIKE")

    def operand(self) -> tuple[str, bool]:
        """SQL for a column or a bound value, and whether it was the NULL keyword."""
        t = self.tok
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
            return self.bind(t.value)
        if self.at_kw("true", "false"):
            self.advance()
            return "TRUE" if t.value == "true" else "FALSE"
        raise self.unexpected("expected a column name, a number, a 'string', true or false")


def compile_filter(expr: str, columns: list[str]) -> tuple[str, list[Any]]:
    """(SQL condition with `?` placeholders, parameters) for a filter over `columns`."""
    parser = _Parser(expr, columns)
    return parser.parse(), parser.params
