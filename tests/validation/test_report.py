"""validate(): a run on its own holdout or on a dataset, stored reports read back, bad input (missing
feature column, no target, new category), gates, cancel, and the champion from the registry."""

from __future__ import annotations

import threading
import time

import pytest

from validate_helpers import finals, ingest_text, toy_csv, toy_variant, train_here
from tui_mlops.errors import InputError, NotFoundError
from tui_mlops.store.home import Home
from tui_mlops.validation.gates import Gate
from tui_mlops.validation.report import ValidationReport, list_reports, load_report, validate
from tui_mlops.validation.stability import ValidationCancelled

LEAKS = ["y_txt", "y_multi", "y_reg", "const", "nothing"]


def train_binary(home: Home, **params):
    return train_here(home, target="y_bin", drop=list(LEAKS), num_boost_round=40,
                      params={"learning_rate": 0.2, "min_data_in_leaf": 5, **params})


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    home = Home.open(tmp / "home")
    ingest_text(home, tmp, "toy", toy_csv())
    versions = {
        "nox": ingest_text(home, tmp, "toy_nox", toy_variant(drop="x1")),
        "notarget": ingest_text(home, tmp, "toy_notarget", toy_variant(drop="y_bin")),
        "newcat": ingest_text(home, tmp, "toy_newcat", toy_variant(replace_cat=("d", "zz"))),
    }
    run_id, spec, evs = train_binary(home)
    return home, run_id, finals(evs), versions


def test_validate_on_the_run_holdout(store):
    home, run_id, final, _ = store
    started = time.perf_counter()
    calls = []
    r = validate(home, run_id, folds=3, bootstrap=200, slice_by="cat", progress=lambda *a: calls.append(a))
    elapsed = time.perf_counter() - started
    assert elapsed < 10, f"validate took {elapsed:.1f} s"
    assert r.run_id == run_id and r.model_ref is None and r.task == "binary" and r.rows == 48
    assert "validation rows of the run" in r.data_ref
    # The same rows and model as training: the same metrics as the run recorded.
    assert r.holdout["auc"] == pytest.approx(final["valid/auc"], abs=1e-12)
    assert r.holdout["logloss"] == pytest.approx(final["valid/logloss"], abs=1e-12)
    assert {"brier", "precision", "recall", "f1", "accuracy"} <= set(r.holdout)
    assert r.ci["auc"]["lo"] <= r.holdout["auc"] <= r.ci["auc"]["hi"]
    assert r.cv["k"] == 3 and r.cv["rows"] == 240 and r.cv["rows_from"] == "train+valid"
    assert len(r.cv["metrics"]["auc"]["folds"]) == 3
    assert calls[-1] == (3, 3, "done")
    assert sum(g["n"] for g in r.slices["groups"]) == 48 and r.slices["column"] == "cat"
    assert sum(map(sum, r.details["confusion"])) == 48 and r.details["labels"] == ["0", "1"]
    assert sum(b["n"] for b in r.calibration) == 48
    assert "flip_share" in r.noise
    assert {f["column"] for f in r.drift["features"]} == {"x1", "x2", "cat", "ts", "flag", "neg"}
    assert r.champion == {"skipped": "the run is not a registered model version"}
    assert r.gates is None and r.passed is None
    # stored with the run, JSON and Markdown, and read back
    folder = home.runs_dir / run_id / "validation"
    assert (folder / f"{r.id}.json").is_file() and (folder / f"{r.id}.md").is_file()
    md = (folder / f"{r.id}.md").read_text()
    for title in ("# Validation report", "## Holdout metrics", "## Cross-validation (3 folds",
                  "## Slices by cat", "## Drift", "## Noise sensitivity", "skipped: the run is not a registered"):
        assert title in md
    listed = list_reports(home, run_id[:6])
    assert listed[0] == {"id": r.id, "created": r.created, "data_ref": r.data_ref, "passed": None}
    assert load_report(home, run_id) == load_report(home, run_id, r.id[:15]) == r.to_dict()
    assert ValidationReport.from_dict(load_report(home, run_id)).to_markdown() == md


def test_cv_uses_the_run_best_iteration(store):
    from tui_mlops.store.events import read_events
    from tui_mlops.validation.sources import best_iteration

    home, run_id, _, _ = store
    logged = [e["params"]["best_iteration"] for e in read_events(home.runs_dir / run_id / "events.jsonl")[0]
              if e["type"] == "params" and "best_iteration" in e["params"]]
    assert len(logged) == 1 and 1 <= logged[0] <= 40
    assert best_iteration(home, run_id) == logged[0]


