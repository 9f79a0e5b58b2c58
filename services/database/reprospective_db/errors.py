"""Errors of the shared database package; each can carry a hint for the operator."""

from __future__ import annotations


class ReprospectiveError(Exception):
    """Base class of every error Reprospective raises on purpose (agent, gateway, this package):
    a message for the operator and, where it helps, a hint of what to do."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text} (hint: {self.hint})" if self.hint else text


class DatabaseError(ReprospectiveError):
    """Base class of the errors raised on purpose by the shared database package."""


class ClusterError(DatabaseError):
    """A private PostgreSQL cluster could not be created, started or stopped."""


class SchemaError(DatabaseError):
    """The migration files are malformed, or applying one failed."""
