"""A screen that re-reads what it shows on a timer while it is shown, and rests while hidden."""

from __future__ import annotations

from typing import Any

from tui_mlops.tui.settings_apply import refresh_seconds


class TimedRefresh:
    """Mixed into a Screen that has `reload()`: call `start_refresh(default)` once it is mounted;
    it reloads every 1/refresh_hz seconds of the user's settings (`default` without settings)."""

    live = False  # shown, so refreshing (the timer is paused otherwise)
    _timer: Any = None

    def start_refresh(self, default: float) -> None:
        seconds = refresh_seconds(self.app, default)  # type: ignore[attr-defined]
        self._timer = self.set_interval(seconds, self.reload)  # type: ignore[attr-defined]
        self.live = self.is_current  # type: ignore[attr-defined]
        self.reload()  # type: ignore[attr-defined]

    def on_screen_suspend(self) -> None:
        self.live = False
        if self._timer is not None:
            self._timer.pause()  # nothing to refresh on a screen nobody sees

    def on_screen_resume(self) -> None:
        self.live = True
        if self._timer is not None:
            self._timer.resume()
        self.reload()  # type: ignore[attr-defined]
