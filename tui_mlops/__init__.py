"""mlops-tui: a keyboard-driven terminal workbench for the machine-learning lifecycle."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# The tracking API, imported on first use so `import tui_mlops` stays cheap (no duckdb, no
# lightgbm): `import tui_mlops as mt; with mt.start_run(...) as run: ...`.
_LAZY = {
    "start_run": "tui_mlops.tracking.api",
    "attach_run": "tui_mlops.tracking.api",
    "Run": "tui_mlops.tracking.api",
    "lightgbm_callback": "tui_mlops.tracking.integrations",
    "log_sklearn": "tui_mlops.tracking.integrations",
}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tui_mlops' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
