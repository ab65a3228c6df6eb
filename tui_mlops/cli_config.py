"""CLI for the user config file: `config init [--force]`, `config show`, `config keys`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tui_mlops.errors import InputError

C = "tui_mlops.cli_config"


def add_parsers(sub: Any, common: list[argparse.ArgumentParser], home_opt: argparse.ArgumentParser | None = None) -> None:
    json_parents = common[1:]  # --json only: the config file does not depend on the store
    cfg = sub.add_parser("config", help="the user config file: keys, theme, refresh, charts, jobs",
                         description="Settings in a TOML file ($MLOPS_TUI_CONFIG, else the user "
                                     "config dir). `config init` writes a commented default.")
    cs = cfg.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = cs.add_parser("init", help="write the commented default config file")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(handler=f"{C}:cmd_init", needs_home=False)
    p = cs.add_parser("show", parents=json_parents, help="the effective settings and the file's path")
    p.set_defaults(handler=f"{C}:cmd_show", needs_home=False)
    p = cs.add_parser("keys", parents=json_parents, help="every binding id with its keys and what it does")
    p.set_defaults(handler=f"{C}:cmd_keys", needs_home=False)


def cmd_init(args: argparse.Namespace, _home: Path) -> int:
    from tui_mlops.settings import config_path, default_config_text
    from tui_mlops.store.home import atomic_write_bytes

    path = config_path()
    if path.exists() and not args.force:
        raise InputError(f"{path} already exists; `mlops-tui config init --force` overwrites it")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, default_config_text().encode("utf-8"))
    print(f"wrote {path}")
    return 0


def cmd_show(args: argparse.Namespace, _home: Path) -> int:
    from tui_mlops.settings import config_path
    from tui_mlops.tui.settings_apply import load_app_settings

    path = config_path()
    settings = load_app_settings(path)
    values = settings.as_dict()
    values.pop("path")
    if args.json:
        from tui_mlops.cli_format import print_json

        print_json({"path": str(path), "exists": path.exists(), "settings": values})
        return 0
    print(f"config file: {path}" + ("" if path.exists() else " (not there: all defaults)"))
    keymap = values.pop("keymap")
    width = max(len(k) for k in values)
    for key, value in values.items():
        shown = "(unset)" if value is None else str(value).lower() if isinstance(value, bool) else value
        print(f"{key:<{width}}  {shown}")
    print("keymap" + ("" if keymap else "  (no overrides)"))
    for bid, keys in keymap.items():
        print(f"  {bid} = {keys}")
    return 0


def cmd_keys(args: argparse.Namespace, _home: Path) -> int:
    from tui_mlops.settings import load_settings
    from tui_mlops.tui.settings_apply import binding_catalog

    keymap = load_settings().keymap
    rows = binding_catalog()
    if args.json:
        from tui_mlops.cli_format import print_json

        print_json([{"id": r.id, "keys": keymap.get(r.id, r.keys), "default_keys": r.keys,
                     "description": r.description, "tooltip": r.tooltip} for r in rows])
        return 0
    id_w = max(len(r.id) for r in rows)
    key_w = max(len(keymap.get(r.id, r.keys)) for r in rows)
    for r in rows:
        keys = keymap.get(r.id, r.keys)
        mark = "*" if r.id in keymap else ""
        print(f"{r.id:<{id_w}}  {keys + mark:<{key_w + 1}} {r.tooltip or r.description}")
    if keymap:
        print("* rebound in the config file")
    return 0
