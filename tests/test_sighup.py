"""The app under a real pty exits cleanly when the terminal goes away; a running job carries on."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import select
import struct
import sys
import termios
import time
from pathlib import Path

import pytest
from waiting import wait_for

from tui_mlops.jobs import manager
from tui_mlops.store.home import Home

REPO = Path(__file__).resolve().parents[1]
# What `mlops-tui` with no command will run once the lead wires run_configured into cli._launch_app.
LAUNCH = (
    "import sys\n"
    "from tui_mlops.settings import apply_environment, load_settings\n"
    "settings = load_settings()\n"
    "apply_environment(settings)\n"
    "from tui_mlops.tui.settings_apply import run_configured\n"
    "raise SystemExit(run_configured(sys.argv[1], settings))\n"
)


def _read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


@pytest.mark.parametrize("hangup", ["signal", "close"])
def test_app_exits_on_hangup_and_job_survives(tmp_path: Path, hangup: str) -> None:
    home = Home.open(tmp_path / "home")
    (home.root / ".sample-registered").write_text("")  # no first-launch sample work
    run_id = manager.submit(home, "command", {"argv": [sys.executable, "-c",
                                                       "import time; time.sleep(120)"]})
    try:
        wait_for(lambda: manager.get_job(home, run_id).status == "running", "the job to start", 15)
        env = {**os.environ, "TERM": "xterm-256color", "MLOPS_TUI_CONFIG": str(tmp_path / "none.toml")}
        env.pop("TEXTUAL_COLOR_SYSTEM", None)
        master, slave = os.openpty()
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        # A session of its own whose controlling terminal is the pty, as under sshd.
        proc = subprocess.Popen([sys.executable, "-c", LAUNCH, str(home.root)], cwd=REPO, env=env,
                                stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                                preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        try:
            screen = _read_until(master, b"Datasets", 15)
            assert b"Datasets" in screen, screen[-500:]
            if hangup == "signal":
                proc.send_signal(signal.SIGHUP)
                code = proc.wait(timeout=10)
                assert code == 129, code  # our handler ran (the default action reports -1)
            else:
                os.close(master)  # the terminal drops: the kernel hangs up the session
                master = -1
                code = proc.wait(timeout=10)
                assert code in (0, 129), code
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if master >= 0:
                os.close(master)
        job = manager.get_job(home, run_id)
        assert job.status == "running" and job.pid and os.kill(job.pid, 0) is None
    finally:
        manager.cancel(home, run_id)
