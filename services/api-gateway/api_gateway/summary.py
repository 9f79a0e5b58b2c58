"""Active time and counts per period and group, sessions clipped at the viewer's period edges.

The periods are computed in Python (:func:`api_gateway.periods.periods_between`, DST-safe) and
handed to PostgreSQL as arrays; each session counts, in each period it touches, only the seconds
inside it.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from api_gateway.periods import Period
from api_gateway.search import SESSION_END

GROUPS = ("application", "project", "host", "extension")
SESSION_KEYS = {"application": "s.application_name", "host": "s.host_identifier"}
FILE_KEYS = {"project": "f.project_name", "host": "f.host_identifier", "extension": "f.file_extension"}


def _period_arrays(periods: list[Period]) -> tuple[list[datetime], list[datetime], list[str]]:
    return [p.start for p in periods], [p.end for p in periods], [p.label for p in periods]


async def session_seconds(conn: asyncpg.Connection, periods: list[Period], key: str | None,
                          host: str | None) -> list[asyncpg.Record]:
    """(label, key, seconds, sessions) for every period and key with activity."""
    starts, ends, labels = _period_arrays(periods)
    key_sql = SESSION_KEYS[key] if key else "NULL::text"
    return await conn.fetch(
        f"""
        SELECT p.label, {key_sql} AS key,
               sum(extract(epoch FROM least({SESSION_END}, p.e) - greatest(s.start_time, p.s)))::float8 AS seconds,
               count(*) AS sessions
        FROM unnest($1::timestamptz[], $2::timestamptz[], $3::text[]) AS p(s, e, label)
        JOIN desktop_activity_sessions s ON s.start_time < p.e AND {SESSION_END} > p.s
        WHERE s.start_time < $5 AND {SESSION_END} > $4 AND ($6::text IS NULL OR s.host_identifier = $6)
        GROUP BY 1, 2
        """,
        starts, ends, labels, periods[0].start, periods[-1].end, host,
    )


async def file_counts(conn: asyncpg.Connection, periods: list[Period], key: str | None,
                      host: str | None) -> list[asyncpg.Record]:
    """(label, key, events) for every period and key with file changes."""
    starts, ends, labels = _period_arrays(periods)
    key_sql = FILE_KEYS[key] if key else "NULL::text"
    return await conn.fetch(
        f"""
        SELECT p.label, {key_sql} AS key, count(*) AS events
        FROM unnest($1::timestamptz[], $2::timestamptz[], $3::text[]) AS p(s, e, label)
        JOIN file_change_events f ON f.event_time >= p.s AND f.event_time < p.e
        WHERE f.event_time >= $4 AND f.event_time < $5 AND ($6::text IS NULL OR f.host_identifier = $6)
        GROUP BY 1, 2
        """,
        starts, ends, labels, periods[0].start, periods[-1].end, host,
    )


async def summarize(conn: asyncpg.Connection, periods: list[Period], group_by: str, host: str | None) -> list[dict]:
    """Per period: totals, and the groups sorted by active time (then file changes)."""
    session_key = group_by if group_by in SESSION_KEYS else None
    file_key = group_by if group_by in FILE_KEYS else None
    sessions = await session_seconds(conn, periods, session_key, host)
    files = await file_counts(conn, periods, file_key, host)
    out = {p.label: {"label": p.label, "start": p.start.isoformat(), "end": p.end.isoformat(),
                     "active_seconds": 0.0, "sessions": 0, "file_events": 0, "groups": {}} for p in periods}
    for row in sessions:
        period = out[row["label"]]
        period["active_seconds"] += row["seconds"]
        period["sessions"] += row["sessions"]
        if session_key:
            group = period["groups"].setdefault(row["key"], {"key": row["key"], "active_seconds": 0.0,
                                                             "sessions": 0, "file_events": 0})
            group["active_seconds"] += row["seconds"]
            group["sessions"] += row["sessions"]
    for row in files:
        period = out[row["label"]]
        period["file_events"] += row["events"]
        if file_key:
            group = period["groups"].setdefault(row["key"], {"key": row["key"], "active_seconds": 0.0 if session_key
                                                             else None, "sessions": 0, "file_events": 0})
            group["file_events"] += row["events"]
    result = []
    for period in out.values():
        groups = sorted(period["groups"].values(),
                        key=lambda g: (-(g["active_seconds"] or 0), -g["file_events"], str(g["key"])))
        for group in groups:
            if group["active_seconds"] is not None:
                group["active_seconds"] = round(group["active_seconds"], 3)
        period["active_seconds"] = round(period["active_seconds"], 3)
        result.append(period | {"groups": groups})
    return result
