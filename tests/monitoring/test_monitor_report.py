"""Monitor reports: window selection, the JSON data, Markdown tables, self-contained escaped HTML, and a
report rendered end to end from a real monitor's batches."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tui_mlops.errors import InputError
from tui_mlops.monitoring import report as R
from tui_mlops.monitoring.spec import MonitorSpec

HOSTILE = "<script>alert('x')</script>"


def col(name: str, score: float, drifted: bool, *, method: str = "wasserstein", kind: str = "numeric",
        null_rate: float = 0.0, new: float | None = None) -> dict:
    return {"column": name, "kind": kind, "method": method, "score": score, "threshold": 0.1, "drifted": drifted,
            "n_ref": 2000, "n_cur": 500, "null_rate": null_rate, "new_category_rate": new}


@dataclass
class State:
    """A MonitorState-shaped value (spec, batches, rows, features, windows, bands)."""

    spec: MonitorSpec
    windows: list[dict] = field(default_factory=list)
    features: dict[str, list] = field(default_factory=dict)
    batches: list[dict] = field(default_factory=list)
    rows: int = 0
    bands: dict = field(default_factory=dict)
    last_batch_ts: float | None = None


def make_state() -> State:
    spec = MonitorSpec(name="churn-mon", model="churn@production", model_version=3, run_id="r1", task="binary",
                       reference="churn@v2", features=["age", HOSTILE, "plan"], target="y")
    st = State(spec, bands={"multivariate": {"mean": 1.0, "std": 0.1, "lower": 0.7, "upper": 1.3, "sigma": 3.0},
                            "drift_share": {"lower": 0.0, "upper": 0.25},
                            "estimated": {"accuracy": {"lower": 0.82, "upper": 0.94}}})
    shares = [0.0, 1 / 3, 2 / 3]
    for i, share in enumerate(shares):
        seq = i + 1
        st.batches.append({"seq": seq, "status": "ok", "rows": 500})
        age, hostile = 0.02 + 0.1 * i, 0.05 * i * i
        st.windows.append({
            "start_seq": seq, "end_seq": seq, "rows": 500, "t0": 1_700_000_000 + 3600 * i,
            "t1": 1_700_000_000 + 3600 * i + 1800,
            "drift": {"columns": [col("age", age, age >= 0.1), col(HOSTILE, hostile, hostile >= 0.1),
                                  col("plan", 0.01, False, method="jensenshannon", kind="categorical",
                                      new=0.02 * i)],
                      "share": share, "drifted": share >= 0.5},
            "prediction": {"column": "score", "method": "wasserstein", "score": 0.03 * seq, "threshold": 0.1,
                           "drifted": False},
            "multivariate": 1.0 + 0.2 * i,
            "estimated": {"accuracy": 0.9 - 0.05 * i, "auc": 0.88},
            "realized": {"accuracy": 0.86, "auc": 0.84} if i < 2 else None})
        for c in st.windows[-1]["drift"]["columns"]:
            st.features.setdefault(c["column"], []).append(c["score"])
    st.rows = 1500
    return st


ALERTS = [{"type": "fired", "rule": "drift_share>0.5", "message": "dataset drift share 0.667 > 0.5", "value": 0.667,
           "ts": 1_700_007_300.0, "batch_seq": 3},
          {"type": "fired", "rule": "feature:age>0.05", "message": "feature age drift score 0.12 > 0.05",
           "value": 0.12, "ts": 1_700_003_700.0, "batch_seq": 2}]


def test_window_selection():
    ws = [{"start_seq": 1, "end_seq": 2}, {"start_seq": 3, "end_seq": 5}, {"start_seq": 6, "end_seq": 6}]
    assert R.select_windows(ws, None) == ws[-1:]
    assert R.select_windows(ws, "last") == ws[-1:]
    assert R.select_windows(ws, "all") == ws
    assert R.select_windows(ws, "2") == ws[1:]
    assert R.select_windows(ws, "4-6") == ws[1:]
    assert R.select_windows(ws, "2-3") == ws[:2]
    assert R.select_windows(ws, "7-9") == []
    for bad in ("0", "yesterday", "5-2", "-1"):
        with pytest.raises(InputError, match="invalid report window"):
            R.select_windows(ws, bad)


def test_json_report_holds_the_latest_window_with_trends_bands_quality_and_its_alerts():
    d = json.loads(R.render(R.report_data(make_state(), ALERTS), "json"))
    assert d["monitor"] == "churn-mon" and d["model"] == "churn@production" and d["model_version"] == 3
    assert d["reference"] == "churn@v2"
    assert d["window"]["start_seq"] == 3 and d["window"]["end_seq"] == 3 and d["window"]["of"] == 3
    assert d["batches"] == 1 and d["rows"] == 500 and d["total_batches"] == 3 and d["total_rows"] == 1500
    assert d["drift"] == {"share": pytest.approx(2 / 3), "drifted": True, "dataset_share": 0.5,
                          "columns_drifted": 2, "columns": 3, "band": {"lower": 0.0, "upper": 0.25}}
    feats = {f["column"]: f for f in d["features"]}
    assert feats["age"]["score"] == pytest.approx(0.22) and feats["age"]["drifted"] is True
    assert feats["plan"]["method"] == "jensenshannon" and feats["plan"]["new_category_rate"] == pytest.approx(0.04)
    assert feats["age"]["trend"] == pytest.approx([0.02, 0.12, 0.22])    # every window up to the last
    assert d["prediction"]["score"] == pytest.approx(0.09)
    assert d["multivariate"]["value"] == pytest.approx(1.4) and d["multivariate"]["outside"] is True
    # The last window has no labels yet: realised quality comes from the latest labelled window.
    assert d["quality"]["estimated"]["accuracy"] == pytest.approx(0.8)
    assert d["quality"]["realized"] == {"accuracy": 0.86, "auc": 0.84} and d["quality"]["realized_seq"] == 2
    assert [a["rule"] for a in d["alerts"]] == ["drift_share>0.5"]       # batch 2's alert is outside "last"


def test_all_windows_report_has_full_trends_and_every_alert():
    d = R.report_data(make_state(), ALERTS, window="all")
    assert d["window"]["windows"] == 3 and d["batches"] == 3 and d["rows"] == 1500
    assert next(f for f in d["features"] if f["column"] == "age")["trend"] == pytest.approx([0.02, 0.12, 0.22])
    assert [w["share"] for w in d["windows"]] == pytest.approx([0.0, 1 / 3, 2 / 3])
    assert len(d["alerts"]) == 2
    d = R.report_data(make_state(), ALERTS, window="1-2")
    assert d["drift"]["share"] == pytest.approx(1 / 3) and [a["batch_seq"] for a in d["alerts"]] == [2]
    assert next(f for f in d["features"] if f["column"] == "age")["trend"] == pytest.approx([0.02, 0.12])


def test_markdown_tables_hold_the_values():
    md = R.render(R.report_data(make_state(), ALERTS, window="all"), "md")
    assert md.startswith("# Monitor report: churn-mon\n")
    assert "## Dataset drift: DRIFT" in md
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip().strip("|").split("|")]
            for line in md.splitlines() if line.startswith("| ")}
    assert rows["age"][:5] == ["age", "wasserstein", "0.22", "0.1", "yes"]
    assert rows["age"][7] == "▁▄█"
    assert rows["plan"][6] == "4.0%"
    assert rows["share of drifted columns"][1] == "66.7%"
    assert rows["accuracy"] == ["accuracy", "0.8", "0.86", "0.82 .. 0.94"]
    assert rows["auc"] == ["auc", "0.88", "0.84", ""]
    assert rows["reference band"][1] == "0.0% .. 25.0%"
    assert "dataset drift share 0.667 > 0.5" in md
    assert "realised from labels up to batch 2" in md


def test_html_is_self_contained_and_escapes_hostile_names():
    page = R.render(R.report_data(make_state(), ALERTS + [{"type": "fired", "rule": "x", "batch_seq": 3,
                                                            "message": 'bad "<img src=x onerror=1>"'}]), "html")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page.lower() and "<img" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=1&gt;" in page
    # Nothing fetched from elsewhere: no links, sources or imports.
    assert not re.search(r"<[^>]*\s(src|href)\s*=|@import|url\(|https?://", page)
    assert "<style>" in page


def test_a_monitor_without_batches_still_reports():
    st = make_state()
    st.windows, st.batches, st.features, st.rows = [], [], {}, 0
    for fmt in ("md", "html", "json"):
        text = R.render(R.report_data(st, []), fmt)
        assert "churn-mon" in text
    d = R.report_data(st, [])
    assert d["features"] == [] and d["window"]["start_seq"] is None
    with pytest.raises(InputError, match="unknown report format"):
        R.render(d, "pdf")


def test_report_from_a_real_monitor(home, tmp_path: Path):
    from monitor_helpers import batch_csv, drop, monitored
    from tui_mlops.monitoring.runner import run_monitor

    monitored(home, tmp_path, window_rows=200, alerts=["drift_share>0.3"])
    drop(home, "m", "b1.csv", batch_csv(200, seed=1))
    drop(home, "m", "b2.csv", batch_csv(200, seed=2, shift=0.8))
    assert run_monitor(home, "m", once=True) == 2
    d = json.loads(R.render_report(home, "m", window="all", fmt="json"))
    assert d["monitor"] == "m" and d["model"] == "toy@production" and d["total_batches"] == 2
    assert d["rows"] == 400 and d["window"]["windows"] == 2
    feats = {f["column"]: f for f in d["features"]}
    assert {"x1", "x2", "cat", "flag", "neg"} <= set(feats)
    assert feats["x1"]["drifted"] is True and len(feats["x1"]["trend"]) == 2
    # A 600-row reference: KS p-values (Evidently's small-reference default), falling as x1 shifts.
    assert feats["x1"]["method"] == "ks" and feats["x1"]["trend"][1] < 1e-6 < feats["x1"]["trend"][0]
    assert [a["type"] for a in d["alerts"]] == ["fired"]
    md = R.render_report(home, "m", fmt="md")
    assert re.search(r"^\| x1 \| \w+ \| [0-9.e-]+ \| [0-9.e-]+ \| yes \|", md, re.M)
    with pytest.raises(InputError):
        R.render_report(home, "m", window="soon")
