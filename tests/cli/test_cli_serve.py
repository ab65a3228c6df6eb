"""`mlops-tui serve`: a real server process answering HTTP and a browser's websocket session (the
app draws, takes keys, and ends with the session or the server); non-loopback needs --public."""

from __future__ import annotations

import asyncio
import codecs
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import unicodedata
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest
from cli_helpers import REPO, cli_env, run_cli
from waiting import wait_for

pytest.importorskip("textual_serve")
aiohttp = pytest.importorskip("aiohttp")  # textual-serve's own dependency


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
    assert served_command(Path("/a b")).startswith("exec ")  # the app is the server's own child
    assert served_command(Path("/a b")).endswith("-m tui_mlops.tui.serve --home '/a b'")


# -- a browser session over the websocket -------------------------------------------------------
# What textual-serve's page does (static/js/textual.js): open ws://HOST:PORT/ws?width=W&height=H,
# send ["resize", {...}], ["ping", t] and ["stdin", keys] as JSON text; the app's terminal output
# comes back as binary frames; ["pong", t] as text.

_ESC = re.compile(r"\x1b(?:\[([0-9;?<=>]*)[ -/$]*([@-~])|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
WAIT_S = 20.0  # per step; a busy 2-core box starts the app in 2-3 s


class Screen:
    """Just enough of a terminal to read what the app shows: cursor moves and text (colours,
    modes and other escapes are skipped)."""

    def __init__(self, width: int, height: int) -> None:
        self.resize(width, height)
        self._pending = ""

    def resize(self, width: int, height: int) -> None:
        self.width, self.height, self.row, self.col = width, height, 0, 0
        self.cells = [[" "] * width for _ in range(height)]

    def feed(self, data: str) -> None:
        data, self._pending, pos = self._pending + data, "", 0
        while pos < len(data):
            ch = data[pos]
            if ch == "\x1b":
                m = _ESC.match(data, pos)
                if m is None and len(data) - pos < 32:
                    self._pending = data[pos:]  # an escape split across two frames
                    return
                if m is not None and m.group(2) == "H":  # cursor position: row;col, 1-based
                    row, _, col = (m.group(1) or "1;1").partition(";")
                    self.row, self.col = int(row or 1) - 1, int(col or 1) - 1
                pos = m.end() if m is not None else pos + 1
                continue
            pos += 1
            if ch == "\n":
                self.row, self.col = self.row + 1, 0
            elif ch == "\r":
                self.col = 0
            elif 0 <= self.row < self.height and self.col < self.width:
                self.cells[self.row][self.col] = ch
                self.col += 2 if unicodedata.east_asian_width(ch) in "WF" else 1
            else:
                self.col += 1

    def lines(self) -> list[str]:
        return ["".join(r) for r in self.cells]

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.lines())

    def find(self, word: str) -> tuple[int, int] | None:
        """(row, column just past the end) of `word`'s first appearance, 0-based."""
        for row, line in enumerate(self.lines()):
            if word in line:
                return row, line.index(word) + len(word)
        return None


class Browser:
    """One websocket session, read the way the page reads it."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, width: int, height: int) -> None:
        self.ws, self.screen, self.texts = ws, Screen(width, height), []
        self.decode = codecs.getincrementaldecoder("utf-8")("replace").decode
        self.closed: aiohttp.WSMessage | None = None

    async def send(self, *envelope: object) -> None:
        await self.ws.send_str(json.dumps(list(envelope)))

    async def until(self, cond, what: str, timeout: float = WAIT_S) -> None:
        """Read frames until `cond()` holds; fail after `timeout` s showing the screen."""
        deadline = time.monotonic() + timeout
        while not cond():
            left = deadline - time.monotonic()
            if left <= 0 or self.closed is not None:
                why = f"the websocket closed ({self.closed.type.name} {self.closed.data!r})" \
                    if self.closed is not None else f"timed out after {timeout} s"
                raise AssertionError(f"{why} waiting for {what}; the screen shows:\n{self.screen.text()}")
            try:
                msg = await asyncio.wait_for(self.ws.receive(), left)
            except asyncio.TimeoutError:
                continue
            if msg.type == aiohttp.WSMsgType.BINARY:
                self.screen.feed(self.decode(msg.data))
            elif msg.type == aiohttp.WSMsgType.TEXT:
                self.texts.append(json.loads(msg.data))
            else:
                self.closed = msg

    def shows(self, *words: str) -> bool:
        text = self.screen.text()
        return all(w in text for w in words)


def _served_home(tmp_path: Path) -> Path:
    from tui_mlops.store.home import Home
    from tui_mlops.tui.app import SAMPLE_MARKER

    home = Home.open(tmp_path / "home").root
    (home / SAMPLE_MARKER).touch()  # not a first launch: no sample data, no sample training job
    return home


def _start_server(home: Path, port: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tui_mlops", "--home", str(home), "serve",
                             "--port", str(port)], cwd=REPO, env=cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _group(pgid: int) -> list[psutil.Process]:
    """Every live process in the server's process group (the server and all it started)."""
    alive = []
    for p in psutil.process_iter():
        try:
            if os.getpgid(p.pid) == pgid and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except (ProcessLookupError, psutil.Error):
            pass
    return alive


