"""Active time and counts per period and group, sessions clipped at the viewer's period edges.

The periods are computed in Python (:func:`api_gateway.periods.periods_between`, DST-safe) and
handed to PostgreSQL as arrays; each session counts, in each period it touches, only the seconds
inside it, and as one session in the period where it started.

When every period edge falls on a 15-minute boundary of UTC (every local midnight of every IANA
zone in use does), the rollups answer, exactly; an edge in between (a range given as ``10:07``)
falls back to the raw rows, with the same result. With no host given, totals, time per
application and file changes per project come from the hourly rollups across all hosts (12),
whose quarter-hour columns split an hour that a period edge cuts; the other groups from the
15-minute rollups (07, 09). With a host, totals come from the hourly totals per host (11) when
every edge is on a whole hour of UTC, everything else from the 15-minute rollups.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import asyncpg

from api_gateway.periods import Period
from api_gateway.hosts import host_filter, host_join, host_name
from api_gateway.search import SESSION_END

GROUPS = ("application", "project", "host", "extension", "none")
# A host is grouped under its current name (hosts.host_name), whatever names its rows carry.
SESSION_KEYS = {"application": "s.application_name", "host": host_name("s")}
FILE_KEYS = {"project": "f.project_name", "host": host_name("f"), "extension": "f.file_extension"}
# In the rollups a missing value is '' (it is part of the key); shown as null like the raw rows.
ROLLUP_SESSION_KEYS = {"application": "r.application_name", "host": host_name("r")}
ROLLUP_FILE_KEYS = {"project": "NULLIF(r.project_name, '')", "host": host_name("r")}


def _joins(alias: str, key: str | None) -> str:
    return host_join(alias) if key == "host" else ""
BUCKET = timedelta(minutes=15)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def on_buckets(periods: list[Period], size: timedelta = BUCKET) -> bool:
    """Whether every period edge is a boundary of ``size`` in UTC, so rollups of that size are exact."""
    return all((moment - _EPOCH) % size == timedelta(0) for p in periods for moment in (p.start, p.end))


async def hourly_totals(conn: asyncpg.Connection, periods: list[Period], host: str | None) -> list[asyncpg.Record]:
    """Per period index: active seconds, sessions started, file changes, from activity_totals_1h (11)."""
    return await conn.fetch(
        f"""
        SELECT width_bucket(r.hour, $1::timestamptz[]) AS i, (sum(r.active_us) / 1e6)::float8 AS seconds,
               sum(r.sessions_started)::bigint AS sessions, sum(r.file_events)::bigint AS events
        FROM activity_totals_1h r
        WHERE r.hour >= $2 AND r.hour < $3 AND {host_filter("r", "$4")}
        GROUP BY 1
        """,
        [p.start for p in periods], periods[0].start, periods[-1].end, host,
    )


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
               sum(greatest(0, extract(epoch FROM least({SESSION_END}, p.e) - greatest(s.start_time, p.s))))::float8
                   AS seconds,
               count(*) FILTER (WHERE s.start_time >= p.s) AS sessions
        FROM unnest($1::timestamptz[], $2::timestamptz[], $3::text[]) AS p(s, e, label)
        JOIN desktop_activity_sessions s
          ON s.start_time < p.e AND ({SESSION_END} > p.s OR s.start_time >= p.s)
        {_joins("s", key)}
        WHERE (session_span(s.start_time, s.end_time, s.duration_seconds) && tstzrange($4, $5, '[)')
               OR (s.start_time >= $4 AND s.start_time < $5))  -- zero-length sessions still count as started
          AND {host_filter("s", "$6")}
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
        {_joins("f", key)}
        WHERE f.event_time >= $4 AND f.event_time < $5 AND {host_filter("f", "$6")}
        GROUP BY 1, 2
        """,
        starts, ends, labels, periods[0].start, periods[-1].end, host,
    )


# Each rollup bucket is given its period by width_bucket over the sorted period starts: one
# index range scan of the rollup, whatever the number of periods (a year of days is 366).
async def rollup_session_seconds(conn: asyncpg.Connection, periods: list[Period], key: str | None,
                                 host: str | None) -> list[dict]:
    key_sql = ROLLUP_SESSION_KEYS[key] if key else "NULL::text"
    rows = await conn.fetch(
        f"""
        SELECT width_bucket(r.bucket, $1::timestamptz[]) AS i, {key_sql} AS key,
               (sum(r.active_us) / 1e6)::float8 AS seconds, sum(r.sessions_started)::bigint AS sessions
        FROM session_rollup_15m r {_joins("r", key)}
        WHERE r.bucket >= $2 AND r.bucket < $3 AND {host_filter("r", "$4")}
        GROUP BY 1, 2
        HAVING sum(r.active_us) <> 0 OR sum(r.sessions_started) <> 0
        """,
        [p.start for p in periods], periods[0].start, periods[-1].end, host,
    )
    return [{"label": periods[r["i"] - 1].label, "key": r["key"], "seconds": r["seconds"], "sessions": r["sessions"]}
            for r in rows]


