"""GPU check on real hardware: OpenCL detection, a GPU run through the job path, CPU vs GPU LightGBM
timing and NVML metrics; each step reports its own failure, and without a GPU it says so."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/gpu_check.py` in a checkout

SUMMARY: dict[str, Any] = {"errors": {}}
OUT: Path | None = None
say = functools.partial(print, flush=True)
T0 = time.perf_counter()
LIB_DIRS = ["/usr/local/nvidia/lib64", "/usr/local/nvidia/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib64",
            "/usr/lib", "/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib", "/lib/x86_64-linux-gnu"]


def step(name: str, fn: Callable[..., Any], *args: Any) -> Any:
    """One check: a failure is printed, never fatal; the JSON is rewritten after each (timeouts)."""
    say(f"\n== {name}")
    t0 = time.perf_counter()
    try:
        SUMMARY[name] = fn(*args)
    except Exception as exc:  # noqa: BLE001 - a bench reports everything
        SUMMARY["errors"][name] = f"{type(exc).__name__}: {exc}"
        say(f"!! {name} failed: {type(exc).__name__}: {exc}")
        traceback.print_exc(limit=4, file=sys.stdout)
    say(f"-- {name}: {time.perf_counter() - t0:.1f} s")
    if OUT is not None:
        OUT.write_text(json.dumps(SUMMARY, indent=2, default=str))
    return SUMMARY.get(name)


def sh(cmd: list[str], timeout: float = 20) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"({cmd[0]}: {exc})"


def environment() -> dict[str, Any]:
    from importlib import metadata

    env: dict[str, Any] = {"python": sys.version.split()[0], "cpus": os.cpu_count(),
                           "LD_LIBRARY_PATH": os.environ.get("LD_LIBRARY_PATH"),
                           "nvidia_smi": sh(["nvidia-smi", "-L"]) if shutil.which("nvidia-smi") else "no nvidia-smi"}
    for pkg in ("lightgbm", "polars", "duckdb", "numpy", "scikit-learn", "nvidia-ml-py", "textual", "pytest"):
        env[pkg] = next((d.version for d in metadata.distributions(name=pkg)), None)
    say("\n".join(f"{k}: {v}" for k, v in env.items()))
    return env


def opencl_files() -> dict[str, Any]:
    """What an ICD loader could find: vendor files, NVIDIA's OpenCL driver and any libOpenCL."""
    vendors = {str(f): f.read_text(errors="replace").strip() for f in sorted(Path("/etc/OpenCL/vendors").glob("*"))
               } if Path("/etc/OpenCL/vendors").is_dir() else {}
    ldc = [ln.strip() for ln in sh(["ldconfig", "-p"]).splitlines() if "OpenCL" in ln or "nvidia-opencl" in ln]
    dirs = [*filter(None, os.environ.get("LD_LIBRARY_PATH", "").split(":")), *LIB_DIRS]
    libs = sorted({str(p) for d in dirs if Path(d).is_dir() for pat in ("libnvidia-opencl.so*", "libOpenCL.so*",
                   "libpocl*") for p in Path(d).glob(pat)} | {ln.split("=> ")[-1] for ln in ldc if "=> " in ln})
    out = {"vendors": vendors, "libs": libs, "ldconfig": ldc, "OCL_ICD_VENDORS": os.environ.get("OCL_ICD_VENDORS")}
    say("\n".join(f"{k}: {v}" for k, v in out.items()))
    return out


def detect_pass(label: str) -> dict[str, Any]:
    from tui_mlops.training.devices import detect

    info = detect(refresh=True)
    say(f"[{label}] gpu_usable={info.gpu_usable} platform={info.platform_id} device={info.device_id}\n"
        f"[{label}] message: {info.message}\n[{label}] nvml gpus: {info.nvidia_gpus}; icd: {info.icd_files}")
    say("\n".join(f"[{label}] platform {p}" for p in info.opencl_platforms))
    return dataclasses.asdict(info)


