"""Waiting on a condition with a deadline: the one way tests wait (never a fixed sleep).

The helpers live in :mod:`reprospective_db.testing`, shared by every project's tests."""

from reprospective_db.testing import eventually, wait_until

__all__ = ["eventually", "wait_until"]
