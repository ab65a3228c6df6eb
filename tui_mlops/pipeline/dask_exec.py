"""The Dask executor: connect to a scheduler (or start a LocalCluster), train LightGBM with
lightgbm.dask on a dataset's Parquet snapshot that stays on the workers, and fan sweep trials out."""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

from tui_mlops.errors import InputError, MlopsError

SAMPLE_ROWS = 100_000     # training rows the feature pipeline is fitted on, on the driver
SCORE_ROWS = 200_000      # holdout rows brought back to score; a seeded sample beyond this (keeps
                          # the driver flat: 1M rows of (label, p) grew it by ~100 MB)
INSTALL = "pip install 'mlops-tui[dask]'"


def _need_dask() -> None:
    import importlib

    try:
        for name in ("pandas", "dask.dataframe", "distributed", "lightgbm.dask"):
            importlib.import_module(name)
    except ImportError as exc:
        raise InputError(f"the Dask executor needs Dask and pandas ({exc}): {INSTALL}") from None


def connect(scheduler: str, timeout: float = 10.0) -> Any:
    """A distributed.Client: "local:N" starts a LocalCluster of N worker processes (1 thread each)
    that closes with the client; "tcp://host:port" connects, failing within `timeout` seconds."""
    _need_dask()
    import logging

    from distributed import Client

    text = str(scheduler).strip()
    if text.startswith("local:"):
        n = text[len("local:"):]
        if not n.isdigit() or not 1 <= int(n) <= 256:
            raise InputError(f"bad Dask scheduler {text!r}: local:N needs N workers from 1 to 256")
        return Client(n_workers=int(n), threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR, set_as_default=False)
    if not text.startswith(("tcp://", "tls://")) or "://" == text[-3:]:
        raise InputError(f"bad Dask scheduler {text!r}: give tcp://HOST:PORT or local:N")
    started = time.monotonic()
    try:
        _probe(text, timeout)
        left = max(1.0, timeout - (time.monotonic() - started))
        return Client(text, timeout=left, set_as_default=False)
    except Exception as exc:  # noqa: BLE001 - a non-Dask server answers with anything at all
        took = time.monotonic() - started
        why = str(exc) or type(exc).__name__
        if not isinstance(exc, (OSError, TimeoutError, InputError)):
            why = f"the server there is not a Dask scheduler ({type(exc).__name__})"
        raise InputError(f"cannot reach the Dask scheduler {text}: {why} (after {took:.0f} s)") from None


def _probe(address: str, timeout: float) -> None:
    """A plain TCP connect (a refused port fails at once instead of being retried for `timeout`),
    then Dask's own handshake, so a server that is not a Dask scheduler fails here too."""
    import asyncio
    import socket

    from distributed.comm import connect as comm_connect
    from distributed.comm.addressing import get_address_host_port

    try:
        host, port = get_address_host_port(address)
    except ValueError as exc:
        raise InputError(f"bad Dask scheduler {address!r}: {exc}") from None
    with socket.create_connection((host, port), timeout=timeout):
        pass

    async def handshake() -> None:
        comm = await comm_connect(address, timeout=timeout)
        try:
            await asyncio.wait_for(comm.write({"op": "identity"}), timeout)
            reply = await asyncio.wait_for(comm.read(), timeout)
        finally:
            comm.abort()
        if not isinstance(reply, dict) or reply.get("type") != "Scheduler":
            raise OSError(f"the server there is not a Dask scheduler (it said {str(reply)[:80]!r})")

    asyncio.run(handshake())


# ---- worker-side partition functions (module level: pickled by reference) -------------------
def _prepare_rows(pdf: Any, target: str, where: str | None, params: list[Any], fraction: float,
                  seed: int, classify: bool, has_valid: bool | None, partition_info: Any = None) -> Any:
    """Filter, drop null targets, and mark holdout rows (`__valid__`) of one partition: the same
    seeded, stratified holdout as the in-process runner, drawn per partition (seed + its index)."""
    import numpy as np

    from tui_mlops.training.frames import holdout_indices

    if where:
        import duckdb
        import pandas as pd
        import pyarrow as pa

        con = duckdb.connect()
        try:
            con.register("part", pa.Table.from_pandas(pdf, preserve_index=False))
            table = con.sql(f"SELECT * FROM part WHERE {where}", params=params).to_arrow_table()
        finally:
            con.close()
        pdf = table.to_pandas(types_mapper=pd.ArrowDtype)
    pdf = pdf[pdf[target].notna()]
    flag = np.zeros(len(pdf), dtype=bool)
    if has_valid is None and len(pdf):
        number = partition_info["number"] if partition_info else 0
        _, va = holdout_indices(pdf[target].to_numpy(), fraction, seed + number, classify)
        flag[va] = True
    elif has_valid:
        flag[:] = True
    return pdf.assign(__valid__=flag)


