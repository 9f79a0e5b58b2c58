"""Making local rows and reading them back from PostgreSQL, for the sync and operator-command tests."""

from __future__ import annotations

from pathlib import Path

from host_agent.common.database import FileChangeDatabase

BASE_TIME = 1_780_000_000


def file_event(i: int, **overrides):
    row = dict(
        event_time=BASE_TIME + i,
        event_type=("created", "modified", "deleted")[i % 3],
        file_path=f"/home/me/src/app/file_{i}.py",
        file_path_relative=f"app/file_{i}.py",
        file_name=f"file_{i}.py",
        file_extension=".py",
        file_size=i,
        is_symlink=False,
        monitored_root="/home/me/src",
        project_name="app",
    )
    row.update(overrides)
    return row


def add_file_events(db: FileChangeDatabase | Path, count: int, start: int = 0) -> list[int]:
    """Save ``count`` file change rows, numbered from ``start``, to an open store or to the file at a
    path (opened and closed here, as a collector in another process would); returns their ids."""
    if not isinstance(db, FileChangeDatabase):
        with FileChangeDatabase(db) as opened:
            return add_file_events(opened, count, start)
    return db.save_events(file_event(i) for i in range(start, start + count))


async def pg_file_rows(pg, origin_id: str | None = None) -> list[tuple]:
    query = "SELECT local_id, file_path, event_type FROM file_change_events"
    if origin_id:
        return [tuple(r) for r in await pg.fetch(query + " WHERE origin_id = $1 ORDER BY local_id", origin_id)]
    return [tuple(r) for r in await pg.fetch(query + " ORDER BY origin_id, local_id")]


def local_file_rows(db: FileChangeDatabase) -> list[tuple]:
    with db.reading() as conn:
        return [tuple(r) for r in conn.execute("SELECT id, file_path, event_type FROM file_change_events ORDER BY id")]
