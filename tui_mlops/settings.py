"""The user's config file (keys, looks, live refresh, job concurrency): parsed into `Settings`.

Textual-free on purpose: the app-side checks (binding ids, theme names) live in
`tui_mlops.tui.settings_apply`, which calls `check_names` here with the names it knows.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Mapping

from tui_mlops.errors import InputError

CONFIG_ENV = "MLOPS_TUI_CONFIG"
HIGH_CONTRAST_THEME = "mlops-high-contrast"
CHART_MARKERS = ("braille", "block", "ascii")
COLOR_DEPTHS = ("truecolor", "256", "16", "auto")
# What Textual's TEXTUAL_COLOR_SYSTEM expects for each of our colour depths ("auto": leave it).
_COLOR_SYSTEM = {"truecolor": "truecolor", "256": "256", "16": "standard"}
COLOR_SYSTEM_ENV = "TEXTUAL_COLOR_SYSTEM"


@dataclass(frozen=True)
class Settings:
    """The effective settings: the defaults, overridden by the config file's values."""

    keymap: Mapping[str, str] = field(default_factory=dict)
    """Binding id -> keys ("f" or "f,ctrl+f"), applied with Textual's `App.set_keymap`.
    `mlops-tui config keys` lists every id."""
    theme: str = "textual-dark"
    """Any Textual theme name, or "mlops-high-contrast" (bold colours on black)."""
    refresh_hz: float = 2.0
    """How often live views (Jobs, Pipelines, Experiments' live rows, Monitor, a run's charts)
    redraw, per second; 0.2-10."""
    chart_marker: str = "braille"
    """How charts draw: "braille" (finest), "block", or "ascii" for fonts without braille."""
    mouse: bool = True
    """false: the app ignores the mouse (so the terminal's own selection works)."""
    color_depth: str = "auto"
    """"truecolor", "256", "16", or "auto" (Textual detects). Sets TEXTUAL_COLOR_SYSTEM before
    the app starts, unless that variable is already set."""
    jobs_max_concurrent: int | None = None
    """How many background jobs may run at once, when neither MLOPS_TUI_MAX_JOBS nor the
    store's <home>/settings.toml [jobs] max_concurrent says; unset: 2."""
    path: Path | None = field(default=None, compare=False)
    """The file these settings came from (None: no file, all defaults)."""

    def as_dict(self) -> dict[str, Any]:
        return {f.name: (dict(v) if isinstance(v := getattr(self, f.name), Mapping)
                         else str(v) if isinstance(v, Path) else v)
                for f in fields(self)}


SETTING_NAMES = tuple(f.name for f in fields(Settings) if f.name not in ("keymap", "path"))


def config_path() -> Path:
    """$MLOPS_TUI_CONFIG, else <platformdirs user config dir>/mlops-tui/config.toml."""
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("mlops-tui", appauthor=False)) / "config.toml"


def _toml() -> Any:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib


def find_line(text: str, key: str, table: str | None = None) -> int | None:
    """The 1-based line where `key` is set (inside `[table]` when given), or None."""
    current: str | None = None
    pattern = re.compile(r'^\s*(?:"%s"|\'%s\'|%s)\s*[=.]' % ((re.escape(key),) * 3))
    for number, line in enumerate(text.splitlines(), 1):
        header = re.match(r"^\s*\[\s*([^\]]+?)\s*\]", line)
        if header:
            current = header.group(1).strip().strip('"\'')
            if table is None and current == key:
                return number
            continue
        if current == table and pattern.match(line):
            return number
    return None


def _where(path: Path, text: str, key: str, table: str | None = None) -> str:
    line = find_line(text, key, table)
    return f"{path}, line {line}" if line else str(path)


def _fail(path: Path, text: str, key: str, msg: str, table: str | None = None) -> InputError:
    return InputError(f"{_where(path, text, key, table)}: {msg}")


def parse_settings(text: str, path: Path) -> Settings:
    """Settings from TOML `text` (read from `path`, named in errors); types and values checked."""
    tomllib = _toml()
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: invalid TOML: {exc}") from None
    values: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "keymap":
            if not isinstance(value, dict):
                raise _fail(path, text, key, "keymap must be a table: [keymap] then \"binding.id\" = \"keys\"")
            keymap: dict[str, str] = {}
            for bid, keys in value.items():
                if isinstance(keys, dict):  # `experiments.filter = "f"` unquoted makes nested tables
                    raise _fail(path, text, bid.split(".")[0], f"quote binding ids: \"{bid}.…\" = \"keys\"", "keymap")
                if not isinstance(keys, str) or not keys.strip():
                    raise _fail(path, text, bid, f"keymap {bid!r} must be a string of keys such as \"f\" "
                                f"or \"f,ctrl+f\", got {keys!r}", "keymap")
                keymap[bid] = ",".join(k.strip() for k in keys.split(",") if k.strip())
            values["keymap"] = keymap
            continue
        if key not in SETTING_NAMES:
            raise _fail(path, text, key, f"unknown setting {key!r}; known: keymap, {', '.join(SETTING_NAMES)}")
        values[key] = _check_value(path, text, key, value)
    return Settings(path=path, **values)


