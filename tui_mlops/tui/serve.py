"""The app in a web browser: textual-serve starts `command` for each browser session."""

from __future__ import annotations

from tui_mlops.errors import InputError


def serve(command: str, host: str, port: int) -> None:
    """Serve until Ctrl-C (textual-serve's own loop)."""
    try:
        from textual_serve.server import Server
    except ImportError:
        raise InputError("`mlops-tui serve` needs textual-serve: pip install textual-serve") from None
    Server(command, host=host, port=port, title="mlops-tui").serve()
