"""The fast bootstrap against a naive scikit-learn loop on the same resamples, the paired bootstrap,
and DeLong's test against an O(n^2) reference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import log_loss, roc_auc_score

from tui_mlops.errors import InputError
from tui_mlops.validation.bootstrap import (CHUNK_ELEMENTS, bootstrap_auc_logloss, bootstrap_ci, delong,
                                            paired_bootstrap, resample_indices)
from tui_mlops.validation.metrics import holdout_metrics


def tied_binary(n: int, seed: int, decimals: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Scores rounded to `decimals`: many ties, inside and across the classes."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.35).astype(int)
    p = np.round(np.clip(rng.random(n) * 0.8 + y * 0.2, 0.01, 0.99), decimals)
    return y, p


def naive_summary(values: list[float], level: float = 0.95) -> dict[str, float]:
    v = np.asarray([x for x in values if np.isfinite(x)])
    lo, hi = np.percentile(v, [50 * (1 - level), 50 * (1 + level)])
    return {"lo": lo, "hi": hi, "mean": v.mean(), "std": v.std(ddof=1)}


@pytest.mark.parametrize("decimals,seed", [(1, 0), (2, 1), (6, 2)])
def test_auc_and_logloss_equal_the_naive_sklearn_loop(decimals: int, seed: int) -> None:
    y, p = tied_binary(300, seed, decimals)
    auc, loss = bootstrap_auc_logloss(y, p, 60, seed)
    assert auc.shape == loss.shape == (60,)
    for i, idx in enumerate(resample_indices(len(y), 60, seed)):
        assert abs(auc[i] - roc_auc_score(y[idx], p[idx])) < 1e-9, i
        assert abs(loss[i] - log_loss(y[idx], p[idx], labels=[0, 1])) < 1e-9, i
    assert auc.std() > 0 and loss.std() > 0     # the resamples differ


def test_one_class_resamples_give_nan_auc() -> None:
    y, p = np.array([0, 0, 0, 1]), np.array([0.1, 0.4, 0.4, 0.7])
    auc, loss = bootstrap_auc_logloss(y, p, 200, 5)
    for i, idx in enumerate(resample_indices(4, 200, 5)):
        if len(np.unique(y[idx])) < 2:
            assert np.isnan(auc[i])
        else:
            assert abs(auc[i] - roc_auc_score(y[idx], p[idx])) < 1e-12
        assert abs(loss[i] - log_loss(y[idx], p[idx], labels=[0, 1])) < 1e-12
    assert np.isnan(auc).any() and not np.isnan(auc).all()


def test_resamples_larger_than_a_chunk_are_processed_one_by_one() -> None:
    # More rows than CHUNK_ELEMENTS: one resample per block, the other code path from the tests above.
    n = CHUNK_ELEMENTS + 7
    rng = np.random.default_rng(9)
    y = (rng.random(n) < 0.3).astype(int)
    p = np.round(1 / (1 + np.exp(-(rng.normal(size=n) + y))), 3)
    auc, loss = bootstrap_auc_logloss(y, p, 2, 3)
    for i, idx in enumerate(resample_indices(n, 2, 3)):
        assert abs(auc[i] - roc_auc_score(y[idx], p[idx])) < 1e-9
        assert abs(loss[i] - log_loss(y[idx], p[idx])) < 1e-9


def test_resample_indices_are_reproducible() -> None:
    a = [r.copy() for r in resample_indices(50, 3, 7)]
    b = list(resample_indices(50, 3, 7))
    assert all(np.array_equal(x, z) for x, z in zip(a, b))
    assert not np.array_equal(a[0], a[1]) and all(r.min() >= 0 and r.max() < 50 and len(r) == 50 for r in a)
    assert not np.array_equal(a[0], next(resample_indices(50, 1, 8)))
    with pytest.raises(InputError, match="no rows to resample"):
        resample_indices(0, 3, 7)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_bootstrap_ci_equals_percentiles_of_the_naive_loop(task: str) -> None:
    rng = np.random.default_rng(11)
    n = 150
    if task == "binary":
        y, pred = tied_binary(n, 3, 2)
    elif task == "multiclass":
        y = rng.choice(4, n, p=[0.5, 0.3, 0.15, 0.05])    # a rare class: absent from some resamples
        pred = rng.dirichlet([1, 1, 1, 1], n)
        pred[np.arange(n), y] += 0.4
        pred /= pred.sum(axis=1, keepdims=True)
    else:
        y = rng.normal(5, 2, n)
        pred = y + rng.normal(0, 1, n)
    ci = bootstrap_ci(task, y, pred, n=80, seed=4, threshold=0.45)
    per: dict[str, list[float]] = {}
    for idx in resample_indices(n, 80, 4):
        for k, v in holdout_metrics(task, y[idx], pred[idx], threshold=0.45).items():
            per.setdefault(k, []).append(v)
    assert set(ci) == set(per) == set(holdout_metrics(task, y, pred))
    for metric, values in per.items():
        want = naive_summary(values)
        for key in ("lo", "hi", "mean", "std"):
            assert abs(ci[metric][key] - want[key]) < 1e-9, (metric, key)
        assert ci[metric]["lo"] <= ci[metric]["mean"] <= ci[metric]["hi"]


def test_bootstrap_ci_level_and_metric_choice() -> None:
    y, p = tied_binary(400, 6, 3)
    wide = bootstrap_ci("binary", y, p, metrics=["auc"], n=200, level=0.99)
    narrow = bootstrap_ci("binary", y, p, metrics="auc", n=200, level=0.5)
    assert list(wide) == ["auc"]
    assert wide["auc"]["hi"] - wide["auc"]["lo"] > narrow["auc"]["hi"] - narrow["auc"]["lo"] > 0


@pytest.mark.parametrize("kwargs,message", [
    ({"n": 0}, "number of bootstrap resamples must be at least 1, not 0"),
    ({"level": 1.5}, "confidence level must be between 0 and 1, not 1.5"),
    ({"metrics": ["rmse"]}, "metric 'rmse' is not a binary metric"),
])
def test_bootstrap_ci_bad_arguments(kwargs: dict, message: str) -> None:
    y, p = tied_binary(50, 1)
    with pytest.raises(InputError, match=message):
        bootstrap_ci("binary", y, p, **kwargs)


def test_bootstrap_ci_auc_needs_both_classes() -> None:
    assert "auc" not in bootstrap_ci("binary", [1, 1, 1], [0.2, 0.5, 0.9], n=10)
    with pytest.raises(InputError, match="auc needs both classes among the labels"):
        bootstrap_ci("binary", [1, 1, 1], [0.2, 0.5, 0.9], metrics=["auc"], n=10)


def test_paired_bootstrap_uses_the_same_resamples_for_both_models() -> None:
    rng = np.random.default_rng(2)
    n = 300
    y = (rng.random(n) < 0.4).astype(int)
    weak = np.clip(0.5 + (y - 0.5) * 0.1 + rng.normal(0, 0.2, n), 0.01, 0.99)
    strong = np.clip(0.5 + (y - 0.5) * 0.6 + rng.normal(0, 0.2, n), 0.01, 0.99)
    for metric, sign, fn in (("auc", 1, roc_auc_score), ("logloss", -1, log_loss)):
        out = paired_bootstrap("binary", y, weak, strong, metric, n=100, seed=3)
        deltas = [sign * (fn(y[i], strong[i]) - fn(y[i], weak[i])) for i in resample_indices(n, 100, 3)]
        lo, hi = np.percentile(deltas, [2.5, 97.5])
        assert out["lo"] == pytest.approx(lo, abs=1e-9) and out["hi"] == pytest.approx(hi, abs=1e-9)
        assert out["metric"] == metric and out["b_better"] is True and out["delta"] > 0
        assert out["delta"] == pytest.approx(sign * (out["b"] - out["a"]))
        assert out["p_value"] < 0.05
        # The other way round the challenger is worse: a negative delta, not better.
        back = paired_bootstrap("binary", y, strong, weak, metric, n=100, seed=3)
        assert back["b_better"] is False and back["delta"] < 0 and back["hi"] < 0


def test_paired_bootstrap_of_identical_models_finds_no_difference() -> None:
    rng = np.random.default_rng(5)
    y = rng.normal(0, 1, 80)
    pred = y + rng.normal(0, 0.5, 80)
    out = paired_bootstrap("regression", y, pred, pred.copy(), "rmse", n=50)
    assert out["delta"] == 0 and out["lo"] == 0 and out["hi"] == 0
    assert out["b_better"] is False and out["p_value"] == 1.0


def delong_reference(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """DeLong et al. (1988) straight from the definition: O(n_pos * n_neg)."""
    pos, neg = y == 1, y == 0
    m, k = pos.sum(), neg.sum()
    v10, v01, aucs = [], [], []
    for s in (a, b):
        x, z = s[pos][:, None], s[neg][None, :]
        psi = (x > z) + 0.5 * (x == z)
        aucs.append(psi.mean())
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
    s10, s01 = np.cov(np.array(v10)), np.cov(np.array(v01))
    var = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / k
    z = (aucs[1] - aucs[0]) / np.sqrt(var)
    return aucs[0], aucs[1], z


@pytest.mark.parametrize("decimals", [1, 2, 8])
def test_delong_equals_the_quadratic_reference(decimals: int) -> None:
    rng = np.random.default_rng(decimals)
    y = (rng.random(250) < 0.4).astype(int)
    a = np.round(np.clip(0.5 + (y - 0.5) * 0.3 + rng.normal(0, 0.25, 250), 0, 1), decimals)
    b = np.round(np.clip(0.5 + (y - 0.5) * 0.5 + rng.normal(0, 0.25, 250), 0, 1), decimals)
    got = delong(y, a, b)
    auc_a, auc_b, z = delong_reference(y, a, b)
    assert got["auc_a"] == pytest.approx(auc_a, abs=1e-12) and got["auc_b"] == pytest.approx(auc_b, abs=1e-12)
    assert got["auc_a"] == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert got["delta"] == pytest.approx(auc_b - auc_a, abs=1e-12)
    assert got["z"] == pytest.approx(z, rel=1e-9)
    assert got["p_value"] == pytest.approx(2 * norm.sf(abs(z)), rel=1e-9)


def test_delong_of_identical_scores_and_too_few_rows() -> None:
    y, p = tied_binary(100, 4, 2)
    out = delong(y, p, p.copy())
    assert out["delta"] == 0 and out["z"] == 0 and out["p_value"] == 1.0
    with pytest.raises(InputError, match="at least 2 positive and 2 negative rows"):
        delong([0, 0, 1], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1])
