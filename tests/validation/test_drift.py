"""Feature drift: PSI, KS, chi-square / Jensen-Shannon, new categories and null shifts, from a frame
or from a JSON round-tripped reference profile, on up to 1M rows."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest
from scipy.stats import ks_2samp

from tui_mlops.errors import InputError
from tui_mlops.validation.drift import SAMPLE, drift_report, reference_profile

BIG = 1_000_000


def frame(n: int, seed: int, *, shift: float = 0.0, cats: str = "abcdef", null_share: float = 0.05) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.normal(100 + shift, 15, n)
    rating = rng.integers(0, 6, n).astype(float)
    rating[rng.random(n) < null_share] = np.nan      # NaN counts as missing
    return pl.DataFrame({
        "amount": amount,
        "rating": rating,
        "country": rng.choice(list(cats), n, p=np.linspace(1, 2, len(cats)) / np.linspace(1, 2, len(cats)).sum()),
        "member": rng.random(n) < 0.3,
    })


@pytest.fixture(scope="module")
def big_reference() -> dict:
    # Through JSON, as issue 5's monitoring caches it.
    return json.loads(json.dumps(reference_profile(frame(BIG, 0))))


def by_column(report) -> dict:
    return {f.column: f for f in report.features}


def test_identical_distributions_on_1m_rows_drift_nowhere(big_reference: dict) -> None:
    rep = drift_report(big_reference, frame(BIG, 1))
    assert rep.drifted == [] and rep.share_drifted == 0.0
    f = by_column(rep)
    assert [x.kind for x in rep.features] == ["numeric", "numeric", "categorical", "categorical"]
    assert all(x.psi < 0.01 for x in rep.features)
    assert f["amount"].ks < 0.02 and f["country"].js < 0.02 and f["member"].chi2_p is not None
    assert f["rating"].null_ref == pytest.approx(0.05, abs=0.002) and f["rating"].null_cur == pytest.approx(0.05, abs=0.002)
    assert f["amount"].n_ref == BIG and f["amount"].n_cur == BIG
    json.dumps(rep.to_dict())


def test_shifted_mean_on_1m_rows_drifts_only_that_column(big_reference: dict) -> None:
    rep = drift_report(big_reference, frame(BIG, 2, shift=6.0))
    assert rep.drifted == ["amount"] and rep.share_drifted == 0.25
    f = by_column(rep)["amount"]
    assert f.ks > 0.1 and f.ks_p < 1e-6 and f.psi > 0.1


def test_profile_ks_equals_scipy_on_the_stored_sample(big_reference: dict) -> None:
    cur = frame(200_000, 3, shift=1.0)
    got = by_column(drift_report(big_reference, cur, columns=["amount"]))["amount"]
    sample = np.asarray(big_reference["columns"]["amount"]["sample"])
    assert len(sample) == SAMPLE and np.all(np.diff(sample) >= 0)
    want = ks_2samp(sample, cur["amount"].to_numpy(), method="asymp")
    assert got.ks == pytest.approx(want.statistic, abs=1e-12) and got.ks_p == pytest.approx(want.pvalue, rel=1e-9)


def test_frame_and_profile_references_agree() -> None:
    ref, cur = frame(5000, 4), frame(3000, 5, shift=10.0)
    from_frame = drift_report(ref, cur).to_dict()
    from_profile = drift_report(json.loads(json.dumps(reference_profile(ref))), cur).to_dict()
    assert from_frame == from_profile
    assert from_frame["drifted"] == ["amount"]


def test_new_category_is_listed_and_drifts_when_frequent() -> None:
    ref = frame(4000, 6, cats="abc")
    cur = frame(4000, 7, cats="abcz")           # "z": about 30% of rows, never seen in the reference
    f = by_column(drift_report(ref, cur))["country"]
    assert f.new_categories == ["z"] and f.drifted and f.js > 0.1 and f.chi2_p < 0.05
    rare = frame(4000, 8, cats="abc").with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("q")).otherwise(pl.col("country")).alias("country"))
    f = by_column(drift_report(ref, rare))["country"]
    assert f.new_categories == ["q"] and not f.drifted


def test_null_share_shift_drifts() -> None:
    ref, cur = frame(5000, 9, null_share=0.05), frame(5000, 10, null_share=0.4)
    f = by_column(drift_report(ref, cur))["rating"]
    assert f.null_cur == pytest.approx(0.4, abs=0.03) and f.drifted and f.psi > 0.2
    assert f.ks < 0.1    # the non-null values did not move: only the missing share did


def test_all_null_and_constant_columns() -> None:
    n = 2000
    ref = pl.DataFrame({"empty": pl.Series([None] * n, dtype=pl.Float64), "untyped": [None] * n,
                        "const": [5.0] * n, "label": ["x"] * n})
    same = drift_report(ref, ref.clone())
    assert same.drifted == []
    f = by_column(same)
    assert f["empty"].null_ref == 1.0 and f["empty"].ks is None and f["empty"].psi == 0.0
    assert f["untyped"].kind == "categorical" and f["untyped"].js == 0.0 and f["untyped"].chi2_p == 1.0
    assert f["const"].ks == 0.0 and f["label"].chi2_p == 1.0
    moved = pl.DataFrame({"empty": np.arange(n, dtype=float), "untyped": ["a"] * n,
                          "const": [6.0] * n, "label": ["x"] * n})
    rep = drift_report(reference_profile(ref), moved)
    assert rep.drifted == ["empty", "untyped", "const"]
    f = by_column(rep)
    assert f["empty"].null_cur == 0.0 and f["const"].ks == 1.0 and f["untyped"].new_categories == ["a"]


def test_temporal_columns_are_numeric() -> None:
    base = dt.datetime(2024, 1, 1)
    ref = pl.DataFrame({"ts": [base + dt.timedelta(hours=i) for i in range(3000)]})
    later = pl.DataFrame({"ts": [base + dt.timedelta(days=400, hours=i) for i in range(3000)]})
    assert by_column(drift_report(ref, ref))["ts"].drifted is False
    f = by_column(drift_report(ref, later))["ts"]
    assert f.kind == "numeric" and f.drifted and f.ks == 1.0


def test_bad_input_is_named() -> None:
    ref = frame(100, 1)
    with pytest.raises(InputError, match="drift: the current data has no rows"):
        drift_report(ref, ref.head(0))
    with pytest.raises(InputError, match="drift: the current data has no column 'rating'"):
        drift_report(ref, ref.drop("rating"))
    with pytest.raises(InputError, match="drift: the reference has no column 'nope'"):
        drift_report(reference_profile(ref), ref, columns=["nope"])
    with pytest.raises(InputError, match="drift: the reference data has no column 'nope'"):
        drift_report(ref, ref, columns=["nope"])
    with pytest.raises(InputError, match="drift: the reference is not a drift profile"):
        drift_report({"columns": {}}, ref)
    with pytest.raises(InputError, match="drift: the reference data has no rows"):
        reference_profile(ref.head(0))
    with pytest.raises(InputError, match="column 'l' has type List"):
        reference_profile(pl.DataFrame({"l": [[1], [2]]}), columns=["l"])
    # Unsupported columns are skipped when none are named.
    assert list(reference_profile(pl.DataFrame({"l": [[1], [2]], "x": [1, 2]}))["columns"]) == ["x"]
