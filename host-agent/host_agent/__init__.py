"""Reprospective host agent: records desktop activity and file changes locally, syncs them to PostgreSQL."""

__version__ = "0.1.0"
