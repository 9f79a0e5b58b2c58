"""Who this host is, for people: the plan's ``hostname_username``. Written once, used everywhere
(rows and ``sync_logs`` carry it; ``status`` looks up this host's runs by it)."""

from __future__ import annotations

import getpass
import os
import socket


def host_identifier() -> str:
    """``hostname_username``, as the plan defines it."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{socket.gethostname()}_{user}"
