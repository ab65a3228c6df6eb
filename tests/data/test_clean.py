"""Clean steps: parsing, each operation's effect (row order kept), lineage, dedupe, bad input."""

from __future__ import annotations

import pytest

from tui_mlops.data import versions as V
from tui_mlops.data.clean import CleanStep, clean, parse_step
from tui_mlops.data.ingest import IngestOptions, ingest_file
from tui_mlops.data.preview import read_page
from tui_mlops.errors import InputError
from tui_mlops.store.home import Home

CSV = """id,age,city,score
1,34,Berlin,1.5
2,,Paris,
1,34,Berlin,1.5
3,50,,2.5
4,20,Paris,x
5,41,Berlin,3
"""


@pytest.fixture
def people(home: Home, write):
    return ingest_file(home, write("people.csv", CSV), IngestOptions(name="people")).version


def run(home: Home, v, *steps: str):
    out, created = clean(home, v, [parse_step(s) for s in steps])
    page = read_page(home, out, 0, 100)
    return out, created, page


@pytest.mark.parametrize("text,step", [
    ("drop_duplicates", CleanStep("drop_duplicates", {"columns": None})),
    ("drop_duplicates:id, city", CleanStep("drop_duplicates", {"columns": ["id", "city"]})),
    ("drop_columns:a,b", CleanStep("drop_columns", {"columns": ["a", "b"]})),
    ("rename:a=b,c=d", CleanStep("rename_columns", {"mapping": {"a": "b", "c": "d"}})),
    ("cast:a=DOUBLE", CleanStep("cast", {"types": {"a": "DOUBLE"}})),
    ("fill_nulls:age=median", CleanStep("fill_nulls", {"columns": ["age"], "strategy": "median"})),
    ("fill_nulls:city=constant:un:known", CleanStep("fill_nulls", {"columns": ["city"], "strategy": "constant",
                                                                    "value": "un:known"})),
    ("filter:age >= 18", CleanStep("filter", {"expr": "age >= 18"})),
])
def test_parse_step(text: str, step: CleanStep) -> None:
    parsed = parse_step(text)
    assert (parsed.op, parsed.params) == (step.op, step.params)
    assert parse_step(parsed.describe()).params == parsed.params


