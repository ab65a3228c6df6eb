"""Plain records the store hands to services and faces (never DuckDB rows or cursors)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Column:
    name: str
    type: str


@dataclass(frozen=True)
class DatasetVersion:
    """One immutable version of a dataset, as its sidecar describes it."""

    name: str
    version: str
    created_at: str
    rows: int
    columns: tuple[Column, ...]
    size_bytes: int
    operation: str
    params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    parent_name: str | None = None
    parent_version: str | None = None
    source_path: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def short(self) -> str:
        return self.version[:8]

    @property
    def parent_ref(self) -> str | None:
        if self.parent_name and self.parent_version:
            return f"{self.parent_name}@{self.parent_version}"
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "created_at": self.created_at,
            "rows": self.rows,
            "columns": [{"name": c.name, "type": c.type} for c in self.columns],
            "size_bytes": self.size_bytes,
            "operation": self.operation,
            "params": self.params,
            "parent": self.parent_ref,
            "source_path": self.source_path,
        }


@dataclass(frozen=True)
class DatasetSummary:
    """A dataset name with its newest version."""

    name: str
    versions: int
    latest_version: str
    latest_created_at: str
    rows: int
    n_columns: int
    size_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "versions": self.versions,
            "latest_version": self.latest_version,
            "latest_created_at": self.latest_created_at,
            "rows": self.rows,
            "columns": self.n_columns,
            "size_bytes": self.size_bytes,
        }