def register_icd(files: dict[str, Any]) -> dict[str, Any]:
    """As the docs tell users: write nvidia.icd (soname first, then the absolute path), re-detect."""
    drivers = [p for p in files["libs"] if "libnvidia-opencl.so" in p]
    results: dict[str, Any] = {"driver": drivers or say("no libnvidia-opencl.so* found: nothing to register")}
    for label, entry in (("soname", "libnvidia-opencl.so.1"), ("abspath", drivers[0])) if drivers else ():
        try:
            Path("/etc/OpenCL/vendors").mkdir(parents=True, exist_ok=True)
            Path("/etc/OpenCL/vendors/nvidia.icd").write_text(entry + "\n")
        except OSError as exc:  # a read-only /etc: point the loader at a folder of our own
            alt = Path(tempfile.mkdtemp(prefix="ocl-vendors-"))
            (alt / "nvidia.icd").write_text(entry + "\n")
            os.environ["OCL_ICD_VENDORS"] = str(alt)
            say(f"/etc/OpenCL/vendors not writable ({exc}); OCL_ICD_VENDORS={alt}")
        say(f"nvidia.icd -> {entry}")
        results[label] = detect_pass(f"after icd {label}")
        if results[label]["gpu_usable"]:
            break
    return results


def _sampler() -> tuple[list[dict[str, Any]], threading.Event, threading.Thread, dict[str, str]]:
    from tui_mlops.monitoring.system import Sampler

    samples: list[dict[str, Any]] = []
    stop, phase, s = threading.Event(), {"now": "idle"}, Sampler()  # 4 Hz, the Monitor's own sampler

    def loop() -> None:
        while not stop.wait(0.25):
            samples.append({"phase": phase["now"], **s.sample()})

    (t := threading.Thread(target=loop, daemon=True)).start()
    return samples, stop, t, phase


def peaks(samples: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for s in samples:
        d = out.setdefault(s["phase"], {"n": 0})
        d["n"] += 1
        for k in [k for k in s if k.startswith("gpu") or k in ("cpu_percent", "proc_rss_mb")]:
            d[f"max_{k}"] = max(d.get(f"max_{k}", float("-inf")), s[k])
    return out


def make_table(rows: int, feats: int, seed: int = 0) -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, feats), dtype=np.float32)
    w = rng.standard_normal(feats).astype(np.float32) * (rng.random(feats) < 0.4)
    logit = X @ w + 0.5 * np.sin(3 * X[:, 0]) * X[:, 1] + rng.standard_normal(rows).astype(np.float32)
    return X, (logit > 0).astype(np.int32)