def _check_value(path: Path, text: str, key: str, value: Any) -> Any:
    def bad(expect: str) -> InputError:
        return _fail(path, text, key, f"{key} must be {expect}, got {value!r}")

    if key == "theme":
        if not isinstance(value, str) or not value:
            raise bad("a theme name (a string)")
        return value
    if key == "refresh_hz":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.2 <= value <= 10:
            raise bad("a number from 0.2 to 10")
        return float(value)
    if key == "chart_marker":
        if value not in CHART_MARKERS:
            raise bad(" or ".join(f'"{m}"' for m in CHART_MARKERS))
        return value
    if key == "mouse":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if key == "color_depth":
        if not isinstance(value, str) or value not in COLOR_DEPTHS:
            raise bad(" or ".join(f'"{d}"' for d in COLOR_DEPTHS))
        return value
    if key == "jobs_max_concurrent":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise bad("a whole number >= 1")
        return value
    raise AssertionError(key)  # pragma: no cover - SETTING_NAMES and this list agree


def load_settings(path: Path | str | None = None) -> Settings:
    """The settings from `path` (default: `config_path()`); all defaults when it does not exist."""
    target = Path(path) if path is not None else config_path()
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{target}: cannot read the config file: {exc}") from None
    return parse_settings(text, target)


def check_names(settings: Settings, *, binding_ids: Iterable[str] | None = None,
                themes: Iterable[str] | None = None) -> None:
    """Raise InputError (file and line) for a keymap id or theme the app does not know."""
    text = ""
    if settings.path is not None:
        try:
            text = settings.path.read_text(encoding="utf-8")
        except OSError:
            text = ""
    where = settings.path or Path(config_path())
    if themes is not None:
        known = sorted(set(themes))
        if settings.theme not in known:
            raise _fail(where, text, "theme", f"unknown theme {settings.theme!r}; known: {', '.join(known)}")
    if binding_ids is not None:
        ids = set(binding_ids)
        for bid in settings.keymap:
            if bid not in ids:
                close = sorted(i for i in ids if i.split(".")[0] == bid.split(".")[0])[:8]
                hint = f"; ids of {bid.split('.')[0]!r}: {', '.join(close)}" if close else ""
                if bid in SETTING_NAMES:
                    hint = f"; {bid} is a setting: move it above the [keymap] line"
                raise _fail(where, text, bid, f"unknown binding id {bid!r} (`mlops-tui config keys` "
                            f"lists them){hint}", "keymap")


def apply_environment(settings: Settings, environ: dict[str, str] | None = None) -> None:
    """Before Textual is imported: the colour depth, unless TEXTUAL_COLOR_SYSTEM is set already."""
    env = os.environ if environ is None else environ
    system = _COLOR_SYSTEM.get(settings.color_depth)
    if system and not env.get(COLOR_SYSTEM_ENV):
        env[COLOR_SYSTEM_ENV] = system


def configured_max_jobs() -> int | None:
    """The config file's jobs_max_concurrent (the jobs manager's last fallback before 2)."""
    return load_settings().jobs_max_concurrent


def default_config_text() -> str:
    """A commented config file that lists every setting at its default."""
    return f'''# mlops-tui settings. Every line below shows the default; uncomment and change what you need.
# This file: $MLOPS_TUI_CONFIG, else the user config dir (`mlops-tui config show` prints the path).

# Any Textual theme (textual-dark, textual-light, nord, gruvbox, dracula, tokyo-night, monokai,
# solarized-dark, ansi-dark, ...) or "{HIGH_CONTRAST_THEME}" (bold colours on black).
# theme = "textual-dark"

# How often live views (Jobs, Pipelines, live Experiments rows, Monitor, a run's charts)
# redraw, per second (0.2 to 10).
# refresh_hz = 2.0

# How charts draw: "braille" (finest), "block", or "ascii" for fonts without braille.
# chart_marker = "braille"

# false: ignore the mouse, so the terminal's own text selection works.
# mouse = true

# "truecolor", "256", "16" or "auto" (Textual detects); an existing TEXTUAL_COLOR_SYSTEM wins.
# color_depth = "auto"

# How many background jobs may run at once. MLOPS_TUI_MAX_JOBS and the store's
# <home>/settings.toml [jobs] max_concurrent take precedence; unset here: 2.
# jobs_max_concurrent = 2

# Rebind keys by binding id (`mlops-tui config keys` lists every id, its keys and what it does).
# Quote the ids; separate several keys with commas.
[keymap]
# "experiments.filter" = "f"
# "app.quit" = "q,ctrl+q"
'''