def _encode(pdf: Any, pipeline: dict[str, Any]) -> Any:
    """The model matrix of one partition (columns f0..fN) plus `__y__` and `__valid__`."""
    import pandas as pd
    import polars as pl

    from tui_mlops.training.features import FeaturePipeline

    pipe = FeaturePipeline.from_dict(pipeline)
    frame = pl.from_pandas(pdf.drop(columns="__valid__"))
    X = pipe.transform(frame)
    out = pd.DataFrame(X, columns=[f"f{i}" for i in range(len(pipe.names))], index=pdf.index)
    out["__y__"] = pipe.encode_target(frame) if len(pdf) else []
    out["__valid__"] = pdf["__valid__"].to_numpy(dtype=bool)
    return out


def _score(pdf: Any, model_text: str, rate: float, seed: int, partition_info: Any = None) -> Any:
    """Labels and predictions of one partition's holdout rows (a seeded `rate` sample of them)."""
    import lightgbm as lgb
    import numpy as np
    import pandas as pd

    if rate < 1.0 and len(pdf):
        number = partition_info["number"] if partition_info else 0
        pdf = pdf[np.random.default_rng([seed, number]).random(len(pdf)) < rate]
    cols = [c for c in pdf.columns if c.startswith("f")]
    if not len(pdf):
        return pd.DataFrame({"y": np.empty(0)})
    pred = lgb.Booster(model_str=model_text).predict(pdf[cols].to_numpy(dtype=np.float64))
    pred = pred.reshape(len(pdf), -1)
    out = pd.DataFrame(pred, columns=[f"p{i}" for i in range(pred.shape[1])], index=pdf.index)
    out.insert(0, "y", pdf["__y__"].to_numpy())
    return out


# ---- train ----------------------------------------------------------------------------------
def _read(home: Any, ref: str, spec: Any, client: Any, has_valid: bool | None) -> Any:
    import dask.dataframe as dd

    from tui_mlops.data.versions import resolve, snapshot_path
    from tui_mlops.training.frames import _where

    v = resolve(home, ref)
    ddf = dd.read_parquet(str(snapshot_path(home, v)), dtype_backend="pyarrow")
    workers = max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))
    if ddf.npartitions < workers:
        ddf = ddf.repartition(npartitions=workers)
    where, params = _where(v, spec.filter) if spec.filter else (None, [])
    meta = ddf._meta.assign(__valid__=False)
    return ddf.map_partitions(_prepare_rows, spec.target, where, params, spec.valid_fraction, spec.seed,
                              spec.task != "regression", has_valid, meta=meta)


def _fit_pipeline(spec: Any, rows: Any, n_train: int, classes: list[Any] | None) -> Any:
    """Fit the FeaturePipeline on a seeded sample of training rows, then replace each categorical
    feature's categories with the exact most frequent values over all training rows."""
    import polars as pl

    from tui_mlops.training.features import MAX_CATEGORIES, FeaturePipeline

    train = rows[~rows["__valid__"]].drop(columns="__valid__")
    frac = min(1.0, SAMPLE_ROWS / max(n_train, 1))
    sample = train.sample(frac=frac, random_state=spec.seed).compute() if frac < 1 else train.compute()
    pipe = FeaturePipeline.fit(pl.from_pandas(sample), target=spec.target, task=spec.task, classes=classes,
                               features=spec.features, drop=spec.drop, transforms=spec.transforms,
                               encoding="native")
    import dask

    cats = [f for f in pipe.features if f["kind"] == "categorical" and f["name"] in train.columns]
    counts = dask.compute(*[train[f["name"]].dropna().astype(str).value_counts() for f in cats])
    for f, vc in zip(cats, counts):
        ranked = sorted(vc.items(), key=lambda kv: (-int(kv[1]), str(kv[0])))
        f["categories"] = [str(k) for k, _ in ranked[:MAX_CATEGORIES]]
    return pipe


