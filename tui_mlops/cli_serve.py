"""`mlops-tui serve`: the app in a web browser through textual-serve (loopback unless --public)."""

from __future__ import annotations

import argparse
import ipaddress
import shlex
import sys
from pathlib import Path
from typing import Any

from tui_mlops.errors import InputError

LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


def add_parsers(sub: Any, common: list[argparse.ArgumentParser], home_opt: argparse.ArgumentParser | None = None) -> None:
    from tui_mlops.cli import _pos_int

    parents = [home_opt] if home_opt is not None else []
    p = sub.add_parser("serve", parents=parents, help="serve the app in a web browser (textual-serve)",
                       description="Serve the app over HTTP. It has no authentication: keep it on "
                                   "loopback and reach it through an SSH tunnel "
                                   "(ssh -L 8000:127.0.0.1:8000 HOST).")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=_pos_int, default=8000, help="port (default 8000)")
    p.add_argument("--public", action="store_true",
                   help="allow binding to a non-loopback address (anyone who reaches it gets the app)")
    p.set_defaults(handler="tui_mlops.cli_serve:cmd_serve", needs_home=False)


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def served_command(home: Path) -> str:
    """The shell command textual-serve starts for each browser session. `exec`: the app itself is
    the server's child (no shell in between), so it can die with the server (see tui.serve)."""
    return "exec " + shlex.join([sys.executable, "-m", "tui_mlops.tui.serve", "--home", str(home)])


def cmd_serve(args: argparse.Namespace, home_path: Path) -> int:
    if args.port > 65535:
        raise InputError(f"--port must be 1-65535, got {args.port}")
    if not is_loopback(args.host):
        if not args.public:
            raise InputError(f"--host {args.host} is not a loopback address; add --public to serve "
                             f"it there (the app has no authentication: anyone who can reach it gets it)")
        print(f"mlops-tui: warning: serving on {args.host}:{args.port} with NO authentication; "
              f"anyone who can reach this address controls the app and its store", file=sys.stderr)
    from tui_mlops.store.home import Home
    from tui_mlops.tui.serve import serve

    Home.open(home_path)  # a bad home fails here, once, not in every browser session
    print(f"serving mlops-tui on http://{args.host}:{args.port}/ (Ctrl-C stops)", file=sys.stderr,
          flush=True)
    serve(served_command(home_path), args.host, args.port)
    return 0
