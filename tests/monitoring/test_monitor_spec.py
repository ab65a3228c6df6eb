"""Monitor specs: create (reference summarised once), list/get/remove, alert rule syntax, bad input."""

from __future__ import annotations

import json

import pytest

from monitor_helpers import monitored, trained_home
from tui_mlops.errors import InputError, NotFoundError
from tui_mlops.monitoring import spec as S


def test_create_pins_model_and_reference_and_builds_the_cached_profile(home, tmp_path):
    spec = monitored(home, tmp_path, window_rows=200, alerts=["drift_share>0.3"])
    assert spec.model == "toy@production" and spec.model_version == 1 and spec.task == "binary"
    assert spec.reference.startswith("toy@") and len(spec.reference) > len("toy@") + 8
    assert spec.features == ["x1", "x2", "cat", "flag", "neg"] and spec.target == "y_bin"
    assert spec.id_column == "id" and spec.window_rows == 200 and spec.window_time is None
    folder = home.monitors_dir / "m"
    for sub in ("incoming", "labels", "processed", "failed", "scores"):
        assert (folder / sub).is_dir()
    ref = json.loads((folder / "reference.json").read_text())
    assert set(ref["profile"]["columns"]) == set(spec.features)
    assert set(ref["prediction_profile"]["columns"]) == {"score", "prediction"}
    assert ref["kinds"]["x1"] == "numeric" and ref["kinds"]["cat"] == "categorical"
    assert 100 <= len(ref["bins"]["x1"]["edges"]) <= 201          # quantile summary bins
    assert ref["bins"]["x2"]["edges"] == [float(v) for v in range(10)]   # few values: exact
    assert ref["calibration"] is not None and ref["pca"] is not None
    bands = ref["bands"]
    assert bands["chunks"] == 3                                    # 600 rows / window 200
    assert set(bands["features"]) == set(spec.features) and "auc" in bands["realized"]
    assert bands["features"]["x1"]["upper"] >= bands["features"]["x1"]["lower"]
    assert S.get_monitor(home, "m") == spec
    assert [m.name for m in S.list_monitors(home)] == ["m"]
    assert spec.alerts[0].kind == "drift_share" and spec.alerts[0].threshold == 0.3


def test_create_twice_needs_replace_and_replace_starts_over(home, tmp_path):
    monitored(home, tmp_path)
    folder = home.monitors_dir / "m"
    (folder / "events.jsonl").write_text('{"type":"batch","seq":1,"key":"k"}\n')
    with pytest.raises(InputError, match="monitor 'm' already exists"):
        S.create_monitor(home, "m", "toy@production")
    (folder / "incoming" / "waiting.csv").write_text("id\n1\n")
    spec = S.create_monitor(home, "m", "toy@production", replace=True, window_time="1h")
    assert spec.window_time == "1h" and spec.window_rows is None
    assert not (folder / "events.jsonl").exists() and (folder / "incoming" / "waiting.csv").exists()


def test_remove_and_unknown_monitor(home, tmp_path):
    monitored(home, tmp_path, name="gone")
    S.remove_monitor(home, "gone")
    assert not (home.monitors_dir / "gone").exists() and S.list_monitors(home) == []
    with pytest.raises(NotFoundError, match="no monitor named 'gone'"):
        S.get_monitor(home, "gone")
    with pytest.raises(NotFoundError, match="no monitor named 'gone'"):
        S.remove_monitor(home, "gone")


def test_bad_create_arguments_name_what_is_wrong(home, tmp_path):
    trained_home(home)
    with pytest.raises(NotFoundError, match="alias 'staging'"):
        S.create_monitor(home, "m", "toy@staging")
    with pytest.raises(InputError, match="not both"):
        S.create_monitor(home, "m", "toy@production", window_rows=10, window_time="1h")
    with pytest.raises(InputError, match="invalid window '1 fortnight'"):
        S.create_monitor(home, "m", "toy@production", window_time="1 fortnight")
    with pytest.raises(InputError, match="unknown drift method 'energy' for 'x1'"):
        S.create_monitor(home, "m", "toy@production", methods={"x1": "energy"})
    with pytest.raises(InputError, match="'nope': not a model input"):
        S.create_monitor(home, "m", "toy@production", thresholds={"nope": 0.2})
    with pytest.raises(InputError, match="invalid monitor name"):
        S.create_monitor(home, "../x", "toy@production")
    assert S.list_monitors(home) == []


@pytest.mark.parametrize("text, want", [
    ("drift_share>0.3", dict(kind="drift_share", threshold=0.3, windows=1)),
    ("feature:age>0.2x3", dict(kind="feature", feature="age", threshold=0.2, windows=3)),
    ("feature:*>0.2x2", dict(kind="feature", feature="*", windows=2)),
    ("quality:auc<0.7", dict(kind="quality", metric="auc", source="realized", threshold=0.7)),
    ("estimated:accuracy<0.8", dict(kind="quality", metric="accuracy", source="estimated")),
    ("no_batch>30m", dict(kind="no_batch", minutes=30.0)),
    ("no_batch>2h", dict(kind="no_batch", minutes=120.0)),
    ("drift_share>0.5; run=curl -d x http://h; trigger=pipeline",
     dict(kind="drift_share", command="curl -d x http://h", trigger="pipeline")),
])
def test_parse_alert(text, want):
    rule = S.parse_alert(text)
    for k, v in want.items():
        assert getattr(rule, k) == v, (k, rule)
    assert S.AlertRule.from_dict(rule.to_dict()) == rule


@pytest.mark.parametrize("text, match", [
    ("drift_share<0.3", "invalid alert rule"), ("feature>0.2", "invalid alert rule"),
    ("quality:auc<x", "invalid alert rule"), ("drift_share>0.3; page=me", "unknown option 'page=me'"),
])
def test_parse_alert_errors(text, match):
    with pytest.raises(InputError, match=match):
        S.parse_alert(text)


def test_set_alerts_replaces_rules_and_rejects_duplicates(home, tmp_path):
    monitored(home, tmp_path)
    spec = S.set_alerts(home, "m", ["quality:auc<0.7", S.parse_alert("no_batch>5m")])
    assert [r.kind for r in spec.alerts] == ["quality", "no_batch"]
    assert S.get_monitor(home, "m").alerts == spec.alerts
    with pytest.raises(InputError, match="given twice"):
        S.set_alerts(home, "m", ["drift_share>0.3", "drift_share>0.3"])
