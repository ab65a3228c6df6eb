"""The store's home folder: its layout, and crash-safe (temp + fsync + rename) file writes."""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui_mlops.errors import InputError, StoreError

TMP_PREFIX = ".tmp-"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Home:
    """Paths of one store. `Home.open(path)` creates the layout, private to its user."""

    root: Path

    @classmethod
    def open(cls, root: str | os.PathLike[str]) -> "Home":
        home = cls(Path(root))
        home.ensure()
        return home

    @property
    def catalog_path(self) -> Path:
        return self.root / "catalog.duckdb"

    @property
    def datasets_dir(self) -> Path:
        return self.root / "datasets"

    @property
    def inbox_dir(self) -> Path:
        return self.root / "inbox"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def registry_dir(self) -> Path:
        return self.root / "registry"

    @property
    def monitors_dir(self) -> Path:
        return self.root / "monitors"

    @property
    def rules_dir(self) -> Path:
        """Per-dataset validation rules, `rules/<dataset>.toml`."""
        return self.root / "rules"

    @property
    def activity_log(self) -> Path:
        """Append-only log of dataset registrations, removals and inbox rejections."""
        return self.datasets_dir / "events.jsonl"

    def dataset_dir(self, name: str) -> Path:
        return self.datasets_dir / check_name(name)

    def snapshot_path(self, name: str, version: str) -> Path:
        return self.dataset_dir(name) / f"{version}.parquet"

    def sidecar_path(self, name: str, version: str) -> Path:
        return self.dataset_dir(name) / f"{version}.json"

    def ensure(self) -> None:
        try:
            fresh = not self.root.exists()
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            if fresh:
                # mkdir's mode is filtered by the umask; the home holds private data.
                os.chmod(self.root, 0o700)
            for sub in (self.datasets_dir, self.inbox_dir, self.runs_dir, self.registry_dir,
                        self.monitors_dir, self.rules_dir):
                sub.mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the store home {self.root}: {exc.strerror or exc}") from exc


def check_name(name: str, what: str = "dataset name") -> str:
    """A name that is safe as one path component and readable in a table."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or ".." in name:
        raise InputError(
            f"invalid {what} {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def name_from_filename(filename: str) -> str:
    """Derive a dataset name from a file name: `Sales Q1 (final).csv.gz` -> `Sales_Q1_final`."""
    base = Path(filename).name
    for suffix in (".gz", ".csv", ".tsv", ".parquet", ".pq", ".jsonl", ".ndjson", ".json", ".txt"):
        if base.lower().endswith(suffix):
            base = base[: -len(suffix)]
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._-")
    cleaned = re.sub(r"\.{2,}", ".", cleaned)[:64]
    return cleaned or "dataset"


def temp_path_for(target: Path) -> Path:
    """A temp name in the target's folder (same filesystem, so the rename is atomic)."""
    return target.with_name(f"{TMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}-{target.name}")


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def commit_file(tmp: Path, target: Path) -> None:
    """fsync a finished temp file and rename it over the target."""
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    fsync_dir(target.parent)


def atomic_write_bytes(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(target)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_json(target: Path, obj: Any) -> None:
    atomic_write_bytes(target, (json.dumps(obj, indent=1, sort_keys=True, default=str) + "\n").encode())


def read_json(path: Path) -> Any:
    with open(path, "rb") as fh:
        return json.loads(fh.read())


def write_temp_json(tmp: Path, obj: Any) -> None:
    """Write JSON to a temp file and fsync it; the caller renames it (see commit_file)."""
    with open(tmp, "wb") as fh:
        fh.write((json.dumps(obj, indent=1, sort_keys=True, default=str) + "\n").encode())
        fh.flush()
        os.fsync(fh.fileno())


def remove_stale_temps(folder: Path) -> list[Path]:
    """Delete temp files left by writers that died (their pid is gone).

    One kind is finished instead: a whole sidecar temp whose snapshot already has its final
    name is the last step of a commit killed between its two renames (see commit_version).
    """
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for tmp in folder.glob(f"{TMP_PREFIX}*"):
        try:
            pid_text, _, rest = tmp.name[len(TMP_PREFIX):].partition("-")
            pid = int(pid_text)
        except ValueError:
            continue
        if pid == os.getpid() or _pid_alive(pid):
            continue
        target = folder / rest.partition("-")[2]
        try:
            if _finish_sidecar(tmp, target):
                continue
            tmp.unlink()
            removed.append(tmp)
        except OSError:
            pass
    return removed


def _finish_sidecar(tmp: Path, target: Path) -> bool:
    if target.suffix != ".json" or target.exists() or not target.with_suffix(".parquet").exists():
        return False
    try:
        sidecar = read_json(tmp)
    except (OSError, ValueError):
        return False  # torn: the writer died while writing it, before any rename
    if not isinstance(sidecar, dict) or sidecar.get("version") != target.stem:
        return False
    os.replace(tmp, target)
    fsync_dir(target.parent)
    return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
