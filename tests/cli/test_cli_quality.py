"""`mlops-tui data profile/validate/rules/clean/split`, run as subprocesses."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_helpers import Cli

RULES_FAILING = """
[[rule]]
type = "range"
column = "age"
min = 0
max = 120

[[rule]]
type = "not_null"
column = "age"

[[rule]]
type = "unique"
column = "id"

[[rule]]
type = "allowed_values"
column = "city"
values = ["Berlin", "Paris", "Rome"]
"""

RULES_PASSING = """
[[rule]]
type = "row_count"
min = 5
max = 100

[[rule]]
type = "column_present"
column = "city"
"""


def test_profile_table_json_and_one_column(cli: Cli, people_csv: Path) -> None:
    pytest.importorskip("tui_mlops.data.profile")
    pytest.importorskip("tui_mlops.charts")
    cli.ok("data", "add", people_csv)
    prof = cli.json("data", "profile", "people")
    assert prof["ref"].startswith("people@") and prof["rows"] == 10
    cols = {c["name"]: c for c in prof["columns"]}
    assert list(cols) == ["id", "name", "age", "city", "signup"]
    assert cols["age"]["kind"] == "numeric" and cols["age"]["nulls"] == 1
    assert cols["age"]["min"] == 23 and cols["age"]["max"] == 130
    assert cols["city"]["distinct"] == 3

    table = cli.ok("data", "profile", "people").out.splitlines()
    assert table[1].split()[:3] == ["column", "type", "kind"]
    age_row = next(line.split() for line in table if line.startswith("age "))
    assert age_row[3:5] == ["1", "10.0%"]

    age = cli.ok("data", "profile", "people", "--column", "age").out
    assert "p50" in age and "p99" in age
    assert len(age.splitlines()) > 20  # the details plus a histogram drawn as text
    city = cli.ok("data", "profile", "people", "--column", "city").out
    assert "Berlin" in city and "\x1b[" not in city

    missing = cli("data", "profile", "people", "--column", "nosuch")
    assert missing.rc == 2 and "nosuch" in missing.err


def test_validate_needs_rules_then_reports_failures(cli: Cli, people_csv: Path, tmp_path: Path) -> None:
    rules = pytest.importorskip("tui_mlops.data.rules")
    cli.ok("data", "add", people_csv)
    rules_file = cli.home / "rules" / "people.toml"

    none = cli("data", "validate", "people")
    assert none.rc == 2 and str(rules_file) in none.err and "data rules people --init" in none.err

    cli.ok("data", "rules", "people", "--init")
    assert rules_file.read_text() == rules.EXAMPLE_RULES
    assert cli.ok("data", "rules", "people", "--show").out == rules.EXAMPLE_RULES
    info = cli.json("data", "rules", "people")
    assert info["path"] == str(rules_file) and info["exists"] and not info["created"]

    rules_file.write_text(RULES_FAILING)
    failed = cli("data", "validate", "people")
    assert failed.rc == 1
    verdicts = [line.split()[0] for line in failed.out.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert verdicts == ["FAIL", "FAIL", "FAIL", "PASS"]
    assert "130" in failed.out  # an example failing row of the range rule
    assert failed.err.strip() == f"mlops-tui: error: 3 of 4 rule(s) failed for people@{_short(cli)}"

    as_json = cli("data", "validate", "people", "--json")
    assert as_json.rc == 1
    report = as_json.json()
    assert report["passed"] is False
    assert [r["passed"] for r in report["results"]] == [False, False, False, True]

    passing = tmp_path / "ok.toml"
    passing.write_text(RULES_PASSING)
    ok = cli("data", "validate", "people", "--rules", passing)
    assert ok.rc == 0, ok.err
    assert "rules: 2 of 2 passed" in ok.out


def _short(cli: Cli) -> str:
    return cli.json("data", "show", "people")["version"]["version"][:8]


def test_clean_makes_a_version_with_lineage(cli: Cli, people_csv: Path) -> None:
    pytest.importorskip("tui_mlops.data.clean")
    parent = cli.json("data", "add", people_csv)[0]
    steps = ["--step", "drop_duplicates", "--step", "fill_nulls:age=median", "--step", "filter:age <= 120"]
    cleaned = cli.json("data", "clean", "people", *steps, "--into", "people_clean")
    assert cleaned["created"] and cleaned["name"] == "people_clean" and cleaned["rows"] == 8
    assert cleaned["parent"] == f"people@{parent['version']}" and cleaned["operation"] == "clean"

    again = cli.json("data", "clean", "people", *steps, "--into", "people_clean")
    assert (again["version"], again["created"]) == (cleaned["version"], False)

    shown = cli.json("data", "show", "people_clean")
    assert [a["ref"] for a in shown["lineage"]] == [f"people@{parent['version']}"]
    assert [c["ref"] for c in cli.json("data", "show", "people")["children"]] == [cleaned["ref"]]
    human = cli.ok("data", "show", "people_clean").out
    assert f"people@{parent['version'][:8]}" in human and "drop_duplicates" in human

    bad = cli("data", "clean", "people", "--step", "frobnicate")
    assert bad.rc == 2 and "frobnicate" in bad.err


def test_split_is_reproducible_and_has_lineage(cli: Cli, people_csv: Path) -> None:
    pytest.importorskip("tui_mlops.data.split")
    parent = cli.json("data", "add", people_csv)[0]
    parts = cli.json("data", "split", "people", "--ratios", "0.6,0.2,0.2", "--seed", "7")
    assert sorted(parts) == ["test", "train", "valid"]
    assert {p: v["name"] for p, v in parts.items()} == {
        "train": "people.train", "valid": "people.valid", "test": "people.test"}
    assert sum(v["rows"] for v in parts.values()) == 10
    assert all(v["parent"] == f"people@{parent['version']}" for v in parts.values())

    again = cli.json("data", "split", "people", "--ratios", "0.6,0.2,0.2", "--seed", "7")
    assert {p: v["version"] for p, v in again.items()} == {p: v["version"] for p, v in parts.items()}

    lineage = cli.json("data", "show", "people.train")["lineage"]
    assert [a["ref"] for a in lineage] == [f"people@{parent['version']}"]

    by_time = cli.json("data", "split", "people", "--time-column", "signup", "--cutoffs", "2024-06-01,2024-08-01")
    assert {p: v["rows"] for p, v in by_time.items()} == {"train": 6, "valid": 2, "test": 2}

    human = cli.ok("data", "split", "people", "--stratify", "city", "--ratios", "0.5,0.5").out
    assert "stratified" in human and "people.train@" in human and "people.test@" in human

    bad = cli("data", "split", "people", "--ratios", "1,2,3,4")
    assert bad.rc == 2 and "--ratios" in bad.err
