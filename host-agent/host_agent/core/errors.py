"""The package's exception hierarchy.

Every error an operator may see derives from :class:`AgentError` (itself a
:class:`reprospective_db.errors.ReprospectiveError`, as the shared database code's are) and carries a ``hint``:
what to do about it. The command line turns them into exit codes; nothing below it does.
"""

from __future__ import annotations

from reprospective_db.errors import ClusterError as EmbeddedPostgresError  # raised by the shared cluster code
from reprospective_db.errors import ReprospectiveError

__all__ = ["AgentError", "ConfigError", "StoreError", "InvalidEventError", "AlreadyRunningError", "SyncError",
           "IdentityError", "EmbeddedPostgresError"]


class AgentError(ReprospectiveError):
    """Base class of every error raised on purpose by the host agent."""


class ConfigError(AgentError):
    """The configuration file or environment is invalid; the agent does not start."""


class StoreError(AgentError):
    """A local SQLite store cannot be opened or written."""


class InvalidEventError(StoreError, ValueError):
    """A row handed to a store is missing a field or has a bad value."""


class AlreadyRunningError(AgentError):
    """Another agent already owns this data folder."""


class SyncError(AgentError):
    """A sync step failed; ``__cause__`` holds the original exception."""


class IdentityError(AgentError):
    """This host's id file cannot be read or made; the agent does not guess a new identity."""
