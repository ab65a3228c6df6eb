"""What a registered model version records about its run: model artifact, task, metrics, dataset
lineage and the gate outcome of its newest validation report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tui_mlops.errors import InputError, MlopsError, StoreError
from tui_mlops.store.home import Home


def _created_key(report: dict[str, Any], path: Path) -> float:
    created = report.get("created")
    if isinstance(created, (int, float)) and not isinstance(created, bool):
        return float(created)
    if isinstance(created, str):
        from datetime import datetime, timezone

        try:
            dt = datetime.fromisoformat(created.replace("Z", "+00:00"))
            return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()
        except ValueError:
            pass
    return path.stat().st_mtime


def latest_gates(run_dir: Path) -> dict[str, Any] | None:
    """The gate outcome of the newest stored validation report of a run that evaluated gates."""
    best: tuple[float, dict[str, Any]] | None = None
    for path in sorted((run_dir / "validation").glob("*.json")):
        try:
            report = json.loads(path.read_bytes())
        except (OSError, ValueError):
            continue
        gates = report.get("gates") if isinstance(report, dict) else None
        if not isinstance(gates, dict) or gates.get("passed") is None:
            continue
        key = _created_key(report, path)
        if best is None or key >= best[0]:
            best = (key, {"passed": bool(gates["passed"]), "results": list(gates.get("results") or []),
                          "report_id": report.get("id") or path.stem})
    return None if best is None else best[1]


def dataset_lineage(home: Home, ref: str | None) -> list[str]:
    """`ref`, then its parent, grandparent ... for as long as each one resolves."""
    from tui_mlops.data.versions import resolve

    lineage: list[str] = []
    while ref and ref not in lineage and len(lineage) < 100:
        lineage.append(ref)
        try:
            ref = resolve(home, ref).parent_ref
        except MlopsError:
            break
    return lineage


def run_facts(home: Home, run_ref: str) -> dict[str, Any]:
    """Everything a version records about its run, gathered before taking the lock."""
    from tui_mlops.tracking.events import resolve_run_dir
    from tui_mlops.tracking.query import get_run
    from tui_mlops.training.artifacts import MODEL_FILES, recorded_artifacts, verified_bytes

    run_dir = resolve_run_dir(home, run_ref)
    run_id = run_dir.name
    detail = get_run(home, run_id)
    if detail.status != "finished":
        raise InputError(f"run {run_id} is {detail.status}: only finished runs can be registered")
    recorded = recorded_artifacts(run_dir)
    model_rel = next((p for p in MODEL_FILES if p in recorded), None)
    if model_rel is None:
        raise InputError(f"run {run_id} has no model artifact: only finished train runs can be registered")
    verified_bytes(run_dir, recorded, model_rel)  # refuse a model file that no longer matches its hash
    task = None
    if "artifacts/features.json" in recorded:
        try:
            target = json.loads(verified_bytes(run_dir, recorded, "artifacts/features.json")).get("target") or {}
            task = target.get("task")
        except ValueError:
            raise StoreError(f"run {run_id}: artifacts/features.json is not valid JSON") from None
    spec = detail.spec or {}
    dataset = spec.get("dataset") or detail.dataset
    ev = recorded[model_rel]
    return {"run_id": run_id, "dataset": dataset, "lineage": dataset_lineage(home, dataset), "task": task,
            "model_type": spec.get("model") or detail.model,
            "metrics": {k: v for k, v in sorted(detail.metrics.items()) if k.startswith("valid/")},
            "artifact": {"path": model_rel, "sha256": ev.get("sha256"), "size": ev.get("size")},
            "gates": latest_gates(run_dir)}
