"""The bundled sample data (a churn problem and six drifting production batches) and its first-launch registration.

Registered once per home: a marker file records that the offer was made, so a user who removes the
samples, or who already had data of their own, never gets them (again) uninvited.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from tui_mlops.errors import NotFoundError
from tui_mlops.store.home import Home, atomic_write_json

if TYPE_CHECKING:
    from tui_mlops.data.ingest import IngestResult

MARKER = ".sample-registered"
TRAIN_FILE = "churn.csv"
BATCH_COUNT = 6
# (file under sample_dir(), dataset name). Each production batch is its own dataset, not a version of
# one: versions are successive states of the same data, while batches are distinct sets of customers.
# The label files (labels/churn_labels_NN.csv) are not datasets: monitoring joins them to the batches.
SAMPLE_FILES: tuple[tuple[str, str], ...] = (
    (TRAIN_FILE, "churn"),
    *((f"production/churn_batch_{k:02d}.csv", f"churn_batch_{k:02d}") for k in range(1, BATCH_COUNT + 1)),
)
SAMPLE_NAMES = frozenset(name for _, name in SAMPLE_FILES)


def sample_dir() -> Path:
    """The bundled sample files: package data in an installed wheel, else `sample_data/data` in a checkout."""
    from importlib.resources import files

    packaged = files("tui_mlops").joinpath("_sample_data")
    if isinstance(packaged, Path) and (packaged / TRAIN_FILE).is_file():
        return packaged
    checkout = Path(__file__).resolve().parent.parent / "sample_data" / "data"
    if (checkout / TRAIN_FILE).is_file():
        return checkout
    raise NotFoundError("the bundled sample data is missing (reinstall mlops-tui, or run "
                        "`python sample_data/generate.py` in a checkout)")


def labels_path(batch: int) -> Path:
    """The true outcomes for production batch `batch` (1-based): customer_id, churned."""
    return sample_dir() / "labels" / f"churn_labels_{batch:02d}.csv"


def _committed_names(home: Home) -> set[str]:
    # A filesystem scan, not a catalog open: this runs on every launch and must stay cheap.
    from tui_mlops.store.catalog import scan_sidecars

    return {name for name, _version in scan_sidecars(home)}


def ensure_sample_data(home: Home | str | os.PathLike[str]) -> list[IngestResult]:
    """Register the sample datasets on a first launch with an empty home; a no-op ever after.

    Returns the IngestResults of what was registered (empty when nothing was done). A home that holds
    only some sample datasets and no marker is a first launch that was interrupted: it is completed
    (ingest is content-addressed, so the datasets already there are found, not duplicated).
    """
    if not isinstance(home, Home):
        home = Home.open(home)
    marker = home.root / MARKER
    if marker.exists():
        return []
    if _committed_names(home) - SAMPLE_NAMES:
        # The user brought data of their own before any launch: leave their home as it is.
        atomic_write_json(marker, {"registered": []})
        return []
    try:
        folder = sample_dir()
    except NotFoundError:
        return []  # a broken install must not stop the app from starting; no marker, so a fix is picked up

    from tui_mlops.data.ingest import IngestOptions, ingest_file
    from tui_mlops.data.versions import log_activity, now_iso

    results = [ingest_file(home, folder / rel, IngestOptions(name=name)) for rel, name in SAMPLE_FILES]
    atomic_write_json(marker, {
        "registered_at": now_iso(),
        "registered": [r.version.ref for r in results],
    })
    log_activity(home, "sample_registered", datasets=sorted(SAMPLE_NAMES))
    return results


def marker_info(home: Home) -> dict | None:
    """What the marker says (None when the home has never been offered the samples)."""
    marker = home.root / MARKER
    if not marker.exists():
        return None
    return json.loads(marker.read_text(encoding="utf-8"))


def start_sample_training(home: Home | str | os.PathLike[str]) -> str:
    """Start one small LightGBM training on the sample churn data (a background job), so a first
    launch shows a real run on the Experiments and Jobs screens. Returns its run id."""
    from tui_mlops.training.spec import TrainSpec
    from tui_mlops.training.train import start_training

    spec = TrainSpec(
        dataset="churn", target="churned", drop=["customer_id"],
        transforms=[{"op": "date_parts", "column": "observed_at", "parts": ["month", "dayofweek"]}],
        # One thread: a first launch should not take the machine over.
        params={"num_threads": 1, "verbose": -1}, num_boost_round=200,
        experiment="sample", name="churn-lightgbm-sample", tags={"source": "sample"},
    )
    return start_training(home if isinstance(home, Home) else Home.open(home), spec)
