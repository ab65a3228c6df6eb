"""Evidently-style drift methods: exact scores against scipy's, profile sketches within tolerance,
the automatic method choice, overrides, nulls, constant and all-null columns, new categories, errors."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from tui_mlops.errors import InputError
from tui_mlops.validation import drift_stats as st
from tui_mlops.validation.drift_methods import (MAX_CATEGORIES, PROFILE_FORMAT, _profile_ref, build_profile,
                                                column_drift, dataset_drift, dataset_drift_exact)

TOL = 1e-9


def frame(n: int, seed: int, *, shift: float = 0.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(10 + shift, 2, n)
    x[rng.random(n) < 0.05] = np.nan
    heavy = rng.lognormal(shift, 1.0, n)
    return pl.DataFrame({
        "x": x,
        "heavy": heavy,
        "wide": rng.integers(0, 60 + int(20 * shift), n),                 # > 20 distinct ints
        "few": rng.choice([1.0, 2.0, 3.0], n, p=[0.5, 0.3, 0.2] if not shift else [0.3, 0.3, 0.4]),
        "city": rng.choice(["ams", "ber", "cph", "dub"], n, p=[0.4, 0.3, 0.2, 0.1] if not shift else [0.25] * 4),
        "flag": rng.random(n) < 0.3 + 0.1 * shift,
    })


def clean(s: pl.Series) -> np.ndarray:
    v = s.cast(pl.Float64).to_numpy()
    return v[np.isfinite(v)]


def counts(ref, cur):
    keys = sorted(set(ref) | set(cur), key=str)
    r = np.array([np.sum(ref == k) for k in keys], dtype=float)
    c = np.array([np.sum(cur == k) for k in keys], dtype=float)
    return r, c


def fill(share: np.ndarray) -> np.ndarray:
    """Evidently's PSI treatment of empty bins."""
    low = share[share > 0].min()
    return np.where(share == 0, low / 1e6 if low <= 1e-4 else 1e-4, share)


def by_col(report) -> dict:
    return {c.column: c for c in report.columns}


@pytest.fixture(scope="module")
def pair() -> tuple[pl.DataFrame, pl.DataFrame]:
    return frame(3000, 1), frame(2500, 2, shift=0.3)


def test_exact_scores_equal_scipy(pair) -> None:
    ref, cur = pair
    got = {m: by_col(dataset_drift_exact(ref, cur, ["x", "heavy", "wide"], default_method=m))
           for m in ("wasserstein", "ks", "jensenshannon", "psi")}
    for c in ("x", "heavy", "wide"):
        r, k = clean(ref[c]), clean(cur[c])
        assert got["wasserstein"][c].score == pytest.approx(stats.wasserstein_distance(r, k) / np.std(r), abs=TOL)
        assert got["ks"][c].score == pytest.approx(stats.ks_2samp(r, k).pvalue, abs=TOL)
        # JS / PSI bin a many-valued numeric column on Sturges edges over both samples.
        edges = np.histogram_bin_edges(np.concatenate([r, k]), bins="sturges")
        hr, hc = np.histogram(r, edges)[0] / len(r), np.histogram(k, edges)[0] / len(k)
        assert got["jensenshannon"][c].score == pytest.approx(jensenshannon(hr, hc), abs=TOL)
        fr, fc = fill(hr), fill(hc)
        assert got["psi"][c].score == pytest.approx(np.sum((fr - fc) * np.log(fr / fc)), abs=TOL)
    assert got["wasserstein"]["x"].drifted and got["ks"]["x"].drifted


