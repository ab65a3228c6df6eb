"""Multivariate drift as PCA reconstruction error (the idea of NannyML's DataReconstructionDriftCalculator),
fitted once on the reference and stored as plain JSON."""

from __future__ import annotations

from typing import Any, Sequence

from tui_mlops.errors import InputError
from tui_mlops.monitoring import bands

FORMAT = "tui_mlops.pca/1"
MAX_CATEGORIES = 10_000     # frequencies kept per categorical column; rarer values encode as 0
MAX_FIT_ROWS = 200_000      # the SVD is fitted on a seeded sample of at most this many rows


def _kind(dtype: Any) -> str | None:
    import polars as pl

    if dtype.is_numeric() or dtype.is_temporal():
        return "numeric"
    if dtype in (pl.Boolean, pl.String, pl.Null) or isinstance(dtype, (pl.Categorical, pl.Enum)):
        return "categorical"
    return None


def _as_float(s: Any) -> Any:
    """A numeric (or temporal) series as Float64 with NaN/inf turned into nulls; text that does not
    parse becomes null too (a batch with a wrong type is imputed, never a crash)."""
    import polars as pl

    if s.dtype.is_temporal():
        s = s.to_physical()
    s = s.cast(pl.Float64, strict=False)
    return s.to_frame("v").select(pl.when(pl.col("v").is_finite()).then(pl.col("v"))).to_series()


def _frame(frame: Any) -> Any:
    import polars as pl

    return frame if isinstance(frame, pl.DataFrame) else pl.DataFrame(frame)


def _encode(pca: dict[str, Any], frame: Any) -> Any:
    """Impute, frequency-encode and standardise `frame` into an (n, d) float64 matrix."""
    import numpy as np
    import polars as pl

    missing = [c["name"] for c in pca["columns"] if c["name"] not in frame.columns]
    if missing:
        raise InputError(f"multivariate drift: column {missing[0]!r} is missing from the data")
    exprs = []
    for c in pca["columns"]:
        s = frame.get_column(c["name"])
        if c["kind"] == "numeric":
            exprs.append(_as_float(s).fill_null(c["fill"]).alias(c["name"]))
        else:
            s = s.cast(pl.String).fill_null(c["fill"])
            exprs.append(s.replace_strict(c["values"], c["freqs"], default=0.0,
                                          return_dtype=pl.Float64).alias(c["name"]))
    x = pl.DataFrame(exprs).to_numpy().astype(np.float64, copy=False)
    return (x - np.asarray(pca["mean"])) / np.asarray(pca["scale"])


def _errors(pca: dict[str, Any], z: Any) -> Any:
    import numpy as np

    comp = np.asarray(pca["components"], dtype=float).reshape(-1, len(pca["columns"]))
    recon = (z @ comp.T) @ comp
    return np.linalg.norm(z - recon, axis=1)