def test_validate_on_a_dataset_names_the_worst_slice(store):
    home, run_id, _, _ = store
    r = validate(home, run_id, data="toy", folds=0, bootstrap=0, slice_by="cat", store=False)
    assert r.rows == 240 and r.data_ref.startswith("toy@")
    assert r.cv is None and r.ci is None
    groups = [g for g in r.slices["groups"] if g["metrics"]]
    assert len(groups) == 4 and all(g["n"] >= 20 for g in groups)
    lowest = min(groups, key=lambda g: g["metrics"]["auc"])
    assert r.slices["worst"] == {"value": lowest["value"], "n": lowest["n"], "metric": "auc",
                                 "score": lowest["metrics"]["auc"]}
    assert f"worst slice: cat = {lowest['value']!r}" in r.to_markdown()
    assert not (home.runs_dir / run_id / "validation").exists() or r.id not in {
        x["id"] for x in list_reports(home, run_id)}


def test_bad_input(store):
    home, run_id, _, v = store
    before = list_reports(home, run_id)
    with pytest.raises(InputError, match=rf"^{v['nox'].ref} lacks column 'x1' that the model was trained on$"):
        validate(home, run_id, data=v["nox"].ref, folds=0, bootstrap=0)
    with pytest.raises(InputError, match=rf"{v['notarget'].ref} has no target column 'y_bin'"):
        validate(home, run_id, data="toy_notarget", folds=0, bootstrap=0)
    with pytest.raises(InputError, match="slice column 'region' is not in"):
        validate(home, run_id, slice_by="region", folds=0, bootstrap=0)
    with pytest.raises(InputError, match="folds must be 0"):
        validate(home, run_id, folds=1)
    with pytest.raises(InputError, match="threshold must be between 0 and 1"):
        validate(home, run_id, threshold=1.5)
    with pytest.raises(NotFoundError, match="no run or registered model 'nosuchmodel'"):
        validate(home, "nosuchmodel")
    with pytest.raises(InputError, match="does not exist"):
        validate(home, run_id, gates=str(home.root / "nope.toml"))
    assert list_reports(home, run_id) == before


def test_new_category_is_reported_not_fatal(store):
    home, run_id, _, v = store
    r = validate(home, run_id, data="toy_newcat", folds=0, bootstrap=50, store=False)
    cat = next(f for f in r.drift["features"] if f["column"] == "cat")
    assert cat["new_categories"] == ["zz"]
    assert any("'cat'" in w and "'zz'" in w for w in r.warnings)
    assert "never seen in training" in r.to_markdown()


def test_gates_from_the_experiment_file_and_explicit(store):
    home, run_id, _, _ = store
    gates_dir = home.root / "gates"
    gates_dir.mkdir(exist_ok=True)
    (gates_dir / "tests.toml").write_text(
        '[[gates]]\nname = "auc floor"\nmetric = "auc"\nmin = 0.5\n'
        '[[gates]]\nname = "impossible"\nmetric = "auc"\nmin = 0.9999\n'
        '[[gates]]\nname = "stable"\non = "cv_std"\nmetric = "auc"\nmax = 0.5\n'
        '[[gates]]\nname = "prod"\non = "vs_production"\nmetric = "auc"\nmax_drop = 0.0\n')
    try:
        r = validate(home, run_id, folds=0, bootstrap=50)
    finally:
        (gates_dir / "tests.toml").unlink()
    verdicts = {g["name"]: g["verdict"] for g in r.gates["results"]}
    assert verdicts == {"auc floor": "pass", "impossible": "fail", "stable": "skip", "prod": "skip"}
    assert r.gates["passed"] is False and r.passed is False
    assert list_reports(home, run_id)[0]["passed"] is False
    assert "FAILED: impossible" in r.to_markdown()
    ok = validate(home, run_id, folds=0, bootstrap=0, gates=[Gate("auc", "holdout", "auc", 0.5)], store=False)
    assert ok.gates == {"passed": True, "results": [dict(ok.gates["results"][0], verdict="pass")]}


def test_cancel_stops_without_a_report(store):
    home, run_id, _, _ = store
    before = list_reports(home, run_id)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(ValidationCancelled):
        validate(home, run_id, folds=3, bootstrap=0, cancel=cancel)
    assert list_reports(home, run_id) == before