def test_categorical_scores_equal_scipy() -> None:
    ref, cur = frame(800, 3), frame(600, 4, shift=1.0)       # <= 1000 rows: statistical tests
    res = by_col(dataset_drift_exact(ref, cur, ["city", "flag", "few"]))
    r, c = counts(ref["city"].to_numpy(), cur["city"].to_numpy())
    assert res["city"].method == "chisquare"
    assert res["city"].score == pytest.approx(stats.chisquare(c, r * c.sum() / r.sum()).pvalue, abs=TOL)
    assert res["few"].method == "chisquare"             # numeric with 3 distinct values counts as categorical
    r3, c3 = counts(ref["few"].to_numpy(), cur["few"].to_numpy())
    assert res["few"].score == pytest.approx(stats.chisquare(c3, r3 * c3.sum() / r3.sum()).pvalue, abs=TOL)
    assert res["flag"].method == "z"
    p1, p2 = ref["flag"].mean(), cur["flag"].mean()
    pooled = (p1 * 800 + p2 * 600) / 1400
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / 800 + 1 / 600))
    assert res["flag"].score == pytest.approx(2 * stats.norm.sf(abs(z)), abs=TOL)
    js = by_col(dataset_drift_exact(ref, cur, ["city"], default_method="jensenshannon"))["city"]
    assert js.score == pytest.approx(jensenshannon(r / r.sum(), c / c.sum()), abs=TOL)   # natural log
    assert all(v.drifted for v in res.values())


def test_profile_from_small_reference_is_exact(pair) -> None:
    ref, cur = frame(900, 5), pair[1]
    profile = json.loads(json.dumps(build_profile(ref)))
    assert profile["format"] == PROFILE_FORMAT and profile["columns"]["x"]["n"] == 900
    assert sum(profile["columns"]["x"]["counts"]) == 900 - profile["columns"]["x"]["nulls"]
    for m in ("auto", "wasserstein", "ks", "jensenshannon", "psi"):
        cols = ["x", "heavy", "wide", "few"] if m != "auto" else None
        a, b = by_col(dataset_drift_exact(ref, cur, cols, default_method=m)), by_col(dataset_drift(profile, cur, cols,
                                                                                                 default_method=m))
        for c in a:
            assert (a[c].method, a[c].drifted) == (b[c].method, b[c].drifted)
            assert b[c].score == pytest.approx(a[c].score, abs=TOL), (m, c)


def test_profile_sketch_within_tolerance_on_100k_rows() -> None:
    ref, cur = frame(100_000, 6), frame(100_000, 7, shift=0.05)
    profile = json.loads(json.dumps(build_profile(ref, ["x", "heavy"])))
    assert len(profile["columns"]["x"]["quantiles"]) == 1001 and "values" not in profile["columns"]["x"]
    exact = by_col(dataset_drift_exact(ref, cur, ["x", "heavy"]))
    sketch = by_col(dataset_drift(profile, cur))
    for c in ("x", "heavy"):
        assert sketch[c].method == exact[c].method == "wasserstein"
        assert abs(sketch[c].score - exact[c].score) < 1e-3
        prof = _profile_ref(profile["columns"][c])
        r, k = np.sort(clean(ref[c])), np.sort(clean(cur[c]))
        d, p = st.ks_sketch(prof.p, prof.q, prof.n, k)
        assert abs(d - stats.ks_2samp(r, k).statistic) < 3e-4
    ks = by_col(dataset_drift(profile, cur, default_method="ks"))
    assert abs(ks["x"].score - stats.ks_2samp(clean(ref["x"]), clean(cur["x"])).pvalue) < 0.05


