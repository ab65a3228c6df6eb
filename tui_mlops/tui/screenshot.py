"""`ctrl+s`: save the screen (with its charts) as an SVG under <home>/exports/, for reports; the
SVG is rendered on the UI thread (Textual's export_screenshot) and written by a thread worker."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from textual.binding import Binding

__all__ = ["SCREENSHOT_BINDING", "screenshot_dir", "save_screenshot"]

SCREENSHOT_BINDING = Binding("ctrl+s", "save_screenshot", "Save screenshot (SVG)", show=False,
                             id="app.save_screenshot",
                             tooltip="Save the screen, charts included, as an SVG file in <home>/exports/")


def screenshot_dir(home: Any) -> Path:
    return Path(home.root) / "exports"


def _file_name(app: Any) -> str:
    screen = type(app.screen).__name__.removesuffix("Screen").lower() or "screen"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"mlops-tui-{screen}-{stamp}-{time.time_ns() % 1_000_000_000:09d}.svg"


def save_screenshot(app: Any, home: Any) -> None:
    """Render the screen to SVG now and write it from a worker; notifies the path (or why not)."""
    from tui_mlops.store.home import atomic_write_bytes

    svg = app.export_screenshot()
    target = screenshot_dir(home) / _file_name(app)

    def write() -> None:
        try:
            atomic_write_bytes(target, svg.encode("utf-8"))
        except OSError as exc:
            app.notify(f"could not save the screenshot to {target}: {exc.strerror or exc}", severity="error")
            return
        app.notify(f"screenshot saved to {target}", title="Saved")

    app.run_worker(write, thread=True, group="screenshot", exit_on_error=False, name="save screenshot")
