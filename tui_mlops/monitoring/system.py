"""System metrics for running jobs: CPU and RAM through psutil, NVIDIA GPUs through NVML.

Nothing here raises: a machine without an NVIDIA driver (NVMLError_LibraryNotFound) or without
nvidia-ml-py simply has no GPU keys in its samples.
"""

from __future__ import annotations

import os
import threading
from typing import Any

_MB = 1024 * 1024

_nvml_lock = threading.Lock()
_nvml_state: dict[str, Any] = {"tried": False, "module": None}


def _nvml() -> Any | None:
    """The initialised pynvml module, or None where NVML is unusable (decided once per process)."""
    with _nvml_lock:
        if not _nvml_state["tried"]:
            _nvml_state["tried"] = True
            try:
                import pynvml

                pynvml.nvmlInit()
                _nvml_state["module"] = pynvml
            except Exception:  # ImportError, NVMLError_LibraryNotFound, driver mismatch, ...
                _nvml_state["module"] = None
        return _nvml_state["module"]


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def gpu_info() -> list[dict[str, Any]] | None:
    """The NVIDIA GPUs NVML sees ([{index, name, mem_total_mb, uuid, driver}]), or None without NVML."""
    nv = _nvml()
    if nv is None:
        return None
    try:
        driver = _text(nv.nvmlSystemGetDriverVersion())
    except Exception:
        driver = ""
    gpus: list[dict[str, Any]] = []
    try:
        count = nv.nvmlDeviceGetCount()
    except Exception:
        return None
    for index in range(count):
        try:
            handle = nv.nvmlDeviceGetHandleByIndex(index)
            info: dict[str, Any] = {"index": index, "name": _text(nv.nvmlDeviceGetName(handle)),
                                    "driver": driver}
            try:
                info["mem_total_mb"] = round(nv.nvmlDeviceGetMemoryInfo(handle).total / _MB, 1)
            except Exception:
                pass
            try:
                info["uuid"] = _text(nv.nvmlDeviceGetUUID(handle))
            except Exception:
                pass
            gpus.append(info)
        except Exception:
            continue
    return gpus


def _gpu_values(nv: Any, index: int) -> dict[str, float]:
    values: dict[str, float] = {}
    handle = nv.nvmlDeviceGetHandleByIndex(index)
    # Each reading on its own: some boards (or MIG slices) refuse one query and answer the others.
    try:
        values["util"] = float(nv.nvmlDeviceGetUtilizationRates(handle).gpu)
    except Exception:
        pass
    try:
        values["mem_mb"] = round(nv.nvmlDeviceGetMemoryInfo(handle).used / _MB, 1)
    except Exception:
        pass
    try:
        values["temp_c"] = float(nv.nvmlDeviceGetTemperature(handle, nv.NVML_TEMPERATURE_GPU))
    except Exception:
        pass
    return values


def gpu_sample() -> dict[str, float]:
    """gpu_util, gpu_mem_mb, gpu_temp_c of GPU 0 (and gpu<i>_* for further GPUs); {} without NVML."""
    nv = _nvml()
    if nv is None:
        return {}
    out: dict[str, float] = {}
    try:
        count = nv.nvmlDeviceGetCount()
        for index in range(count):
            prefix = "gpu" if index == 0 else f"gpu{index}"
            try:
                for key, value in _gpu_values(nv, index).items():
                    out[f"{prefix}_{key}"] = value
            except Exception:
                continue
    except Exception:
        return out
    return out


class Sampler:
    """Samples the machine and one process tree; keeps psutil objects so CPU percentages are
    measured between calls (the first call of psutil's cpu_percent reads 0)."""

    def __init__(self, pid: int | None = None, include_children: bool = True) -> None:
        self.pid = pid or os.getpid()
        self.include_children = include_children
        self._proc: Any = None
        self._lock = threading.Lock()

    def sample(self) -> dict[str, float]:
        with self._lock:
            values: dict[str, float] = {}
            try:
                import psutil

                values["cpu_percent"] = float(psutil.cpu_percent(interval=None))
                mem = psutil.virtual_memory()
                values["ram_mb"] = round(mem.used / _MB, 1)
                values["ram_percent"] = float(mem.percent)
                values.update(self._process(psutil))
            except Exception:
                pass
            values.update(gpu_sample())
            return values

    def _process(self, psutil: Any) -> dict[str, float]:
        try:
            if self._proc is None:
                self._proc = psutil.Process(self.pid)
                self._proc.cpu_percent(interval=None)
            rss = self._proc.memory_info().rss
            cpu = self._proc.cpu_percent(interval=None)
            if self.include_children:
                # Commands run as children of the job worker; their memory is the job's memory.
                for child in self._proc.children(recursive=True):
                    try:
                        rss += child.memory_info().rss
                    except Exception:
                        continue
            return {"proc_rss_mb": round(rss / _MB, 1), "proc_cpu_percent": float(cpu)}
        except Exception:
            return {}


_default: Sampler | None = None


def sample() -> dict[str, float]:
    """cpu_percent, ram_mb, ram_percent, proc_rss_mb, proc_cpu_percent (this process and its
    children); gpu_util, gpu_mem_mb, gpu_temp_c only where NVML works. Never raises."""
    global _default
    if _default is None or _default.pid != os.getpid():
        _default = Sampler()
    return _default.sample()