async def rollup_file_counts(conn: asyncpg.Connection, periods: list[Period], key: str | None,
                             host: str | None) -> list[dict]:
    table, key_sql = ("file_extension_rollup_15m", "NULLIF(r.file_extension, '')") if key == "extension" else (
        "file_project_rollup_15m", ROLLUP_FILE_KEYS[key] if key else "NULL::text")
    rows = await conn.fetch(
        f"""
        SELECT width_bucket(r.bucket, $1::timestamptz[]) AS i, {key_sql} AS key, sum(r.events)::bigint AS events
        FROM {table} r {_joins("r", key)}
        WHERE r.bucket >= $2 AND r.bucket < $3 AND {host_filter("r", "$4")}
        GROUP BY 1, 2
        HAVING sum(r.events) <> 0
        """,
        [p.start for p in periods], periods[0].start, periods[-1].end, host,
    )
    return [{"label": periods[r["i"] - 1].label, "key": r["key"], "events": r["events"]} for r in rows]


# The hourly rollups across all hosts (12): (table, key column or None, the measures' column prefixes).
ALL_HOSTS = {
    "totals": ("activity_totals_all_1h", None, ("active_us", "sessions", "file_events")),
    "sessions": ("activity_totals_all_1h", None, ("active_us", "sessions")),
    "application": ("application_totals_all_1h", "r.application_name", ("active_us", "sessions")),
    "files": ("activity_totals_all_1h", None, ("file_events",)),
    "project": ("project_totals_all_1h", "NULLIF(r.project_name, '')", ("events",)),
}
QUARTERS = range(4)
# Per UTC day across all hosts (16), for the days wholly inside one period: (table, key column, measure).
ALL_HOSTS_DAILY = {"project": ("project_totals_all_1d", "NULLIF(r.project_name, '')", "events")}
DAY = timedelta(days=1)


