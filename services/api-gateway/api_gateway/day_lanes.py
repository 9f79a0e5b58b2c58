"""A day's timeline lanes computed by PostgreSQL, by the rules of :mod:`api_gateway.timeline`.

A busy day is thousands of sessions per host (more as the data grows); sending each to Python
to be clipped, sized and merged cost more than the query. The statement below applies the same
rules (clip to the day, a threshold per lane keeping about ``keep`` sessions whole, runs of
shorter neighbours with no gap over ``max_gap`` merged, labelled with the application that took
most of the run) with window functions, and returns only the segments: about a thousand, whatever
the number of sessions. :func:`api_gateway.timeline.lanes` is the reference it is tested against.

Equal to the Python rules: durations are seconds as float8 (Python's ``total_seconds()`` of the
same microseconds), the run's end is the latest end of its sessions so far (the latest end of
the short sessions since the last long one: an earlier run ended more than ``max_gap`` before
this run began), and a run's application is the one with most seconds (float8 added in time
order, as Python adds them), ties going to the one seen first, as Python's ``max`` over a dict
in insertion order.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from api_gateway.hosts import host_filter
from api_gateway.search import SESSION_END

UNKNOWN_HOST = "(unknown host)"

SEGMENTS_SQL = f"""
WITH clipped AS (
    SELECT s.id, COALESCE(NULLIF(s.host_identifier, ''), '{UNKNOWN_HOST}') COLLATE "C" AS host,
           s.application_name AS app, greatest(s.start_time, $1) AS s, least({SESSION_END}, $2) AS e
    FROM desktop_activity_sessions s
    WHERE session_span(s.start_time, s.end_time, s.duration_seconds) && tstzrange($1, $2, '[)')
      AND {host_filter("s", "$3")}
), sized AS MATERIALIZED (
    SELECT c.*, extract(epoch FROM c.e - c.s)::float8 AS seconds,
           count(*) OVER (PARTITION BY c.host) AS n,
           row_number() OVER (PARTITION BY c.host ORDER BY c.e - c.s DESC) AS rank
    FROM clipped c
    WHERE c.e > c.s
), keep AS (
    -- whole sessions and merged runs alternate at worst: each lane keeps half its share whole
    SELECT greatest(25, $6::integer / greatest(1, count(*) FILTER (WHERE rank = 1))::integer / 2) AS n FROM sized
), cut AS (
    SELECT z.host, CASE WHEN max(z.n) <= k.n THEN $4::float8
                        ELSE greatest($4::float8, max(z.seconds) FILTER (WHERE z.rank = k.n) + 1e-6) END AS seconds
    FROM sized z, keep k
    GROUP BY z.host, k.n
), runs AS (
    -- longs: the long sessions so far; a lane's rows from one long session to the next share it
    SELECT z.id, z.host, z.app, z.s, z.e, z.seconds, z.seconds >= c.seconds AS long,
           count(*) FILTER (WHERE z.seconds >= c.seconds) OVER w AS longs,
           lag(z.seconds >= c.seconds) OVER w AS after_long, row_number() OVER w AS pos
    FROM sized z JOIN cut c USING (host)
    WINDOW w AS (PARTITION BY z.host ORDER BY z.s, z.id)
), ends AS (
    SELECT r.*, max(r.e) FILTER (WHERE NOT r.long) OVER (PARTITION BY r.host, r.longs ORDER BY r.s, r.id
                                                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS run_end
    FROM runs r
), numbered AS MATERIALIZED (
    SELECT x.*, count(*) FILTER (WHERE x.long OR x.after_long IS DISTINCT FROM false OR x.s - x.run_end > $5)
                    OVER (PARTITION BY x.host, x.longs ORDER BY x.s, x.id) AS segment
    FROM ends x
), labels AS (
    SELECT DISTINCT ON (host, longs, segment) host, longs, segment, app
    FROM (SELECT host, longs, segment, app, sum(seconds) AS seconds, min(pos) AS seen
          FROM numbered GROUP BY 1, 2, 3, 4) AS a
    ORDER BY host, longs, segment, seconds DESC, seen
)
SELECT g.host, g.start, g.end, l.app, t.window_title AS title, g.sessions, g.first_id
FROM (
    SELECT host, longs, segment, min(s) AS start, max(e) AS end, count(*) AS sessions,
           (array_agg(id ORDER BY pos))[1] AS first_id, min(pos) AS pos
    FROM numbered
    GROUP BY 1, 2, 3
) g JOIN labels l USING (host, longs, segment)
LEFT JOIN desktop_activity_sessions t ON g.sessions = 1 AND t.id = g.first_id
ORDER BY g.host, g.pos
"""


async def day_lanes(conn: asyncpg.Connection, lower: datetime, upper: datetime, host: str | None,
                    min_seconds: float = 60.0, max_gap: timedelta = timedelta(minutes=5),
                    budget: int = 1200) -> list[dict]:
    """The lanes (sorted by host) as JSON: each segment as :meth:`timeline.Segment.as_json` gives it,
    and the lane's active seconds (the sum of its segments' spans)."""
    rows = await conn.fetch(SEGMENTS_SQL, lower, upper, host, min_seconds, max_gap, budget)
    by_host: dict[str, list] = {}
    for r in rows:
        by_host.setdefault(r["host"], []).append(r)
    return [{"host_identifier": name,
             "active_seconds": round(sum((r["end"] - r["start"]).total_seconds() for r in segs), 3),
             "segments": [{"start": r["start"].isoformat(), "end": r["end"].isoformat(), "application": r["app"],
                           "title": r["title"], "sessions": r["sessions"], "first_id": r["first_id"]} for r in segs]}
            for name, segs in sorted(by_host.items())]
