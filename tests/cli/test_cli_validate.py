"""`mlops-tui validate` as a real subprocess: sections and gate verdicts, exit 1 on a failed gate,
2 on bad input (gate file, data lacking a feature column), new categories reported."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

_TRAINING = str(Path(__file__).resolve().parents[1] / "training")
if _TRAINING not in sys.path:
    sys.path.insert(0, _TRAINING)

from cli_helpers import run_cli  # noqa: E402
from train_helpers import ingest_text, toy_csv, train_here  # noqa: E402
from tui_mlops.store.home import Home  # noqa: E402

LEAKS = ["y_txt", "y_multi", "y_reg", "const", "nothing"]


def variant(drop: str | None = None, replace_cat: tuple[str, str] | None = None) -> str:
    lines = [ln.split(",") for ln in toy_csv(rows=120, seed=11).splitlines()]
    if replace_cat:
        i = lines[0].index("cat")
        for r in lines[1:]:
            r[i] = replace_cat[1] if r[i] == replace_cat[0] else r[i]
    if drop:
        i = lines[0].index(drop)
        for r in lines:
            r.pop(i)
    return "\n".join(",".join(r) for r in lines) + "\n"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli_validate")
    home = Home.open(tmp / "home")
    ingest_text(home, tmp, "toy", toy_csv())
    ingest_text(home, tmp, "toy_nox", variant(drop="x1"))
    ingest_text(home, tmp, "toy_newcat", variant(replace_cat=("d", "zz")))
    run_id, _, _ = train_here(home, target="y_bin", drop=list(LEAKS), num_boost_round=40,
                              params={"learning_rate": 0.2, "min_data_in_leaf": 5})
    return home.root, run_id


def gate_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gates.toml"
    path.write_text(text)
    return path


def test_validate_passes_and_prints_sections(trained, tmp_path):
    home, run_id = trained
    gates = gate_file(tmp_path, '[[gates]]\nmetric = "auc"\nmin = 0.5\n'
                                '[[gates]]\non = "cv_std"\nmetric = "auc"\nmax = 0.5\n')
    md = tmp_path / "report.md"
    r = run_cli("validate", run_id[:8], "--folds", 2, "--bootstrap", 100, "--slice", "cat", "--gate", gates,
                "--markdown", md, home=home)
    assert r.rc == 0, r.err
    for text in ("Holdout metrics:", "Cross-validation (2 folds over 240 train+valid rows):", "Slices by cat:",
                 "Drift (training rows vs evaluated data):", "Noise sensitivity:", "Gates:", "PASSED"):
        assert text in r.out
    assert "  PASS  auc >= 0.5: auc " in r.out and "  PASS  cv_std auc <= 0.5: auc cv_std " in r.out
    assert "cross-validation" not in r.err  # no progress line when stderr is not a terminal
    assert md.read_text().startswith("# Validation report ")
    assert f"stored {home / 'runs' / run_id / 'validation'}/" in r.out


def test_json_output_and_progress(trained):
    home, run_id = trained
    r = run_cli("validate", run_id, "--folds", 2, "--bootstrap", 0, "--json", "--progress", "--no-champion",
                home=home)
    assert r.rc == 0, r.err
    d = json.loads(r.out)
    assert d["run_id"] == run_id and d["cv"]["k"] == 2 and d["ci"] is None and d["champion"] is None
    assert "cross-validation: fold 1/2" in r.err and "cross-validation: 2 folds done" in r.err


def test_failed_gate_exits_1_naming_it(trained, tmp_path):
    home, run_id = trained
    gates = gate_file(tmp_path, '[[gates]]\nname = "floor"\nmetric = "auc"\nmin = 0.5\n'
                                '[[gates]]\nname = "impossible"\nmetric = "auc"\nmin = 0.9999\n')
    r = run_cli("validate", run_id, "--folds", 0, "--bootstrap", 0, "--gate", gates, home=home)
    assert r.rc == 1
    assert r.err.strip() == "mlops-tui: error: 1 gate(s) failed: impossible"
    assert "  PASS  floor: auc " in r.out
    assert "  FAIL  impossible: auc " in r.out and "is below the minimum 0.9999" in r.out
    assert "FAILED: impossible" in r.out


def test_bad_gate_file_exits_2(trained, tmp_path):
    home, run_id = trained
    gates = gate_file(tmp_path, '[[gates]]\nmetric = "auc"\nmin = = 0.5\n')
    r = run_cli("validate", run_id, "--folds", 0, "--gate", gates, home=home)
    assert r.rc == 2 and r.out == ""
    assert f"mlops-tui: error: {gates}: invalid TOML:" in r.err and "line 3" in r.err
    gates.write_text('[[gates]]\nmetric = "auc"\nmin = 0.5\n[[gates]]\nmetric = "auc"\nabove = 0.5\n')
    r = run_cli("validate", run_id, "--folds", 0, "--gate", gates, home=home)
    assert r.rc == 2 and f"{gates}: gate 2: unknown key 'above'" in r.err


def test_data_missing_a_feature_column_exits_2(trained):
    home, run_id = trained
    r = run_cli("validate", run_id, "--data", "toy_nox", "--folds", 0, home=home)
    assert r.rc == 2
    assert "mlops-tui: error: toy_nox@" in r.err and "lacks column 'x1' that the model was trained on" in r.err
    r = run_cli("validate", "nosuchmodel", home=home)
    assert r.rc == 2 and "no run or registered model 'nosuchmodel'" in r.err


def test_new_category_is_reported(trained):
    home, run_id = trained
    r = run_cli("validate", run_id, "--data", "toy_newcat", "--folds", 0, "--bootstrap", 0, home=home)
    assert r.rc == 0, r.err
    assert "Warnings:" in r.out
    assert "column 'cat' has categories never seen in training: 'zz'" in r.out
