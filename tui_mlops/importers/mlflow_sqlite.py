"""Reader of MLflow's SQLite backend (mlflow.db), opened read-only with the stdlib sqlite3."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tui_mlops.errors import InputError
from tui_mlops.importers.mlflow_files import MlExperiment, MlModelVersion, MlRun, dataset_input, local_path

NEEDED = ("experiments", "runs", "params", "metrics", "tags")


# A run's history as one text, a point a line: key, timestamp, value (17 digits: exact), step.
_RUN_TEXT = ("SELECT group_concat(line, char(10)) FROM (SELECT key || char(9) || timestamp || char(9) || "
             "CASE WHEN is_nan THEN 'NaN' ELSE printf('%!.17g', value) END || char(9) || coalesce(step, 0) AS line "
             "FROM metrics WHERE run_uuid = ?)")  # ordered by polars: faster than SQLite's sorter

class SqliteStore:
    """An mlflow.db; artifact folders are found from each run's artifact_uri, re-rooted on the db's folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)
        self.bases = [path.parent, path.parent / "mlruns", path.parent / "mlartifacts"]
        try:
            self.con = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)
            tables = {r[0] for r in self.con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.Error as exc:
            raise InputError(f"{path}: not an SQLite database ({exc})") from None
        missing = [t for t in NEEDED if t not in tables]
        if missing:
            self.con.close()
            raise InputError(f"{path}: not an MLflow database (no table {', '.join(missing)})")
        self.tables = tables

    def _rows(self, sql: str, args: tuple = ()) -> list[dict[str, Any]]:
        try:
            cur = self.con.execute(sql, args)
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]
        except sqlite3.Error as exc:
            raise InputError(f"{self.path}: cannot read ({exc})") from None

    def experiments(self) -> list[MlExperiment]:
        rows = self._rows("SELECT * FROM experiments ORDER BY experiment_id")
        return [MlExperiment(str(r["experiment_id"]), str(r["name"])) for r in rows
                if r.get("lifecycle_stage") != "deleted"]

    def runs(self, exp: MlExperiment) -> list[MlRun]:
        rows = self._rows("SELECT * FROM runs WHERE experiment_id = ? ORDER BY start_time, run_uuid", (exp.id,))
        uuids = [r["run_uuid"] for r in rows]
        params: dict[str, dict[str, str]] = {u: {} for u in uuids}
        tags: dict[str, dict[str, str]] = {u: {} for u in uuids}
        for table, into in (("params", params), ("tags", tags)):
            for r in self._rows(f"SELECT t.run_uuid, t.key, t.value FROM {table} t JOIN runs r "
                                f"ON r.run_uuid = t.run_uuid WHERE r.experiment_id = ?", (exp.id,)):
                into.setdefault(r["run_uuid"], {})[r["key"]] = "" if r["value"] is None else str(r["value"])
        inputs = self._inputs(exp)
        out = []
        for r in rows:
            if r.get("lifecycle_stage") == "deleted":
                continue
            u = r["run_uuid"]
            art = local_path(r.get("artifact_uri"), self.bases)
            out.append(MlRun(uuid=u, experiment=exp.name, name=str(r.get("name") or u[:8]),
                             status=str(r.get("status") or "FINISHED"), start_ms=r.get("start_time"),
                             end_ms=r.get("end_time"), params=params[u], tags=tags[u],
                             artifact_dir=art if art is not None and art.is_dir() else None,
                             where=f"{self.path} (run {u})", handle=u, inputs=inputs.get(u, [])))
        return out

    def _inputs(self, exp: MlExperiment) -> dict[str, list[dict[str, Any]]]:
        """Run uuid -> the datasets it logged (tables inputs, input_tags, datasets)."""
        if not {"inputs", "datasets"} <= set(self.tables):
            return {}
        tags: dict[str, dict[str, str]] = {}
        if "input_tags" in self.tables:
            for r in self._rows("SELECT input_uuid, name, value FROM input_tags"):
                tags.setdefault(r["input_uuid"], {})[r["name"]] = r["value"]
        out: dict[str, list[dict[str, Any]]] = {}
        for r in self._rows("SELECT i.input_uuid, i.destination_id, d.* FROM inputs i JOIN datasets d "
                            "ON d.dataset_uuid = i.source_id WHERE i.source_type = 'DATASET' AND "
                            "i.destination_type = 'RUN' AND d.experiment_id = ? ORDER BY d.name, d.digest",
                            (exp.id,)):
            out.setdefault(r["destination_id"], []).append(dataset_input(
                r["name"], r["digest"], r["dataset_source_type"], r["dataset_source"], r.get("dataset_schema"),
                r.get("dataset_profile"), tags.get(r["input_uuid"], {})))
        return out

    def metric_frame(self, runs: list[MlRun]) -> Any:
        """The points of these runs as one frame (mlflow_points' columns). SQLite writes each run's
        history as one text (in C, without the GIL, a connection per thread); polars parses it."""
        import numpy as np
        import polars as pl

        texts = self._run_texts([r.handle for r in runs])
        counts = [t.count("\n") + 1 if t else 0 for t in texts]
        frame = None
        if any(counts):
            try:
                frame = pl.read_csv("\n".join(t for t in texts if t).encode(), separator="\t", has_header=False,
                                    quote_char=None, new_columns=["key", "ts", "value", "step"],
                                    schema_overrides={"key": pl.Utf8, "ts": pl.Int64, "value": pl.Float64,
                                                      "step": pl.Int64})
            except (pl.exceptions.PolarsError, ValueError):
                frame = None
            if frame is None or frame.height != sum(counts) or any(frame.null_count().row(0)):
                return self._metric_rows(runs)  # an odd key (a tab, a newline): the slower exact way
        else:
            frame = pl.DataFrame(schema={"key": pl.Utf8, "ts": pl.Int64, "value": pl.Float64, "step": pl.Int64})
        run = pl.Series("run", np.repeat(np.arange(len(runs), dtype=np.int32), counts))
        return frame.with_columns(run=run).select("run", "key", "ts", "value", "step").sort(
            ["run", "key", "ts", "step"], maintain_order=True)

    def _run_texts(self, uuids: list[str]) -> list[str | None]:
        from concurrent.futures import ThreadPoolExecutor

        parts = max(1, min(len(uuids), os.cpu_count() or 1, 4))
        slices = [uuids[i::parts] for i in range(parts)]

        def read(part: list[str]) -> list[str | None]:
            con = sqlite3.connect(f"file:{quote(str(self.path))}?mode=ro", uri=True)
            try:
                return [con.execute(_RUN_TEXT, (u,)).fetchone()[0] for u in part]
            except sqlite3.Error as exc:
                raise InputError(f"{self.path}: cannot read the metrics ({exc})") from None
            finally:
                con.close()

        with ThreadPoolExecutor(parts) as pool:
            done = list(pool.map(read, slices))
        out: list[str | None] = [None] * len(uuids)
        for i, texts in enumerate(done):
            out[i::parts] = texts
        return out

    def _metric_rows(self, runs: list[MlRun]) -> Any:
        import polars as pl

        marks = ",".join("?" * len(runs))
        try:
            rows = self.con.execute(f"SELECT run_uuid, key, timestamp, value, step, is_nan FROM metrics WHERE "
                                    f"run_uuid IN ({marks}) ORDER BY run_uuid, key, timestamp, step",
                                    [r.handle for r in runs]).fetchall()
        except sqlite3.Error as exc:
            raise InputError(f"{self.path}: cannot read the metrics ({exc})") from None
        frame = pl.DataFrame(rows, schema={"uuid": pl.Utf8, "key": pl.Utf8, "ts": pl.Int64, "value": pl.Float64,
                                           "step": pl.Int64, "is_nan": pl.Int64}, orient="row", strict=False)
        index = pl.Series([r.handle for r in runs], dtype=pl.Utf8)
        return frame.select(
            run=pl.col("uuid").replace_strict(index, pl.Series(range(len(runs)), dtype=pl.Int32)), key="key",
            ts="ts", value=pl.when(pl.col("is_nan") == 1).then(float("nan")).otherwise(pl.col("value")),
            step=pl.col("step").fill_null(0))

    def model_versions(self) -> list[MlModelVersion]:
        if "model_versions" not in self.tables:
            return []
        aliases: dict[tuple[str, int], list[str]] = {}
        if "registered_model_aliases" in self.tables:
            for r in self._rows("SELECT name, alias, version FROM registered_model_aliases"):
                aliases.setdefault((r["name"], int(r["version"])), []).append(r["alias"])
        out = []
        for r in self._rows("SELECT * FROM model_versions ORDER BY name, version"):
            if r.get("current_stage") == "Deleted_Internal":
                continue
            out.append(MlModelVersion(name=str(r["name"]), version=int(r["version"]), run_uuid=r.get("run_id"),
                                      source=str(r.get("source") or ""), storage_location=r.get("storage_location"),
                                      aliases=sorted(aliases.get((r["name"], int(r["version"])), [])),
                                      where=f"{self.path} (model {r['name']} v{r['version']})"))
        return out

    def close(self) -> None:
        self.con.close()
