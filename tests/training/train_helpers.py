"""Helpers for training tests: train in-process under a real tracking run, read its events, wait
for jobs with a deadline."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from tui_mlops.store.events import read_events
from tui_mlops.store.home import Home
from tui_mlops.tracking.api import start_run
from tui_mlops.training.runner import run_train
from tui_mlops.training.spec import TrainSpec, prepare
from waiting import wait_for  # noqa: E402 (tests/ is on sys.path through its conftest)


TOY_ROWS = 240


def toy_csv(rows: int = TOY_ROWS, seed: int = 7) -> str:
    """x1 (some nulls), x2, cat, ts, flag, neg features; targets y_bin, y_txt, y_multi, y_reg,
    plus `const` (one value) and `nothing` (all null)."""
    rnd = random.Random(seed)
    lines = ["x1,x2,cat,ts,flag,neg,y_bin,y_txt,y_multi,y_reg,const,nothing"]
    for i in range(rows):
        x1 = rnd.random()
        x2 = rnd.randint(0, 9)
        cat = rnd.choice("abcd")
        noise = rnd.gauss(0, 0.15)
        score = x1 + (0.3 if cat == "a" else 0.0) + noise
        y_bin = int(score > 0.6)
        y_multi = "lo" if score < 0.4 else ("mid" if score < 0.8 else "hi")
        y_reg = 3 * x1 + 0.5 * x2 + noise
        ts = f"2024-{1 + i % 12:02d}-{1 + i % 28:02d} {i % 24:02d}:15:00"
        x1_text = "" if i % 17 == 0 else f"{x1:.5f}"
        lines.append(f"{x1_text},{x2},{cat},{ts},{'true' if i % 3 else 'false'},{-x1 * 10:.4f},"
                     f"{y_bin},{'pos' if y_bin else 'neg'},{y_multi},{y_reg:.5f},1,")
    return "\n".join(lines) + "\n"


def ingest_text(home: Home, tmp_path: Path, name: str, text: str):
    from tui_mlops.data.ingest import IngestOptions, ingest_file

    path = tmp_path / "files" / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    types = {"nothing": "BIGINT"} if "nothing" in text.splitlines()[0] else {}
    return ingest_file(home, path, IngestOptions(name=name, types=types)).version


def events(home: Home, run_id: str, name: str = "events.jsonl") -> list[dict[str, Any]]:
    return read_events(home.runs_dir / run_id / name)[0]


def finals(evs: list[dict[str, Any]]) -> dict[str, float]:
    """Last logged value of each metric key."""
    out: dict[str, float] = {}
    for ev in evs:
        if ev["type"] == "metric":
            out[ev["key"]] = ev["value"]
        elif ev["type"] == "metrics":
            out.update(ev["values"])
    return out


def of_type(evs: list[dict[str, Any]], etype: str) -> list[dict[str, Any]]:
    return [e for e in evs if e["type"] == etype]


def train_here(home: Home, **kw: Any) -> tuple[str, TrainSpec, list[dict[str, Any]]]:
    """prepare + run_train in this process under a real Run; (run id, spec, events)."""
    kw.setdefault("dataset", "toy")
    params = kw.pop("params", {})
    if kw.get("model", "lightgbm") == "lightgbm":
        params = {"num_threads": 1, **params}
    spec = prepare(home, TrainSpec(params=params, **kw))
    with start_run("tests", home=home, kind="train", spec=spec.to_dict()) as run:
        run_train(run, spec.to_dict())
    return run.run_id, spec, events(home, run.run_id)




def run_end(home: Home, run_id: str) -> dict[str, Any] | None:
    ends = [e for name in ("events.jsonl", "edits.jsonl") for e in events(home, run_id, name)
            if e["type"] == "run_end"]
    return ends[0] if ends else None
