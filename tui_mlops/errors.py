"""User-facing error types: every error a user can cause derives from MlopsError."""

from __future__ import annotations


class MlopsError(Exception):
    """An error whose message is fit to show a person, on one line."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        # One line, always: notifications and CLI errors show it as it is.
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        return str(self)


class InputError(MlopsError):
    """Bad input data: the message names the file, and the line/column where known."""


class NotFoundError(MlopsError):
    """A dataset, version or other named thing does not exist."""


class StoreError(MlopsError):
    """The store is locked, damaged or otherwise unusable."""


class ValidationFailed(MlopsError):
    """Data validation rules failed (CLI exit code 1)."""

    exit_code = 1
