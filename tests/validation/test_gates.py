"""Gates: TOML parsing with errors that name the file, the gate and the line, and verdicts
(pass / fail / skip) on report dicts, direction-aware against production."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_mlops.errors import InputError
from tui_mlops.validation.gates import Gate, evaluate_gates, experiment_gates, load_gates, parse_gates


def gate_file(tmp_path: Path, text: str, name: str = "gates.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = """
[[gates]]
metric = "auc"
min = 0.8

[[gates]]
name = "stable"
on = "cv_std"
metric = "auc"
max = 0.05

[[gates]]
on = "drift_share"
max = 0.3

[[gates]]
on = "vs_production"
metric = "logloss"
max_drop = 0.01

[[gates]]
on = "ci_lower"
metric = "accuracy"
min = 0.6
max = 1
"""


def test_load_gates_fills_defaults_and_names(tmp_path):
    gates = load_gates(gate_file(tmp_path, GOOD))
    assert [g.on for g in gates] == ["holdout", "cv_std", "drift_share", "vs_production", "ci_lower"]
    assert gates[0] == Gate("auc >= 0.8", "holdout", "auc", 0.8, None, None)
    assert gates[1].name == "stable" and gates[1].max == 0.05
    assert gates[2].metric is None and gates[2].name == "drift_share <= 0.3"
    assert gates[3].max_drop == 0.01 and "vs production" in gates[3].name
    assert gates[4].name == "ci_lower accuracy in [0.6, 1]"


@pytest.mark.parametrize("text, expected", [
    ("[[gates]]\nmetric = \"auc\"\nmin = 0.8\n[[gates]]\nmetric = \"auc\"\nminimum = 0.7\n",
     "gate 2: unknown key 'minimum'"),
    ("[[gates]]\nmin = 0.8\n", "gate 1: needs metric"),
    ("[[gates]]\nmetric = \"acc\"\nmin = 0.8\n", "gate 1: unknown metric 'acc'"),
    ("[[gates]]\non = \"train\"\nmetric = \"auc\"\nmin = 0.8\n", "gate 1: unknown on = 'train'"),
    ("[[gates]]\nmetric = \"auc\"\n", "gate 1: give min or max"),
    ("[[gates]]\nmetric = \"auc\"\nmin = 0.9\nmax = 0.8\n", "gate 1: min 0.9 is above max 0.8"),
    ("[[gates]]\nmetric = \"auc\"\nmin = \"high\"\n", "gate 1: min must be a number"),
    ("[[gates]]\non = \"vs_production\"\nmetric = \"auc\"\nmin = 0.1\n", "takes max_drop"),
    ("[[gates]]\non = \"vs_production\"\nmetric = \"auc\"\nmax_drop = -1\n", "max_drop must be >= 0"),
    ("[[gates]]\nmetric = \"auc\"\nmax_drop = 0.1\n", "max_drop is only for"),
    ("[[gates]]\non = \"drift_share\"\nmetric = \"auc\"\nmax = 0.1\n", "takes no metric"),
    ("[[gates]]\nname = \"a\"\nmetric = \"auc\"\nmin = 0.1\n[[gates]]\nname = \"a\"\nmetric = \"f1\"\nmin = 0.1\n",
     "gate 2: the name 'a' is used"),
    ("[gate]\nmetric = \"auc\"\n", "unknown top-level key 'gate'"),
    ("title = \"x\"\n", "unknown top-level key 'title'"),
    ("", "no [[gates]] tables"),
])
def test_bad_gate_files_name_the_file_and_gate(tmp_path, text, expected):
    path = gate_file(tmp_path, text)
    with pytest.raises(InputError) as err:
        load_gates(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_toml_syntax_error_names_the_line(tmp_path):
    path = gate_file(tmp_path, "[[gates]]\nmetric = \"auc\"\nmin = = 0.8\n")
    with pytest.raises(InputError, match=r"invalid TOML: .*line 3") as err:
        load_gates(path)
    assert str(path) in str(err.value)
    with pytest.raises(InputError, match="does not exist"):
        load_gates(tmp_path / "missing.toml")


def test_parse_gates_names_its_source():
    with pytest.raises(InputError, match=r"^mlops.toml: gate 1: unknown key 'x'"):
        parse_gates([{"metric": "auc", "min": 0.5, "x": 1}], "mlops.toml")
    with pytest.raises(InputError, match="mlops.toml: gates must be"):
        parse_gates({"metric": "auc"}, "mlops.toml")
    assert parse_gates([], "mlops.toml") == []


REPORT = {
    "task": "binary",
    "holdout": {"auc": 0.85, "logloss": 0.40, "accuracy": 0.8},
    "ci": {"auc": {"lo": 0.78, "hi": 0.9}},
    "cv": {"k": 3, "metrics": {"auc": {"mean": 0.83, "std": 0.04, "folds": [0.8, 0.83, 0.86]}}},
    "drift": {"share_drifted": 0.25},
    "champion": {"skipped": None, "metrics": {"auc": 0.86, "logloss": 0.38}},
}


def verdicts(gates, report):
    out = evaluate_gates(gates, report)
    return out.passed, {r["name"]: r["verdict"] for r in out.results}, out


def test_verdicts_pass_fail_and_direction():
    gates = parse_gates([
        {"name": "auc", "metric": "auc", "min": 0.8},
        {"name": "auc-high", "metric": "auc", "min": 0.9},
        {"name": "cv", "on": "cv_std", "metric": "auc", "max": 0.05},
        {"name": "ci", "on": "ci_lower", "metric": "auc", "min": 0.8},
        {"name": "drift", "on": "drift_share", "max": 0.3},
        # production auc 0.86 vs ours 0.85: a drop of 0.01 (higher is better)
        {"name": "prod-auc", "on": "vs_production", "metric": "auc", "max_drop": 0.02},
        {"name": "prod-auc-strict", "on": "vs_production", "metric": "auc", "max_drop": 0.005},
        # production logloss 0.38 vs ours 0.40: worse by 0.02 (lower is better)
        {"name": "prod-logloss", "on": "vs_production", "metric": "logloss", "max_drop": 0.01},
    ], "t")
    passed, v, out = verdicts(gates, REPORT)
    assert v == {"auc": "pass", "auc-high": "fail", "cv": "pass", "ci": "fail", "drift": "pass",
                 "prod-auc": "pass", "prod-auc-strict": "fail", "prod-logloss": "fail"}
    assert passed is False and out.failed == ["auc-high", "ci", "prod-auc-strict", "prod-logloss"]
    res = {r["name"]: r for r in out.results}
    assert res["auc-high"]["message"] == "auc 0.85 is below the minimum 0.9"
    assert res["auc-high"]["value"] == 0.85 and res["auc-high"]["threshold"] == ">= 0.9"
    assert res["prod-logloss"]["value"] == pytest.approx(0.02)
    assert "worse than production" in res["prod-logloss"]["message"]
    assert res["prod-auc"]["value"] == pytest.approx(0.01)


def test_missing_inputs_skip_and_do_not_fail():
    report = {"task": "binary", "holdout": {"auc": 0.85}, "ci": None, "cv": None, "drift": None,
              "champion": {"skipped": "model churn has no production version"}}
    gates = parse_gates([
        {"name": "cv", "on": "cv_mean", "metric": "auc", "min": 0.8},
        {"name": "ci", "on": "ci_upper", "metric": "auc", "max": 0.99},
        {"name": "rmse", "metric": "rmse", "max": 1.0},
        {"name": "prod", "on": "vs_production", "metric": "auc", "max_drop": 0.0},
        {"name": "auc", "metric": "auc", "max": 0.9},
    ], "t")
    passed, v, out = verdicts(gates, report)
    assert passed is True
    assert v == {"cv": "skip", "ci": "skip", "rmse": "skip", "prod": "skip", "auc": "pass"}
    msgs = {r["name"]: r["message"] for r in out.results}
    assert "not run" in msgs["cv"] and "no holdout metric 'rmse'" in msgs["rmse"]
    assert msgs["prod"] == "model churn has no production version"
    assert verdicts(gates[3:4], dict(report, champion=None))[2].results[0]["verdict"] == "skip"


def test_nan_value_fails():
    gates = parse_gates([{"name": "r2", "metric": "r2", "min": 0.1}], "t")
    passed, v, _ = verdicts(gates, {"task": "regression", "holdout": {"r2": float("nan")}})
    assert passed is False and v == {"r2": "fail"}


def test_experiment_gates(home):
    assert experiment_gates(home, "churn") is None
    (home.root / "gates").mkdir()
    (home.root / "gates" / "churn.toml").write_text("[[gates]]\nmetric = \"f1\"\nmin = 0.5\n")
    assert experiment_gates(home, "churn") == [Gate("f1 >= 0.5", "holdout", "f1", 0.5, None, None)]
    assert experiment_gates(home, "other") is None
