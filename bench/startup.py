"""Bench: cold start of `mlops-tui --home H` to its first interactive screen vs a bare Textual hello-world.

Usage: python bench/startup.py [--runs N] [--workdir DIR] [--size COLSxROWS]   (targets: ours < 1.0 s, < 3x baseline)
Each run is a fresh process in its own pseudo-terminal. `MLOPS_TUI_EXIT_AFTER_READY=1` makes the app exit
once its first screen is mounted and the dataset list is shown; the hello-world exits after its first
refresh. Time = spawn to process exit. The home holds the sample data (registered once, untimed).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import shutil
import signal
import struct
import sys
import termios
import time
from pathlib import Path

import _gen  # also puts the repo root on sys.path

HERE = Path(__file__).resolve().parent
OUTPUT_CAP = 8 << 20


def run_in_pty(argv: list[str], env: dict[str, str], cols: int, rows: int, timeout: float) -> tuple[float, int, bytes]:
    """Run argv on a new pty; returns (seconds to exit, exit status, what it wrote to the terminal)."""
    t0 = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # child: size the terminal before the app asks for it, then become the app
        try:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
            os.execvpe(argv[0], argv, env)
        finally:
            os._exit(127)
    output = bytearray()
    deadline = t0 + timeout
    try:
        while True:
            # Drain output so the app never blocks on a full pty buffer; EOF/EIO means it exited.
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise TimeoutError(f"{' '.join(argv)} did not exit within {timeout:.0f} s")
            ready, _, _ = select.select([fd], [], [], min(remaining, 0.5))
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                if len(output) < OUTPUT_CAP:
                    output += chunk
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    elapsed = time.perf_counter() - t0
    return elapsed, os.waitstatus_to_exitcode(status), bytes(output)


def app_command() -> list[str]:
    script = Path(sys.executable).with_name("mlops-tui")
    if script.exists():
        return [str(script)]  # the installed console script, as a user launches it
    return [sys.executable, "-m", "tui_mlops"]


def prepare_home(root: Path) -> None:
    from tui_mlops.sample import ensure_sample_data
    from tui_mlops.store.home import Home

    shutil.rmtree(root, ignore_errors=True)
    ensure_sample_data(Home.open(root))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="timed runs of each; the median is reported (default 5)")
    p.add_argument("--workdir", type=Path, default=_gen.DEFAULT_WORKDIR)
    p.add_argument("--size", default="100x30", help="terminal size COLSxROWS (default 100x30)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds before a run counts as hung")
    args = p.parse_args()
    cols, rows = (int(x) for x in args.size.lower().split("x"))
    home = args.workdir / "startup_home"
    prepare_home(home)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEXTUAL", "MLOPS_TUI"))}
    env.update(TERM="xterm-256color", COLORTERM="truecolor", MLOPS_TUI_EXIT_AFTER_READY="1")
    ours_cmd = [*app_command(), "--home", str(home)]
    hello_cmd = [sys.executable, str(HERE / "_hello.py")]

    ours: list[float] = []
    hello: list[float] = []
    # One untimed run of each warms the OS file cache (a "cold start" of the process, not of the disk).
    for i in range(args.runs + 1):
        for cmd, out in ((hello_cmd, hello), (ours_cmd, ours)):
            t, code, output = run_in_pty(cmd, env, cols, rows, args.timeout)
            if code != 0:
                text = output.decode("utf-8", "replace")[-800:]
                print(f"{' '.join(cmd)} exited with {code}; last output:\n{text}")
                return 1
            if cmd is ours_cmd and b"churn_batch_06" not in output:
                # Exiting early proves nothing unless the dataset list really reached the terminal.
                print("mlops-tui exited without drawing the sample datasets; the timing would be meaningless")
                return 1
            if i > 0:
                out.append(t)
    h, o = _gen.median(hello), _gen.median(ours)
    print(f"terminal {cols}x{rows}; home {home} (sample data); median of {args.runs} runs")
    print(f"baseline  Textual hello-world to first refresh : {h:.3f} s   runs {[round(x, 3) for x in hello]}")
    print(f"ours      mlops-tui to first interactive screen: {o:.3f} s   runs {[round(x, 3) for x in ours]}")
    print(f"ours < 1.0 s: {'PASS' if o < 1.0 else 'FAIL'}; ratio {_gen.verdict(o / h, 3.0)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