async def _open_session(http: aiohttp.ClientSession, proc: subprocess.Popen, port: int,
                        width: int, height: int) -> tuple[Browser, psutil.Process]:
    page = await asyncio.to_thread(wait_for, lambda: proc.poll() is not None
                                   or _fetch(f"http://127.0.0.1:{port}/"), "the server to answer", 15)
    assert proc.poll() is None, proc.communicate()[1]
    m = re.search(r'data-session-websocket-url="([^"]+)"', page)
    assert m and m.group(1) == f"ws://127.0.0.1:{port}/ws", "the page names no websocket on this port"
    ws = await asyncio.wait_for(http.ws_connect(f"{m.group(1)}?width={width}&height={height}"), WAIT_S)
    browser = Browser(ws, width, height)
    server = psutil.Process(proc.pid)

    def session_app() -> list[psutil.Process] | None:
        # Right after the fork the child is still a copy of the server: wait for its exec.
        try:
            kids = server.children()
            return kids if kids and all("tui_mlops.tui.serve" in k.cmdline() for k in kids) else None
        except psutil.Error:
            return None

    kids = await asyncio.to_thread(wait_for, session_app, "the session's app process (python -m "
                                   "tui_mlops.tui.serve, the server's own child: no shell between)", 10)
    assert len(kids) == 1, [k.cmdline() for k in kids]
    return browser, kids[0]


async def _gone(procs: list[psutil.Process], what: str, timeout: float = 10) -> None:
    def ended() -> bool:
        return not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in procs)

    await asyncio.to_thread(wait_for, ended, what, timeout)


def _stop(proc: subprocess.Popen) -> None:
    """After a test: nothing of the server's group left, whatever happened."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


def _footer_at(screen: Screen, width: int, height: int) -> bool:
    """The footer's last word ("^p Commands", right-aligned) ends on the bottom row, by the edge."""
    end = screen.find("Commands")
    return end is not None and end[0] == height - 1 and width - 2 <= end[1] <= width


async def test_browser_session_draws_takes_keys_and_ends_cleanly(tmp_path: Path) -> None:
    port, home = _free_port(), _served_home(tmp_path)
    proc = _start_server(home, port)
    try:
        async with aiohttp.ClientSession() as http:
            browser, app = await _open_session(http, proc, port, 80, 24)
            await browser.send("ping", "t1")
            await browser.until(lambda: ["pong", "t1"] in browser.texts, "the pong")
            await browser.until(lambda: browser.shows("1 Datasets", "2 Experiments", "No datasets yet"),
                                "the Datasets screen at 80x24")
            assert _footer_at(browser.screen, 80, 24), "the footer is not at the bottom right"

            await browser.send("resize", {"width": 100, "height": 30})
            browser.screen.resize(100, 30)
            await browser.until(lambda: _footer_at(browser.screen, 100, 30),
                                "the footer redrawn at the bottom right of 100x30")

            assert not browser.shows("No runs yet")
            await browser.send("stdin", "2")
            await browser.until(lambda: browser.shows("No runs yet"), "the Experiments screen (key 2)")

            await browser.ws.close()  # the tab is closed: the server ends the app, keeps serving
            await _gone([app], "the app to end with its browser session")
            assert proc.poll() is None and _fetch(f"http://127.0.0.1:{port}/") is not None
            os.killpg(proc.pid, signal.SIGTERM)
            assert await asyncio.to_thread(proc.wait, 10) == 0
            assert _group(proc.pid) == []
    finally:
        _stop(proc)
    assert "Traceback" not in proc.stdout.read() + proc.stderr.read()


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
async def test_a_stopped_server_takes_its_open_sessions_along(tmp_path: Path, how: str) -> None:
    """Ctrl-C / SIGTERM closes the sessions at once (textual-serve alone waited 20+ s); even a
    SIGKILLed server leaves no app behind (the app hangs up with its parent)."""
    port, home = _free_port(), _served_home(tmp_path)
    proc = _start_server(home, port)
    try:
        async with aiohttp.ClientSession() as http:
            browser, app = await _open_session(http, proc, port, 100, 30)
            await browser.until(lambda: browser.shows("No datasets yet"), "the Datasets screen")
            started = time.monotonic()
            os.kill(proc.pid, getattr(signal, how))
            await browser.until(lambda: browser.closed is not None, "the server to close the session",
                                timeout=10)
            await _gone([app], f"the app to end after the server's {how}")
            assert await asyncio.to_thread(proc.wait, 10) == (0 if how == "SIGTERM" else -9)
            assert time.monotonic() - started < 10
            assert _group(proc.pid) == []
    finally:
        _stop(proc)
