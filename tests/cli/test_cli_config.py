"""`mlops-tui config init / show / keys` as real subprocesses, with MLOPS_TUI_CONFIG in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import cli_env, run_cli

from tui_mlops.settings import default_config_text


def _run(cfg: Path, *args: str):
    return run_cli("config", *args, home=None, env=cli_env(MLOPS_TUI_CONFIG=str(cfg)))


def test_init_writes_default_and_refuses_to_overwrite(tmp_path: Path) -> None:
    cfg = tmp_path / "sub" / "config.toml"
    r = _run(cfg, "init")
    assert r.rc == 0 and str(cfg) in r.out
    assert cfg.read_text() == default_config_text()
    cfg.write_text('theme = "nord"\n')
    r = _run(cfg, "init")
    assert r.rc == 2 and r.err.strip().count("\n") == 0
    assert "already exists" in r.err and "--force" in r.err
    assert cfg.read_text() == 'theme = "nord"\n'
    assert _run(cfg, "init", "--force").rc == 0
    assert cfg.read_text() == default_config_text()


def test_show_prints_effective_settings_and_path(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    r = _run(cfg, "show")
    assert r.rc == 0 and f"config file: {cfg} (not there: all defaults)" in r.out
    assert "theme                textual-dark" in r.out
    cfg.write_text('theme = "mlops-high-contrast"\nmouse = false\n[keymap]\n"experiments.filter" = "f"\n')
    r = _run(cfg, "show")
    assert r.rc == 0, r.err
    assert "mlops-high-contrast" in r.out and "mouse                false" in r.out
    assert "experiments.filter = f" in r.out
    doc = json.loads(_run(cfg, "show", "--json").out)
    assert doc["path"] == str(cfg) and doc["exists"] is True
    assert doc["settings"]["keymap"] == {"experiments.filter": "f"} and doc["settings"]["mouse"] is False


def test_show_reports_bad_file_with_line(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('theme = "nord"\n[keymap]\n"experiments.nope" = "f"\n')
    r = _run(cfg, "show")
    assert r.rc == 2
    assert r.err.strip() == (f"mlops-tui: error: {cfg}, line 3: unknown binding id 'experiments.nope' "
                             f"(`mlops-tui config keys` lists them); ids of 'experiments': "
                             + r.err.split("ids of 'experiments': ")[1].strip())
    cfg.write_text('theme = "no-such-theme"\n')
    r = _run(cfg, "show")
    assert r.rc == 2 and f"{cfg}, line 1: unknown theme 'no-such-theme'" in r.err


def test_keys_lists_ids_keys_and_tooltips(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[keymap]\n"experiments.filter" = "f"\n')
    r = _run(cfg, "keys")
    assert r.rc == 0, r.err
    lines = {line.split()[0]: line for line in r.out.splitlines() if line.strip()}
    assert "Move up a row" in lines["table.up"] and " up,k " in lines["table.up"]
    assert lines["experiments.filter"].split()[1] == "f*"
    assert "app.quit" in lines and "optionlist.vim_down" in lines
    rows = json.loads(_run(cfg, "keys", "--json").out)
    by_id = {row["id"]: row for row in rows}
    assert by_id["experiments.filter"]["keys"] == "f"
    assert by_id["experiments.filter"]["default_keys"] == "slash"
    assert all(row["tooltip"] for row in rows), [r["id"] for r in rows if not r["tooltip"]]
