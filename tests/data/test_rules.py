"""Validation rules: loading (with bad files), every rule type passing and failing, examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tui_mlops.data import rules as R
from tui_mlops.data.ingest import IngestOptions, ingest_file
from tui_mlops.errors import InputError, NotFoundError
from tui_mlops.store.home import Home

CSV = """id,age,country,email,income
1,34,DE,a@x.org,100
2,-3,FR,b@x.org,
3,41,US,not-an-email,300
4,130,DE,d@x.org,
2,25,IT,e@x.org,500
6,,DE,f@x.org,600
"""


@pytest.fixture
def people(home: Home, write):
    return ingest_file(home, write("people.csv", CSV), IngestOptions(name="people")).version


def rules(text: str) -> list[R.Rule]:
    return R.parse_rules(text, "test.toml")


def check(home: Home, v, text: str) -> R.RuleResult:
    (result,) = R.validate(home, v, rules(text)).results
    return result


def test_example_rules_parse_and_cover_every_type() -> None:
    parsed = rules(R.EXAMPLE_RULES)
    assert sorted({r.type for r in parsed}) == sorted(R.RULE_TYPES)
    assert [r.number for r in parsed] == list(range(1, 9))
    assert parsed[-1].label == "income mostly known"


def test_not_null(home: Home, people) -> None:
    r = check(home, people, '[[rule]]\ntype = "not_null"\ncolumn = "age"\n')
    assert (r.passed, r.failing, r.checked) == (False, 1, 6)
    assert r.examples == [{"row": 5, "values": {"age": None}}]
    assert check(home, people, '[[rule]]\ntype = "not_null"\ncolumn = "id"\n').passed


def test_range(home: Home, people) -> None:
    r = check(home, people, '[[rule]]\ntype = "range"\ncolumn = "age"\nmin = 0\nmax = 120\n')
    assert (r.passed, r.failing, r.checked) == (False, 2, 5)  # nulls are not checked
    assert [e["row"] for e in r.examples] == [1, 3]
    assert [e["values"]["age"] for e in r.examples] == [-3, 130]
    assert "2 of 5 values outside [0, 120]" in r.message
    assert check(home, people, '[[rule]]\ntype = "range"\ncolumn = "age"\nmin = -10\n').passed


def test_allowed_values(home: Home, people) -> None:
    r = check(home, people, '[[rule]]\ntype = "allowed_values"\ncolumn = "country"\nvalues = ["DE", "FR", "US"]\n')
    assert (r.passed, r.failing, r.checked) == (False, 1, 6)
    assert r.examples == [{"row": 4, "values": {"country": "IT"}}]


def test_unique_single_and_composite(home: Home, people) -> None:
    r = check(home, people, '[[rule]]\ntype = "unique"\ncolumn = "id"\n')
    assert (r.passed, r.failing, r.checked) == (False, 2, 6)
    assert [e["row"] for e in r.examples] == [1, 4] and all(e["values"] == {"id": 2} for e in r.examples)
    assert check(home, people, '[[rule]]\ntype = "unique"\ncolumns = ["id", "country"]\n').passed


def test_regex(home: Home, people) -> None:
    r = check(home, people, "[[rule]]\ntype = \"regex\"\ncolumn = \"email\"\npattern = '^[^@]+@[^@]+$'\n")
    assert (r.passed, r.failing, r.checked) == (False, 1, 6)
    assert r.examples == [{"row": 2, "values": {"email": "not-an-email"}}]


def test_row_count(home: Home, people) -> None:
    assert check(home, people, '[[rule]]\ntype = "row_count"\nmin = 1\nmax = 6\n').passed
    r = check(home, people, '[[rule]]\ntype = "row_count"\nmin = 10\n')
    assert not r.passed and "6 rows, expected [10, inf]" in r.message


def test_column_present_with_type(home: Home, people) -> None:
    assert check(home, people, '[[rule]]\ntype = "column_present"\ncolumn = "age"\ndtype = "int8"\n').passed
    r = check(home, people, '[[rule]]\ntype = "column_present"\ncolumn = "age"\ndtype = "VARCHAR"\n')
    assert not r.passed and "has type BIGINT, expected VARCHAR" in r.message
    r = check(home, people, '[[rule]]\ntype = "column_present"\ncolumn = "height"\n')
    assert not r.passed and "'height' is missing" in r.message


def test_max_null_share(home: Home, people) -> None:
    r = check(home, people, '[[rule]]\ntype = "max_null_share"\ncolumn = "income"\nmax = 0.2\n')
    assert (r.passed, r.failing, r.checked) == (False, 2, 6)
    assert "33.3%" in r.message and [e["row"] for e in r.examples] == [1, 3]
    assert check(home, people, '[[rule]]\ntype = "max_null_share"\ncolumn = "income"\nmax = 0.5\n').passed


def test_a_rule_on_a_missing_column_fails(home: Home, people) -> None:
    r = check(home, people, '[[rule]]\ntype = "not_null"\ncolumn = "height"\n')
    assert not r.passed and r.message == "column 'height' is not in the dataset"


def test_report_keeps_rule_order_and_is_json(home: Home, people) -> None:
    report = R.validate(home, people, rules(R.EXAMPLE_RULES))
    assert [r.rule.number for r in report.results] == list(range(1, 9))
    assert not report.passed and report.failed
    d = json.loads(json.dumps(report.to_dict()))
    assert d["ref"] == people.ref and d["rules"] == 8 and d["failed"] == len(report.failed)


def test_validate_uses_the_saved_rules_file(home: Home, people) -> None:
    with pytest.raises(NotFoundError, match="no rules for dataset 'people'"):
        R.validate(home, people)
    R.save_rules(home, "people", '[[rule]]\ntype = "row_count"\nmin = 1\n')
    assert R.rules_path(home, "people") == home.rules_dir / "people.toml"
    assert R.validate(home, people).passed


def test_save_rules_refuses_bad_text_and_keeps_the_old_file(home: Home) -> None:
    R.save_rules(home, "people", R.EXAMPLE_RULES)
    with pytest.raises(InputError, match="rule 1"):
        R.save_rules(home, "people", '[[rule]]\ntype = "nope"\n')
    assert R.rules_path(home, "people").read_text() == R.EXAMPLE_RULES


@pytest.mark.parametrize("text,message", [
    ('[[rule]]\ntype = "range"\nmin = \n', "invalid TOML: Invalid value (at line 3, column 7)"),
    ('[[rule]]\ntype = "row_count"\nmin = 1\n\n[[rule]]\ntype = "bogus"\n',
     "rule 2 (line 5): type must be one of"),
    ('[[rule]]\ntype = "not_null"\ncolumn = "a"\ncolum = "b"\n', "rule 1 (line 1) (not_null): unknown key 'colum'"),
    ('[[rule]]\ntype = "regex"\ncolumn = "a"\n', "missing key 'pattern'"),
    ('[[rule]]\ntype = "range"\ncolumn = "a"\n', "give min, max or both"),
    ('[[rule]]\ntype = "max_null_share"\ncolumn = "a"\nmax = 5\n', "max must be a share between 0 and 1"),
    ('[[rule]]\ntype = "allowed_values"\ncolumn = "a"\nvalues = []\n', "values must be a non-empty list"),
    ('[[rule]]\ntype = "unique"\n', "give either column"),
    ('[[rule]]\ntype = "regex"\ncolumn = "a"\npattern = "(ab"\n', "invalid regular expression '(ab'"),
    ('[[rule]]\ntype = "row_count"\nmin = 1.5\n', "whole numbers"),
    ('title = "x"\n', "unknown top-level key 'title'"),
    ('rule = 3\n', "array of tables"),
])
def test_bad_rules_name_the_file_and_rule(text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        rules(text)
    assert str(info.value).startswith("test.toml: ")
    assert message in str(info.value)


def test_load_rules_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text('[[rule]]\ntype = "x"\n')
    with pytest.raises(InputError, match=f"{path}: rule 1"):
        R.load_rules(path)
    with pytest.raises(NotFoundError, match="no such rules file"):
        R.load_rules(tmp_path / "missing.toml")


def test_a_rule_duckdb_cannot_evaluate_is_named(home: Home, people) -> None:
    text = ('[[rule]]\ntype = "not_null"\ncolumn = "id"\n\n'
            '[[rule]]\ntype = "range"\ncolumn = "country"\nmin = 5\nname = "bad range"\n')
    with pytest.raises(InputError, match="rule 2 \\(line 5\\) 'bad range': cannot check column 'country'"):
        R.validate(home, people, rules(text))


def test_an_invalid_regex_in_a_programmatic_rule_is_named(home: Home, people) -> None:
    rule = R.Rule("regex", "email", {"pattern": "a(("}, "email shape")
    with pytest.raises(InputError, match="rule 'email shape': invalid regular expression"):
        R.validate(home, people, [rule])


def test_dates_in_range_rules(home: Home, write) -> None:
    v = ingest_file(home, write("d.csv", "day\n2024-01-01\n2023-06-30\n2024-12-31\n")).version
    r = check(home, v, '[[rule]]\ntype = "range"\ncolumn = "day"\nmin = 2024-01-01\n')
    assert (r.failing, r.examples) == (1, [{"row": 1, "values": {"day": "2023-06-30"}}])


def test_examples_give_file_rows_even_with_a_file_row_number_column(home: Home, write) -> None:
    v = ingest_file(home, write("c.csv", "file_row_number,x\n9,1\n8,\n7,3\n6,\n")).version
    r = check(home, v, '[[rule]]\ntype = "not_null"\ncolumn = "x"\n')
    assert [e["row"] for e in r.examples] == [1, 3]
