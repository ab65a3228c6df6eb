"""Which GPU LightGBM can train on: OpenCL platforms (as LightGBM's own ICD loader lists them) and
NVIDIA GPUs (NVML), with a message that says what to do when the GPU is not usable.

The wheel's LightGBM has the OpenCL learner (not CUDA). On NVIDIA boxes the vendor file for NVIDIA's
OpenCL driver may be missing, leaving only PoCL (a CPU OpenCL): then `device_type="gpu"` would not
use the GPU at all. The probe runs in a child process so a misbehaving driver cannot take the app
down with it.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VENDORS_DIR = Path("/etc/OpenCL/vendors")
REGISTER_HINT = ("register NVIDIA's OpenCL driver: "
                 "echo libnvidia-opencl.so.1 | sudo tee /etc/OpenCL/vendors/nvidia.icd")
_CL_DEVICE_TYPE_GPU = 4
_CL_DEVICE_TYPE_ALL = 0xFFFFFFFF


@dataclass(frozen=True)
class DeviceInfo:
    opencl_platforms: list[str]          # "0: NVIDIA CUDA (NVIDIA Corporation): NVIDIA H100 [gpu]"
    nvidia_gpus: list[str]               # NVML device names
    gpu_usable: bool
    message: str
    platform_id: int | None = None       # LightGBM's gpu_platform_id / gpu_device_id to use
    device_id: int | None = None
    device_name: str | None = None
    icd_files: list[str] = field(default_factory=list)


def _opencl_library() -> Any:
    """LightGBM's own library (it links its ICD loader statically, so it lists platforms exactly as
    LightGBM will), else the system's libOpenCL."""
    import ctypes
    import importlib.util

    spec = importlib.util.find_spec("lightgbm")
    candidates = []
    if spec is not None and spec.submodule_search_locations:
        candidates.append(str(Path(list(spec.submodule_search_locations)[0]) / "lib" / "lib_lightgbm.so"))
    candidates += ["libOpenCL.so.1", "libOpenCL.so"]
    for name in candidates:
        try:
            lib = ctypes.CDLL(name)
            lib.clGetPlatformIDs  # noqa: B018 - the symbol must exist
            return lib
        except (OSError, AttributeError):
            continue
    return None


def _probe_opencl() -> list[dict[str, Any]]:
    import ctypes as C

    lib = _opencl_library()
    if lib is None:
        return []
    lib.clGetPlatformIDs.argtypes = [C.c_uint, C.POINTER(C.c_void_p), C.POINTER(C.c_uint)]
    lib.clGetPlatformInfo.argtypes = [C.c_void_p, C.c_uint, C.c_size_t, C.c_void_p, C.POINTER(C.c_size_t)]
    lib.clGetDeviceIDs.argtypes = [C.c_void_p, C.c_uint64, C.c_uint, C.POINTER(C.c_void_p), C.POINTER(C.c_uint)]
    lib.clGetDeviceInfo.argtypes = [C.c_void_p, C.c_uint, C.c_size_t, C.c_void_p, C.POINTER(C.c_size_t)]

    def text(fn: Any, handle: Any, key: int) -> str:
        buf = C.create_string_buffer(1024)
        if fn(handle, key, 1024, buf, None) != 0:
            return "?"
        return buf.value.decode(errors="replace").strip()

    n = C.c_uint(0)
    if lib.clGetPlatformIDs(0, None, C.byref(n)) != 0 or n.value == 0:
        return []
    ids = (C.c_void_p * n.value)()
    if lib.clGetPlatformIDs(n.value, ids, None) != 0:
        return []
    platforms = []
    for pid in ids:
        devices = []
        dn = C.c_uint(0)
        if lib.clGetDeviceIDs(pid, _CL_DEVICE_TYPE_ALL, 0, None, C.byref(dn)) == 0 and dn.value:
            devs = (C.c_void_p * dn.value)()
            lib.clGetDeviceIDs(pid, _CL_DEVICE_TYPE_ALL, dn.value, devs, None)
            for dev in devs:
                kind = C.c_uint64(0)
                lib.clGetDeviceInfo(dev, 0x1000, 8, C.byref(kind), None)
                devices.append({"name": text(lib.clGetDeviceInfo, dev, 0x102B),
                                "gpu": bool(kind.value & _CL_DEVICE_TYPE_GPU)})
        platforms.append({"name": text(lib.clGetPlatformInfo, pid, 0x0902),
                          "vendor": text(lib.clGetPlatformInfo, pid, 0x0903), "devices": devices})
    return platforms