def train_on_dask(home: Any, spec: Any, client: Any) -> str:
    """Train `spec` (LightGBM) with lightgbm.dask on `client`'s workers; the run, its metrics and
    the same artifacts as an in-process train run go into the store. Returns the run id."""
    _need_dask()
    from tui_mlops.store.home import Home
    from tui_mlops.tracking.api import start_run
    from tui_mlops.training.spec import prepare
    from tui_mlops.training.train import run_params

    home = home if isinstance(home, Home) else Home.open(home)
    if spec.model != "lightgbm":
        raise InputError(f"the Dask executor trains model lightgbm only; model {spec.model} trains "
                         f"in-process (executor = \"local\")")
    if spec.device != "cpu":
        raise InputError("the Dask executor trains on the workers' CPUs; device gpu needs executor = \"local\"")
    spec = prepare(home, spec)
    tags = {**spec.tags, "executor": "dask"}
    with start_run(spec.experiment, name=spec.name, params=run_params(spec), tags=tags, home=home,
                   kind="train", spec=spec.to_dict(), dataset=spec.dataset, model=spec.model) as run:
        with client.as_current():  # lightgbm.dask and .compute() use the current client
            _train(run, spec, client)
        return run.run_id


def _train(run: Any, spec: Any, client: Any) -> None:
    import dask
    import dask.dataframe as dd
    import numpy as np
    from lightgbm.dask import DaskLGBMClassifier, DaskLGBMRegressor

    from tui_mlops.training import lgbm
    from tui_mlops.training.runner import environment, evaluation, final_metrics

    started = time.perf_counter()
    home = run.home
    rows = _read(home, spec.dataset, spec, client, False if spec.valid else None)
    if spec.valid:
        rows = dd.concat([rows, _read(home, spec.valid, spec, client, True)])
    n_rows, n_valid = dask.compute(rows.shape[0], rows["__valid__"].sum())
    n_rows, n_valid = int(n_rows), int(n_valid)
    n_train = n_rows - n_valid
    if n_train == 0 or n_valid == 0:
        raise InputError(f"{spec.dataset}: no rows left to train on or to validate with")
    classes = None
    if spec.task != "regression":
        values = rows[spec.target].drop_duplicates().compute().tolist()
        classes = sorted(values)
    pipe = _fit_pipeline(spec, rows, n_train, classes)
    num_class = len(classes or [])
    enc = rows.map_partitions(_encode, pipe.to_dict(), meta=_encoded_meta(len(pipe.names)))
    fcols = [f"f{i}" for i in range(len(pipe.names))]
    tr = client.persist(enc[~enc["__valid__"]])
    # LightGBM fails on a worker whose parts are all empty (filtered out, or validation-only parts)
    sizes = tr.map_partitions(len).compute().tolist()
    tr = tr.partitions[[i for i, n in enumerate(sizes) if n]]
    workers = client.scheduler_info(n_workers=-1).get("workers", {})
    run.log_params({"rows_train": n_train, "rows_valid": n_valid, "n_features": len(pipe.names),
                    "executor": "dask", "dask_workers": len(workers)})
    print(f"training lightgbm ({spec.task}) with Dask on {len(workers)} worker(s): {n_train} rows, "
          f"validating on {n_valid}, {len(pipe.names)} features", flush=True)
    if spec.early_stopping_rounds:
        # each worker would judge on its own slice of the holdout and could stop at another round
        run.note(f"early stopping ({spec.early_stopping_rounds} rounds) is off with the Dask executor: "
                 f"all {spec.num_boost_round} rounds trained")
    params = lgbm.train_params(spec.task, num_class, spec.seed, spec.params)
    params.pop("num_class", None)
    # lightgbm.dask gives each worker as many LightGBM threads as it has Dask threads
    for key in lgbm.THREAD_KEYS:
        params.pop(key, None)
    seed = params.pop("seed")
    cls = DaskLGBMRegressor if spec.task == "regression" else DaskLGBMClassifier
    model = cls(client=client, n_estimators=spec.num_boost_round, random_state=seed, **params)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
            model.fit(tr[fcols], tr["__y__"], feature_name=lgbm.lgbm_names(pipe.names),
                      categorical_feature=pipe.categorical_indices or "auto")
    except Exception as exc:
        # A failed part leaves LightGBM on the other workers blocked in a collective (for its
        # time_out, 2 h by default), holding their only thread: restart those workers.
        _restart(client, list(workers))
        raise MlopsError(f"lightgbm.dask training failed: {str(exc).splitlines()[0][:300]} "
                         f"(its {len(workers)} Dask worker(s) were restarted)") from exc
    booster = model.booster_
    threads = sorted({w.get("nthreads", 1) for w in workers.values()})
    run.log_device("cpu", f"dask: {len(workers)} worker(s) at {client.scheduler.address}, "
                          f"{'/'.join(map(str, threads))} LightGBM thread(s) each")
    best = int(booster.current_iteration())
    run.log_params({"best_iteration": best})
    text = booster.model_to_string(num_iteration=best)
    rate = min(1.0, SCORE_ROWS / n_valid)
    scored = enc[enc["__valid__"]].map_partitions(_score, text, rate, spec.seed,
                                                  meta=_scored_meta(spec.task, num_class)).compute()
    y = scored["y"].to_numpy(dtype=np.float64)
    pred = scored.drop(columns="y").to_numpy(dtype=np.float64)
    pred = pred[:, 0] if spec.task != "multiclass" else pred
    run.log_params({"rows_valid_scored": len(y)})
    final = final_metrics(spec.task, y, pred, num_class)
    run.log_metrics({f"valid/{k}": v for k, v in final.items()}, step=best)
    run.log_metric("train_seconds", time.perf_counter() - started)
    run.log_artifact_bytes("model.txt", text.encode(), kind="model")
    run.log_artifact_json("features.json", pipe.to_dict(), kind="features")
    run.log_artifact_json("importance.json", lgbm.importance(booster, pipe.names), kind="importance")
    run.log_artifact_json("evaluation.json", evaluation(spec.task, y, pred, classes), kind="report")
    run.log_artifact_json("environment.json", {**environment(), "dask_workers": len(workers)}, kind="environment")
    run.log_artifact_json("spec.json", spec.to_dict(), kind="file")
    print("done: " + ", ".join(f"{k}={v:.4g}" for k, v in final.items()), flush=True)


