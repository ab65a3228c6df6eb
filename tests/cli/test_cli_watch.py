"""`mlops-tui watch` as a real process: a dropped file runs the pipeline (a shell stage writes a
marker), SIGTERM ends it with exit 0, and a bad [triggers] table exits 3 naming its line."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

from cli_helpers import REPO, cli_env, run_cli
from waiting import wait_for

PIPELINE = """\
[pipeline]
name = "watched"

[stages.mark]
kind = "shell"
command = "echo ran >> marker.txt"

[triggers]
{triggers}
"""


class Proc:
    """`mlops-tui watch` in the background; a reader thread collects its stdout lines."""

    def __init__(self, home: Path, path: Path) -> None:
        cmd = [sys.executable, "-m", "tui_mlops", "--home", str(home), "watch", "--file", str(path)]
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=cli_env(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_line(self, text: str, timeout: float = 30.0) -> str:
        def found() -> str | None:
            if self.proc.poll() is not None and not self.reader.is_alive():
                raise AssertionError(f"watch exited {self.proc.returncode}: {self.proc.stderr.read()}")  # type: ignore[union-attr]
            return next((ln for ln in self.lines if text in ln), None)
        return wait_for(found, f"a line with {text!r} (got {self.lines})", timeout)

    def terminate(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=60)
        self.reader.join(10)
        return rc, self.proc.stderr.read()  # type: ignore[union-attr]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def project(tmp_path: Path, triggers: str) -> Path:
    path = tmp_path / "proj" / "mlops.toml"
    path.parent.mkdir(parents=True)
    path.write_text(PIPELINE.format(triggers=triggers))
    return path


def test_a_dropped_file_runs_the_pipeline_and_sigterm_exits_0(tmp_path: Path) -> None:
    path = project(tmp_path, 'watch = ["incoming"]\nsettle = "0.3s"')
    marker = path.parent / "marker.txt"
    w = Proc(tmp_path / "home", path)
    try:
        w.wait_line("watching")
        assert not marker.exists()
        (path.parent / "incoming" / "batch1.csv").write_text("x,y\n1,2\n")
        w.wait_line("trigger: folder")
        done = w.wait_line("run finished", timeout=60)
        assert ": ok" in done, done
        assert marker.read_text() == "ran\n"
        rc, err = w.terminate()
    finally:
        w.kill()
    assert rc == 0, err
    assert any("batch1.csv" in ln for ln in w.lines if "trigger: folder" in ln)
    assert w.lines[-1].endswith("stopped watching")
    assert sum("run started" in ln for ln in w.lines) == 1


def test_sigterm_while_idle_exits_0(tmp_path: Path) -> None:
    path = project(tmp_path, 'every = "6h"')
    w = Proc(tmp_path / "home", path)
    try:
        ready = w.wait_line("watching")
        rc, err = w.terminate()
    finally:
        w.kill()
    assert rc == 0, err
    assert "every 6h (next at" in ready
    assert not (path.parent / "marker.txt").exists()


def test_bad_or_missing_triggers_exit_3(tmp_path: Path) -> None:
    path = project(tmp_path, 'every = "often"')
    r = run_cli("watch", "--file", path, home=tmp_path / "home")
    assert r.rc == 3, r.err
    assert 'mlops.toml line 9: [triggers] every: expected a duration like "6h"' in r.err
    path.write_text(PIPELINE.format(triggers="").replace("[triggers]\n", ""))
    r = run_cli("watch", "--file", path, home=tmp_path / "home")
    assert r.rc == 3 and "mlops.toml: no triggers: add a [triggers] table" in r.err, r.err
