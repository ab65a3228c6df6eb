"""The bundled sample data: its first-launch registration, its marker, and the generator's reproducibility."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tui_mlops.data import versions as V
from tui_mlops.data.ingest import ingest_file
from tui_mlops.sample import MARKER, SAMPLE_NAMES, ensure_sample_data, labels_path, marker_info, sample_dir
from tui_mlops.store.home import Home

REPO = Path(__file__).resolve().parent.parent
EXPECTED_ROWS = {"churn": 20_000, **{f"churn_batch_{k:02d}": 2_500 for k in range(1, 7)}}


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    """A home after one first launch (registered once, copied per test: ingest is the slow part)."""
    root = tmp_path_factory.mktemp("sample") / "home"
    results = ensure_sample_data(Home.open(root))
    return root, results


@pytest.fixture
def home(registered: tuple[Path, list], tmp_path: Path) -> Home:
    root = tmp_path / "home"
    shutil.copytree(registered[0], root)
    return Home(root)


def test_first_launch_registers_every_sample_dataset(registered: tuple[Path, list]) -> None:
    _root, results = registered
    assert {r.version.name: r.version.rows for r in results} == EXPECTED_ROWS
    assert all(r.created for r in results)


def test_registered_datasets_are_listed_with_their_shapes(home: Home) -> None:
    listed = {d.name: d for d in V.list_datasets(home)}
    assert set(listed) == set(EXPECTED_ROWS)
    churn = V.resolve(home, "churn")
    assert churn.rows == 20_000
    types = {c.name: c.type for c in churn.columns}
    assert types["observed_at"] == "TIMESTAMP"
    assert types["auto_renew"] == "BOOLEAN"
    assert types["churned"] == "BIGINT"
    assert types["monthly_fee"] == "DOUBLE"
    batch = V.resolve(home, "churn_batch_06")
    assert [c.name for c in batch.columns] == [c.name for c in churn.columns if c.name != "churned"]
    assert {ref.split("@")[0] for ref in marker_info(home)["registered"]} == SAMPLE_NAMES


def test_second_launch_does_nothing(home: Home) -> None:
    before = {(v.name, v.version) for v in V.list_versions(home)}
    assert ensure_sample_data(home) == []
    assert {(v.name, v.version) for v in V.list_versions(home)} == before


def test_removed_samples_are_not_given_back(home: Home) -> None:
    V.remove(home, "churn", all_versions=True)
    for k in range(1, 7):
        V.remove(home, f"churn_batch_{k:02d}", all_versions=True)
    assert V.list_datasets(home) == []
    assert ensure_sample_data(home) == []
    assert V.list_datasets(home) == []


def test_home_with_own_data_gets_no_samples(tmp_path: Path) -> None:
    home = Home.open(tmp_path / "home")
    own = tmp_path / "sales.csv"
    own.write_text("id,amount\n1,9.5\n2,3.25\n")
    ingest_file(home, own)
    assert ensure_sample_data(home) == []
    assert [d.name for d in V.list_datasets(home)] == ["sales"]
    # The offer has been made once; removing the user's data later does not bring the samples.
    assert (home.root / MARKER).exists()
    V.remove(home, "sales", all_versions=True)
    assert ensure_sample_data(home) == []


def test_interrupted_first_launch_is_completed(home: Home, tmp_path: Path) -> None:
    # As if the first launch died after two datasets: no marker yet, and some samples missing.
    (home.root / MARKER).unlink()
    for k in range(2, 7):
        V.remove(home, f"churn_batch_{k:02d}", all_versions=True)
    results = ensure_sample_data(home)
    created = {r.version.name for r in results if r.created}
    assert created == {f"churn_batch_{k:02d}" for k in range(2, 7)}
    assert {d.name for d in V.list_datasets(home)} == set(EXPECTED_ROWS)
    assert (home.root / MARKER).exists()


def test_accepts_a_plain_path(tmp_path: Path, registered: tuple[Path, list]) -> None:
    root = tmp_path / "home"
    shutil.copytree(registered[0], root)
    assert ensure_sample_data(str(root)) == []


def test_sample_dir_holds_training_batches_and_labels() -> None:
    folder = sample_dir()
    assert (folder / "churn.csv").is_file()
    for k in range(1, 7):
        assert (folder / "production" / f"churn_batch_{k:02d}.csv").is_file()
        assert labels_path(k).is_file()


def test_batches_drift_and_labels_match_their_batches() -> None:
    folder = sample_dir()
    con = duckdb.connect()
    try:
        def one(sql: str, path: Path) -> tuple:
            return con.execute(sql, [str(path)]).fetchone()

        assert one("SELECT count(*) FILTER (region = 'MX') FROM read_csv(?)", folder / "churn.csv")[0] == 0
        means, mx, login_nulls = [], [], []
        for k in range(1, 7):
            path = folder / "production" / f"churn_batch_{k:02d}.csv"
            m, x, n = one("SELECT avg(monthly_fee), count(*) FILTER (region = 'MX'), "
                          "avg((days_since_last_login IS NULL)::INT) FROM read_csv(?)", path)
            means.append(m), mx.append(x), login_nulls.append(n)
            ids = con.execute(
                "SELECT count(*), count(l.customer_id) FROM read_csv(?) b "
                "LEFT JOIN read_csv(?) l USING (customer_id)", [str(path), str(labels_path(k))]).fetchone()
            assert ids[0] == ids[1] == 2_500
        assert means[-1] > means[0] + 2
        assert mx[:4] == [0, 0, 0, 0] and mx[4] > 0 and mx[5] > mx[4]
        assert login_nulls[-1] > 2 * login_nulls[0]
        rate = one("SELECT avg(churned) FROM read_csv(?)", folder / "churn.csv")[0]
        assert 0.1 < rate < 0.25
    finally:
        con.close()


def test_generator_reproduces_the_committed_files(tmp_path: Path) -> None:
    committed = REPO / "sample_data" / "data"
    out = tmp_path / "regen"
    subprocess.run([sys.executable, str(REPO / "sample_data" / "generate.py"), "--out", str(out)],
                   check=True, capture_output=True)
    made = sorted(p.relative_to(out) for p in out.rglob("*.csv"))
    have = sorted(p.relative_to(committed) for p in committed.rglob("*.csv"))
    assert len(made) == 13
    assert made == have
    for rel in made:
        assert (out / rel).read_bytes() == (committed / rel).read_bytes(), f"{rel} differs"


def test_sample_data_stays_small() -> None:
    total = sum(p.stat().st_size for p in (REPO / "sample_data" / "data").rglob("*") if p.is_file())
    assert total < 5_000_000


def test_the_sample_training_run_finishes_with_a_useful_model(home: Home) -> None:
    from waiting import wait_for

    from tui_mlops.sample import start_sample_training
    from tui_mlops.tracking.query import get_run

    from tui_mlops.errors import NotFoundError

    run_id = start_sample_training(home)

    def ended():
        try:
            run = get_run(home, run_id)
        except NotFoundError:  # the job has not written its first event yet
            return None
        return run if run.status in {"finished", "failed", "crashed", "cancelled"} else None

    run = wait_for(ended, "the sample training to end", timeout=120)
    assert run.status == "finished", run.error
    assert run.experiment == "sample" and run.dataset.startswith("churn@")
    # The generator's true model reaches AUC ~0.81; a fitted LightGBM lands close to it.
    assert run.metrics["valid/auc"] > 0.7
