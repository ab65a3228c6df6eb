"""Filter expressions: the SQL they compile to, what they select in DuckDB, and error messages."""

from __future__ import annotations

import duckdb
import pytest

from tui_mlops.data.filter_expr import compile_filter, tokenize
from tui_mlops.errors import InputError

COLUMNS = ["age", "country", "my col", "Income", "in", "note"]
ROWS = [
    (15, "DE", 1, 100.0, 5, None),
    (18, "FR", 2, None, 6, "it's"),
    (30, "DE", 3, 2500.5, 7, "x"),
    (None, "US", 4, 10.0, 8, "Dx"),
    (70, "FR", 5, 99.0, 9, "y"),
]


def select(expr: str) -> list[int]:
    """Row positions (1-based) that the filter keeps, evaluated by DuckDB."""
    sql, params = compile_filter(expr, COLUMNS)
    con = duckdb.connect()
    try:
        con.execute('CREATE TABLE t (pos INTEGER, age INTEGER, country VARCHAR, "my col" INTEGER, '
                    '"Income" DOUBLE, "in" INTEGER, note VARCHAR)')
        con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?)", [(i + 1, *r) for i, r in enumerate(ROWS)])
        return [r[0] for r in con.execute(f"SELECT pos FROM t WHERE {sql} ORDER BY pos", params).fetchall()]
    finally:
        con.close()


@pytest.mark.parametrize("expr,rows", [
    ("age >= 18 and country in ('DE', 'FR')", [2, 3, 5]),
    ("age == 18", [2]),
    ("age != 18", [1, 3, 5]),
    ("age <> 18 or age is null", [1, 3, 4, 5]),
    ("not (age < 20 or age is null)", [3, 5]),
    ("country not in (\"DE\")", [2, 4, 5]),
    ("age between 18 and 30", [2, 3]),
    ("age not between 18 and 30", [1, 5]),
    ("note like 'D%'", [4]),
    ("note not like '%x'", [2, 5]),
    ("Income is not null and income > 99.5", [1, 3]),   # case-insensitive column match
    ('"my col" >= 4', [4, 5]),                           # double quotes name a column when one matches
    ("`in` = 7", [3]),                                    # backticks for a keyword-named column
    ("age > -1.5e1 AND age < 1e2", [1, 2, 3, 5]),
    ("note = 'it''s'", [2]),                              # a doubled quote inside a string
    ("age = null", [4]),
    ("age != null", [1, 2, 3, 5]),
    ("true", [1, 2, 3, 4, 5]),
    ("false or age = 70", [5]),
    ("age > 20 and (country = 'DE' or country = 'FR') or note = 'x'", [3, 5]),
])
def test_filters_select_the_right_rows(expr: str, rows: list[int]) -> None:
    assert select(expr) == rows


def test_values_are_bound_never_pasted() -> None:
    sql, params = compile_filter("country = 'x''; DROP TABLE t; --'", COLUMNS)
    assert sql == '("country" = ?)' and params == ["x'; DROP TABLE t; --"]
    assert "DROP" not in sql


def test_identifiers_are_quoted() -> None:
    sql, params = compile_filter('"my col" > 1 and `in` < 2', COLUMNS)
    assert sql == '(("my col" > ?) AND ("in" < ?))' and params == [1, 2]


def test_double_quoted_text_that_is_no_column_is_a_string() -> None:
    assert compile_filter('country = "DE"', COLUMNS) == ('("country" = ?)', ["DE"])


@pytest.mark.parametrize("expr,message", [
    ("age >= 18 and", "unexpected end at position 14 in filter 'age >= 18 and'"),
    ("age @ 3", "unexpected '@' at position 5"),
    ("age > 'x", "unterminated quote ' at position 7"),
    ("(age > 1", "expected ')'"),
    ("age > 1)", "unexpected ')' at position 8"),
    ("age not 5", "expected IN, BETWEEN or LIKE after NOT"),
    ("age in ()", "unexpected ')' at position 9"),
    ("age < null", "cannot compare with null using '<' at position 5"),
    ("age 18", "unexpected '18' at position 5"),
    ("", "the filter expression is empty"),
    ("age between 1 or 2", "expected 'AND'"),
])
def test_syntax_errors_name_the_position(expr: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        compile_filter(expr, COLUMNS)
    assert message in str(info.value)


def test_unknown_column_lists_the_columns_and_suggests_one() -> None:
    with pytest.raises(InputError) as info:
        compile_filter("agee > 3", COLUMNS)
    msg = str(info.value)
    assert "unknown column 'agee' at position 1" in msg
    assert "did you mean 'age'?" in msg and "columns: age, country, my col" in msg


def test_a_minus_after_an_operand_is_not_a_sign() -> None:
    with pytest.raises(InputError, match="unexpected '-' at position 4"):
        compile_filter("age-5 > 1", COLUMNS)
    assert [t.kind for t in tokenize("x=-5")] == ["ident", "op", "number", "end"]
