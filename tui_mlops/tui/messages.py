"""Messages the app's screens and workers post to each other (named in the past tense: facts)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from tui_mlops.store.records import DatasetSummary, DatasetVersion


class DatasetsChanged(Message):
    """Versions were added or removed; post it to the app (`self.app.post_message(...)`).

    `select` optionally names a version the Datasets screen should move its cursor to.
    """

    def __init__(self, select: DatasetVersion | None = None) -> None:
        super().__init__()
        self.select = select


class DatasetsLoaded(Message):
    """A worker read the catalog: every dataset and every version, newest version first."""

    def __init__(self, datasets: list[DatasetSummary], versions: list[DatasetVersion],
                 select: tuple[str, str] | None = None) -> None:
        super().__init__()
        self.datasets = datasets
        self.versions = versions
        self.select = select


class DatasetsLoadFailed(Message):
    """Reading the catalog failed; `message` is one line fit to show."""

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message


class DatasetListShown(Message):
    """The Datasets screen has shown its first list (start-up is complete)."""


class InboxProcessed(Message):
    """The inbox watcher registered (or rejected) one dropped file; `event` is an InboxEvent."""

    def __init__(self, event: Any) -> None:
        super().__init__()
        self.event = event


class StoreFilesChanged(Message):
    """Another process (or this one) committed or removed dataset files under the home."""

    def can_replace(self, message: Message) -> bool:
        # A burst of file events collapses into one reload.
        return isinstance(message, StoreFilesChanged)


class IngestProgressed(Message):
    """Progress of a running ingest, 0..1. High-rate: a backlog collapses to the newest."""

    def __init__(self, fraction: float) -> None:
        super().__init__()
        self.fraction = fraction

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, IngestProgressed)


class IngestFinished(Message):
    """An ingest ended: `results` (IngestResult list) on success, else `error` (one line)."""

    def __init__(self, results: list[Any] | None, error: str | None = None,
                 cancelled: bool = False) -> None:
        super().__init__()
        self.results = results
        self.error = error
        self.cancelled = cancelled


class TaskFinished(Message):
    """A background store task (remove, rebuild, check, inbox pass) ended with a one-line note."""

    def __init__(self, note: str, severity: str = "information", reload: bool = False) -> None:
        super().__init__()
        self.note = note
        self.severity = severity
        self.reload = reload


class RunsChanged(Message, bubble=False):
    """The runs watcher folded new run facts into the catalog (or found crashed jobs).

    `run_ids`: the runs whose files changed, or None when any run may have changed. A backlog
    collapses into one message that names the union of the runs. It does not bubble: the app
    forwards it to the screens, and bubbling back up to the app would loop.
    """

    def __init__(self, run_ids: frozenset[str] | None = None) -> None:
        super().__init__()
        self.run_ids = run_ids

    def can_replace(self, message: Message) -> bool:
        if not isinstance(message, RunsChanged):
            return False
        # Textual asks the older message whether the newer one may replace it: the newer one
        # is delivered, so it takes over the older one's runs.
        if self.run_ids is not None and message.run_ids is not None:
            message.run_ids = self.run_ids | message.run_ids
        else:
            message.run_ids = None
        return True

    def concerns(self, run_id: str) -> bool:
        """True when `run_id` may be among the changed runs."""
        return self.run_ids is None or run_id in self.run_ids