def _probe_nvml() -> list[str]:
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except Exception:  # NVMLError_LibraryNotFound / DriverNotLoaded: no NVIDIA driver here
        return []
    try:
        names = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(i))
            names.append(name.decode() if isinstance(name, bytes) else str(name))
        return names
    except Exception:
        return []
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


def probe() -> dict[str, Any]:
    """Raw facts (run in the child process): OpenCL platforms and NVML GPU names."""
    out: dict[str, Any] = {"platforms": [], "nvidia": [], "error": None}
    try:
        out["platforms"] = _probe_opencl()
    except Exception as exc:  # a broken driver must only make the GPU unusable
        out["error"] = f"OpenCL probe failed: {exc}"
    out["nvidia"] = _probe_nvml()
    return out


def _icd_files() -> list[str]:
    dirs = [VENDORS_DIR] + [Path(p) for p in os.environ.get("OCL_ICD_VENDORS", "").split(":") if p]
    found = []
    for d in dirs:
        try:
            found += [f"{f}: {f.read_text(errors='replace').strip()}" for f in sorted(d.glob("*.icd"))]
        except OSError:
            continue
    return found


def _run_probe(timeout: float) -> dict[str, Any]:
    try:
        proc = subprocess.run([sys.executable, "-m", "tui_mlops.training.devices", "--probe"],
                              capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"platforms": [], "nvidia": [], "error": f"device probe did not finish ({exc})"}
    line = (proc.stdout.strip().splitlines() or [""])[-1]
    try:
        return json.loads(line)
    except ValueError:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"platforms": [], "nvidia": [], "error": f"device probe failed (exit {proc.returncode}: {last})"}


def interpret(facts: dict[str, Any], icd_files: list[str] | None = None) -> DeviceInfo:
    """A DeviceInfo (with its user message) from probe facts."""
    platforms, nvidia = facts.get("platforms") or [], facts.get("nvidia") or []
    icd = list(icd_files or [])
    listing = []
    for i, p in enumerate(platforms):
        devs = ", ".join(f"{d['name']} [{'gpu' if d['gpu'] else 'cpu'}]" for d in p["devices"]) or "no devices"
        listing.append(f"{i}: {p['name']} ({p['vendor']}): {devs}")
    gpus = [(i, j, p, d) for i, p in enumerate(platforms) for j, d in enumerate(p["devices"]) if d["gpu"]]
    is_nv = [g for g in gpus if "nvidia" in (g[2]["vendor"] + g[2]["name"]).lower()]
    nv_text = ", ".join(nvidia)
    if gpus:
        pid, did, p, d = (is_nv or gpus)[0]
        msg = f"GPU training available: OpenCL platform {pid} {p['name']!r}, device {d['name']!r}"
        if nvidia and not is_nv:
            msg += f"; the NVIDIA GPU ({nv_text}) has no OpenCL platform: {REGISTER_HINT}"
        return DeviceInfo(listing, nvidia, True, msg, pid, did, d["name"], icd)
    err = f" ({facts['error']})" if facts.get("error") else ""
    if nvidia and platforms:
        names = ", ".join(repr(p["name"]) for p in platforms)
        msg = (f"NVIDIA GPU found ({nv_text}) but OpenCL lists only CPU platform(s) ({names}, e.g. PoCL), so "
               f"LightGBM's GPU learner cannot use the GPU; {REGISTER_HINT}")
    elif nvidia:
        msg = (f"NVIDIA GPU found ({nv_text}) but no OpenCL platform is registered{err}, so LightGBM's GPU "
               f"learner cannot use it; {REGISTER_HINT}")
    elif platforms:
        names = ", ".join(repr(p["name"]) for p in platforms)
        msg = (f"no GPU found: OpenCL lists only CPU platform(s) ({names}); LightGBM trains on the CPU "
               f"(device gpu needs an OpenCL GPU)")
    else:
        msg = (f"no GPU found (no NVIDIA driver and no OpenCL GPU platform){err}; LightGBM trains on the CPU "
               f"(device gpu needs an NVIDIA or other OpenCL GPU)")
    return DeviceInfo(listing, nvidia, False, msg, None, None, None, icd)


@functools.lru_cache(maxsize=1)
def _detect_cached(timeout: float) -> DeviceInfo:
    return interpret(_run_probe(timeout), _icd_files())


def detect(*, refresh: bool = False, timeout: float = 30.0) -> DeviceInfo:
    """What this machine offers LightGBM's GPU learner (cached per process; never raises)."""
    if refresh:
        _detect_cached.cache_clear()
    return _detect_cached(timeout)


if __name__ == "__main__" and sys.argv[1:] == ["--probe"]:
    print(json.dumps(probe()))
