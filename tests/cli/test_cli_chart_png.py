"""`runs chart --out FILE.png` (Pillow), `--log-y`, and `--marker` for text charts (default: the
config file's chart_marker, which `runs history --chart` follows too), as real subprocesses."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from cli_helpers import Cli, cli_env

BLUE = (0x00, 0x72, 0xB2)     # the first series' colour (Okabe-Ito)
ORANGE = (0xD5, 0x5E, 0x00)   # the second's


def _log(home_path: Path, name: str, values: dict[str, list[float]]) -> str:
    from tui_mlops.store.home import Home
    from tui_mlops.tracking.api import start_run

    with start_run("churn", name=name, home=Home.open(home_path)) as run:
        for step, row in enumerate(zip(*values.values()), start=1):
            run.log_metrics(dict(zip(values, row)), step=step)
    return run.run_id


@pytest.fixture
def runs(cli: Cli) -> list[str]:
    steps = range(1, 41)
    return [_log(cli.home, "one", {"valid/auc": [1 - 1 / s for s in steps], "delta": [-float(s) for s in steps]}),
            _log(cli.home, "two", {"valid/auc": [0.9 - 0.5 / s for s in steps], "delta": [-1.0] * 40})]


def colours(path: Path) -> set[tuple[int, int, int]]:
    img = Image.open(path).convert("RGB")
    return {c for _n, c in img.getcolors(1 << 20)}


def test_png_chart(cli: Cli, runs: list[str], tmp_path: Path) -> None:
    png = tmp_path / "auc.png"
    done = cli.json("runs", "chart", runs[0], "valid/auc", runs[1], "--out", png, "--width", "640",
                    "--height", "360")
    assert done == {"path": str(png), "format": "png", "metric": "valid/auc",
                    "points": {runs[0]: 40, runs[1]: 40}}
    img = Image.open(png)
    assert img.format == "PNG" and img.width == 640 and img.height > 360  # the legend goes below
    assert {BLUE, ORANGE} <= colours(png)  # both runs drawn
    log = tmp_path / "auc-log.png"
    r = cli.ok("runs", "chart", runs[0], "valid/auc", "--out", log, "--log-y")
    assert r.out.strip() == f"wrote valid/auc of 1 run(s) to {log}"
    assert Image.open(log).size[0] == 800 and BLUE in colours(log) and ORANGE not in colours(log)


def test_png_errors_are_one_line_and_write_nothing(cli: Cli, runs: list[str], tmp_path: Path) -> None:
    png = tmp_path / "delta.png"
    bad = cli("runs", "chart", runs[0], "delta", runs[1], "--out", png, "--log-y")
    assert bad.rc == 2 and bad.err.strip().endswith(
        f"chart of {runs[0][:8]} one, {runs[1][:8]} two: no positive values for a log scale")
    assert len(bad.err.strip().splitlines()) == 1 and not png.exists()
    bad = cli("runs", "chart", runs[0], "valid/auc", "--out", png, "--height", "100")
    assert bad.rc == 2 and "--height 100: must be at least 150" in bad.err and not png.exists()
    bad = cli("runs", "chart", runs[0], "valid/auc", "--out", png, "--marker", "ascii")
    assert bad.rc == 2 and "--marker ascii: only text charts (--out FILE.txt) use markers" in bad.err
    bad = cli("runs", "chart", runs[0], "valid/auc", "--out", tmp_path / "nope" / "a.png")
    assert bad.rc == 2 and "does not exist" in bad.err


def test_text_chart_marker_option_and_config_default(cli: Cli, runs: list[str], tmp_path: Path) -> None:
    txt = tmp_path / "auc.txt"
    cli.ok("runs", "chart", runs[0], "valid/auc", "--out", txt, "--marker", "ascii")
    assert txt.read_text().isascii() and "#" in txt.read_text()
    cli.ok("runs", "chart", runs[0], "valid/auc", "--out", txt, "--marker", "braille")
    assert any("\u2800" <= ch <= "\u28ff" for ch in txt.read_text())
    config = tmp_path / "config.toml"
    config.write_text('chart_marker = "ascii"\n')
    env = cli_env(MLOPS_TUI_CONFIG=str(config))
    assert cli("runs", "chart", runs[0], "valid/auc", "--out", txt, env=env).rc == 0
    assert txt.read_text().isascii() and "valid/auc" in txt.read_text()
    printed = cli("runs", "history", runs[0], "valid/auc", "--chart", env=env)
    assert printed.rc == 0 and printed.out.isascii() and "#" in printed.out  # printed charts too
    bad = cli("runs", "chart", runs[0], "valid/auc", "--out", txt, "--marker", "dots")
    assert bad.rc == 2 and "invalid choice: 'dots'" in bad.err