def job_path(rows: int, timeout: float) -> dict[str, Any]:
    """The CLI's `train --device gpu --wait`: prepare, submit a job process, follow it to its end."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tui_mlops.cli_jobs import follow_run, run_summary
    from tui_mlops.data.ingest import IngestOptions, ingest_file
    from tui_mlops.errors import InputError
    from tui_mlops.store.events import read_events
    from tui_mlops.store.home import Home
    from tui_mlops.tracking.query import get_run
    from tui_mlops.training.spec import TrainSpec
    from tui_mlops.training.train import start_training  # what `mlops-tui train` calls

    tmp = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    os.environ["MLOPS_TUI_CONFIG"] = str(tmp / "no-config.toml")
    home = Home.open(tmp / "home")
    X, y = make_table(rows, 20, seed=1)
    cols = {f"f{i:02d}": X[:, i] for i in range(X.shape[1])}
    pq.write_table(pa.table({**cols, "label": y}), tmp / "gpu_table.parquet")
    ver = ingest_file(home, tmp / "gpu_table.parquet", IngestOptions(name="gpu_table")).version
    say(f"ingested gpu_table@{ver.version} ({ver.rows} rows x 20 features) into {home.root}")
    out: dict[str, Any] = {}
    for device in ("gpu", "cpu"):  # gpu first: without a GPU, its refusal is the message users get
        spec = TrainSpec(dataset="gpu_table", target="label", device=device, num_boost_round=200,
                         early_stopping_rounds=None, name=f"gpu-check-{device}")
        try:
            run_id = start_training(home, spec)
        except InputError as exc:
            say(f"train --device {device} refused: {exc}")
            out[device] = {"refused": str(exc)}
            continue
        box: dict[str, Any] = {}
        (th := threading.Thread(target=lambda: box.update(end=follow_run(home, run_id, lambda e: None)),
                                daemon=True)).start()
        th.join(timeout)
        if "end" not in box:  # the next run still gets its own timeout
            out[device] = {"run_id": run_id, "error": f"not finished in {timeout:.0f} s"}
            say(f"run {run_id} did not finish in {timeout:.0f} s")
            continue
        summ = run_summary(home, run_id, box["end"])
        d = get_run(home, run_id)
        evs = read_events(home.runs_dir / run_id / "events.jsonl")[0]
        system = [e["values"] for e in evs if e.get("type") == "system"]
        gpu_sys = [v for v in system if any(k.startswith("gpu") for k in v)]
        res = {"run_id": run_id, "status": summ["status"], "error": summ["error"], "device": d.device,
               "device_detail": d.device_detail, "duration_s": summ["duration_s"],
               "metrics": {k: v for k, v in summ["metrics"].items() if k.startswith("valid/") or k == "train_seconds"},
               "system_events": len(system), "system_events_with_gpu": len(gpu_sys),
               "system_gpu_peaks": peaks([{"phase": "run", **v} for v in gpu_sys]).get("run", {})}
        say("\n".join(f"[{device}] {k}: {v}" for k, v in res.items()))
        out[device] = res
    return out


def timing(rows: int, feats: int, rounds: int, dev: dict[str, Any] | None, phase: dict[str, str]) -> dict[str, Any]:
    """Direct lightgbm.train, same data and params, device_type cpu then gpu (Dataset build timed apart)."""
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score

    from tui_mlops.training.lgbm import captured_log

    threads = os.cpu_count() or 1
    X, y = make_table(rows, feats)
    params = {"objective": "binary", "num_leaves": 63, "max_bin": 63, "learning_rate": 0.1, "min_data_in_leaf": 100,
              "num_threads": threads, "seed": 0, "verbose": -1}
    gparams = dict(params, device_type="gpu", verbose=1)
    if dev and dev.get("platform_id") is not None:
        gparams.update(gpu_platform_id=dev["platform_id"], gpu_device_id=dev["device_id"])
    out: dict[str, Any] = {"rows": rows, "features": feats, "rounds": rounds, "params": params}
    runs = [("cpu", dict(params, device_type="cpu"))]
    if dev and dev.get("gpu_usable"):
        # Warm-up: the first GPU fit builds the OpenCL kernels; timed apart so the ratio is training.
        phase["now"] = "gpu_warmup"
        t0 = time.perf_counter()
        with captured_log() as cap:
            try:
                lgb.train(gparams, lgb.Dataset(X[:50_000], y[:50_000], params={"max_bin": 63}), 5)
                runs.append(("gpu", gparams))
            except Exception as exc:  # noqa: BLE001 - reported; the CPU figure still comes
                out["gpu"] = {"error": f"warm-up: {type(exc).__name__}: {exc}"}
        out["gpu_warmup_s"] = round(time.perf_counter() - t0, 2)
        out["gpu_log"] = [ln for ln in cap.lines if "GPU" in ln or "OpenCL" in ln][:8]
        say("\n".join(f"lightgbm: {ln}" for ln in out["gpu_log"] + [str(out.get("gpu", ""))]))
    else:
        say("no usable OpenCL GPU: timing the CPU only (no GPU)")
    for name, p in runs:
        phase["now"] = f"{name}_train"
        try:
            t0 = time.perf_counter()
            ds = lgb.Dataset(X, y, params={"max_bin": 63}, free_raw_data=False).construct()
            t1 = time.perf_counter()
            with captured_log():
                booster = lgb.train(p, ds, num_boost_round=rounds)
            t2 = time.perf_counter()
            auc = float(roc_auc_score(y[:200_000], booster.predict(X[:200_000])))
        except Exception as exc:  # noqa: BLE001 - the CPU figure must survive a failing GPU fit
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
            say(f"{name} timing failed: {out[name]['error']}")
            continue
        out[name] = {"dataset_s": round(t1 - t0, 2), "train_s": round(t2 - t1, 2), "train_auc_200k": round(auc, 5)}
        say(f"{name}: Dataset build {t1 - t0:.2f} s, lightgbm.train {rounds} rounds {t2 - t1:.2f} s, "
            f"train AUC (first 200k rows) {auc:.4f}")
    phase["now"] = "after"
    if "train_s" in out.get("gpu", {}) and "train_s" in out["cpu"]:
        out["cpu_over_gpu_train_s"] = round(out["cpu"]["train_s"] / out["gpu"]["train_s"], 2)
        say(f"lightgbm.train time only, {rows} x {feats}, {rounds} rounds, {threads} CPU threads: cpu "
            f"{out['cpu']['train_s']:.2f} s / gpu {out['gpu']['train_s']:.2f} s = {out['cpu_over_gpu_train_s']:.2f}x")
    return out


def nvml_now() -> dict[str, Any]:
    from tui_mlops.monitoring import system

    gpus, values = system.gpu_info(), system.sample()
    say(f"gpu_info: {gpus}\nsample: {values}")
    from tui_mlops.tui.screens.monitor_panes import system_text  # the Monitor screen's system panel

    panel = str(system_text(values, gpus))
    say(f"Monitor system panel: {panel!r}")
    return {"gpu_info": gpus, "sample": values, "monitor_panel": panel}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="gpu_check.json", help="the JSON summary's path")
    for flag, default in (("--rows", 2_000_000), ("--features", 50), ("--rounds", 200), ("--job-rows", 200_000)):
        ap.add_argument(flag, type=int, default=default, help="CPU vs GPU table (--job-rows: the job path's)")
    ap.add_argument("--job-timeout", type=float, default=120, help="seconds per job-path run")
    ap.add_argument("--register-icd", action="store_true",
                    help="if NVIDIA's OpenCL driver is present but unusable, write /etc/OpenCL/vendors/nvidia.icd")
    args = ap.parse_args(argv)
    global OUT
    OUT = Path(args.out)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    step("environment", environment)
    files = step("opencl_files", opencl_files) or {"libs": []}
    dev = step("detect", detect_pass, "first pass")
    if args.register_icd and dev is not None and not dev["gpu_usable"]:
        reg = step("register_icd", register_icd, files) or {}
        dev = next((reg[k] for k in ("soname", "abspath") if reg.get(k, {}).get("gpu_usable")), dev)
    SUMMARY["gpu_usable"] = bool(dev and dev["gpu_usable"])
    step("nvml_idle", nvml_now)
    samples, stop, thread, phase = _sampler()
    phase["now"] = "job_path"
    step("job_path", job_path, args.job_rows, args.job_timeout)
    step("timing", timing, args.rows, args.features, args.rounds, dev, phase)
    stop.set(), thread.join(5)
    SUMMARY["total_s"] = round(time.perf_counter() - T0, 1)
    for ph, vals in (step("nvml_during", peaks, samples) or {}).items():
        say(f"{ph}: {vals}")
    say(f"\nGPU usable: {SUMMARY['gpu_usable']}; errors: {SUMMARY['errors'] or 'none'}; "
        f"total {SUMMARY['total_s']} s; summary in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
