"""The plan's ``common/database.py``: the local SQLite stores, living in :mod:`host_agent.store`."""

from host_agent.store.desktop_activity import DesktopActivityDatabase
from host_agent.store.file_changes import FileChangeDatabase, validate_event

__all__ = ["DesktopActivityDatabase", "FileChangeDatabase", "validate_event"]
