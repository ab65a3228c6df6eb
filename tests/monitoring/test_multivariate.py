"""PCA reconstruction error: agrees with sklearn's PCA, stays in its band on same-distribution data,
and leaves it when a correlation breaks while every marginal stays put."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from scipy.stats import ks_2samp

from tui_mlops.errors import InputError
from tui_mlops.monitoring import bands, multivariate as mv

COLUMNS = ["a", "b", "c", "cat"]


def frame(n: int, seed: int, *, broken: bool = False) -> pl.DataFrame:
    """a, b correlated at 0.9 (b rescaled), c independent, cat categorical; a few nulls."""
    r = np.random.default_rng(seed)
    a = r.normal(size=n)
    b = 0.9 * a + np.sqrt(1 - 0.81) * r.normal(size=n)
    if broken:  # same marginal distribution of b, its link with a gone
        b = r.permutation(b)
    cat = r.choice(["x", "y", "z"], size=n, p=[0.6, 0.3, 0.1]).astype(object)
    cat[r.random(n) < 0.05] = None
    a[r.random(n) < 0.02] = np.nan
    return pl.DataFrame({"a": a, "b": 5 * b + 1, "c": 3 * r.normal(size=n) + 10, "cat": list(cat)},
                        strict=False).with_columns(pl.col("a").fill_nan(None))


@pytest.fixture(scope="module")
def model() -> dict:
    return mv.fit_pca(frame(20_000, 1), COLUMNS, chunk_rows=2_000)


def test_model_is_plain_json_and_reloads_to_the_same_errors(model):
    text = json.dumps(model, allow_nan=False)
    again = json.loads(text)
    batch = frame(1_000, 5)
    assert mv.reconstruction_error(again, batch) == pytest.approx(mv.reconstruction_error(model, batch), abs=1e-12)
    assert model["n_components"] == 2 and model["explained"] > 0.65
    assert len(model["chunk_errors"]) == 10
    assert model["band"]["chunks"] == 10 and model["band"]["lower"] < model["band"]["upper"]
    cat = next(c for c in model["columns"] if c["name"] == "cat")
    assert cat["kind"] == "categorical" and cat["fill"] == "x" and cat["values"][0] == "x"
    assert sum(cat["freqs"]) == pytest.approx(1.0)   # nulls imputed with the mode before counting


def test_matches_sklearn_pca_on_the_same_preprocessing(model):
    from sklearn.decomposition import PCA

    ref = frame(20_000, 1)
    z = mv._encode(model, ref)
    assert np.allclose(z.mean(axis=0), 0, atol=1e-9) and np.allclose(z.std(axis=0), 1)
    for variance in (0.65, 0.9, 0.99):
        ours = mv.fit_pca(ref, COLUMNS, variance=variance)
        sk = PCA(n_components=variance, random_state=16).fit(z)
        assert ours["n_components"] == sk.n_components_
        recon = sk.inverse_transform(sk.transform(z))
        expected = float(np.linalg.norm(z - recon, axis=1).mean())
        assert mv.reconstruction_error(ours, ref) == pytest.approx(expected, rel=1e-6)


def test_same_distribution_batches_stay_inside_the_band(model):
    for seed in range(10, 16):
        value = mv.reconstruction_error(model, frame(2_000, seed))
        assert not bands.outside(model["band"], value), (seed, value, model["band"])


def test_broken_correlation_leaves_the_band_though_marginals_do_not_drift(model):
    ref = frame(20_000, 1)
    for seed in range(20, 23):
        batch = frame(2_000, seed, broken=True)
        for col in ("a", "b", "c"):   # what univariate drift sees: nothing
            assert ks_2samp(ref[col].drop_nulls(), batch[col].drop_nulls()).pvalue > 0.01
        value = mv.reconstruction_error(model, batch)
        assert bands.outside(model["band"], value), (seed, value, model["band"])
        assert value > model["band"]["upper"] * 1.2


def test_bad_batches_are_imputed_and_a_missing_column_is_named(model):
    n = 200
    messy = frame(n, 30).with_columns(
        pl.lit(None, dtype=pl.Float64).alias("a"),            # all nulls -> reference mean
        pl.lit("never-seen").alias("cat"),                     # unseen category -> frequency 0
        pl.col("c").cast(pl.String).str.replace(r"^1", "x"),   # wrong type: text, partly unparseable
    )
    value = mv.reconstruction_error(model, messy)
    assert value is not None and np.isfinite(value)
    assert len(mv.row_errors(model, messy)) == n
    assert mv.reconstruction_error(model, frame(5, 3).head(0)) is None
    with pytest.raises(InputError, match="column 'b' is missing from the data"):
        mv.reconstruction_error(model, frame(10, 3).drop("b"))


def test_fit_errors_name_the_problem():
    ref = frame(100, 2)
    with pytest.raises(InputError, match="column 'nope' is not in the reference"):
        mv.fit_pca(ref, ["a", "nope"])
    with pytest.raises(InputError, match="at least 2 rows, it has 1"):
        mv.fit_pca(ref.head(1), ["a", "b"])
    with pytest.raises(InputError, match="variance must be in"):
        mv.fit_pca(ref, ["a", "b"], variance=1.5)
    with pytest.raises(InputError, match="column 'l' has unsupported type"):
        mv.fit_pca(ref.with_columns(pl.lit([1, 2]).alias("l")), ["a", "l"])


def test_integer_codes_can_be_forced_categorical_and_constant_columns_are_safe():
    r = np.random.default_rng(4)
    ref = pl.DataFrame({"code": r.integers(0, 4, 500), "x": r.normal(size=500), "k": [7.0] * 500})
    m = mv.fit_pca(ref, ["code", "x", "k"], categorical=["code"])
    assert [c["kind"] for c in m["columns"]] == ["categorical", "numeric", "numeric"]
    assert m["scale"][2] == 1.0
    value = mv.reconstruction_error(m, ref)
    assert np.isfinite(value) and not bands.outside(m["band"], value)
