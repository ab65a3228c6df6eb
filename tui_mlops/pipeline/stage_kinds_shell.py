"""The shell stage kind: the user's own command under /bin/sh, its output streamed to the stage log."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from typing import Any

from tui_mlops.errors import MlopsError
from tui_mlops.pipeline.stages import StageContext, StageResult, resolve_value

POLL_S = 0.1   # how often the cancel flag and the timeout are checked while the command runs


def env_name(name: str) -> str:
    return "MLOPS_STAGE_" + re.sub(r"[^A-Za-z0-9]", "_", str(name)).upper()


def _env_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def shell_env(ctx: StageContext) -> dict[str, str]:
    env = dict(os.environ)
    env.update({str(k): _env_text(v) for k, v in ctx.param("env", {}).items()})
    env["MLOPS_TUI_HOME"] = str(ctx.home.root)
    env["MLOPS_PIPELINE"] = str(getattr(ctx.pipeline, "name", "") or "")
    for name, raw in ctx.param("inputs", {}).items():
        env[env_name(name)] = _env_text(resolve_value(ctx.inputs, raw))
    return env


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the command's own children too
    except (ProcessLookupError, PermissionError):
        pass


def run_shell(ctx: StageContext) -> StageResult:
    command = ctx.param("command")
    timeout = ctx.param("timeout")
    ctx.log(f"$ {command}")
    proc = subprocess.Popen(["/bin/sh", "-c", command], cwd=str(ctx.root), env=shell_env(ctx),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    last = [""]
    eof = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            ctx.log(line)
            if line.strip():
                last[0] = line.strip()
        eof.set()

    reader = threading.Thread(target=pump, name=f"shell-{ctx.name}", daemon=True)
    reader.start()
    deadline = time.monotonic() + float(timeout) if timeout is not None else None
    why = None
    while not eof.wait(POLL_S):
        if ctx.cancel is not None and ctx.cancel.is_set():
            why = "cancelled"
        elif deadline is not None and time.monotonic() >= deadline:
            why = f"timed out after {float(timeout):g} s"
        if why:
            _kill(proc)
            break
    code = proc.wait()
    reader.join()
    proc.stdout.close()
    if why:
        raise MlopsError(f"command {why} and was killed" + (f"; last output: {last[0]}" if last[0] else ""))
    outputs = {"exit_code": code, "last_line": last[0]}
    if code != 0:
        tail = last[0] or "(no output)"
        return StageResult("failed", outputs, f"stage {ctx.name!r}: command exited with status {code}: {tail}")
    return StageResult("ok", outputs, last[0] or "done")
