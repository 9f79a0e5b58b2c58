"""Every host that ever synced, and each host's sync health per table, from the rows and ``sync_logs``."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

TABLES = ("desktop_activity_sessions", "file_change_events")
#: The agent syncs every 300 s by default; three missed runs make a host "lagging".
LAGGING_AFTER = timedelta(minutes=15)
#: How far back the run history is read: enough for "failing since" and today's counts, and
#: bounded however long a host has been syncing.
HISTORY = timedelta(days=30)


def sync_state(last_status: str | None, last_success: datetime | None, now: datetime,
               lagging_after: timedelta = LAGGING_AFTER) -> str:
    """``failing`` (the latest run failed), ``lagging`` (no success for a while), ``ok`` or ``never``."""
    if last_status is None and last_success is None:
        return "never"
    if last_status == "failed":
        return "failing"
    if last_success is None or now - last_success > lagging_after:
        return "lagging"
    return "ok"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def list_hosts(conn: asyncpg.Connection, now: datetime) -> list[dict]:
    rows = await conn.fetch(
        """
        WITH s AS (
            SELECT host_identifier AS host, array_agg(DISTINCT origin_id) FILTER (WHERE origin_id IS NOT NULL) AS origins,
                   min(start_time) AS first_seen, max(start_time) AS last_seen, count(*) AS n, max(synced_at) AS synced
            FROM desktop_activity_sessions GROUP BY 1
        ), f AS (
            SELECT host_identifier AS host, array_agg(DISTINCT origin_id) FILTER (WHERE origin_id IS NOT NULL) AS origins,
                   min(event_time) AS first_seen, max(event_time) AS last_seen, count(*) AS n, max(synced_at) AS synced
            FROM file_change_events GROUP BY 1
        ), l AS (
            SELECT host_identifier AS host,
                   max(sync_completed_at) FILTER (WHERE status <> 'failed') AS last_success,
                   max(sync_started_at) FILTER (WHERE status = 'failed') AS last_failure,
                   (array_agg(error_message ORDER BY sync_started_at DESC) FILTER (WHERE status = 'failed'))[1]
                       AS last_failure_message
            FROM sync_logs WHERE sync_started_at >= $1 GROUP BY 1
        ), h AS (SELECT host FROM s UNION SELECT host FROM f UNION SELECT host FROM l)
        SELECT h.host,
               ARRAY(SELECT DISTINCT o FROM unnest(COALESCE(s.origins, '{}') || COALESCE(f.origins, '{}')) o
                     ORDER BY o) AS origins,
               LEAST(s.first_seen, f.first_seen) AS first_seen, GREATEST(s.last_seen, f.last_seen) AS last_seen,
               COALESCE(s.n, 0) AS sessions, COALESCE(f.n, 0) AS file_events,
               GREATEST(s.synced, f.synced) AS newest_synced_at,
               l.last_success, l.last_failure, l.last_failure_message
        FROM h LEFT JOIN s ON s.host IS NOT DISTINCT FROM h.host
        LEFT JOIN f ON f.host IS NOT DISTINCT FROM h.host
        LEFT JOIN l ON l.host IS NOT DISTINCT FROM h.host
        ORDER BY 1 NULLS LAST
        """,
        now - HISTORY,
    )
    return [
        {
            "host_identifier": r["host"],
            "origins": [str(o) for o in r["origins"]],
            "first_seen": _iso(r["first_seen"]),
            "last_seen": _iso(r["last_seen"]),
            "rows": {"desktop_activity_sessions": r["sessions"], "file_change_events": r["file_events"]},
            "last_successful_sync": _iso(r["last_success"]),
            "last_failure": _iso(r["last_failure"]),
            "last_failure_message": r["last_failure_message"],
            "sync_lag_seconds": round((now - r["newest_synced_at"]).total_seconds(), 3)
            if r["newest_synced_at"] else None,
        }
        for r in rows
    ]


# Per (host, table) pair: the pairs by a loose index scan (a recursive skip through
# idx_sync_logs_host_table_started), then each figure by a short index range of that pair.
_PAIR = "COALESCE(l.host_identifier, '') = p.host AND l.table_name = p.table_name"
_ORDER = "ORDER BY COALESCE(l.host_identifier, ''), l.table_name, l.sync_started_at DESC LIMIT 1"
SYNC_STATUS_SQL = f"""
WITH RECURSIVE pairs AS (
    (SELECT COALESCE(host_identifier, '') AS host, table_name FROM sync_logs
     ORDER BY COALESCE(host_identifier, ''), table_name LIMIT 1)
    UNION ALL
    SELECT n.host, n.table_name FROM pairs p CROSS JOIN LATERAL (
        SELECT COALESCE(l.host_identifier, '') AS host, l.table_name FROM sync_logs l
        WHERE (COALESCE(l.host_identifier, ''), l.table_name) > (p.host, p.table_name)
        ORDER BY COALESCE(l.host_identifier, ''), l.table_name LIMIT 1) n
), today AS (  -- one range of idx_sync_logs_started_at for every pair at once
    SELECT COALESCE(host_identifier, '') AS host, table_name, count(*) AS runs,
           COALESCE(sum(records_synced), 0) AS rows, COALESCE(sum(records_failed), 0) AS failed
    FROM sync_logs WHERE sync_started_at >= $1 AND sync_started_at < $2 GROUP BY 1, 2
)
SELECT NULLIF(p.host, '') AS host, p.table_name, last.status AS last_status,
       ok.sync_completed_at AS last_success, bad.sync_started_at AS last_failure,
       bad.error_message AS last_failure_message,
       (SELECT min(l.sync_started_at) FROM sync_logs l WHERE {_PAIR} AND l.status = 'failed'
          AND l.sync_started_at > COALESCE(ok.sync_started_at, '-infinity')) AS failing_since,
       COALESCE(today.runs, 0) AS runs_today, COALESCE(today.rows, 0) AS rows_today,
       COALESCE(today.failed, 0) AS failed_today
