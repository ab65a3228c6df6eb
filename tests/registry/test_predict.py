"""Batch scoring with registered models: outputs equal the loaded model's, the input schema is checked
against the training schema (missing columns, wrong types, new categories), and the scored batch can
land in a monitor's incoming folder."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from tui_mlops.errors import InputError, NotFoundError
from tui_mlops.registry import models as R
from tui_mlops.registry.predict import check_schema, predict, training_schema
from tui_mlops.training.artifacts import load_model


def toy_frame(store):
    from tui_mlops.data.versions import resolve
    from tui_mlops.training.frames import load_frame

    return load_frame(store.home, resolve(store.home, store.toy))


def edit_csv(store, tmp_path, name, line_no, column, value):
    """The toy CSV with one cell changed (line_no: 1-based data row)."""
    lines = store.csv.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[line_no].split(",")
    cells[header.index(column)] = value
    lines[line_no] = ",".join(cells)
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_predict_csv_matches_the_loaded_model(store, tmp_path):
    h = store.home
    R.register_model(h, store.runs["lgb"], "churn")
    R.set_alias(h, "churn", 1, "production")
    out = tmp_path / "out" / "scored.csv"
    res = predict(h, "churn@production", str(store.csv), out=out)
    assert (res.model_ref, res.rows, res.out, res.warnings) == ("churn@1", 240, out, [])
    frame = toy_frame(store)
    assert res.columns == frame.columns + ["prediction", "proba_0", "proba_1", "score"]
    model = load_model(h, store.runs["lgb"])
    expected = model.predict_proba(frame)
    written = pl.read_csv(out)
    assert written.height == 240
    np.testing.assert_allclose(written["proba_1"].to_numpy(), expected[:, 1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(written["score"].to_numpy(), expected[:, 1], rtol=0, atol=1e-12)
    assert written["prediction"].to_list() == model.predict(frame).tolist()
    assert written["cat"].to_list() == frame["cat"].to_list()
    assert not [p for p in out.parent.iterdir() if p.name != "scored.csv"]  # no temp file left


def test_predict_dataset_ref_multiclass_and_regression_to_parquet(store, tmp_path):
    h = store.home
    R.register_model(h, store.runs["logistic"], "tiers")
    R.register_model(h, store.runs["forest"], "prices")
    frame = toy_frame(store)
    res = predict(h, "tiers", store.toy, out=tmp_path / "tiers.parquet")
    got = pl.read_parquet(tmp_path / "tiers.parquet")
    model = load_model(h, store.runs["logistic"])
    assert res.columns[-4:] == ["prediction", "proba_hi", "proba_lo", "proba_mid"]
    assert got["prediction"].to_list() == model.predict(frame).tolist()
    np.testing.assert_allclose(got.select("proba_hi", "proba_lo", "proba_mid").to_numpy(),
                               model.predict_proba(frame), rtol=0, atol=1e-12)
    assert got["ts"].dtype == pl.Datetime("us")  # passed through with its trained type
    res = predict(h, "prices@1", str(store.csv))
    assert res.out is None and res.columns[-1] == "prediction"
    np.testing.assert_allclose(res.frame["prediction"].to_numpy(),
                               load_model(h, store.runs["forest"]).predict(frame), rtol=0, atol=1e-12)


def test_other_input_formats(store, tmp_path):
    h = store.home
    R.register_model(h, store.runs["lgb"], "churn")
    base = pl.read_csv(store.csv).select("x1", "x2", "cat", "ts", "flag", "neg").head(30)
    base.write_ndjson(tmp_path / "batch.ndjson")
    base.write_parquet(tmp_path / "batch.parquet")
    (tmp_path / "batch.tsv").write_text(base.write_csv(separator="\t"))
    want = predict(h, "churn", str(store.csv)).frame["proba_1"].head(30).to_numpy()
    for name in ("batch.ndjson", "batch.parquet", "batch.tsv"):
        res = predict(h, "churn", str(tmp_path / name))
        assert res.rows == 30 and res.columns[:6] == ["x1", "x2", "cat", "ts", "flag", "neg"]
        np.testing.assert_allclose(res.frame["proba_1"].to_numpy(), want, rtol=0, atol=1e-12, err_msg=name)


def test_missing_column_and_wrong_types_name_file_column_row_and_value(store, tmp_path):
    h = store.home
    R.register_model(h, store.runs["lgb"], "churn")
    lacking = tmp_path / "lacking.csv"
    pl.read_csv(store.csv).drop("neg").write_csv(lacking)
    with pytest.raises(InputError, match=f"^{lacking}: column 'neg' is missing \\(the model needs x1, x2, cat, "):
        predict(h, "churn", str(lacking), out=tmp_path / "x.csv")
    bad = edit_csv(store, tmp_path, "bad.csv", 12, "x2", "abc")
    with pytest.raises(InputError) as err:
        predict(h, "churn", str(bad), out=tmp_path / "x.csv")
    assert err.value.message == f"{bad}: column 'x2' row 12: 'abc' is not a number (trained as BIGINT)"
    bad = edit_csv(store, tmp_path, "bad_ts.csv", 3, "ts", "yesterday")
    with pytest.raises(InputError, match="bad_ts.csv: column 'ts' row 3: 'yesterday' is not a valid TIMESTAMP"):
        predict(h, "churn", str(bad))
    bad = edit_csv(store, tmp_path, "bad_flag.csv", 5, "flag", "maybe")
    with pytest.raises(InputError, match="column 'flag' row 5: 'maybe' is not true or false \\(trained as BOOLEAN\\)"):
        predict(h, "churn", str(bad))
    # A column the model does not read may hold anything.
    ok = edit_csv(store, tmp_path, "ok.csv", 4, "y_reg", "n/a")
    assert predict(h, "churn", str(ok)).rows == 240
    assert not (tmp_path / "x.csv").exists()


def test_new_categories_warn_and_score_as_unseen(store, tmp_path):
    h = store.home
    R.register_model(h, store.runs["lgb"], "churn")
    path = edit_csv(store, tmp_path, "new.csv", 2, "cat", "zebra")
    res = predict(h, "churn", str(path))
    assert res.warnings == [f"{path}: column 'cat' has 1 value(s) the model never saw ('zebra'): scored as unknown"]
    model = load_model(h, store.runs["lgb"])
    frame = toy_frame(store).with_columns(pl.when(pl.int_range(pl.len()) == 1).then(pl.lit("zebra"))
                                          .otherwise(pl.col("cat")).alias("cat"))
    np.testing.assert_allclose(res.frame["proba_1"].to_numpy(), model.predict_proba(frame)[:, 1], rtol=0, atol=1e-12)
    pipeline = model.pipeline
    schema = training_schema(h, model.spec.dataset)
    assert check_schema(pipeline, schema, frame, "batch") == [
        "batch: column 'cat' has 1 value(s) the model never saw ('zebra'): scored as unknown"]


def test_monitor_gets_the_scored_batch(store, tmp_path):
    h = store.home
    R.register_model(h, store.runs["lgb"], "churn")
    res = predict(h, "churn", str(store.csv), out=tmp_path / "scored.parquet", monitor="churn-live")
    incoming = h.monitors_dir / "churn-live" / "incoming"
    files = sorted(incoming.iterdir())
    assert files == [res.monitor_file]
    assert files[0].name.startswith("toy-") and files[0].suffix == ".parquet"  # named for the data
    stamp = files[0].name[len("toy-"):-len(".parquet")]
    assert len(stamp) == 15 and stamp[8] == "T" and stamp.replace("T", "").isdigit()
    assert pl.read_parquet(files[0]).equals(pl.read_parquet(tmp_path / "scored.parquet"))
    again = predict(h, "churn", store.toy, monitor="churn-live")  # a dataset ref: named for the dataset
    assert again.monitor_file != res.monitor_file and again.monitor_file.name.startswith("toy-")
    assert len(list(incoming.iterdir())) == 2 and pl.read_parquet(again.monitor_file).height == 240


def test_bad_requests(store, tmp_path):
    h = store.home
    with pytest.raises(InputError, match="unsupported output type '.xlsx'"):
        predict(h, "churn", str(store.csv), out=tmp_path / "out.xlsx")
    with pytest.raises(NotFoundError, match="no model named 'churn'"):
        predict(h, "churn", str(store.csv))
    R.register_model(h, store.runs["lgb"], "churn")
    with pytest.raises(InputError, match="no file .*missing.csv"):
        predict(h, "churn", str(tmp_path / "missing.csv"))
    with pytest.raises(NotFoundError, match="dataset 'nodata' has no version 'abcd'"):
        predict(h, "churn", "nodata@abcd")
    with pytest.raises(InputError, match="invalid monitor name 'a b'"):
        predict(h, "churn", str(store.csv), monitor="a b")
    with pytest.raises(NotFoundError, match="model churn has no alias 'production'"):
        predict(h, "churn@production", str(store.csv))


def test_training_data_gone_scores_with_a_warning(store):
    from tui_mlops.data.versions import remove

    h = store.home
    R.register_model(h, store.runs["lgb"], "churn")
    want = predict(h, "churn", str(store.csv)).frame["proba_1"].to_numpy()
    remove(h, store.toy)
    res = predict(h, "churn", str(store.csv))
    assert res.warnings == [f"the training data {store.toy} is gone: input types are not checked"]
    np.testing.assert_allclose(res.frame["proba_1"].to_numpy(), want, rtol=0, atol=1e-12)
