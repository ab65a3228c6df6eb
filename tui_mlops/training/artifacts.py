"""Load a trained model back: every artifact is checked against the sha256 its run recorded before
it is read, scikit-learn models come from skops with only scikit-learn/numpy types trusted, and
predictions replay the stored feature pipeline."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui_mlops.errors import InputError, NotFoundError, StoreError
from tui_mlops.training.features import FeaturePipeline
from tui_mlops.training.spec import TrainSpec

MODEL_FILES = ("artifacts/model.txt", "artifacts/model.skops")


def recorded_artifacts(run_dir: Path) -> dict[str, dict[str, Any]]:
    """path -> the last artifact event recorded for it in the run's events.jsonl."""
    from tui_mlops.store.events import read_events

    found: dict[str, dict[str, Any]] = {}
    for ev in read_events(run_dir / "events.jsonl", 0)[0]:
        if ev.get("type") == "artifact" and isinstance(ev.get("path"), str):
            found[ev["path"]] = ev
    return found


def run_start(run_dir: Path) -> dict[str, Any]:
    from tui_mlops.store.events import read_events

    for ev in read_events(run_dir / "events.jsonl", 0)[0]:
        if ev.get("type") == "run_start":
            return ev
    raise NotFoundError(f"run {run_dir.name} has no run_start event in {run_dir / 'events.jsonl'}")


def verified_bytes(run_dir: Path, recorded: dict[str, dict[str, Any]], rel: str) -> bytes:
    """The artifact's bytes, only if their sha256 is the one recorded when it was logged."""
    ev = recorded.get(rel)
    if ev is None:
        raise NotFoundError(f"run {run_dir.name} has no artifact {rel}")
    try:
        data = (run_dir / rel).read_bytes()
    except FileNotFoundError:
        raise StoreError(f"artifact {rel} of run {run_dir.name} is missing from {run_dir}") from None
    if hashlib.sha256(data).hexdigest() != ev.get("sha256"):
        raise StoreError(f"artifact {rel} of run {run_dir.name} does not match its recorded hash; "
                         f"refusing to load")
    return data


@dataclass
class LoadedModel:
    run_id: str
    spec: TrainSpec
    pipeline: FeaturePipeline
    model: Any
    kind: str  # "lightgbm" | "sklearn"

    @property
    def task(self) -> str:
        return str(self.pipeline.target["task"])

    @property
    def classes(self) -> list[Any] | None:
        return self.pipeline.target.get("classes")

    def _raw(self, frame: Any) -> Any:
        X = self.pipeline.transform(frame)
        if self.kind == "lightgbm":
            return self.model.predict(X)
        from tui_mlops.training.sklearn_models import predict

        return predict(self.model, X, self.task)

    def score(self, frame: Any) -> Any:
        """Positive-class probability (binary), class probabilities (multiclass) or values."""
        return self._raw(frame)

    def predict_proba(self, frame: Any) -> Any:
        """Class probabilities, one column per class in `classes` order."""
        import numpy as np

        if self.task == "regression":
            raise InputError(f"run {self.run_id} is a regression model: it has no class probabilities")
        raw = np.asarray(self._raw(frame), dtype=float)
        return np.column_stack([1.0 - raw, raw]) if self.task == "binary" else raw

    def predict(self, frame: Any) -> Any:
        """Predicted class labels (original values) or regression values."""
        import numpy as np

        if self.task == "regression":
            return np.asarray(self._raw(frame), dtype=float)
        return self.pipeline.decode_labels(self.predict_proba(frame).argmax(axis=1))


def load_model(home: Any, run_ref: str) -> LoadedModel:
    from tui_mlops.store.home import Home
    from tui_mlops.tracking.events import resolve_run_dir

    home = home if isinstance(home, Home) else Home.open(home)
    run_dir = resolve_run_dir(home, run_ref)
    recorded = recorded_artifacts(run_dir)
    model_rel = next((p for p in MODEL_FILES if p in recorded), None)
    if model_rel is None:
        raise NotFoundError(f"run {run_dir.name} has no model artifact (only train runs that finished have one)")
    model_bytes = verified_bytes(run_dir, recorded, model_rel)
    try:
        pipeline = FeaturePipeline.from_dict(json.loads(verified_bytes(run_dir, recorded, "artifacts/features.json")))
        spec = TrainSpec.from_dict(json.loads(verified_bytes(run_dir, recorded, "artifacts/spec.json")))
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"run {run_dir.name}: unreadable features.json or spec.json ({exc})") from None
    if model_rel.endswith(".txt"):
        import lightgbm as lgb

        try:
            model = lgb.Booster(model_str=model_bytes.decode())
        except lgb.basic.LightGBMError as exc:
            raise StoreError(f"run {run_dir.name}: LightGBM cannot read {model_rel} ({exc})") from None
        return LoadedModel(run_dir.name, spec, pipeline, model, "lightgbm")
    from tui_mlops.training.sklearn_models import load_bytes

    model = load_bytes(model_bytes, f"{model_rel} of run {run_dir.name}")
    return LoadedModel(run_dir.name, spec, pipeline, model, "sklearn")
