"""Numbers, sizes and times as people read them; shared by the CLI and the app."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any


def human_size(n: int | float | None, empty: str = "") -> str:
    """1234567 -> '1.2 MB' (binary steps, short unit names as people expect to read them)."""
    if n is None:
        return empty
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(size) < 1024:
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def human_time(iso: str | None, *, seconds: bool = False, empty: str = "") -> str:
    """A stored UTC ISO timestamp shown in the local time zone, e.g. '2026-11-26 14:03'."""
    if not iso:
        return empty
    try:
        dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    if dt.tzinfo is not None:
        dt = dt.astimezone()
    return dt.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def human_number(x: Any, empty: str = "") -> str:
    """Numbers for tables: ints with thousands separators, floats with about 4 significant digits."""
    if x is None:
        return empty
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if math.isnan(x) or math.isinf(x):
            return str(x)
        if x == 0:
            return "0"
        if abs(x) >= 1e7 or abs(x) < 1e-3:
            return f"{x:.3e}"
        if abs(x) >= 1000:
            return f"{x:,.1f}"
        return f"{x:.4g}" if abs(x) < 1 else f"{x:.4f}".rstrip("0").rstrip(".")
    text = str(x)
    return text if len(text) <= 20 else text[:19] + "…"
