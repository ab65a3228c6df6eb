"""NannyML-style alert bands: split the reference into chunks, compute a metric per chunk, and alert
when a window's value leaves mean +/- sigma * std of those chunk values."""

from __future__ import annotations

import math
from typing import Any, Sequence

DEFAULT_CHUNKS = 10


def chunks(n_rows: int, chunk_rows: int | None = None, n_chunks: int = DEFAULT_CHUNKS) -> list[slice]:
    """Consecutive row slices of a reference of `n_rows` rows.

    With `chunk_rows` (the monitor's window size) and room for at least two whole chunks: whole chunks
    of that size, the incomplete remainder dropped (a short chunk has a noisier metric and would widen
    the band). Otherwise `n_chunks` chunks of (nearly) equal size; fewer when there are fewer rows."""
    n_rows = max(int(n_rows), 0)
    if n_rows == 0:
        return []
    if chunk_rows is not None and int(chunk_rows) > 0 and n_rows // int(chunk_rows) >= 2:
        size = int(chunk_rows)
        return [slice(i * size, (i + 1) * size) for i in range(n_rows // size)]
    k = max(1, min(int(n_chunks), n_rows))
    base, extra = divmod(n_rows, k)
    out, start = [], 0
    for i in range(k):
        stop = start + base + (1 if i < extra else 0)
        out.append(slice(start, stop))
        start = stop
    return out


def _finite(values: Sequence[Any]) -> list[float]:
    out = []
    for v in values:
        if v is None:
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            out.append(f)
    return out


def chunk_bands(values_per_chunk: Sequence[float | None], sigma: float = 3.0, *,
                lower_limit: float | None = None, upper_limit: float | None = None) -> dict[str, Any]:
    """{"mean","std","lower","upper","sigma","chunks"} from the metric's value on each reference chunk.

    std is the population std (ddof=0, as NannyML's StandardDeviationThreshold); None/NaN chunk values
    are skipped. `lower_limit`/`upper_limit` clip the band to the metric's range (e.g. 0 for an error,
    1 for accuracy). With no usable chunk value every number is None (nothing is ever outside)."""
    vals = _finite(values_per_chunk)
    sigma = float(sigma)
    if not vals:
        return {"mean": None, "std": None, "lower": None, "upper": None, "sigma": sigma, "chunks": 0}
    n = len(vals)
    mean = math.fsum(vals) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in vals) / n)
    lower, upper = mean - sigma * std, mean + sigma * std
    if lower_limit is not None:
        lower = max(lower, float(lower_limit))
    if upper_limit is not None:
        upper = min(upper, float(upper_limit))
    return {"mean": mean, "std": std, "lower": lower, "upper": upper, "sigma": sigma, "chunks": n}


def outside(band: dict[str, Any] | None, value: float | None) -> bool:
    """True when `value` lies strictly below band["lower"] or above band["upper"]. A missing value
    (None/NaN) or a missing band side never counts as outside."""
    if not band or value is None:
        return False
    try:
        v = float(value)
    except (TypeError, ValueError):
        return False
    if math.isnan(v):
        return False
    lower, upper = band.get("lower"), band.get("upper")
    return (lower is not None and v < float(lower)) or (upper is not None and v > float(upper))


def chunk_values(per_row: Any, slices: Sequence[slice]) -> list[float | None]:
    """Mean of a per-row numpy array over each slice (None for an empty or all-NaN slice)."""
    import numpy as np

    arr = np.asarray(per_row, dtype=float)
    out: list[float | None] = []
    for s in slices:   # one step per chunk (about 10), not per row
        part = arr[s]
        part = part[np.isfinite(part)]
        out.append(float(part.mean()) if len(part) else None)
    return out
