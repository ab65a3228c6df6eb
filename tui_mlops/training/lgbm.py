"""LightGBM training: deterministic params by task, a quick param check that surfaces LightGBM's own
message, and a fit that streams every round's metrics to the run and records the real device."""

from __future__ import annotations

import contextlib
import platform
import re
import sys
import threading
from dataclasses import dataclass
from typing import Any, Iterator

from tui_mlops.errors import InputError

THREAD_KEYS = ("num_threads", "num_thread", "nthread", "nthreads", "n_jobs")
_VERBOSE_KEYS = ("verbose", "verbosity")
_CATEGORICAL_KEYS = ("categorical_feature", "cat_feature", "categorical_column")
# Metrics per task, the first one drives early stopping.
METRICS = {"binary": ["auc", "binary_logloss"], "multiclass": ["multi_logloss", "multi_error"],
           "regression": ["rmse", "l1"]}
_OBJECTIVE = {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}
_BAD_NAME = re.compile(r'[\[\]{}:,"]')


class _Capture:
    """A logger for lightgbm.register_logger that keeps LightGBM's native messages."""

    def __init__(self, echo: bool = False) -> None:
        self.lines: list[str] = []
        self.echo = echo

    def _add(self, msg: str) -> None:
        for line in str(msg).splitlines():
            if line.strip():
                self.lines.append(line.strip())
                if self.echo:
                    print(line.strip(), file=sys.stdout, flush=True)

    info = warning = _add


_LOG_LOCK = threading.Lock()


@contextlib.contextmanager
def captured_log(echo: bool = False) -> Iterator[_Capture]:
    """Route LightGBM's log to a capture for the duration, then restore the previous logger.

    LightGBM keeps its native log callback per thread (set only in the thread that imported it),
    so it is registered again in this thread; the Python logger is process-wide, hence the lock."""
    import lightgbm.basic as basic

    with _LOG_LOCK:
        lib_callback = getattr(basic._LIB, "callback", None)
        if lib_callback is not None:
            basic._LIB.LGBM_RegisterLogCallback(lib_callback)
        saved = (basic._LOGGER, basic._INFO_METHOD_NAME, basic._WARNING_METHOD_NAME)
        cap = _Capture(echo)
        basic.register_logger(cap)
        try:
            yield cap
        finally:
            basic._LOGGER, basic._INFO_METHOD_NAME, basic._WARNING_METHOD_NAME = saved


def base_params(task: str, num_class: int, seed: int) -> dict[str, Any]:
    p: dict[str, Any] = {"objective": _OBJECTIVE[task], "metric": list(METRICS[task]), "seed": seed,
                         "deterministic": True, "force_row_wise": True, "verbose": -1, "num_threads": 1}
    if task == "multiclass":
        p["num_class"] = num_class
    return p


def train_params(task: str, num_class: int, seed: int, user: dict[str, Any]) -> dict[str, Any]:
    p = base_params(task, num_class, seed)
    if any(k in user for k in THREAD_KEYS):
        p.pop("num_threads")
    if "force_col_wise" in user:
        p.pop("force_row_wise")
    if any(k in user for k in _VERBOSE_KEYS):
        p.pop("verbose")
    p.update(user)
    return p


def _synthetic(task: str, num_class: int) -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.random((64, 2))
    if task == "regression":
        return X, rng.random(64)
    k = max(2, num_class) if task == "multiclass" else 2
    return X, (np.arange(64) % k).astype(float)


def check_params(task: str, params: dict[str, Any], num_class: int) -> None:
    """Build a Booster on a tiny frame with these params: an unknown or mistyped param raises
    InputError carrying LightGBM's own message."""
    import lightgbm as lgb

    for key in _CATEGORICAL_KEYS:
        if key in params:
            raise InputError(f"param {key!r} is not needed: text columns are LightGBM categoricals already")
    p = train_params(task, num_class, 0, params)
    for key in _VERBOSE_KEYS:
        p.pop(key, None)
    p["verbose"] = 0  # warnings on: LightGBM reports unknown params as warnings
    p.pop("device_type", None)
    p.pop("device", None)
    X, y = _synthetic(task, num_class)
    with captured_log() as cap, quiet_stderr():
        try:
            lgb.Booster(params=p, train_set=lgb.Dataset(X, label=y, params=p))
        except (lgb.basic.LightGBMError, ValueError, TypeError) as exc:
            raise InputError(f"LightGBM rejected the params: {_clean(str(exc))}") from None
    unknown = [_clean(m) for m in cap.lines if "Unknown parameter" in m]
    if unknown:
        raise InputError(f"LightGBM rejected the params: {'; '.join(dict.fromkeys(unknown))}")


