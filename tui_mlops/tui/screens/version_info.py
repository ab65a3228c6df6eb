"""Plain helpers for the version screen: lineage walking and one-line descriptions of versions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui_mlops.errors import MlopsError
from tui_mlops.formatting import human_number
from tui_mlops.store.home import Home
from tui_mlops.store.records import DatasetVersion

MAX_HOPS = 64  # a lineage longer than this is cut (and a corrupted, cyclic one cannot hang us)


@dataclass(frozen=True)
class Hop:
    """One ancestor in a lineage chain; `version` is None when its files were removed."""

    ref: str
    version: DatasetVersion | None

    @property
    def label(self) -> str:
        if self.version is None:
            name, _, ver = self.ref.partition("@")
            return f"{name}@{ver[:8]} (removed)"
        return f"{self.version.name}@{self.version.short} ({describe_operation(self.version)})"


def _short_value(value: Any) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}={_short_value(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ",".join(_short_value(v) for v in value)
    return str(value)


def _describe_step(step: Any) -> str:
    if isinstance(step, str):
        return step
    if not isinstance(step, dict):
        return str(step)
    op = step.get("op") or step.get("type") or "?"
    params = step.get("params", {k: v for k, v in step.items() if k not in ("op", "type")})
    if not isinstance(params, dict):
        return f"{op} {_short_value(params)}"
    if op == "filter" and "expr" in params:
        return f"filter {params['expr']}"
    parts = [_short_value(v) for v in params.values() if v not in (None, "", [], {})]
    return f"{op} {' '.join(parts)}".strip()


def describe_operation(v: DatasetVersion, limit: int = 60) -> str:
    """One line: `ingest sales.csv`, `clean drop_columns b; filter age >= 18`,
    `split random 0.7/0.15/0.15 seed 42 → train`."""
    p = v.params or {}
    op = v.operation or "?"
    if op == "clean" and isinstance(p.get("steps"), list):
        text = "clean " + "; ".join(_describe_step(s) for s in p["steps"])
    elif op == "split":
        ratios = p.get("ratios")
        bits = [str(p.get("method", ""))]
        if isinstance(ratios, (list, tuple)):
            bits.append("/".join(f"{r:g}" if isinstance(r, (int, float)) else str(r) for r in ratios))
        if p.get("seed") is not None and p.get("method", "random") != "time":
            bits.append(f"seed {p['seed']}")
        text = "split " + " ".join(b for b in bits if b) + (f" → {p['part']}" if p.get("part") else "")
    elif op == "ingest" and v.source_path:
        text = f"ingest {Path(v.source_path).name}"
    else:
        extras = " ".join(f"{k}={_short_value(val)}" for k, val in p.items()
                          if not isinstance(val, (dict, list)) and val not in (None, ""))
        text = f"{op} {extras}".strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def ancestors(home: Home, v: DatasetVersion) -> list[Hop]:
    """Parent, grandparent, ... up to the root, read from the sidecars (the files are the truth)."""
    from tui_mlops.store.catalog import version_from_sidecar
    from tui_mlops.store.home import read_json

    chain: list[Hop] = []
    seen = {v.ref}
    current = v
    while current.parent_ref and len(chain) < MAX_HOPS and current.parent_ref not in seen:
        ref = current.parent_ref
        seen.add(ref)
        try:
            parent = version_from_sidecar(read_json(home.sidecar_path(current.parent_name or "",
                                                                      current.parent_version or "")))
        except (OSError, ValueError, KeyError, MlopsError):  # removed, unreadable or bad name
            chain.append(Hop(ref, None))
            break
        chain.append(Hop(ref, parent))
        current = parent
    return chain


def children(home: Home, v: DatasetVersion) -> list[DatasetVersion]:
    from tui_mlops.store.catalog import open_catalog

    with open_catalog(home) as cat:
        found = cat.children(v.name, v.version)
    return sorted(found, key=lambda c: (c.created_at, c.name))


def lineage_line(v: DatasetVersion, chain: list[Hop]) -> str:
    """`name@short (op) ← parent@short (op) ← … ← root@short (ingest file.csv)`."""
    parts = [f"{v.name}@{v.short} ({describe_operation(v, 40)})"]
    parts += [hop.label for hop in chain]
    return " ← ".join(parts)


def fmt_number(value: Any) -> str:
    return human_number(value, empty="–")


def fmt_share(value: Any) -> str:
    if value is None:
        return "–"
    return f"{float(value) * 100:.1f}%"
