"""`mlops-tui serve`: a real server process answering HTTP; non-loopback needs --public."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cli_helpers import REPO, cli_env, run_cli
from waiting import wait_for

pytest.importorskip("textual_serve")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.read().decode("utf-8", "replace")
    except (urllib.error.URLError, ConnectionError, OSError):
        return None


def test_serve_answers_on_loopback(tmp_path: Path) -> None:
    port = _free_port()
    home = tmp_path / "home"
    proc = subprocess.Popen([sys.executable, "-m", "tui_mlops", "--home", str(home), "serve",
                             "--port", str(port)], cwd=REPO, env=cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        page = wait_for(lambda: proc.poll() is not None or _fetch(f"http://127.0.0.1:{port}/"),
                        "the server to answer", timeout=15)
        assert proc.poll() is None, proc.communicate()[1]
        assert "textual" in page.lower() and "mlops-tui" in page
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "serving mlops-tui on http://127.0.0.1:" in proc.stderr.read()


def test_non_loopback_needs_public(tmp_path: Path) -> None:
    r = run_cli("serve", "--host", "0.0.0.0", "--port", "1", home=tmp_path / "home")
    assert r.rc == 2 and r.out == ""
    assert r.err.strip() == ("mlops-tui: error: --host 0.0.0.0 is not a loopback address; add --public "
                             "to serve it there (the app has no authentication: anyone who can reach it "
                             "gets it)")


def test_loopback_detection() -> None:
    from tui_mlops.cli_serve import is_loopback, served_command

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert is_loopback("127.5.0.1") and is_loopback("[::1]")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.5") and not is_loopback("gpu-box")
    assert served_command(Path("/a b")).endswith("-m tui_mlops --home '/a b'")