def fit_pca(frame: Any, columns: Sequence[str] | None = None, *, variance: float = 0.65, seed: int = 0,
            categorical: Sequence[str] | None = None, chunk_rows: int | None = None,
            n_chunks: int = bands.DEFAULT_CHUNKS, sigma: float = 3.0) -> dict[str, Any]:
    """Fit the reconstruction model on the reference `frame` (JSON-able dict).

    Nulls are imputed (numeric: reference mean; categorical: most frequent value); categoricals are
    frequency-encoded (share of the reference rows with that value, unseen values 0), as NannyML's
    CountEncoder(normalize=True); every column is standardised; PCA by SVD keeps the fewest components
    explaining more than `variance` of the variance. The band is chunk_bands over the reference's
    chunks (bands.chunks(n, chunk_rows, n_chunks)), clipped at 0.

    Keys: format, columns [{name, kind, fill, values?, freqs?}], mean, scale, components (k lists of d),
    n_components, variance, explained (cumulative share kept), rows, chunk_errors, band."""
    import numpy as np

    frame = _frame(frame)
    columns = list(frame.columns if columns is None else columns)
    if not columns:
        raise InputError("multivariate drift: no columns to fit")
    if not 0 < float(variance) <= 1:
        raise InputError(f"multivariate drift: variance must be in (0, 1], got {variance}")
    if frame.height < 2:
        raise InputError(f"multivariate drift: the reference needs at least 2 rows, it has {frame.height}")
    forced = set(categorical or ())
    specs: list[dict[str, Any]] = []
    for name in columns:
        if name not in frame.columns:
            raise InputError(f"multivariate drift: column {name!r} is not in the reference")
        s = frame.get_column(name)
        kind = "categorical" if name in forced else _kind(s.dtype)
        if kind is None:
            raise InputError(f"multivariate drift: column {name!r} has unsupported type {s.dtype}")
        if kind == "numeric":
            mean = _as_float(s).mean()
            specs.append({"name": name, "kind": kind, "fill": 0.0 if mean is None else float(mean)})
            continue
        vc = _categories(s)
        if vc.height == 0:
            specs.append({"name": name, "kind": kind, "fill": "", "values": [], "freqs": []})
            continue
        fill = vc["value"][0]
        # Nulls count towards the most frequent value, exactly as imputing before encoding would.
        counts = vc["count"].to_numpy().astype(float)
        counts[0] += s.null_count()
        vc = vc.head(MAX_CATEGORIES)
        specs.append({"name": name, "kind": kind, "fill": fill, "values": vc["value"].to_list(),
                      "freqs": (counts[: vc.height] / len(s)).tolist()})
    model: dict[str, Any] = {"format": FORMAT, "columns": specs, "mean": [0.0] * len(specs),
                             "scale": [1.0] * len(specs), "components": []}
    x = _encode(model, frame)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std = np.where(std > 0, std, 1.0)   # a constant column stays constant (StandardScaler's rule)
    z = (x - mean) / std
    fit = z
    if len(z) > MAX_FIT_ROWS:
        fit = z[np.random.default_rng(seed).choice(len(z), MAX_FIT_ROWS, replace=False)]
    _, sv, vt = np.linalg.svd(fit - fit.mean(axis=0), full_matrices=False)
    var = sv ** 2
    ratio = np.cumsum(var) / var.sum() if var.sum() > 0 else np.ones_like(var)
    # sklearn's rule for a float n_components: the fewest components whose share exceeds it.
    k = int(min(np.searchsorted(ratio, float(variance), side="right") + 1, len(ratio)))
    comp = vt[:k]
    comp = comp * np.where(comp[np.arange(k), np.abs(comp).argmax(axis=1)] < 0, -1.0, 1.0)[:, None]
    model.update(mean=mean.tolist(), scale=std.tolist(), components=comp.tolist(), n_components=k,
                 variance=float(variance), explained=float(ratio[k - 1]), rows=int(len(z)))
    chunk_errors = bands.chunk_values(_errors(model, z), bands.chunks(len(z), chunk_rows, n_chunks))
    model["chunk_errors"] = chunk_errors
    model["band"] = bands.chunk_bands(chunk_errors, sigma, lower_limit=0.0)
    return model


def _categories(s: Any) -> Any:
    import polars as pl

    vc = s.cast(pl.String).rename("value").drop_nulls().value_counts(name="count")
    return vc.sort(["count", "value"], descending=[True, False])


def row_errors(pca: dict[str, Any], frame: Any) -> Any:
    """Per-row reconstruction error (Euclidean distance between each standardised row and its
    reconstruction) as a numpy array; sum it with the row count to merge batches into windows."""
    frame = _frame(frame)
    if frame.height == 0:
        import numpy as np

        return np.zeros(0)
    return _errors(pca, _encode(pca, frame))


def reconstruction_error(pca: dict[str, Any], frame: Any) -> float | None:
    """Mean reconstruction error of `frame`'s rows (None for zero rows); compare with pca["band"]."""
    err = row_errors(pca, frame)
    return float(err.mean()) if len(err) else None