def test_method_selection_rules() -> None:
    rng = np.random.default_rng(8)

    def pick(n_ref: int, ref_vals, cur_vals) -> str:
        ref = pl.DataFrame({"v": ref_vals})
        cur = pl.DataFrame({"v": cur_vals})
        return dataset_drift_exact(ref, cur).columns[0].method

    assert pick(1000, rng.normal(size=1000), rng.normal(size=500)) == "ks"
    assert pick(1001, rng.normal(size=1001), rng.normal(size=500)) == "wasserstein"
    assert pick(2000, rng.integers(0, 5, 2000), rng.integers(0, 5, 300)) == "jensenshannon"   # 5 distinct
    assert pick(2000, rng.integers(0, 4, 2000), rng.integers(2, 6, 300)) == "wasserstein"     # union: 6
    assert pick(500, rng.integers(0, 3, 500), rng.integers(0, 3, 300)) == "chisquare"
    assert pick(500, rng.integers(0, 2, 500), rng.integers(0, 2, 300)) == "z"
    assert pick(2000, rng.choice(["a", "b"], 2000), rng.choice(["a", "b"], 50)) == "jensenshannon"
    assert pick(1000, rng.choice(["a", "b", "c"], 1000), rng.choice(["a"], 50)) == "chisquare"
    assert pick(1000, rng.choice(["a", "b"], 1000), rng.choice(["a"], 50)) == "z"
    # The reference size that decides counts non-null values only (nulls are dropped first).
    x = np.append(rng.normal(size=1000), [np.nan] * 10)
    assert pick(1010, x, rng.normal(size=50)) == "ks"


def test_overrides_and_dataset_share(pair) -> None:
    ref, cur = pair
    base = by_col(dataset_drift_exact(ref, cur, ["x", "city"]))
    assert base["x"].method == "wasserstein" and base["x"].threshold == 0.1
    over = dataset_drift_exact(ref, cur, ["x", "city"], methods={"x": "psi", "city": "psi"},
                               thresholds={"x": 10.0})
    got = by_col(over)
    assert got["x"].method == "psi" and got["x"].threshold == 10.0 and not got["x"].drifted
    assert got["city"].threshold == 0.1
    # One of two columns drifted: share 0.5 is dataset drift at the default 0.5, not at 0.6.
    assert over.share == 0.5 and over.drifted and over.drifted_columns == ["city"]
    assert not dataset_drift_exact(ref, cur, ["x", "city"], methods={"x": "psi", "city": "psi"},
                                   thresholds={"x": 10.0}, dataset_share=0.6).drifted
    assert json.loads(json.dumps(over.to_dict()))["columns"][0]["method"] == "psi"
    with pytest.raises(InputError, match="unknown method 'energy' for column 'x'"):
        dataset_drift_exact(ref, cur, ["x"], methods={"x": "energy"})
    with pytest.raises(InputError, match="'wasserstein' needs a numeric column; 'city'"):
        dataset_drift_exact(ref, cur, ["city"], default_method="wasserstein")
    with pytest.raises(InputError, match="column 'nope', which is not compared"):
        dataset_drift_exact(ref, cur, ["x"], thresholds={"nope": 0.2})


def test_nulls_and_all_null_current_column(pair) -> None:
    ref, cur = pair
    cur = cur.with_columns(pl.when(pl.int_range(pl.len()) < 100).then(float("inf")).otherwise(pl.col("x")).alias("x"),
                           pl.lit(None, dtype=pl.String).alias("city"),
                           frame(2500, 99)["heavy"])           # unshifted: no drift
    res = dataset_drift_exact(ref, cur, ["x", "city", "heavy"])
    got = by_col(res)
    k = clean(cur["x"])
    assert got["x"].n_cur == len(k) and got["x"].null_rate == pytest.approx(1 - len(k) / cur.height)
    r = clean(ref["x"])
    assert got["x"].score == pytest.approx(stats.wasserstein_distance(r, k) / np.std(r), abs=TOL)
    assert got["city"].score is None and not got["city"].drifted and got["city"].null_rate == 1.0
    assert "no values to compare in the current data" in got["city"].note
    # The unscorable column is left out of the share: x drifted, heavy did not -> 1 of 2.
    assert res.share == 0.5 and res.drifted_columns == ["x"]