def _clean(msg: str) -> str:
    msg = re.sub(r"^(\[LightGBM\] )?(\[(Warning|Fatal|Info)\] )?", "", msg.strip())
    return re.sub(r" at \S+, line \d+\s*\.?$", "", msg)  # drop LightGBM's C++ source location


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """LightGBM writes fatal errors to fd 2 before raising; the raised error is what we show."""
    import os

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def lgbm_names(names: list[str]) -> list[str]:
    """Feature names LightGBM accepts (no JSON special characters), unique."""
    out: list[str] = []
    for n in names:
        base = _BAD_NAME.sub("_", n) or "f"
        name, i = base, 1
        while name in out:
            name, i = f"{base}_{i}", i + 1
        out.append(name)
    return out


def cpu_detail(threads: Any) -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"cpu: {threads} thread(s) on {model}"


@dataclass
class LgbmResult:
    booster: Any
    device: str
    detail: str
    best_iteration: int


def _fit(params: dict[str, Any], data: tuple[Any, ...], names: list[str], cats: list[int],
         rounds: int, early: int | None, callbacks: list[Any]) -> Any:
    import lightgbm as lgb

    X_tr, y_tr, X_va, y_va = data
    dtrain = lgb.Dataset(X_tr, label=y_tr, feature_name=names, categorical_feature=cats or "auto",
                         free_raw_data=True)
    dvalid = lgb.Dataset(X_va, label=y_va, reference=dtrain)
    cbs = list(callbacks)
    if early:
        cbs.append(lgb.early_stopping(early, first_metric_only=True, verbose=False))
    return lgb.train(params, dtrain, num_boost_round=rounds, valid_sets=[dtrain, dvalid],
                     valid_names=["train", "valid"], callbacks=cbs)


def train(run: Any, spec: Any, num_class: int, data: tuple[Any, ...], names: list[str],
          cats: list[int], callbacks: list[Any]) -> LgbmResult:
    """Fit on (X_tr, y_tr, X_va, y_va); on device gpu try LightGBM's OpenCL learner on the platform
    `devices.detect()` prefers and fall back to the CPU, recording which device really trained."""
    import lightgbm as lgb

    params = train_params(spec.task, num_class, spec.seed, spec.params)
    threads = next((params[k] for k in THREAD_KEYS if k in params), 1)
    names = lgbm_names(names)
    device, detail = "cpu", cpu_detail(threads)
    booster = None
    if spec.device == "gpu":
        from tui_mlops.training.devices import detect

        info = detect()
        gparams = dict(params, device_type="gpu", verbose=1)
        if info.platform_id is not None:
            gparams.update(gpu_platform_id=info.platform_id, gpu_device_id=info.device_id)
        try:
            with captured_log(echo=True) as cap:
                booster = _fit(gparams, data, names, cats, spec.num_boost_round, spec.early_stopping_rounds,
                               callbacks)
            used = next((ln for ln in cap.lines if "Using GPU Device" in ln), None)
            # Without a usable GPU, LightGBM's "GPU" learner ran on a CPU OpenCL device (PoCL).
            device = "gpu" if info.gpu_usable else "cpu"
            detail = (f"{device}: " + _clean(used).replace("Using GPU Device: ", "") if used
                      else f"{device}: OpenCL platform {info.platform_id} {info.device_name or ''}".strip())
            if info.platform_id is not None:
                detail += f" (OpenCL platform {info.platform_id})"
        except lgb.basic.LightGBMError as exc:
            print(f"GPU training failed ({_clean(str(exc))}); training on the CPU", flush=True)
            run.note(f"GPU training failed ({_clean(str(exc))}); trained on the CPU instead")
            detail = f"{detail} (GPU training failed: {_clean(str(exc))})"
            booster = None
    if booster is None:
        booster = _fit(params, data, names, cats, spec.num_boost_round, spec.early_stopping_rounds, callbacks)
    best = int(booster.best_iteration or booster.current_iteration())
    return LgbmResult(booster, device, detail, best)


def predict(booster: Any, X: Any, num_iteration: int | None = None) -> Any:
    """Positive-class probability (binary), class probabilities (multiclass) or values."""
    return booster.predict(X, num_iteration=num_iteration)


def importance(booster: Any, names: list[str]) -> dict[str, Any]:
    gain = booster.feature_importance("gain")
    split = booster.feature_importance("split")
    rows = sorted(zip(names, gain, split), key=lambda r: -r[1])
    return {"kind": "lightgbm", "features": [{"name": n, "gain": float(g), "split": int(s)} for n, g, s in rows]}
