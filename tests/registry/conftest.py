"""Registry tests: one store per session with small real models (LightGBM, logistic, random forest)
trained on the toy data, copied into each test's own home so tests never share registry state."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

# train_helpers lives in tests/training, which is on sys.path only once pytest collects it.
_TRAINING = str(Path(__file__).resolve().parents[1] / "training")
if _TRAINING not in sys.path:
    sys.path.insert(0, _TRAINING)

from train_helpers import ingest_text, toy_csv, train_here  # noqa: E402
from tui_mlops.store.home import Home  # noqa: E402

FEATURES = ["x1", "x2", "cat", "ts", "flag", "neg"]
TRANSFORMS = [{"op": "log", "column": "x2"}, {"op": "bins", "column": "x1", "bins": 4},
              {"op": "date_parts", "column": "ts"}, {"op": "ratio", "num": "x1", "den": "x2"}]


@dataclass(frozen=True)
class Store:
    home: Home
    runs: dict[str, str]      # lgb, lgb_child (binary; the latter on child), logistic (multiclass), forest (regression)
    toy: str                  # dataset ref the models were trained on
    child: str                # toy_clean@..., a cleaned version of toy (toy is its parent)
    csv: Path                 # the toy data as a CSV file


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    from tui_mlops.data.clean import clean, parse_step

    root = tmp_path_factory.mktemp("registry")
    home = Home.open(root / "home")
    toy = ingest_text(home, root, "toy", toy_csv())
    child, _ = clean(home, toy, [parse_step("drop_columns:const")], into="toy_clean")
    common = {"features": FEATURES, "transforms": TRANSFORMS}
    runs = {
        "lgb": train_here(home, target="y_bin", num_boost_round=8, early_stopping_rounds=None, **common)[0],
        "lgb_child": train_here(home, dataset=child.ref, target="y_bin", num_boost_round=5,
                                early_stopping_rounds=None, params={"num_leaves": 4}, **common)[0],
        "logistic": train_here(home, target="y_multi", model="logistic", **common)[0],
        "forest": train_here(home, target="y_reg", model="random_forest", params={"n_estimators": 8}, **common)[0],
    }
    return Store(home, runs, toy.ref, child.ref, root / "files" / "toy.csv")


@pytest.fixture
def store(trained_store: Store, tmp_path: Path) -> Store:
    """The trained store, copied: this test's registry starts empty and is its own."""
    shutil.copytree(trained_store.home.root, tmp_path / "home")
    csv = tmp_path / "toy.csv"
    shutil.copy(trained_store.csv, csv)
    return Store(Home.open(tmp_path / "home"), trained_store.runs, trained_store.toy, trained_store.child, csv)


@pytest.fixture
def home(store: Store) -> Home:
    return store.home