def test_constant_reference_column() -> None:
    # std 0: Evidently's norm floor of 0.001 applies, so any spread in the current data is drift.
    ref = pl.DataFrame({"c": np.full(2000, 5.0)})
    same = by_col(dataset_drift_exact(ref, pl.DataFrame({"c": np.full(300, 5.0)})))["c"]
    assert same.method == "jensenshannon" and same.score == 0.0 and not same.drifted
    moved = by_col(dataset_drift_exact(ref, pl.DataFrame({"c": np.full(300, 5.0005)})))["c"]
    assert moved.method == "jensenshannon" and moved.score == pytest.approx(np.sqrt(np.log(2))) and moved.drifted
    spread = np.random.default_rng(9).normal(5.0, 0.01, 300)
    wide = by_col(dataset_drift_exact(ref, pl.DataFrame({"c": spread})))["c"]
    assert wide.method == "wasserstein" and wide.drifted
    assert wide.score == pytest.approx(stats.wasserstein_distance(np.full(2000, 5.0), spread) / 0.001, abs=1e-6)
    w = column_drift(build_profile(ref)["columns"]["c"], pl.Series("c", np.full(300, 5.0005)), method="wasserstein")
    assert w.score == pytest.approx(0.5) and w.drifted


def test_new_categories() -> None:
    ref = pl.DataFrame({"city": ["ams", "ber", "cph"] * 200})
    cur = pl.DataFrame({"city": ["ams"] * 50 + ["oslo"] * 30 + ["rome"] * 20 + [None] * 100})
    profile = build_profile(ref)
    got = dataset_drift(profile, cur).columns[0]
    assert got.new_category_rate == pytest.approx(0.5) and got.null_rate == pytest.approx(0.5)
    assert got.method == "chisquare" and got.score == 0.0 and got.drifted      # unseen categories: p = 0
    same = dataset_drift(profile, pl.DataFrame({"city": ["ber", "cph"] * 10})).columns[0]
    assert same.new_category_rate == 0.0 and same.kind == "categorical"


def test_capped_categories_profile() -> None:
    names = [f"v{i}" for i in range(MAX_CATEGORIES + 50)]
    ref = pl.DataFrame({"id": names + ["v1"] * 5})
    col = build_profile(ref)["columns"]["id"]
    assert len(col["values"]) == MAX_CATEGORIES and col["other"] == 50 and col["distinct"] == len(names)
    assert col["values"][0] == "v1"
    got = column_drift(col, pl.Series("id", ["v1", "zzz"]))
    assert got.method == "jensenshannon" and got.new_category_rate is None and got.score is not None


def test_bad_input() -> None:
    ref = frame(200, 10)
    profile = build_profile(ref)
    with pytest.raises(InputError, match="current data has no rows"):
        dataset_drift(profile, ref.head(0))
    with pytest.raises(InputError, match="current data has no rows"):
        dataset_drift_exact(ref, ref.head(0))
    with pytest.raises(InputError, match="current data has no column 'x'"):
        dataset_drift(profile, ref.drop("x"))
    with pytest.raises(InputError, match="reference data has no rows"):
        build_profile(ref.head(0))
    with pytest.raises(InputError, match="not a drift profile"):
        dataset_drift({"columns": {}}, ref)
    with pytest.raises(InputError, match="profile has no column 'age'"):
        dataset_drift(profile, ref, ["age"])
    with pytest.raises(InputError, match="quantiles must be >= 2"):
        build_profile(ref, quantiles=1)
    with pytest.raises(InputError, match="type List"):
        build_profile(pl.DataFrame({"l": [[1], [2]]}), ["l"])


def test_dates_and_times_compare_as_numbers() -> None:
    from datetime import datetime, timedelta

    start = datetime(2025, 1, 1)
    ref = pl.DataFrame({"at": [start + timedelta(hours=i) for i in range(3000)]})
    same = pl.DataFrame({"at": [start + timedelta(hours=i) for i in range(0, 3000, 3)]})
    later = pl.DataFrame({"at": [start + timedelta(days=400, hours=i) for i in range(1000)]})
    profile = build_profile(ref)
    assert profile["columns"]["at"]["kind"] == "numeric"
    calm, moved = dataset_drift(profile, same), dataset_drift(profile, later)
    assert calm.columns[0].method == "wasserstein" and not calm.columns[0].drifted
    assert moved.columns[0].drifted and moved.columns[0].score > 1
