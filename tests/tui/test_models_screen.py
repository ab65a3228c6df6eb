"""Pilot tests of the Models screen (mode 4) and of `m` / `c` on Experiments, with real trained runs."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from textual.widgets import Input

from tui_mlops.registry import models as R
from tui_mlops.store.home import Home
from tui_mlops.tracking.api import start_run
from tui_mlops.tui.app import MlopsApp
from tui_mlops.tui.screens.confirm import ConfirmScreen
from tui_mlops.tui.screens.experiments import ExperimentsScreen
from tui_mlops.tui.screens.models import ModelsScreen
from tui_mlops.tui.screens.models_panes import EMPTY_TEXT, ReportScreen
from tui_mlops.tui.screens.run_detail_panes import TextPrompt

# train_helpers lives in tests/training, which is on sys.path only once pytest collects it.
_TRAINING = str(Path(__file__).resolve().parents[1] / "training")
if _TRAINING not in sys.path:
    sys.path.insert(0, _TRAINING)

from train_helpers import ingest_text, toy_csv, train_here  # noqa: E402
from tui_helpers import SIZE, notifications, settle, wait_until  # noqa: E402

FAILING_GATES = """
[[gates]]
name = "accuracy-high"
metric = "accuracy"
min = 0.99
"""


@pytest.fixture(scope="module")
def trained_store(tmp_path_factory) -> tuple[Path, list[str]]:
    """A home with the toy dataset and two small finished LightGBM runs (experiment "tests")."""
    tmp = tmp_path_factory.mktemp("models")
    home = Home.open(tmp / "home")
    ingest_text(home, tmp, "toy", toy_csv())
    ids = [train_here(home, target="y_bin", num_boost_round=8, params={"seed": seed})[0]
           for seed in (1, 2)]
    return home.root, ids


@pytest.fixture
def trained(trained_store, tmp_path) -> tuple[Home, list[str]]:
    """A private copy of the trained store (tests register, alias and validate in it)."""
    root, ids = trained_store
    shutil.copytree(root, tmp_path / "home")
    return Home.open(tmp_path / "home"), ids


def app_for(home: Home) -> MlopsApp:
    return MlopsApp(home, sample_data=False, watch=False)


async def open_models(pilot, loaded: bool = True) -> ModelsScreen:
    await settle(pilot)
    await pilot.press("4")
    screen = pilot.app.screen
    assert isinstance(screen, ModelsScreen), f"key 4 showed {type(screen).__name__}"
    assert await wait_until(pilot, lambda: screen.loaded_count > 0 or not loaded, 10)
    await settle(pilot)
    return screen


async def answer(pilot, text: str | None = None) -> str:
    """Fill the open TextPrompt (keeping its default when `text` is None) and press enter;
    returns the default it offered."""
    prompt = pilot.app.screen
    assert isinstance(prompt, TextPrompt), f"expected a prompt, got {type(prompt).__name__}"
    box = prompt.query_one(Input)
    default = box.value
    if text is not None:
        box.value = text
    await pilot.press("enter")
    await settle(pilot)
    return default


async def open_experiments(pilot) -> ExperimentsScreen:
    await settle(pilot)
    await pilot.press("2")
    screen = pilot.app.screen
    assert isinstance(screen, ExperimentsScreen), f"key 2 showed {type(screen).__name__}"
    assert await wait_until(pilot, lambda: screen.page is not None, 20)
    await settle(pilot)
    return screen


def alias_of(screen: ModelsScreen, version: int) -> str:
    rows = {r[0]: r for r in screen.rows("models-versions")}
    return rows[f"v{version}"][1]


def errors(app) -> list[str]:
    return [m for sev, m in notifications(app) if sev == "error"]


async def test_empty_state_says_how_to_register(home: Home) -> None:
    async with app_for(home).run_test(size=SIZE) as pilot:
        screen = await open_models(pilot)
        empty = screen.query_one("#models-empty")
        assert empty.display and not screen.query_one("#models-body").display
        assert str(empty.render()) == EMPTY_TEXT
        assert "press m on a run in Experiments (2)" in EMPTY_TEXT


async def test_m_on_experiments_registers_and_models_shows_new_versions_by_itself(trained) -> None:
    home, ids = trained
    with start_run("plain", name="no-model", home=home) as run:
        run.log_metric("loss", 0.5, step=1)
    async with app_for(home).run_test(size=SIZE) as pilot:
        models = await open_models(pilot)
        assert models.query_one("#models-empty").display
        runs = await open_experiments(pilot)
        # The newest run first: the one without a model; `m` on it is one error line.
        assert runs.highlighted_run() == run.run_id
        await pilot.press("m")
        await answer(pilot, "plain")
        assert await wait_until(pilot, lambda: any("no model artifact" in e for e in errors(pilot.app)))
        runs.grid.move_cursor(row=runs.row_ids.index(ids[0]))
        await pilot.press("m")
        assert await answer(pilot, "churn") == "tests"  # the run's experiment by default
        note = f"Registered churn v1 from run {ids[0][:8]}"
        assert await wait_until(pilot, lambda: any(m == note for _s, m in notifications(pilot.app)))
        await pilot.press("4")
        # No key on the Models screen: its registry watch picks the new version up.
        assert await wait_until(pilot, lambda: models.models and models.versions, 10)
        assert models.rows("models-list") == [["churn", "1", "-"]]
        assert models.column("models-versions", "run") == [ids[0][:8]]
        assert models.column("models-versions", "gates") == ["not validated"]
        # Another process registers a second version: it appears without a key press.
        R.register_model(home, ids[1], "churn")
        assert await wait_until(pilot, lambda: len(models.versions) == 2, 10)
        assert models.column("models-versions", "version") == ["v2", "v1"]  # newest first
        assert models.rows("models-list")[0][1] == "2"


async def test_staging_then_production_with_history(trained) -> None:
    home, ids = trained
    R.register_model(home, ids[0], "churn")
    R.register_model(home, ids[1], "churn")
    async with app_for(home).run_test(size=SIZE) as pilot:
        screen = await open_models(pilot)
        screen.select_version(1)
        await pilot.press("a")
        assert await answer(pilot) == "staging"  # the default alias
        assert await wait_until(pilot, lambda: alias_of(screen, 1) == "staging")
        await pilot.press("a")
        await answer(pilot, "production")
        assert await wait_until(pilot, lambda: alias_of(screen, 1) == "production, staging")
        # Moving staging on to v2 is a move from v1, newest first in the history.
        screen.select_version(2)
        await pilot.press("a")
        await answer(pilot)
        assert await wait_until(pilot, lambda: alias_of(screen, 2) == "staging")
        assert alias_of(screen, 1) == "production"
        history = screen.rows("models-history")
        assert [(r[2], r[3]) for r in history] == [
            ("staging", "v1 → v2"), ("production", "- → v1"), ("staging", "- → v1")]
        assert screen.rows("models-list")[0][2] == "production v1, staging v2"
        # A: remove an alias (the only one of v2 is the default).
        await pilot.press("A")
        await answer(pilot)
        assert await wait_until(pilot, lambda: alias_of(screen, 2) == "-")
        assert screen.rows("models-history")[0][2:4] == ["staging", "v2 → removed"]
        # A bad alias name is refused in the prompt itself.
        await pilot.press("a")
        prompt = pilot.app.screen
        prompt.query_one(Input).value = "v3"
        await pilot.press("enter")
        await settle(pilot)
        assert pilot.app.screen is prompt
        assert "invalid alias" in str(prompt.query_one("#prompt-error").render())
        await pilot.press("escape")
        await settle(pilot)
        assert not errors(pilot.app)


async def test_production_refused_for_failed_gates_then_forced_with_a_reason(trained) -> None:
    home, ids = trained
    mv = R.register_model(home, ids[0], "churn")
    R.record_gates(home, "churn", mv.version,
                   {"passed": False, "results": [{"name": "auc-perfect", "verdict": "fail"}]},
                   "r1", ids[0])
    async with app_for(home).run_test(size=SIZE) as pilot:
        screen = await open_models(pilot)
        assert screen.column("models-versions", "gates") == ["failed"]
        await pilot.press("a")
        await answer(pilot, "production")
        assert await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen))
        assert any("failed its gates (auc-perfect)" in e for e in errors(pilot.app))
        assert "Force" in str(pilot.app.screen.query_one("#confirm-question").render())
        assert alias_of(screen, 1) == "-"  # nothing moved yet
        await pilot.press("y")
        await settle(pilot)
        prompt = pilot.app.screen
        assert isinstance(prompt, TextPrompt)
        await pilot.press("enter")  # an empty reason is refused
        await settle(pilot)
        assert pilot.app.screen is prompt
        await answer(pilot, "hotfix for the outage, approved by risk")
        assert await wait_until(pilot, lambda: alias_of(screen, 1) == "production")
        row = screen.rows("models-history")[0]
        assert row[2:] == ["production", "- → v1", "hotfix for the outage, approved by risk", "forced"]
        moves = R.alias_history(home, "churn")
        assert moves[-1].forced and moves[-1].reason == "hotfix for the outage, approved by risk"


async def test_declining_the_force_moves_nothing(trained) -> None:
    home, ids = trained
    R.register_model(home, ids[0], "churn")
    R.record_gates(home, "churn", 1, {"passed": False, "results": []}, "r1", ids[0])
    async with app_for(home).run_test(size=SIZE) as pilot:
        screen = await open_models(pilot)
        await pilot.press("a")
        await answer(pilot, "production")
        assert await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen))
        await pilot.press("n")
        await settle(pilot)
        assert pilot.app.screen is screen
        assert R.alias_history(home, "churn") == []


async def test_v_validates_with_progress_and_shows_the_report(trained) -> None:
    home, ids = trained
    R.register_model(home, ids[0], "churn")
    (home.root / "gates").mkdir()
    # The runs' experiment ("tests", from train_here) names the gates file validate picks up.
    (home.root / "gates" / "tests.toml").write_text(FAILING_GATES)
    async with app_for(home).run_test(size=SIZE) as pilot:
        screen = await open_models(pilot)
        await pilot.press("v")
        assert await wait_until(pilot, lambda: isinstance(pilot.app.screen, ReportScreen), 60), \
            notifications(pilot.app)
        assert screen.validation_updates > 0  # the progress bar moved (cross-validation folds)
        assert not screen.validation_line.has_class("-running")
        report = screen.last_report or ""
        assert "## Holdout metrics" in report and "accuracy-high" in report
        await pilot.press("escape")
        await settle(pilot)
        # The failed gate is recorded on the version and shown.
        assert await wait_until(pilot, lambda: screen.column("models-versions", "gates") == ["failed"])
        assert any("gates FAILED" in e for e in errors(pilot.app))


async def test_validation_is_cancelled_with_x(trained) -> None:
    home, ids = trained
    R.register_model(home, ids[0], "churn")
    async with app_for(home).run_test(size=SIZE) as pilot:
        screen = await open_models(pilot)
        # The v key's action, called directly: pilot.press waits for the app to go idle, which
        # it does only once the (0.3 s) validation is over. The x key is handled a few ms after
        # the worker starts, and validate checks the cancel event between its steps.
        screen.action_validate()
        assert screen.validating == "churn v1" and screen.validation_line.has_class("-running")
        await pilot.press("x")
        assert await wait_until(pilot, lambda: screen.validating is None, 30)
        await settle(pilot)
        assert ("warning", "Validation of churn v1 cancelled.") in notifications(pilot.app)
        assert not isinstance(pilot.app.screen, ReportScreen)
        from tui_mlops.validation.report import list_reports

        assert list_reports(home, ids[0]) == []


async def test_enter_opens_the_latest_report_or_says_to_validate(trained) -> None:
    from tui_mlops.validation.report import validate

    home, ids = trained
    R.register_model(home, ids[0], "churn")
    R.register_model(home, ids[1], "churn")
    report = validate(home, ids[0], folds=0, bootstrap=20, champion=False)
    async with app_for(home).run_test(size=SIZE) as pilot:
        screen = await open_models(pilot)
        await pilot.press("enter")  # on the models list: to the versions
        await settle(pilot)
        assert screen.focused is screen.query_one("#models-versions")
        assert screen.selected_version().version == 2  # newest first
        await pilot.press("enter")
        await settle(pilot)
        assert any("churn v2 is not validated yet — press v" in m for _s, m in notifications(pilot.app))
        assert pilot.app.screen is screen
        await pilot.press("down", "enter")
        assert await wait_until(pilot, lambda: isinstance(pilot.app.screen, ReportScreen))
        shown = pilot.app.screen
        assert report.id in str(shown.query_one("#report-title").render())
        assert screen.last_report == report.to_markdown()
        await pilot.press("escape")
        await settle(pilot)
        assert pilot.app.screen is screen


async def test_c_on_experiments_switches_to_compare(trained) -> None:
    home, _ids = trained
    async with app_for(home).run_test(size=SIZE) as pilot:
        await open_experiments(pilot)
        await pilot.press("c")
        await settle(pilot)
        assert pilot.app.current_mode == "compare"


async def test_e_exports_a_bundle_and_a_used_folder_is_one_error_line(trained, tmp_path) -> None:
    home, ids = trained
    R.register_model(home, ids[0], "churn")
    used = tmp_path / "used"
    used.mkdir()
    (used / "keep.txt").write_text("mine")
    async with app_for(home).run_test(size=SIZE) as pilot:
        await open_models(pilot)
        await pilot.press("e")
        assert (await answer(pilot, str(used))).endswith("churn-v1")  # the default folder name
        assert await wait_until(pilot, lambda: any("is not an empty folder" in e for e in errors(pilot.app)))
        assert sorted(p.name for p in used.iterdir()) == ["keep.txt"]
        dest = tmp_path / "bundle"
        await pilot.press("e")
        await answer(pilot, str(dest))
        note = f"Exported churn v1 to {dest}"
        assert await wait_until(pilot, lambda: any(m == note for _s, m in notifications(pilot.app)))
        assert (dest / "manifest.json").is_file() and (dest / "predict.py").is_file()


async def test_V_on_a_run_shows_its_latest_validation_report(trained) -> None:
    from tui_mlops.tui.screens.run_detail import RunDetailScreen
    from tui_mlops.validation.report import validate

    home, ids = trained
    async with app_for(home).run_test(size=SIZE) as pilot:
        await settle(pilot)
        detail = RunDetailScreen(home, ids[0])
        await pilot.app.push_screen(detail)
        assert await wait_until(pilot, lambda: detail.detail is not None)
        await pilot.press("V")
        assert await wait_until(pilot, lambda: any("no validation report yet" in m
                                                   for _s, m in notifications(pilot.app)))
        assert pilot.app.screen is detail
        report = validate(home, ids[0], folds=0, bootstrap=50, champion=False)
        await pilot.press("V")
        assert await wait_until(pilot, lambda: isinstance(pilot.app.screen, ReportScreen))
        shown = pilot.app.screen
        assert report.id in shown.title_text and ids[0][:8] in shown.title_text
