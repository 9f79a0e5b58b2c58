"""Who this host is.

Two facts, each written once:

- :func:`host_identifier`, for people: the plan's ``hostname_username``, unless the config names
  the host (``agent.host_identifier``). Rows and ``sync_logs`` carry it.
- :func:`host_id`, for machines: a random UUID made once in the data folder (the file
  :data:`HOST_ID_FILE`, next to the SQLite databases). It survives renaming the host, changing its
  user, restarts and upgrades; two data folders are two hosts even when they share a name. The
  sync records it in PostgreSQL's ``hosts`` table with the host's current name and its origins.

A host id file that exists but cannot be read, or does not hold a UUID, is an error naming the
file: making a new id silently would split the host's history in two.
"""

from __future__ import annotations

import getpass
import os
import socket
import uuid
from pathlib import Path

from host_agent.core.errors import IdentityError

#: The file in the data folder holding this host's id (one UUID, one line).
HOST_ID_FILE = "host_id"


def default_host_identifier() -> str:
    """``hostname_username``, as the plan defines it."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{socket.gethostname()}_{user}"


def host_identifier(configured: str | None = None) -> str:
    """The host's name for people: ``configured`` (``agent.host_identifier``), else ``hostname_username``."""
    return configured or default_host_identifier()


def host_id_path(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / HOST_ID_FILE


def read_host_id(data_dir: str | os.PathLike[str]) -> uuid.UUID | None:
    """The id kept in ``data_dir``, or None when the folder has none yet (read-only)."""
    path = host_id_path(data_dir)
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not ASCII text"
        raise IdentityError(
            f"host id file {path} cannot be read: {reason}",
            hint="fix its permissions or restore it from a backup; deleting it makes this a new host",
        ) from None
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        raise IdentityError(
            f"host id file {path} does not hold a host id (a UUID)",
            hint="restore it from a backup; deleting it makes this a new host whose history starts anew",
        ) from None


def host_id(data_dir: str | os.PathLike[str]) -> uuid.UUID:
    """This host's id, made (once) in ``data_dir`` if it has none yet."""
    found = read_host_id(data_dir)
    if found is not None:
        return found
    path = host_id_path(data_dir)
    made = uuid.uuid4()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{HOST_ID_FILE}.{os.getpid()}.tmp")
        temporary.write_text(f"{made}\n", encoding="ascii")
        try:
            os.link(temporary, path)  # never replaces an id another process made meanwhile
        except FileExistsError:
            pass
        finally:
            temporary.unlink(missing_ok=True)
    except OSError as exc:
        raise IdentityError(f"host id file {path} cannot be written: {exc.strerror}",
                            hint="check that the data folder is writable") from None
    found = read_host_id(data_dir)
    assert found is not None
    return found
