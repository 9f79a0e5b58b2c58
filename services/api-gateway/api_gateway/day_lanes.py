"""A day's timeline lanes read from ``timeline_runs`` (16), by the rules of :mod:`api_gateway.timeline`.

The segments are kept by PostgreSQL as sessions arrive, by rules that do not depend on the
viewer's zone or day; a day reads the few hundred segments overlapping it (a GiST range of
``idx_timeline_runs_span``) and clips them, whatever the number of sessions behind them.
:func:`api_gateway.timeline.lanes` is the reference it is tested against.

Lanes are hosts: an origin's segments go to the host that owns the origin (``host_origins``, 13)
under its current name, so a renamed host is one lane; rows of an origin no host registered go
to the name they were synced with.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from api_gateway.hosts import host_filter, host_join, host_name
from api_gateway.timeline import UNKNOWN_HOST

SEGMENTS_SQL = f"""
SELECT COALESCE({host_name("r")}, '{UNKNOWN_HOST}') COLLATE "C" AS host,
       named_origin.host_id, greatest(r.start_time, $1) AS start, least(r.end_time, $2) AS end, r.application_name AS app,
       r.window_title AS title, r.sessions, r.first_id
FROM timeline_runs r {host_join("r")}
WHERE tstzrange(r.start_time, r.end_time, '[]') && tstzrange($1, $2, '[)')
  AND r.start_time < $2 AND (r.end_time > $1 OR r.start_time = $1)
  AND {host_filter("r", "$3")}
ORDER BY 1, named_origin.host_id NULLS FIRST, r.start_time, r.first_id
"""


async def day_lanes(conn: asyncpg.Connection, lower: datetime, upper: datetime, host: str | None) -> list[dict]:
    """The lanes (sorted by host name) as JSON: each segment as :meth:`timeline.Segment.as_json` gives
    it, the lane's host id (none for rows of no registered host) and its active seconds (the sum of
    its segments' spans)."""
    rows = await conn.fetch(SEGMENTS_SQL, lower, upper, host)
    by_lane: dict[tuple, list] = {}
    for r in rows:
        by_lane.setdefault((r["host"], r["host_id"]), []).append(r)
    return [{"host_identifier": name, "host_id": str(host_id) if host_id else None,
             "active_seconds": round(sum((r["end"] - r["start"]).total_seconds() for r in segs), 3),
             "segments": [{"start": r["start"].isoformat(), "end": r["end"].isoformat(), "application": r["app"],
                           "title": r["title"], "sessions": r["sessions"], "first_id": r["first_id"]} for r in segs]}
            for (name, host_id), segs in by_lane.items()]