@pytest.mark.parametrize("text,message", [
    ("explode", "unknown clean step 'explode'"),
    ("drop_columns", "needs arguments"),
    ("rename:a", "expected COLUMN=VALUE pairs"),
    ("fill_nulls:age=mean", "expected fill_nulls:COLUMNS=median|mode|constant:VALUE"),
    ("fill_nulls:age=constant", "constant needs a value"),
])
def test_parse_step_errors(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_step(text)


def test_drop_duplicates_keeps_first_occurrences_in_file_order(home: Home, people) -> None:
    _, _, page = run(home, people, "drop_duplicates")
    assert [r[0] for r in page.rows] == [1, 2, 3, 4, 5]
    _, _, page = run(home, people, "drop_duplicates:city")
    assert [r[0] for r in page.rows] == [1, 2, 3]


def test_drop_rename_and_cast_columns(home: Home, people) -> None:
    _, _, page = run(home, people, "drop_columns:score,city", "rename:age=years", "cast:years=DOUBLE")
    assert page.columns == ["id", "years"] and page.types == ["BIGINT", "DOUBLE"]
    assert page.rows[0] == (1, 34.0) and page.rows[1] == (2, None)


def test_fill_nulls_constant_median_and_mode(home: Home, people) -> None:
    _, _, page = run(home, people, "fill_nulls:age=median", "fill_nulls:city=mode",
                     "fill_nulls:score=constant:0")
    by_id = {r[0]: r for r in page.rows}
    assert by_id[2][1] == 34      # median of 34, 34, 50, 20, 41 (an actual value for integers)
    assert by_id[3][2] == "Berlin"  # the most frequent city
    assert by_id[2][3] == "0"
    assert all(None not in r for r in page.rows)


def test_fill_nulls_median_of_floats_and_typed_constants(home: Home, write) -> None:
    v = ingest_file(home, write("f.csv", "x,n\n1.0,1\n,\n4.0,3\n")).version
    out, _ = clean(home, v, [CleanStep("fill_nulls", {"columns": ["x"], "strategy": "median"}),
                             CleanStep("fill_nulls", {"columns": ["n"], "strategy": "constant", "value": "7"})])
    assert read_page(home, out, 0).rows == [(1.0, 1), (2.5, 7), (4.0, 3)]
    with pytest.raises(InputError, match="value 'seven' does not fit column 'n' of type BIGINT"):
        clean(home, v, [parse_step("fill_nulls:n=constant:seven")])


def test_filter_keeps_order(home: Home, people) -> None:
    _, _, page = run(home, people, "filter:age >= 30 and city != 'Paris'")
    # Row 3 has no city: `city != 'Paris'` is unknown there, so it is left out.
    assert [r[0] for r in page.rows] == [1, 1, 5]


def test_new_version_has_lineage_and_a_rerun_finds_it(home: Home, people) -> None:
    out, created, _ = run(home, people, "drop_duplicates", "filter:age > 18")
    assert created and out.name == "people" and out.version != people.version
    assert out.operation == "clean" and out.parent_ref == people.ref
    assert out.params == {"steps": [{"op": "drop_duplicates", "params": {"columns": None}},
                                    {"op": "filter", "params": {"expr": "age > 18"}}]}
    assert out.version == V.fingerprint(people.version, "clean", out.params["steps"])
    again, created_again, _ = run(home, people, "drop_duplicates", "filter:age > 18")
    assert (again.version, created_again) == (out.version, False)
    assert len(V.list_versions(home, "people")) == 2


def test_into_another_dataset(home: Home, people) -> None:
    out, _ = clean(home, people, [parse_step("drop_duplicates")], into="people_clean")
    assert out.name == "people_clean" and out.parent_ref == people.ref
    with pytest.raises(InputError, match="invalid dataset name"):
        clean(home, people, [parse_step("drop_duplicates")], into="../x")


@pytest.mark.parametrize("step,message", [
    ("drop_columns:height", "clean step 1 (drop_columns): unknown column 'height' (columns: id, age, city, score)"),
    ("rename:height=h", "unknown column 'height'"),
    ("rename:age=city", "two columns named 'city'"),
    ("cast:age=DOUBLE); DROP TABLE x; --", "unknown type"),
    ("cast:age=NUMBERISH", "unknown type 'NUMBERISH'"),
    ("fill_nulls:height=mode", "unknown column 'height'"),
    ("filter:agee > 3", "clean step 1 (filter): unknown column 'agee'"),
    ("filter:city > 3", "clean step 1 (filter):"),
    ("drop_columns:id,age,city,score", "cannot drop every column"),
])
def test_bad_steps_name_the_column_and_leave_nothing(home: Home, people, step: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        clean(home, people, [parse_step(step)])
    assert message in str(info.value)
    assert [v.version for v in V.list_versions(home, "people")] == [people.version]


def test_cast_failure_names_the_column_and_a_bad_value(home: Home, people) -> None:
    with pytest.raises(InputError, match="cannot cast column 'score' to DOUBLE: value 'x' does not convert"):
        clean(home, people, [parse_step("cast:score=DOUBLE")])
    assert V.check_store(home) == []


def test_a_clean_that_leaves_no_rows_is_refused(home: Home, people) -> None:
    with pytest.raises(InputError, match="no rows are left"):
        clean(home, people, [parse_step("filter:age > 1000")])
    assert [v.version for v in V.list_versions(home, "people")] == [people.version]
    assert V.check_store(home) == []


def test_later_steps_see_earlier_renames(home: Home, people) -> None:
    _, _, page = run(home, people, "rename:age=years", "filter:years < 30")
    assert page.rows == [(4, 20, "Paris", "x")]
    with pytest.raises(InputError, match="unknown column 'age'"):
        run(home, people, "rename:age=years", "filter:age < 30")


def test_no_steps_is_an_error(home: Home, people) -> None:
    with pytest.raises(InputError, match="at least one step"):
        clean(home, people, [])
