"""Helpers for the validation tests: the training toy data and in-process training (from
tests/training, put on sys.path here so this folder's tests also run on their own)."""

from __future__ import annotations

import sys
from pathlib import Path

_TRAINING = str(Path(__file__).resolve().parents[1] / "training")
if _TRAINING not in sys.path:
    sys.path.insert(0, _TRAINING)

from train_helpers import TOY_ROWS, finals, ingest_text, toy_csv, train_here  # noqa: E402

__all__ = ["TOY_ROWS", "finals", "ingest_text", "toy_csv", "train_here", "toy_variant"]


def toy_variant(*, drop: str | None = None, rename: tuple[str, str] | None = None,
                replace_cat: tuple[str, str] | None = None, rows: int = 120, seed: int = 11) -> str:
    """Fresh toy rows (another seed) with a column dropped, renamed, or a category replaced."""
    lines = toy_csv(rows=rows, seed=seed).splitlines()
    header = lines[0].split(",")
    body = [ln.split(",") for ln in lines[1:]]
    if replace_cat is not None:
        i = header.index("cat")
        for r in body:
            if r[i] == replace_cat[0]:
                r[i] = replace_cat[1]
    if rename is not None:
        header[header.index(rename[0])] = rename[1]
    if drop is not None:
        i = header.index(drop)
        header.pop(i)
        for r in body:
            r.pop(i)
    return "\n".join(",".join(r) for r in [header, *body]) + "\n"
