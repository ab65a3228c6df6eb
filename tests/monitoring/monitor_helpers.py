"""Build a monitored model fast: a small LightGBM binary model on toy data, registered as "toy" with
alias production, and a monitor on "toy@production"; plus toy-like batch and label file texts."""

from __future__ import annotations

import atexit
import random
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

# train_helpers lives in tests/training, which is on sys.path only once pytest collects it.
_TRAINING = str(Path(__file__).resolve().parents[1] / "training")
if _TRAINING not in sys.path:
    sys.path.insert(0, _TRAINING)

from train_helpers import ingest_text, train_here  # noqa: E402
from tui_mlops.store.home import Home  # noqa: E402

FEATURES = ["x1", "x2", "cat", "flag", "neg"]
TARGET = "y_bin"
MODEL = "toy"
_BUILT: dict[int, Path] = {}
_LOCK = threading.Lock()


def _rows(rows: int, seed: int, shift: float, start_id: int, t0: int) -> list[dict[str, Any]]:
    """Toy rows like train_helpers.toy_csv (x1 in [0,1) + shift, x2 0..9, cat a-d, flag, neg = -10 x1),
    with an id, an hourly ts from day `t0`, and the label y_bin (x1 + 0.3 for cat a + noise > 0.6)."""
    rnd = random.Random(seed)
    out = []
    for i in range(rows):
        x1 = rnd.random() + shift
        x2 = rnd.randint(0, 9)
        cat = rnd.choice("abcd")
        noise = rnd.gauss(0, 0.15)
        y = int(x1 + (0.3 if cat == "a" else 0.0) + noise > 0.6)
        hour = t0 * 24 + i % (24 * 28)
        ts = f"2024-01-{1 + (hour // 24) % 28:02d} {hour % 24:02d}:15:00"
        out.append({"id": start_id + i, "x1": "" if i % 17 == 0 else f"{x1:.5f}", "x2": x2, "cat": cat,
                    "ts": ts, "flag": "true" if i % 3 else "false", "neg": f"{-x1 * 10:.4f}", TARGET: y})
    return out


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    lines = [",".join(columns)] + [",".join(str(r[c]) for c in columns) for r in rows]
    return "\n".join(lines) + "\n"


def reference_csv(rows: int = 600, seed: int = 7) -> str:
    """The training data: id, features, ts and the target."""
    return _csv(_rows(rows, seed, 0.0, 0, 0), ["id", *FEATURES, "ts", TARGET])


def batch_csv(rows: int = 200, seed: int = 1, shift: float = 0.0, *, start_id: int | None = None,
              drop: tuple[str, ...] = (), extra: dict[str, str] | None = None, day: int = 0,
              with_ts: bool = True) -> str:
    """A batch (id, features, ts; no target). ids start at `start_id` (default seed * 100,000), so
    batches with different seeds never share ids. `drop` removes columns, `extra` adds constant ones."""
    start = seed * 100_000 if start_id is None else start_id
    data = _rows(rows, seed, shift, start, day)
    columns = [c for c in ["id", *FEATURES] + (["ts"] if with_ts else []) if c not in drop]
    for name, value in (extra or {}).items():
        for r in data:
            r[name] = value
        columns.append(name)
    return _csv(data, columns)


def labels_csv(rows: int = 200, seed: int = 1, shift: float = 0.0, *, start_id: int | None = None,
               label: str = TARGET, flip: float = 0.0, ids: list[int] | None = None) -> str:
    """The true labels of `batch_csv(rows, seed, shift, start_id=...)`: id,<label>. `flip` turns that
    share of labels over (seeded), so realised quality drops; `ids` overrides the id column."""
    start = seed * 100_000 if start_id is None else start_id
    data = _rows(rows, seed, shift, start, 0)
    rnd = random.Random(seed + 99)
    for r in data:
        if flip and rnd.random() < flip:
            r[TARGET] = 1 - r[TARGET]
    if ids is not None:
        data = [{**r, "id": i} for r, i in zip(data, ids)]
    lines = [f"id,{label}"] + [f"{r['id']},{r[TARGET]}" for r in data]
    return "\n".join(lines) + "\n"


def _trained(rows: int) -> Path:
    """A store holding the toy dataset, a trained model registered as toy@production (built once per
    process and size, copied into each test's home)."""
    from tui_mlops.registry import models as R

    with _LOCK:
        if rows not in _BUILT:
            root = Path(tempfile.mkdtemp(prefix="monitor-store-"))
            atexit.register(shutil.rmtree, root, True)
            home = Home.open(root / "home")
            ref = ingest_text(home, root, "toy", reference_csv(rows))
            run_id = train_here(home, dataset=ref.ref, target=TARGET, features=FEATURES,
                                num_boost_round=8, early_stopping_rounds=None)[0]
            R.register_model(home, run_id, MODEL)
            R.set_alias(home, MODEL, 1, "production")
            _BUILT[rows] = home.root
        return _BUILT[rows]


def trained_home(home: Home, rows: int = 600) -> Home:
    """Copy the trained toy store into `home` (datasets, runs, registry, catalog)."""
    src = _trained(rows)
    shutil.copytree(src, home.root, dirs_exist_ok=True)
    return Home.open(home.root)


def monitored(home: Home, tmp_path: Path, *, name: str = "m", rows: int = 600, **create_kw: Any):
    """A monitor `name` on toy@production (model trained on `rows` toy rows); returns its MonitorSpec."""
    from tui_mlops.monitoring.spec import create_monitor

    trained_home(home, rows)
    create_kw.setdefault("id_column", "id")
    create_kw.setdefault("time_column", "ts")
    return create_monitor(home, name, f"{MODEL}@production", **create_kw)


def drop(home: Home, name: str, filename: str, text: str | bytes, folder: str = "incoming") -> Path:
    """Land a file in the monitor's incoming/ (or labels/) the way writers should: temp name, rename."""
    target = home.monitors_dir / name / folder / filename
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".tmp-{filename}")
    tmp.write_bytes(text.encode() if isinstance(text, str) else text)
    tmp.rename(target)
    return target
