"""`mlops-tui models ...` and `mlops-tui predict` as real subprocesses: registering, aliases with
gates and forced promotions, the history, scoring with schema errors, and export."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import polars as pl
import pytest

from cli_helpers import Cli, cli_env

# train_helpers lives in tests/training, which is on sys.path only once pytest collects it.
_TRAINING = str(Path(__file__).resolve().parents[1] / "training")
if _TRAINING not in sys.path:
    sys.path.insert(0, _TRAINING)

from train_helpers import ingest_text, toy_csv, train_here  # noqa: E402
from tui_mlops.store.home import Home  # noqa: E402

FAILED = {"passed": False, "results": [{"name": "auc >= 0.99", "verdict": "fail", "value": 0.8,
                                        "threshold": 0.99, "message": "auc 0.8 < 0.99"}]}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("cli-models")
    home = Home.open(root / "home")
    ingest_text(home, root, "toy", toy_csv())
    runs = [train_here(home, target="y_bin", features=["x1", "x2", "cat", "flag"], num_boost_round=n,
                       early_stopping_rounds=None)[0] for n in (4, 6)]
    return root, runs


@pytest.fixture
def store(trained, tmp_path: Path) -> tuple[Cli, Home, list[str], Path]:
    root, runs = trained
    shutil.copytree(root / "home", tmp_path / "home")
    shutil.copy(root / "files" / "toy.csv", tmp_path / "toy.csv")
    return Cli(tmp_path / "home"), Home.open(tmp_path / "home"), runs, tmp_path / "toy.csv"


def test_register_alias_gates_and_history(store):
    cli, home, runs, _ = store
    env = cli_env(MLOPS_TUI_USER="ann")
    v1 = cli.json("models", "register", runs[0][:6], "--name", "churn", "--note", "baseline", env=env)
    assert (v1["version"], v1["run_id"], v1["created"], v1["user"], v1["gates_status"]) == \
        (1, runs[0], True, "ann", "not validated")
    again = cli.ok("models", "register", runs[0], "--name", "churn")
    assert f"run {runs[0]} is already churn v1" in again.out
    r = cli.ok("models", "register", runs[1], "--name", "churn")
    assert r.out.startswith("registered churn v2 from run") and "gates: not validated" in r.out
    r = cli.ok("models", "alias", "churn", "1", "production", "--reason", "first release", env=env)
    assert r.out.strip() == "churn@production -> v1"

    from tui_mlops.registry.models import record_gates

    record_gates(home, "churn", 2, FAILED, "rep-1", runs[1])
    r = cli("models", "alias", "churn", "v2", "production")
    assert r.rc == 2
    assert r.err.strip() == ("mlops-tui: error: model churn v2 failed its gates (auc >= 0.99): promote with "
                             "--force --reason TEXT")
    r = cli("models", "alias", "churn", "2", "production", "--force")
    assert r.rc == 2 and "a forced promotion needs --reason" in r.err
    r = cli.ok("models", "alias", "churn", "2", "production", "--force", "--reason", "hotfix", env=env)
    assert r.out.strip() == "churn@production -> v2 (was v1) FORCED past failed gates"

    show = cli.ok("models", "show", "churn")
    lines = show.out.splitlines()
    v2 = next(ln for ln in lines if ln.startswith("v2 "))
    v1_line = next(ln for ln in lines if ln.startswith("v1 "))
    assert "production" in v2 and "failed" in v2 and runs[1] in v2 and "auc=" in v2
    assert "not validated" in v1_line and "production" not in v1_line
    hist = lines[lines.index("alias history") + 1:]
    assert hist[0].split() == ["when", "alias", "move", "who", "why", "forced"]
    assert "v1 -> v2" in hist[1] and "ann" in hist[1] and "hotfix" in hist[1] and "FORCED" in hist[1]
    assert "-> v1" in hist[2] and "first release" in hist[2] and "FORCED" not in hist[2]

    data = cli.json("models", "show", "churn")
    assert [m["forced"] for m in data["alias_history"]] == [False, True]
    assert [v["aliases"] for v in data["versions"]] == [[], ["production"]]
    listed = cli.json("models", "list")
    assert [(m["name"], m["versions"], m["aliases"]) for m in listed] == [("churn", 2, {"production": 2})]
    r = cli.ok("models", "unalias", "churn", "production", "--reason", "rollback")
    assert r.out.strip() == "removed churn@production (was v2)"
    r = cli("models", "unalias", "churn", "production")
    assert r.rc == 2 and "model churn has no alias 'production'" in r.err
    r = cli("models", "show", "nope")
    assert r.rc == 2 and "no model named 'nope'" in r.err


def test_predict_and_export(store, tmp_path):
    cli, home, runs, csv = store
    r = cli("models", "register", runs[0][:6], "--name", "churn")
    assert r.rc == 0, r.err
    out = tmp_path / "scored.csv"
    r = cli.ok("predict", "churn@1", csv, "--out", out, "--monitor", "live")
    assert f"scored 240 rows with churn@1 -> {out}" in r.out and "monitor batch:" in r.out
    scored = pl.read_csv(out)
    assert scored.columns[-4:] == ["prediction", "proba_0", "proba_1", "score"] and scored.height == 240
    assert len(list((home.monitors_dir / "live" / "incoming").glob("toy-*.parquet"))) == 1

    lines = csv.read_text().splitlines()
    cells = lines[9].split(",")
    cells[0] = "0.5x"  # x1
    cells[2] = "zebra"  # cat: a new category is only a warning
    lines[9] = ",".join(cells)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    r = cli("predict", "churn", bad, "--out", tmp_path / "bad-out.csv")
    assert r.rc == 2
    assert r.err.strip() == f"mlops-tui: error: {bad}: column 'x1' row 9: '0.5x' is not a number (trained as DOUBLE)"
    assert not (tmp_path / "bad-out.csv").exists()
    cells[0] = "0.5"
    lines[9] = ",".join(cells)
    bad.write_text("\n".join(lines) + "\n")
    r = cli.ok("predict", "churn", bad, "--out", tmp_path / "new-cat.parquet")
    assert "mlops-tui: warning:" in r.err and "'zebra'" in r.err

    r = cli.ok("models", "export", "churn@1", tmp_path / "bundle")
    assert r.out.startswith("exported churn@1 to") and "predict.py" in r.out
    assert (tmp_path / "bundle" / "model.txt").is_file()
    r = cli("models", "export", "churn", tmp_path / "bundle")
    assert r.rc == 2 and "exists and is not an empty folder" in r.err
