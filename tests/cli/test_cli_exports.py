"""`runs export` best columns, `runs export-history`, `runs chart`, `runs compare --report` and
`data export` as real subprocesses, each file read back (polars, xml.etree)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import polars as pl
import pytest

from cli_helpers import Cli

SVG = "{http://www.w3.org/2000/svg}"


def _log(home_path: Path, name: str, auc: list[float], loss: list[float], dataset: str) -> str:
    from tui_mlops.store.home import Home
    from tui_mlops.tracking.api import start_run

    with start_run("churn", name=name, params={"num_leaves": len(name)}, dataset=dataset,
                   home=Home.open(home_path)) as run:
        for step, (a, lo) in enumerate(zip(auc, loss), start=1):
            run.log_metrics({"valid/auc": a, "valid/logloss": lo}, step=step)
    return run.run_id


@pytest.fixture
def runs(cli: Cli) -> list[str]:
    return [_log(cli.home, "<one>", [0.7, 0.9, 0.8], [0.5, 0.2, 0.3], "churn@1a2b3c4d"),
            _log(cli.home, "two&co", [0.6, 0.65, 0.85], [0.6, 0.4, 0.35], "churn@9f8e7d6c")]


def test_runs_export_has_best_columns(cli: Cli, runs: list[str], tmp_path: Path) -> None:
    for suffix in ("csv", "parquet"):
        out = tmp_path / f"runs.{suffix}"
        cli.ok("runs", "export", "--out", out)
        frame = (pl.read_csv(out) if suffix == "csv" else pl.read_parquet(out)).sort("name")
        assert frame["name"].to_list() == ["<one>", "two&co"]
        assert frame["metrics.valid/auc"].to_list() == pytest.approx([0.8, 0.85])
        assert frame["best.valid/auc"].to_list() == pytest.approx([0.9, 0.85])       # max
        assert frame["best.valid/logloss"].to_list() == pytest.approx([0.2, 0.35])   # min
        assert frame.schema["best.valid/auc"] == pl.Float64


def test_export_history(cli: Cli, runs: list[str], tmp_path: Path) -> None:
    out = tmp_path / "hist.parquet"
    done = cli.json("runs", "export-history", *runs, "--metric", "valid/auc", "--out", out)
    assert done == {"path": str(out), "runs": runs, "metrics": ["valid/auc"], "points": 6, "format": "parquet"}
    frame = pl.read_parquet(out)
    assert frame["run_id"].to_list() == [runs[0]] * 3 + [runs[1]] * 3
    assert frame["step"].to_list() == [1, 2, 3] * 2
    assert frame["value"].to_list() == pytest.approx([0.7, 0.9, 0.8, 0.6, 0.65, 0.85])

    csv_out = tmp_path / "hist.csv"
    r = cli.ok("runs", "export-history", runs[0][:6], "--out", csv_out)
    assert r.out.strip() == f"exported 6 point(s) of 2 metric(s) from 1 run(s) to {csv_out}"
    assert sorted(set(pl.read_csv(csv_out)["key"].to_list())) == ["valid/auc", "valid/logloss"]

    bad = cli("runs", "export-history", runs[0], "--out", tmp_path / "hist.txt")
    assert bad.rc == 2 and bad.err.strip().endswith("the file name must end in .csv or .parquet")
    assert len(bad.err.strip().splitlines()) == 1
    bad = cli("runs", "export-history", runs[0], "-m", "valid/f1", "--out", csv_out)
    assert bad.rc == 2 and "no metric 'valid/f1'" in bad.err and "Traceback" not in bad.err


def test_chart_svg_and_text(cli: Cli, runs: list[str], tmp_path: Path) -> None:
    svg = tmp_path / "auc.svg"
    done = cli.json("runs", "chart", runs[0], "valid/auc", runs[1], "--out", svg)
    assert done["points"] == {runs[0]: 3, runs[1]: 3} and done["format"] == "svg"
    root = ET.parse(svg).getroot()
    lines = root.findall(f"{SVG}polyline")
    assert [p.get("data-series") for p in lines] == [f"{runs[0][:8]} <one>", f"{runs[1][:8]} two&co"]
    assert all(len(p.get("points").split()) == 3 for p in lines)
    assert "<one>" not in svg.read_text()  # escaped

    txt = tmp_path / "auc.txt"
    cli.ok("runs", "chart", runs[0], "valid/auc", "--out", txt, "--width", "60", "--height", "15")
    text = txt.read_text()
    assert text.startswith("valid/auc\n") and f"{runs[0][:8]} <one>" in text
    assert "\x1b[" not in text and max(len(line) for line in text.splitlines()) <= 60

    bad = cli("runs", "chart", runs[0], "valid/auc", "--out", tmp_path / "auc.jpg")
    assert bad.rc == 2 and "must end in .svg, .png or .txt" in bad.err and not (tmp_path / "auc.jpg").exists()
    bad = cli("runs", "chart", runs[0], "valid/f1", "--out", svg)
    assert bad.rc == 2 and "has metric 'valid/f1'" in bad.err and "valid/auc, valid/logloss" in bad.err
    bad = cli("runs", "chart", runs[0], "valid/auc", "--out", svg, "--width", "10")
    assert bad.rc == 2 and "--width 10: must be at least 200" in bad.err


def test_compare_report(cli: Cli, runs: list[str], tmp_path: Path) -> None:
    md = tmp_path / "cmp.md"
    r = cli.ok("runs", "compare", *runs, "--baseline", runs[0], "--report", md)
    assert f"report written to {md}" in r.out and "valid/auc" in r.out  # the tables are still printed
    text = md.read_text()
    assert "| valid/auc [" not in text and "| valid/auc | 0.8 | **0.85 (+0.05)** \u2605 |" in text
    assert "&lt;one&gt;" in text and "Warning:** runs used different data" in text

    html_out = tmp_path / "cmp.html"
    cli.json("runs", "compare", *runs, "--report", html_out)
    page = html_out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page and "&lt;one&gt;" in page
    assert "two&amp;co" in page and "<one>" not in page

    bad = cli("runs", "compare", *runs, "--report", tmp_path / "cmp.pdf")
    assert bad.rc == 2 and "--report" in bad.err and ".md or .html" in bad.err
    assert not (tmp_path / "cmp.pdf").exists()


def _data_export_registered() -> bool:
    import contextlib
    import io

    from tui_mlops.cli import build_parser

    try:
        with contextlib.redirect_stderr(io.StringIO()):
            args = build_parser().parse_args(["data", "export", "x", "--out", "y.csv"])
    except SystemExit:
        return False
    return args.handler == "tui_mlops.cli_exports:cmd_data_export"


@pytest.mark.skipif(not _data_export_registered(), reason="`data export` is not registered in cli.py yet")
def test_data_export(cli: Cli, people_csv: Path, tmp_path: Path) -> None:
    cli.ok("data", "add", people_csv)
    out = tmp_path / "people.parquet"
    done = cli.json("data", "export", "people", "--out", out)
    assert done["rows"] == 10 and done["format"] == "parquet"
    frame = pl.read_parquet(out)
    assert frame.height == 10 and frame["name"].to_list()[:3] == ["Ann", "Bob", "Cid"]

    csv_out = tmp_path / "people.csv"
    cli.ok("data", "export", "people@latest", "--out", csv_out, "--columns", "name,age")
    got = pl.read_csv(csv_out)
    assert got.columns == ["name", "age"] and got.rows()[:2] == [("Ann", 34), ("Bob", None)]

    bad = cli("data", "export", "people", "--out", csv_out, "--columns", "name,wage")
    assert bad.rc == 2 and "has no column 'wage'" in bad.err and len(bad.err.strip().splitlines()) == 1
    bad = cli("data", "export", "people", "--out", tmp_path / "people.xlsx")
    assert bad.rc == 2 and "must end in .csv or .parquet" in bad.err