def test_champion_from_the_registry(home, tmp_path):
    from tui_mlops.registry import models as R

    ingest_text(home, tmp_path, "toy", toy_csv())
    champ_id, _, _ = train_binary(home, num_leaves=3)
    chall_id, _, _ = train_binary(home)
    R.register_model(home, champ_id, "churn")
    R.set_alias(home, "churn", 1, "production")
    R.register_model(home, chall_id, "churn")
    none = validate(home, chall_id, folds=0, bootstrap=0, gates=[])
    assert none.gates == {"passed": True, "results": []}

    gates = [Gate("prod", "vs_production", "auc", max_drop=1.0), Gate("auc", "holdout", "auc", 0.5)]
    r = validate(home, chall_id, folds=0, bootstrap=200, gates=gates)
    ch = r.champion
    assert (ch["model"], ch["version"], ch["run_id"], ch["skipped"]) == ("churn", 1, champ_id, None)
    assert set(ch["metrics"]) >= {"auc", "logloss"} and ch["primary"] == "auc"
    assert ch["paired"]["metric"] == "auc"
    assert ch["paired"]["delta"] == pytest.approx(r.holdout["auc"] - ch["metrics"]["auc"])
    assert ch["delong"]["auc_b"] == pytest.approx(r.holdout["auc"])
    assert r.gates["passed"] is True
    v2 = R.resolve_model(home, "churn@2")
    assert v2.gates["report_id"] == r.id and v2.gates["passed"] is True

    # Through the registry: the production version is not compared with itself.
    p = validate(home, "churn@production", folds=0, bootstrap=0, store=False)
    assert p.run_id == champ_id and p.model_ref == "churn@1"
    assert p.champion["skipped"] == "this run is the production version (churn@1)"
    assert validate(home, "churn", folds=0, bootstrap=0, champion=False, store=False).champion is None

    # A failed gate is recorded on the version: promotion then needs force.
    bad = validate(home, chall_id, folds=0, bootstrap=0, gates=[Gate("hard", "holdout", "auc", 0.99999)])
    assert R.resolve_model(home, "churn@2").gates == {"passed": False, "results": bad.gates["results"],
                                                      "report_id": bad.id}
    with pytest.raises(InputError):
        R.set_alias(home, "churn", 2, "production")


def test_regression_and_multiclass(store):
    home, _, _, _ = store
    reg_id, _, reg_evs = train_here(home, target="y_reg", model="linear",
                                    drop=["y_bin", "y_txt", "y_multi", "const", "nothing", "ts"])
    r = validate(home, reg_id, data="toy", folds=2, bootstrap=50, slice_by="cat",
                 gates=[Gate("rmse", "holdout", "rmse", max=0.01), Gate("r2", "cv_mean", "r2", min=0.8)], store=False)
    assert set(r.holdout) >= {"rmse", "mae", "r2"} and r.calibration is None
    assert set(r.details["residuals"]) >= {"mean", "p50", "max_abs"}
    assert r.slices["metric"] == "rmse" and r.slices["worst"]["value"] in {"a", "b", "c", "d"}
    assert "flip_share" not in r.noise
    assert {g["name"]: g["verdict"] for g in r.gates["results"]} == {"rmse": "fail", "r2": "pass"}
    multi_id, _, multi_evs = train_here(home, target="y_multi", drop=["y_bin", "y_txt", "y_reg", "const", "nothing"],
                                        num_boost_round=20, params={"min_data_in_leaf": 5})
    m = validate(home, multi_id, folds=0, bootstrap=50, store=False)
    assert m.holdout["logloss"] == pytest.approx(finals(multi_evs)["valid/logloss"], abs=1e-12)
    assert m.details["labels"] == ["hi", "lo", "mid"] and len(m.details["confusion"]) == 3
    assert "f1_macro" in m.ci and "auc" not in m.holdout


def test_list_reports_skips_temp_and_broken_files(store):
    home, run_id, _, _ = store
    folder = home.runs_dir / run_id / "validation"
    folder.mkdir(exist_ok=True)
    before = list_reports(home, run_id)
    (folder / ".tmp-123-abcd-20991231T235959999Z-aaaaaa.json").write_text("{}")
    (folder / "20991231T235959999Z-bbbbbb.json").write_text('{"id": "20991231T2359')  # torn
    assert list_reports(home, run_id) == before
