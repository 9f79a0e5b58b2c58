"""Fixtures for the collector tests: the X display helpers from tests/support/x11.py."""

from tests.support.x11 import own_x_server, windows, x_server  # noqa: F401  (fixtures)
