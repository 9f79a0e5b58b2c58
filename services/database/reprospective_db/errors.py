"""Errors of the shared database package; each can carry a hint for the operator."""

from __future__ import annotations


class DatabaseError(Exception):
    """Base class of the errors raised on purpose here."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text} (hint: {self.hint})" if self.hint else text


class ClusterError(DatabaseError):
    """A private PostgreSQL cluster could not be created, started or stopped."""


class SchemaError(DatabaseError):
    """The migration files are malformed, or applying one failed."""