FROM pairs p
LEFT JOIN LATERAL (SELECT l.status FROM sync_logs l WHERE {_PAIR} {_ORDER}) last ON true
LEFT JOIN LATERAL (SELECT l.sync_started_at, l.sync_completed_at FROM sync_logs l
                   WHERE {_PAIR} AND l.status <> 'failed' {_ORDER}) ok ON true
LEFT JOIN LATERAL (SELECT l.sync_started_at, l.error_message FROM sync_logs l
                   WHERE {_PAIR} AND l.status = 'failed' {_ORDER}) bad ON true
LEFT JOIN today ON today.host = p.host AND today.table_name = p.table_name
ORDER BY p.host = '', p.host, p.table_name
"""


async def sync_status(conn: asyncpg.Connection, now: datetime, today_start: datetime,
                      today_end: datetime | None = None) -> list[dict]:
    rows = await conn.fetch(SYNC_STATUS_SQL, today_start, today_end or today_start + timedelta(days=1))
    return [
        {
            "host_identifier": r["host"],
            "table_name": r["table_name"],
            "state": sync_state(r["last_status"], r["last_success"], now),
            "last_status": r["last_status"],
            "last_success": _iso(r["last_success"]),
            "last_failure": _iso(r["last_failure"]),
            "last_failure_message": r["last_failure_message"],
            "failing_since": _iso(r["failing_since"]) if r["last_status"] == "failed" else None,
            "runs_today": r["runs_today"],
            "rows_today": r["rows_today"],
            "rows_failed_today": r["failed_today"],
        }
        for r in rows
    ]


async def recent_runs(conn: asyncpg.Connection, limit: int = 50, host: str | None = None) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT sync_started_at, sync_completed_at, table_name, records_synced, records_failed, status, "
        "error_message, host_identifier FROM sync_logs WHERE ($2::text IS NULL OR host_identifier = $2) "
        "ORDER BY sync_started_at DESC, id DESC LIMIT $1",
        limit, host,
    )
