"""Apply the user's settings to the app (theme, keymap, mouse) and exit cleanly on SIGHUP."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from textual.app import App
from textual.binding import Binding
from textual.dom import DOMNode
from textual.theme import BUILTIN_THEMES, Theme

from tui_mlops.settings import HIGH_CONTRAST_THEME, Settings, check_names, load_settings

EXIT_HANGUP = 129  # 128 + SIGHUP, what a shell reports for a process the hangup ended

HIGH_CONTRAST = Theme(
    name=HIGH_CONTRAST_THEME,
    primary="#FFFF00", secondary="#00FFFF", accent="#FF00FF", warning="#FFAA00",
    error="#FF3333", success="#00FF00", foreground="#FFFFFF", background="#000000",
    surface="#000000", panel="#1A1A1A", boost="#333333", dark=True, luminosity_spread=0.3,
    text_alpha=1.0,
    variables={"block-cursor-background": "#FFFF00", "block-cursor-foreground": "#000000",
               "footer-key-foreground": "#FFFF00", "border": "#FFFFFF"},
)


def theme_names() -> set[str]:
    """Every theme a config file may name: Textual's built-in ones and ours."""
    return set(BUILTIN_THEMES) | {HIGH_CONTRAST_THEME}


@dataclass(frozen=True)
class BindingInfo:
    id: str
    keys: str
    description: str
    tooltip: str
    owner: str  # the class that declares it


_MODULES = ("tui_mlops.tui.app", "tui_mlops.tui.screens", "tui_mlops.tui.widgets")


def binding_catalog() -> list[BindingInfo]:
    """Every Binding with an id declared by the app, its screens and widgets (imports them all)."""
    found: dict[str, BindingInfo] = {}
    for name in _MODULES:
        module = importlib.import_module(name)
        mods = [module]
        if hasattr(module, "__path__"):
            mods += [importlib.import_module(f"{name}.{m.name}")
                     for m in pkgutil.iter_modules(module.__path__)]
        for mod in mods:
            for _n, cls in inspect.getmembers(mod, inspect.isclass):
                if not issubclass(cls, DOMNode) or not cls.__module__.startswith("tui_mlops."):
                    continue
                for b in cls.__dict__.get("BINDINGS", ()):
                    if isinstance(b, Binding) and b.id and b.id not in found:
                        found[b.id] = BindingInfo(b.id, b.key, b.description or b.action,
                                                  b.tooltip or "", f"{cls.__module__}.{cls.__qualname__}")
    return sorted(found.values(), key=lambda i: i.id)


def load_app_settings(path: Path | str | None = None) -> Settings:
    """The config file's settings with every name checked (binding ids only when there is a keymap:
    finding them imports every screen, which a plain start-up skips)."""
    settings = load_settings(path)
    ids = [i.id for i in binding_catalog()] if settings.keymap else None
    check_names(settings, binding_ids=ids, themes=theme_names())
    return settings


def apply_settings(app: App, settings: Settings) -> None:
    """Theme and keymap now (before or after the app starts); mouse is a `run()` argument:
    pass `**run_kwargs(settings)`."""
    if HIGH_CONTRAST_THEME not in app.available_themes:
        app.register_theme(HIGH_CONTRAST)
    app.theme = settings.theme
    if settings.keymap:
        app.set_keymap(dict(settings.keymap))
    app.mlops_settings = settings  # type: ignore[attr-defined]  # live views read refresh_hz here


def run_kwargs(settings: Settings) -> dict[str, Any]:
    """Arguments for `App.run` that come from the settings."""
    return {"mouse": settings.mouse}


def refresh_seconds(app: App, default: float) -> float:
    """The live-view redraw interval from the app's settings (`default` without settings)."""
    settings = getattr(app, "mlops_settings", None)
    return 1.0 / settings.refresh_hz if settings is not None else default


def chart_marker(app: App) -> str:
    """The config's chart_marker ("braille", "block" or "ascii"; "braille" without settings)."""
    settings = getattr(app, "mlops_settings", None)
    return settings.chart_marker if settings is not None else Settings().chart_marker


def install_hangup_handler(app: App) -> Callable[[], None]:
    """On SIGHUP (the terminal or SSH session went away) ask the app to exit with 129, so it
    unmounts and stops its watchers; jobs run detached and carry on. Returns an undo function."""

    def on_hangup(_signum: int, _frame: Any) -> None:
        import asyncio

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not inside the app's loop (before run or after): just leave
            raise SystemExit(EXIT_HANGUP) from None
        # call_soon_threadsafe only writes to the loop's self-pipe: safe inside a signal handler.
        loop.call_soon_threadsafe(_exit_on_hangup, app)

    previous = signal.signal(signal.SIGHUP, on_hangup)
    return lambda: signal.signal(signal.SIGHUP, previous)


def _exit_on_hangup(app: App) -> None:
    app.exit(return_code=EXIT_HANGUP)


def run_configured(home: Path | str, settings: Settings | None = None) -> int:
    """Build the app, apply `settings` (default: the config file's), run it; returns the exit code.

    Call `tui_mlops.settings.apply_environment(settings)` before anything imports Textual.
    """
    from tui_mlops.store.home import Home
    from tui_mlops.tui.app import MlopsApp

    settings = settings if settings is not None else load_app_settings()
    app = MlopsApp(Home.open(home))
    apply_settings(app, settings)
    undo = install_hangup_handler(app)
    try:
        app.run(**run_kwargs(settings))
    finally:
        undo()
    return app.return_code or 0
