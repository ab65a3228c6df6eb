"""Where the store lives: `--home`, then `MLOPS_TUI_HOME`, then the platformdirs user data dir."""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "MLOPS_TUI_HOME"


def default_home() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("mlops-tui", appauthor=False))


def resolve_home(cli_home: str | os.PathLike[str] | None = None) -> Path:
    """The store's home folder, by precedence: the CLI flag, the env var, the default."""
    if cli_home:
        return Path(cli_home).expanduser().resolve()
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return default_home()
