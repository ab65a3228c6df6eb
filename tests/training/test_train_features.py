"""Feature pipeline: transforms, encodings, imputation, JSON round trip, and the same matrix at
prediction time (new rows, unseen categories, missing columns)."""

from __future__ import annotations

import json
import math
from datetime import datetime

import numpy as np
import polars as pl
import pytest

from tui_mlops.errors import InputError
from tui_mlops.training.features import FeaturePipeline, parse_transform, plan_columns


def frame() -> pl.DataFrame:
    return pl.DataFrame({
        "num": [1.0, -3.0, None, 9.0, 0.0, 4.0],
        "den": [2.0, 0.0, 1.0, 3.0, 1.0, None],
        "cat": ["a", "b", "a", None, "c", "a"],
        "when": [datetime(2024, 3, 5, 14, 30), datetime(2024, 12, 31, 23, 0), None,
                 datetime(2023, 1, 2, 0, 0), datetime(2024, 6, 1, 6, 0), datetime(2024, 6, 2, 7, 0)],
        "flag": [True, False, True, None, False, True],
        "y": [0, 1, 0, 1, 1, 0],
    })


def test_parse_transform_syntax():
    assert parse_transform("log:income") == {"op": "log", "column": "income"}
    assert parse_transform("bins:age:5") == {"op": "bins", "column": "age", "bins": 5}
    assert parse_transform("date_parts:ts:year,hour") == {"op": "date_parts", "column": "ts", "parts": ["year", "hour"]}
    assert parse_transform("ratio:a/b:a_b") == {"op": "ratio", "num": "a", "den": "b", "name": "a_b"}
    with pytest.raises(InputError, match="bad transform 'bins:age:x': the number of bins must be an integer"):
        parse_transform("bins:age:x")
    with pytest.raises(InputError, match="expected log:COL, bins:COL:N"):
        parse_transform("sqrt:x")


def test_plan_replaces_sources_in_place_and_applies_drops():
    cols = ["num", "den", "cat", "when", "y"]
    transforms = [{"op": "log", "column": "num"}, {"op": "date_parts", "column": "when", "parts": ["year"]},
                  {"op": "ratio", "num": "num", "den": "den"}]
    inputs, outputs = plan_columns(cols, "y", None, ["den"], transforms)
    assert outputs == ["log_num", "cat", "when_year", "num_per_den"]
    assert inputs == ["num", "den", "cat", "when"]  # den is read for the ratio though dropped as a feature


def test_transforms_values():
    transforms = [{"op": "log", "column": "num"}, {"op": "ratio", "num": "num", "den": "den", "name": "r"},
                  {"op": "date_parts", "column": "when", "parts": ["year", "month", "dayofweek", "hour"]},
                  {"op": "bins", "column": "den", "bins": 2}]
    df = frame()
    pipe = FeaturePipeline.fit(df, target="y", task="binary", classes=[0, 1], features=None, drop=["flag"],
                               transforms=transforms)
    X = pipe.transform(df)
    col = {n: X[:, i] for i, n in enumerate(pipe.names)}
    assert col["log_num"][0] == pytest.approx(math.log1p(1.0))
    assert col["log_num"][1] == pytest.approx(-math.log1p(3.0))  # signed: negatives keep their sign
    assert math.isnan(col["log_num"][2])
    assert col["r"][0] == 0.5 and math.isnan(col["r"][1])  # a zero denominator gives a null
    assert list(col["when_year"][:2]) == [2024, 2024] and col["when_month"][1] == 12
    assert col["when_dayofweek"][0] == 2 and col["when_hour"][0] == 14  # 2024-03-05 was a Tuesday
    assert pipe.transforms[3]["edges"] == [1.0]  # learned at fit: the median of den
    assert list(col["den_bin"][:5]) == [1, 0, 1, 1, 1] and math.isnan(col["den_bin"][5])


def test_native_ordinal_onehot_and_unseen_categories():
    df = frame()
    new = df.with_columns(pl.Series("cat", ["zzz", "b", None, "a", "c", "a"]))
    kw = dict(target="y", task="binary", classes=[0, 1], features=["cat", "num"], drop=[], transforms=[])
    native = FeaturePipeline.fit(df, encoding="native", **kw)
    assert native.features[0]["categories"] == ["a", "b", "c"]  # most frequent first
    assert native.categorical_indices == [0]
    assert math.isnan(native.transform(new)[0, 0]) and native.transform(new)[1, 0] == 1.0
    ordinal = FeaturePipeline.fit(df, encoding="ordinal", impute=True, **kw)
    Xo = ordinal.transform(new)
    assert Xo[0, 0] == -1.0 and Xo[2, 0] == -1.0 and ordinal.categorical_indices == []
    assert Xo[2, 1] == pytest.approx(1.0)  # num's null imputed with the training median (1.0)
    onehot = FeaturePipeline.fit(df, encoding="onehot", impute=True, scale=True, **kw)
    assert onehot.names == ["cat=a", "cat=b", "cat=c", "num"]
    Xh = onehot.transform(new)
    assert list(Xh[0, :3]) == [0, 0, 0] and list(Xh[1, :3]) == [0, 1, 0]
    train_num = onehot.transform(df)[:, 3]
    assert train_num.mean() == pytest.approx(0.0, abs=1e-12) and train_num.std() == pytest.approx(1.0)


def test_json_round_trip_gives_the_same_matrix():
    df = frame()
    pipe = FeaturePipeline.fit(df, target="y", task="binary", classes=[0, 1], features=None, drop=[],
                               transforms=[{"op": "bins", "column": "num", "bins": 3},
                                           {"op": "date_parts", "column": "when"}],
                               encoding="onehot", impute=True, scale=True)
    again = FeaturePipeline.from_dict(json.loads(json.dumps(pipe.to_dict())))
    np.testing.assert_array_equal(again.transform(df), pipe.transform(df))
    assert again.names == pipe.names


def test_missing_columns_and_target_encoding():
    df = frame()
    pipe = FeaturePipeline.fit(df, target="y", task="binary", classes=[0, 1], features=None, drop=[],
                               transforms=[])
    with pytest.raises(InputError, match="the data lacks column\\(s\\) the model needs: 'cat'"):
        pipe.transform(df.drop("cat"))
    assert list(pipe.encode_target(df)) == [0, 1, 0, 1, 1, 0]
    assert list(pipe.decode_labels([1, 0])) == [1, 0]
    text = FeaturePipeline.fit(df, target="cat", task="multiclass", classes=["a", "b", "c"], features=["num"],
                               drop=[], transforms=[])
    codes = text.encode_target(df)
    assert list(codes[:2]) == [0, 1] and math.isnan(codes[3])
    with pytest.raises(InputError, match="target 'cat' has the value 'q', a class the model never saw"):
        text.encode_target(df.with_columns(pl.Series("cat", ["q"] * 6)))
    with pytest.raises(InputError, match="column 'bad' has type List"):
        FeaturePipeline.fit(df.with_columns(pl.Series("bad", [[1]] * 6)), target="y", task="binary",
                            classes=[0, 1], features=["bad"], drop=[], transforms=[])