def whole_utc_days(periods: list[Period]) -> tuple[list[tuple[datetime, datetime]], list[tuple[datetime, datetime]]]:
    """The UTC days lying wholly inside one period (a range of them per period), and the rest of
    the periods' span (adjacent parts joined), to be read by the hour."""
    days: list[tuple[datetime, datetime]] = []
    hours: list[tuple[datetime, datetime]] = []
    for p in periods:
        first = _EPOCH + -(-(p.start - _EPOCH) // DAY) * DAY
        last = _EPOCH + (p.end - _EPOCH) // DAY * DAY
        parts = [(p.start, first), (last, p.end)] if first < last else [(p.start, p.end)]
        if first < last:
            days.append((first, last))
        for lo, hi in parts:
            if lo >= hi:
                continue
            if hours and hours[-1][1] == lo:
                hours[-1] = (hours[-1][0], hi)
            else:
                hours.append((lo, hi))
    return days, hours


def all_hosts_sql(table: str, key_sql: str | None, measures: tuple[str, ...]) -> str:
    """Per period index and key, each measure summed: an hour within one period counts whole, an
    hour that a period edge cuts counts quarter by quarter ($1: the period starts and the last end;
    $2, $3: the starts and ends of the ranges to read, apart by a day or more)."""
    key = key_sql or "NULL::text"
    # Every row in the first branch (no filter: the planner then sizes its aggregate right), counting
    # only if its hour lies within one period; the few hours cut by an edge in the second.
    whole = ", ".join(f"sum(CASE WHEN r.i0 = r.i3 THEN {' + '.join(f'r.{m}_{k}' for k in QUARTERS)} END)::bigint AS {m}"
                      for m in measures)
    split = ", ".join(f"sum(q.{m})::bigint" for m in measures)
    quarters = ", ".join(f"ARRAY[{', '.join(f'r.{m}_{k}' for k in QUARTERS)}]" for m in measures)
    return f"""
        WITH r AS MATERIALIZED (
            SELECT r.*, {key} AS key, width_bucket(r.hour, $1::timestamptz[]) AS i0,
                   width_bucket(r.hour + interval '45 minutes', $1::timestamptz[]) AS i3
            FROM unnest($2::timestamptz[], $3::timestamptz[]) AS g(lo, hi)
            JOIN {table} r ON r.hour >= date_bin('1 hour', g.lo, TIMESTAMPTZ 'epoch') AND r.hour < g.hi
        )
        SELECT r.i0 AS i, r.key, {whole} FROM r GROUP BY 1, 2
        UNION ALL
        SELECT width_bucket(r.hour + q.k * interval '15 minutes', $1::timestamptz[]), r.key, {split}
        FROM r CROSS JOIN LATERAL unnest(ARRAY[0, 1, 2, 3], {quarters}) AS q(k, {", ".join(measures)})
        WHERE r.i0 <> r.i3 GROUP BY 1, 2
        """


async def all_hosts_rows(conn: asyncpg.Connection, periods: list[Period], what: str) -> list[dict]:
    """Rows of :data:`ALL_HOSTS` ``what`` as the summary takes them: label, key and the period's figures."""
    table, key_sql, measures = ALL_HOSTS[what]
    edges = [p.start for p in periods] + [periods[-1].end]
    days, hours = whole_utc_days(periods) if what in ALL_HOSTS_DAILY else ([], [(periods[0].start, periods[-1].end)])
    rows = []
    if hours:
        rows += await conn.fetch(all_hosts_sql(table, key_sql, measures), edges, [h[0] for h in hours],
                                 [h[1] for h in hours])
    if days:
        day_table, day_key, measure = ALL_HOSTS_DAILY[what]
        rows += await conn.fetch(
            f"""
            SELECT width_bucket(r.day, $1::timestamptz[]) AS i, {day_key} AS key, sum(r.{measure})::bigint AS {measure}
            FROM unnest($2::timestamptz[], $3::timestamptz[]) AS d(lo, hi)
            JOIN {day_table} r ON r.day >= d.lo AND r.day < d.hi
            GROUP BY 1, 2
            """, edges, [d[0] for d in days], [d[1] for d in days])
    found = []
    for r in rows:
        if not 1 <= r["i"] <= len(periods):
            continue  # a quarter of the first or last hour outside the range
        row = {"label": periods[r["i"] - 1].label, "key": r["key"]}
        if "active_us" in measures:
            row |= {"seconds": (r["active_us"] or 0) / 1e6, "sessions": r["sessions"] or 0}
        if measures[-1] in ("events", "file_events"):
            row["events"] = r[measures[-1]] or 0
        found.append(row)
    return found


async def rolled_sessions(conn: asyncpg.Connection, periods: list[Period], key: str | None,
                          host: str | None, totals: list[dict] | None) -> list[dict]:
    if key is None and totals is not None:
        rows = totals
    elif host is None and key in (None, "application"):
        rows = await all_hosts_rows(conn, periods, key or "sessions")
    else:
        return await rollup_session_seconds(conn, periods, key, host)
    return [r for r in rows if r["seconds"] or r["sessions"]]


async def rolled_files(conn: asyncpg.Connection, periods: list[Period], key: str | None,
                       host: str | None, totals: list[dict] | None) -> list[dict]:
    if key is None and totals is not None:
        rows = totals
    elif host is None and key in (None, "project"):
        rows = await all_hosts_rows(conn, periods, key or "files")
    else:
        return await rollup_file_counts(conn, periods, key, host)
    return [r for r in rows if r["events"]]


async def summarize(conn: asyncpg.Connection, periods: list[Period], group_by: str, host: str | None,
                    *, use_rollups: bool | None = None) -> list[dict]:
    """Per period: totals, and the groups sorted by active time (then file changes)."""
    session_key = group_by if group_by in SESSION_KEYS else None
    file_key = group_by if group_by in FILE_KEYS else None
    if use_rollups is None:
        use_rollups = on_buckets(periods)
    if use_rollups:
        # Totals for both sides at once where one query gives them: all hosts (12), or a host's
        # hourly totals (11) when every edge is on a whole hour.
        totals = None
        if host is None and session_key is None and file_key is None:
            totals = await all_hosts_rows(conn, periods, "totals")
        elif host is not None and (session_key is None or file_key is None) and on_buckets(periods, timedelta(hours=1)):
            totals = [dict(r) | {"label": periods[r["i"] - 1].label, "key": None}
                      for r in await hourly_totals(conn, periods, host)]
        sessions = await rolled_sessions(conn, periods, session_key, host, totals)
        files = await rolled_files(conn, periods, file_key, host, totals)
    else:
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
