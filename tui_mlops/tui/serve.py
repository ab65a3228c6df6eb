"""The app in a web browser: textual-serve starts one app process per browser session; here the
server (which ends its sessions when it stops) and the session's entry point (which dies with it).

`python -m tui_mlops.tui.serve --home H` is what the server runs for each session.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from tui_mlops.errors import InputError

SERVER_PID_ENV = "MLOPS_TUI_SERVER_PID"  # the server's pid, inherited by the sessions it starts
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
EXIT_HANGUP = 129  # as settings_apply.EXIT_HANGUP; not imported, that would import Textual early


def serve(command: str, host: str, port: int) -> None:
    """Serve until Ctrl-C or SIGTERM (textual-serve's own loop)."""
    try:
        import textual_serve.server  # noqa: F401
    except ImportError:
        raise InputError("`mlops-tui serve` needs textual-serve: pip install textual-serve") from None
    os.environ[SERVER_PID_ENV] = str(os.getpid())  # textual-serve copies os.environ to sessions
    _server_class()(command, host=host, port=port, title="mlops-tui").serve()


def _server_class() -> type:
    import asyncio

    from aiohttp import WSCloseCode
    from textual_serve.server import Server

    class MlopsServer(Server):
        """textual-serve's Server, but stopping it closes the open sessions at once. Without this
        aiohttp waits for their websockets (20+ s) while the apps run on."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.sessions: set[Any] = set()

        async def _process_messages(self, websocket: Any, app_service: Any) -> None:
            self.sessions.add(websocket)
            try:
                await super()._process_messages(websocket, app_service)
            finally:
                self.sessions.discard(websocket)

        async def on_shutdown(self, app: Any) -> None:
            # Closing a websocket ends its message loop; textual-serve then tells the app to quit
            # and waits for it, so no session outlives the server.
            await asyncio.gather(*(ws.close(code=WSCloseCode.GOING_AWAY, message=b"server stopped")
                                   for ws in list(self.sessions)), return_exceptions=True)

    return MlopsServer


def hang_up_with_server() -> bool:
    """In a session: ask Linux to send SIGHUP when the server dies, even by SIGKILL (the app exits
    cleanly on SIGHUP). False when the server is already gone."""
    server = os.environ.get(SERVER_PID_ENV)
    if not server or not sys.platform.startswith("linux"):
        return True
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGHUP), 0, 0, 0)
    except (OSError, AttributeError, ValueError):
        return True  # no prctl: the session ends with its websocket, as before
    return str(os.getppid()) == server  # it may have died before prctl took effect


def main(argv: list[str] | None = None) -> int:
    if not hang_up_with_server():
        return EXIT_HANGUP
    from tui_mlops.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
