"""Every host that ever synced, and each host's sync health per table, from the rows and ``sync_logs``."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

TABLES = ("desktop_activity_sessions", "file_change_events")
#: The agent syncs every 300 s by default; three missed runs make a host "lagging".
LAGGING_AFTER = timedelta(minutes=15)
#: How far back the /sync page lists outages.
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
    """Every host with rows or sync runs: from host_table_totals (10) and the sync status."""
    totals = await conn.fetch(
        """
        SELECT NULLIF(host_identifier, '') AS host,
               array_agg(DISTINCT origin_id) FILTER (WHERE origin_id <> '00000000-0000-0000-0000-000000000000')
                   AS origins,
               min(first_seen) AS first_seen, max(last_seen) AS last_seen,
               COALESCE(sum(rows) FILTER (WHERE table_name = 'desktop_activity_sessions'), 0)::bigint AS sessions,
               COALESCE(sum(rows) FILTER (WHERE table_name = 'file_change_events'), 0)::bigint AS file_events,
               max(newest_synced_at) AS newest_synced_at
        FROM host_table_totals WHERE rows > 0 GROUP BY 1
        """
    )
    runs = await conn.fetch(SYNC_STATUS_SQL, now, now)
    found: dict[str | None, dict] = {}

    def entry(host: str | None) -> dict:
        return found.setdefault(host, {
            "host_identifier": host, "origins": [], "first_seen": None, "last_seen": None,
            "rows": {"desktop_activity_sessions": 0, "file_change_events": 0}, "last_successful_sync": None,
            "last_failure": None, "last_failure_message": None, "sync_lag_seconds": None,
        })

    for r in totals:
        e = entry(r["host"])
        e |= {"origins": sorted(str(o) for o in r["origins"] or []), "first_seen": _iso(r["first_seen"]),
              "last_seen": _iso(r["last_seen"]),
              "rows": {"desktop_activity_sessions": r["sessions"], "file_change_events": r["file_events"]},
              "sync_lag_seconds": round((now - r["newest_synced_at"]).total_seconds(), 3)
              if r["newest_synced_at"] else None}
    latest: dict[str | None, tuple] = {}
    for r in runs:
        e = entry(r["host"])
        if r["last_success"] and (e["last_successful_sync"] is None or r["last_success"].isoformat() > e["last_successful_sync"]):
            e["last_successful_sync"] = r["last_success"].isoformat()
        if r["last_failure"] and (r["host"] not in latest or r["last_failure"] > latest[r["host"]][0]):
            latest[r["host"]] = (r["last_failure"], r["last_failure_message"])
    for host, (when, message) in latest.items():
        found[host] |= {"last_failure": when.isoformat(), "last_failure_message": message}
    return sorted(found.values(), key=lambda h: (h["host_identifier"] is None, h["host_identifier"] or ""))


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
