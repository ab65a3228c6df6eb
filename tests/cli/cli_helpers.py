"""Helpers that run `mlops-tui` as a real subprocess (`python -m tui_mlops`) against a store in tmp_path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    rc: int
    out: str
    err: str

    def json(self) -> Any:
        assert self.rc == 0 or self.out.strip(), f"no JSON on stdout (rc {self.rc}): {self.err}"
        return json.loads(self.out)


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLOPS_TUI_HOME"}
    env.update(extra)
    return env


def run_cli(*args: Any, home: Path | None, env: dict[str, str] | None = None, input: str | None = None,
            timeout: float = 60) -> Result:
    cmd = [sys.executable, "-m", "tui_mlops"]
    if home is not None:
        cmd += ["--home", str(home)]
    cmd += [str(a) for a in args]
    proc = subprocess.run(cmd, cwd=REPO, env=env or cli_env(), input=input if input is not None else "",
                          capture_output=True, text=True, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


class Cli:
    """`cli("data", "list", "--json")` runs against this test's own store."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def __call__(self, *args: Any, **kw: Any) -> Result:
        return run_cli(*args, home=self.home, **kw)

    def ok(self, *args: Any, **kw: Any) -> Result:
        r = self(*args, **kw)
        assert r.rc == 0, f"mlops-tui {' '.join(map(str, args))} exited {r.rc}: {r.err}"
        return r

    def json(self, *args: Any, **kw: Any) -> Any:
        return self.ok(*args, "--json", **kw).json()


PEOPLE_CSV = (
    "id,name,age,city,signup\n"
    "1,Ann,34,Berlin,2024-01-05\n"
    "2,Bob,,Paris,2024-02-11\n"
    "3,Cid,51,Berlin,2024-03-20\n"
    "4,Dee,28,Rome,2024-04-02\n"
    "4,Dee,28,Rome,2024-04-02\n"
    "5,Eve,130,Paris,2024-05-17\n"
    "6,Fay,45,Berlin,2024-06-30\n"
    "7,Gus,39,Rome,2024-07-08\n"
    "8,Hal,62,Paris,2024-08-19\n"
    "9,Ivy,23,Berlin,2024-09-25\n"
)
