"""A day's timeline lanes read from ``timeline_runs`` (16), by the rules of :mod:`api_gateway.timeline`.

The segments are kept by PostgreSQL as sessions arrive, by rules that do not depend on the
viewer's zone or day; a day reads the few hundred segments overlapping it (a GiST range of
``idx_timeline_runs_span``) and clips them, whatever the number of sessions behind them.
:func:`api_gateway.timeline.lanes` is the reference it is tested against.

Lanes are hosts: an origin's segments go to the host that owns the origin (``host_origins``, 13)
under its current name, so a renamed host is one lane; rows of an origin no host registered go
to the name they were synced with. A day whose segments would come to more than
:data:`~api_gateway.timeline.MAX_DAY_BYTES` of JSON draws close neighbours as one bar
(:func:`~api_gateway.timeline.fit_day`), and says within which gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from api_gateway.hosts import host_filter, host_join, host_name
from api_gateway.timeline import MAX_DAY_BYTES, UNKNOWN_HOST, Bar, fit_day, json_bytes

SEGMENTS_SQL = f"""
SELECT COALESCE({host_name("r")}, '{UNKNOWN_HOST}') COLLATE "C" AS host,
       named_origin.host_id, greatest(r.start_time, $1) AS start, least(r.end_time, $2) AS end, r.application_name AS app,
       r.window_title AS title, r.sessions, r.first_id,
       octet_length(r.application_name) + COALESCE(octet_length(r.window_title), 0) AS text_bytes
FROM timeline_runs r {host_join("r")}
WHERE tstzrange(r.start_time, r.end_time, '[]') && tstzrange($1, $2, '[)')
  AND r.start_time < $2 AND (r.end_time > $1 OR r.start_time = $1)
  AND {host_filter("r", "$3")}
ORDER BY 1, named_origin.host_id NULLS FIRST, r.start_time, r.first_id
"""


@dataclass
class DayLanes:
    """The lanes (sorted by host name) as JSON, and the gap within which bars were drawn as one
    (``None`` unless the day would not fit in :data:`~api_gateway.timeline.MAX_DAY_BYTES`)."""

    lanes: list[dict]
    merged_within: timedelta | None = None


async def day_lanes(conn: asyncpg.Connection, lower: datetime, upper: datetime, host: str | None,
                    max_bytes: int = MAX_DAY_BYTES) -> DayLanes:
    """Each lane: its segments as :meth:`timeline.Segment.as_json` gives them, the lane's host id
    (none for rows of no registered host) and its active seconds (the sum of its segments' spans,
    counted before any merging :func:`~api_gateway.timeline.fit_day` does for a day too large)."""
    rows = await conn.fetch(SEGMENTS_SQL, lower, upper, host)
    by_lane: dict[tuple, list] = {}
    for r in rows:
        by_lane.setdefault((r["host"], r["host_id"]), []).append(r)
    active = [round(sum((r["end"] - r["start"]).total_seconds() for r in segs), 3) for segs in by_lane.values()]
    gap = None
    if json_bytes(len(rows), sum(r["text_bytes"] for r in rows)) <= max_bytes:  # the common day: as it is
        drawn = [[(r["start"], r["end"], r["app"], r["title"], r["sessions"], r["first_id"]) for r in segs]
                 for segs in by_lane.values()]
    else:
        bars = [[Bar(r["start"], r["end"], r["app"], r["title"], r["sessions"], r["first_id"]) for r in segs]
                for segs in by_lane.values()]
        fitted, gap = fit_day(bars, max_bytes)
        drawn = [[(b.start, b.end, b.application, b.title, b.sessions, b.first_id) for b in lane] for lane in fitted]
    lanes = [{"host_identifier": name, "host_id": str(host_id) if host_id else None, "active_seconds": seconds,
              "segments": [{"start": start.isoformat(), "end": end.isoformat(), "application": app, "title": title,
                            "sessions": sessions, "first_id": first_id}
                           for start, end, app, title, sessions, first_id in segments]}
             for ((name, host_id), seconds, segments) in zip(by_lane, active, drawn)]
    return DayLanes(lanes, gap)
