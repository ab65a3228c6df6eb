"""Exports in-process: best values by direction, metric histories, a dataset version to CSV/Parquet,
the SVG chart writer and the comparison report (md/html), each read back and checked."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import polars as pl
import pytest

from tui_mlops.errors import InputError, NotFoundError
from tui_mlops.store.home import Home

SVG = "{http://www.w3.org/2000/svg}"
AUC = [0.70, 0.90, 0.85]       # best (max) 0.90 at step 2, last 0.85
LOSS = [0.60, 0.30, 0.40]      # best (min) 0.30 at step 2, last 0.40


def _log(home: Home, name: str, shift: float, *, dataset: str = "churn@1a2b3c4d", leaves: int = 31) -> str:
    from tui_mlops.tracking.api import start_run

    with start_run("exp", name=name, params={"num_leaves": leaves, "seed": 1}, dataset=dataset,
                   home=home) as run:
        for step, (a, lo) in enumerate(zip(AUC, LOSS), start=1):
            run.log_metrics({"valid/auc": a + shift, "valid/logloss": lo - shift}, step=step)
        run.log_metric("note_metric", 7.0)  # no step: a point at its position
    return run.run_id


@pytest.fixture
def runs(home: Home) -> list[str]:
    return [_log(home, "a<b>&\"c\"", 0.0), _log(home, "second", 0.05, dataset="churn@9f8e7d6c", leaves=63)]


def test_best_values_follow_each_metric_direction(home: Home, runs: list[str]) -> None:
    from tui_mlops.tracking.exports import best_values

    best = best_values(home, runs)
    assert best[runs[0]]["valid/auc"] == pytest.approx(0.90)
    assert best[runs[0]]["valid/logloss"] == pytest.approx(0.30)
    assert best[runs[1]]["valid/auc"] == pytest.approx(0.95)
    assert best[runs[1]]["valid/logloss"] == pytest.approx(0.25)
    assert best_values(home, []) == {}


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_histories_round_trip_complete(home: Home, runs: list[str], tmp_path: Path, suffix: str) -> None:
    from tui_mlops.tracking.exports import export_histories
    from tui_mlops.tracking.query import metric_history

    out = tmp_path / f"hist.{suffix}"
    done = export_histories(home, [r[:6] for r in runs], out)
    assert done.runs == runs and done.keys == ["note_metric", "valid/auc", "valid/logloss"]
    frame = pl.read_csv(out) if suffix == "csv" else pl.read_parquet(out)
    assert frame.columns == ["run_id", "key", "step", "value", "ts"] and frame.height == done.points == 14
    for rid in runs:
        for key in ("valid/auc", "valid/logloss"):
            part = frame.filter((pl.col("run_id") == rid) & (pl.col("key") == key))
            steps, values = metric_history(home, rid, key)
            assert part["value"].to_list() == pytest.approx(values)
            assert part["step"].to_list() == [int(s) for s in steps]
        unstepped = frame.filter((pl.col("run_id") == rid) & (pl.col("key") == "note_metric"))
        assert unstepped["step"].to_list() == [None] and unstepped["value"].to_list() == [7.0]
    assert frame["ts"].null_count() == 0

    only = export_histories(home, [runs[1]], out, ["metrics.valid/auc"])
    frame = pl.read_csv(out) if suffix == "csv" else pl.read_parquet(out)
    assert only.keys == ["valid/auc"] and frame["value"].to_list() == pytest.approx([0.75, 0.95, 0.90])


def test_history_bad_inputs(home: Home, runs: list[str], tmp_path: Path) -> None:
    from tui_mlops.tracking.exports import export_histories

    with pytest.raises(InputError, match=r"--out .*hist\.xlsx: the file name must end in \.csv or \.parquet"):
        export_histories(home, runs, tmp_path / "hist.xlsx")
    with pytest.raises(InputError, match="no metric 'valid/f1' in runs .*metrics: note_metric, valid/auc"):
        export_histories(home, runs, tmp_path / "h.csv", ["valid/f1"])
    with pytest.raises(NotFoundError, match="no run 'ffffffff'"):
        export_histories(home, ["ffffffff"], tmp_path / "h.csv")
    with pytest.raises(InputError, match="does not exist"):
        export_histories(home, runs, tmp_path / "nowhere" / "h.csv")
    assert not (tmp_path / "h.csv").exists() and not list(tmp_path.glob("*.tmp*"))


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_dataset_export_equals_snapshot(home: Home, write, tmp_path: Path, suffix: str) -> None:
    from tui_mlops.data.export import export_version
    from tui_mlops.data.ingest import ingest_file
    from tui_mlops.data.versions import resolve, snapshot_path

    src = write("people.csv", "id,name,score\n" + "".join(f"{i},n{i},{i * 0.5}\n" for i in range(50)))
    ingest_file(home, src)
    v = resolve(home, "people")
    snap = pl.read_parquet(snapshot_path(home, v))
    out = tmp_path / f"people.{suffix}"
    done = export_version(home, f"people@{v.version[:6]}", out)
    got = pl.read_csv(out) if suffix == "csv" else pl.read_parquet(out)
    assert done.rows == 50 and done.columns == snap.columns
    assert got.to_dicts() == snap.to_dicts()

    export_version(home, "people", out, ["score", "id"])
    got = pl.read_csv(out) if suffix == "csv" else pl.read_parquet(out)
    assert got.columns == ["score", "id"] and got["id"].to_list() == list(range(50))
    with pytest.raises(InputError, match="has no column 'nope' .*columns: id, name, score"):
        export_version(home, "people", out, ["id", "nope"])
    with pytest.raises(InputError, match=r"must end in \.csv or \.parquet"):
        export_version(home, "people", tmp_path / "people.json")
    with pytest.raises(NotFoundError, match="no dataset named 'ghost'"):
        export_version(home, "ghost", out)


def test_svg_chart_is_valid_xml_with_a_polyline_per_series() -> None:
    from tui_mlops.svg_chart import line_chart_svg

    xs = list(range(5000))
    spike = [0.0] * 5000
    spike[2500] = 100.0
    text = line_chart_svg({"run <1> & 'one'": (xs, spike), "two": ([1, 2, 3], [3.0, 2.0, float("nan")])},
                          title="valid/auc <x>", width=600, height=300)
    root = ET.fromstring(text)
    lines = root.findall(f"{SVG}polyline")
    assert [p.get("data-series") for p in lines] == ["run <1> & 'one'", "two"]
    first = [tuple(map(float, pt.split(","))) for pt in lines[0].get("points").split()]
    assert len(first) <= 2 * 600 and min(y for _x, y in first) < 50  # the spike survives the reduction
    assert len(lines[1].get("points").split()) == 2  # the NaN point is dropped
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "valid/auc <x>" in texts and "run <1> & 'one'" in texts and "two" in texts
    assert "<1>" not in text  # escaped in the document itself

    empty = ET.fromstring(line_chart_svg({"none": ([], [])}))
    assert empty.findall(f"{SVG}polyline") == [] and "none (no points)" in [t.text for t in empty.iter(f"{SVG}text")]


def test_compare_report_markdown_and_html(home: Home, runs: list[str], tmp_path: Path) -> None:
    from html.parser import HTMLParser

    from tui_mlops.tracking.compare import compare_runs
    from tui_mlops.tracking.compare_report import write_compare_report

    cmp = compare_runs(home, runs, baseline=runs[0])
    md = write_compare_report(cmp, tmp_path / "cmp.md").read_text()
    assert md.startswith("# Comparison of ")
    assert "| num_leaves | 31 | 63 |" in md and "| seed |" not in md
    assert "| valid/auc | 0.85 | **0.9 (+0.05)** \u2605 |" in md
    assert "| valid/logloss (lower is better) | 0.4 | **0.35 (-0.05)** \u2605 |" in md
    assert "a&lt;b&gt;&amp;\"c\"" in md and "a<b>" not in md
    assert "> **Warning:** runs used different data" in md

    page = write_compare_report(cmp, tmp_path / "cmp.html").read_text()
    assert "<script" not in page and "a<b>" not in page and "a&lt;b&gt;&amp;&quot;c&quot;" in page
    assert '<td class="best">0.9 (+0.05) &#9733;</td>' in page and "runs used different data" in page

    class Tags(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.stack: list[str] = []
            self.tables = 0

        def handle_starttag(self, tag, attrs) -> None:
            if tag not in ("meta", "br"):
                self.stack.append(tag)
            self.tables += tag == "table"

        def handle_endtag(self, tag) -> None:
            assert self.stack.pop() == tag

    parser = Tags()
    parser.feed(page)
    assert parser.stack == [] and parser.tables >= 3

    with pytest.raises(InputError, match=r"--report .*cmp\.pdf: the file name must end in \.md or \.html"):
        write_compare_report(cmp, tmp_path / "cmp.pdf")