def _restart(client: Any, workers: list[str]) -> None:
    try:
        client.restart_workers(workers, timeout=30)
    except Exception as exc:  # noqa: BLE001 - the training error is the one to show
        print(f"could not restart the Dask workers: {exc}", flush=True)


def _encoded_meta(n: int) -> Any:
    import pandas as pd

    cols = {f"f{i}": pd.Series(dtype="float64") for i in range(n)}
    return pd.DataFrame({**cols, "__y__": pd.Series(dtype="float64"), "__valid__": pd.Series(dtype=bool)})


def _scored_meta(task: str, num_class: int) -> Any:
    import pandas as pd

    k = num_class if task == "multiclass" else 1
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in ["y", *[f"p{i}" for i in range(k)]]})


# ---- sweep ----------------------------------------------------------------------------------
def _trial(home_root: str, spec_dict: dict[str, Any], parent: str, metric: str) -> dict[str, Any]:
    """One sweep trial, on a worker: train in-process under its own tracking run."""
    import os

    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    from tui_mlops.store.events import read_events
    from tui_mlops.tracking.api import start_run
    from tui_mlops.training.runner import run_train
    from tui_mlops.training.spec import TrainSpec
    from tui_mlops.training.train import run_params

    spec = TrainSpec.from_dict(spec_dict)
    run = start_run(spec.experiment, name=spec.name, params=run_params(spec), home=home_root, kind="train",
                    parent_run_id=parent, spec=spec_dict, dataset=spec.dataset, model=spec.model,
                    tags={**spec.tags, "executor": "dask"})
    try:
        with run:
            run_train(run, spec_dict)
    except MlopsError as exc:  # the spec's own fault: another attempt would fail the same way
        return {"run_id": run.run_id, "status": "failed", "value": None, "error": str(exc)}
    value = None
    for ev in read_events(run.dir / "events.jsonl", 0)[0]:
        if ev.get("type") == "metrics" and metric in (ev.get("values") or {}):
            value = float(ev["values"][metric])
        elif ev.get("type") == "metric" and ev.get("key") == metric:
            value = float(ev["value"])
    return {"run_id": run.run_id, "status": "finished", "value": value, "error": None}


def sweep_on_dask(home: Any, sweep: Any, client: Any) -> str:
    """Run a sweep's trials as Dask tasks (retries=1; a task whose worker dies is re-run by Dask
    up to its allowed-failures), each under its own tracking run with this sweep as its parent.
    Trial runs left open by a dead worker are marked crashed. Returns the sweep's run id."""
    _need_dask()
    from distributed import as_completed

    from tui_mlops.store.home import Home
    from tui_mlops.tracking.api import start_run
    from tui_mlops.training.runner import PRIMARY_METRIC
    from tui_mlops.training.spec import prepare
    from tui_mlops.training.sweep import _payload, expand, space_text, trial_specs

    home = home if isinstance(home, Home) else Home.open(home)
    base = prepare(home, sweep.base)
    specs = trial_specs(base, expand(sweep.space, sweep.method, sweep.trials, sweep.seed))
    metric = PRIMARY_METRIC[base.task or "regression"]
    lower = not metric.endswith("auc")
    params = {"method": sweep.method, "trials": len(specs), "space": space_text(sweep.space),
              "model": base.model, "task": base.task, "executor": "dask"}
    run = start_run(base.experiment, name=base.name or f"sweep-{base.model}", params=params,
                    tags={**base.tags, "executor": "dask"}, home=home, kind="sweep",
                    spec=_payload(sweep, base, specs), dataset=base.dataset, model=base.model)
    with run, client.as_current():
        futures = [client.submit(_trial, str(home.root), s.to_dict(), run.run_id, metric, retries=1, pure=False)
                   for s in specs]
        done, best, best_run, failed = 0, None, None, []
        print(f"sweep on Dask: {len(specs)} trials, best by {metric}", flush=True)
        for fut in as_completed(futures):
            done += 1
            try:
                res = fut.result()
            except Exception as exc:  # noqa: BLE001 - KilledWorker or a crash twice: the trial failed
                res = {"run_id": None, "status": "failed", "value": None, "error": f"{type(exc).__name__}: {exc}"}
            value = res["value"]
            if res["status"] == "finished" and value is not None and math.isfinite(value):
                if best is None or (value < best if lower else value > best):
                    best, best_run = value, res["run_id"]
                    run.set_tag("best_run", best_run)
            else:
                failed.append(res)
            values = {"trials_done": float(done)}
            if best is not None:
                values[f"best/{metric}"] = best
            run.log_metrics(values, step=done)
            print(f"trial {res['run_id']} {res['status']} ({metric}={value}); {done}/{len(specs)} done", flush=True)
        lost = close_orphans(home, run.run_id)
        if lost:
            run.set_tag("crashed_attempts", str(len(lost)))
        if failed:
            run.set_tag("failed_trials", str(len(failed)))
        if best_run is None:
            raise MlopsError(f"all {len(specs)} trials failed; first: {failed[0]['error']}")
        return run.run_id


def close_orphans(home: Any, parent: str) -> list[str]:
    """Mark crashed the trial runs of sweep `parent` that never ended: once every trial's task has
    resolved, an open one belonged to an attempt whose worker died (Dask re-ran the trial)."""
    from tui_mlops.store.events import read_events
    from tui_mlops.tracking.api import attach_run

    lost = []
    for d in sorted(home.runs_dir.iterdir()):
        events = read_events(d / "events.jsonl", 0)[0] if (d / "events.jsonl").is_file() else []
        start = events[0] if events else {}
        if start.get("type") != "run_start" or start.get("parent_run_id") != parent:
            continue
        edits = read_events(d / "edits.jsonl", 0)[0] if (d / "edits.jsonl").is_file() else []
        if any(ev.get("type") == "run_end" for ev in events + edits):
            continue
        attach_run(home, d.name).end("crashed", f"its Dask worker (pid {start.get('pid')}) died mid-trial; "
                                                "Dask ran the trial again on another worker")
        lost.append(d.name)
    return lost
