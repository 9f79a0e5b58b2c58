"""Every host that ever synced, and each host's sync health per table, from ``hosts`` (13), the
rows' totals and ``sync_logs``; and the SQL condition a ``host`` parameter becomes.

A host is its id (``hosts.host_id``, made once by its agent); its rows are the rows of its origins
(``host_origins``), whatever name they were synced with. Which hosts a ``host`` parameter means (an
id, else a name: every host currently so named; else the hosts once so named) is decided in one
place, PostgreSQL's ``origins_of_host()`` (see ``init/13_hosts.sql``); :func:`host_filter` is the
one fragment every query uses for it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

TABLES = ("desktop_activity_sessions", "file_change_events")
#: The agent syncs every 300 s by default; three missed runs make a host "lagging".
LAGGING_AFTER = timedelta(minutes=15)
#: How far back the /sync page lists outages.
HISTORY = timedelta(days=30)


#: A host clock further than this from PostgreSQL's puts its rows in the wrong hour or day.
CLOCK_OFFSET_LIMIT = 60.0


_NO_ORIGIN = "'00000000-0000-0000-0000-000000000000'::uuid"  # a row without origin, as the rollups key it


def host_condition(alias: str, param: str) -> str:
    """The rows (of the table aliased ``alias``, raw or rollup) of the hosts the text parameter
    ``param`` names: the rows of their origins, looked up once per query (an InitPlan), and rows
    without an origin (synced before schema 4) by the name they carry."""
    return (f"({alias}.origin_id = ANY((SELECT origins_of_host({param}::text))::uuid[]) "
            f"OR (COALESCE({alias}.origin_id, {_NO_ORIGIN}) = {_NO_ORIGIN} AND {alias}.host_identifier = {param}::text))")


def host_filter(alias: str, param: str) -> str:
    """:func:`host_condition`, or every row when ``param`` is NULL."""
    return f"({param}::text IS NULL OR {host_condition(alias, param)})"


def host_name(alias: str) -> str:
    """The name a row (of the table aliased ``alias``, raw or rollup, joined by :func:`host_join`) is
    shown under: its host's current name when a host registered its origin, else the name it was
    synced with (NULL for none), so a renamed host is one row or lane, not one per name."""
    return f"COALESCE(named_host.host_identifier, NULLIF({alias}.host_identifier, ''))"


def host_join(alias: str) -> str:
    """The joins :func:`host_name` reads: the host owning the row's origin, if any."""
    return (f"LEFT JOIN host_origins named_origin ON named_origin.origin_id = {alias}.origin_id "
            "LEFT JOIN hosts named_host ON named_host.host_id = named_origin.host_id")


def clock_warning(offset: float | None, limit: float = CLOCK_OFFSET_LIMIT) -> str | None:
    """What a host's clock offset (its clock minus PostgreSQL's) means, when over ``limit``."""
    if offset is None or abs(offset) <= limit:
        return None
    seconds = abs(offset)
    amount = f"{seconds:.0f} s" if seconds < 90 else (f"{seconds / 60:.0f} min" if seconds < 5400
                                                       else f"{seconds / 3600:.1f} h")
    side = "ahead of" if offset > 0 else "behind"
    return f"clock {amount} {side} PostgreSQL's: its rows may land in the wrong hour or day"


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


ZERO_ORIGIN = "00000000-0000-0000-0000-000000000000"  # rows without an origin, in the totals (10)


async def list_hosts(conn: asyncpg.Connection, now: datetime) -> list[dict]:
    """Every host: those in ``hosts`` (13) by id with their current name, and, by name, rows and
    sync runs no registered host accounts for (synced before version 13, by an agent not run since).

    Row figures come from host_table_totals (10) per origin, each origin counted for the host that
    owns it; sync runs (``sync_logs``) are known by name: a name counts for the hosts it means in a
    ``host`` filter (its current holders, else its former ones)."""
    registered = await conn.fetch(
        """
        SELECT h.host_id, h.host_identifier, h.previous_identifiers, h.first_seen, h.last_seen, h.agent_version,
               h.last_sync_at, h.clock_offset_seconds, h.clock_measured_at,
               COALESCE(array_agg(o.origin_id ORDER BY o.origin_id) FILTER (WHERE o.origin_id IS NOT NULL), '{}')
                   AS origins
        FROM hosts h LEFT JOIN host_origins o ON o.host_id = h.host_id GROUP BY h.host_id
        """
    )
    totals = await conn.fetch(
        """
        SELECT origin_id, NULLIF(host_identifier, '') AS host, min(first_seen) AS first_seen,
               max(last_seen) AS last_seen,
               COALESCE(sum(rows) FILTER (WHERE table_name = 'desktop_activity_sessions'), 0)::bigint AS sessions,
               COALESCE(sum(rows) FILTER (WHERE table_name = 'file_change_events'), 0)::bigint AS file_events,
               max(newest_synced_at) AS newest_synced_at
        FROM host_table_totals WHERE rows > 0 GROUP BY 1, 2
        """
    )
    runs = await conn.fetch(SYNC_STATUS_SQL, now, now)

    def blank(host_id: str | None, name: str | None) -> dict:
        return {"host_id": host_id, "host_identifier": name, "previous_identifiers": [], "shared_name": False,
                "origins": [], "first_seen": None, "last_seen": None,
                "rows": {"desktop_activity_sessions": 0, "file_change_events": 0}, "last_successful_sync": None,
                "last_failure": None, "last_failure_message": None, "sync_lag_seconds": None,
                "agent": None, "clock_offset_seconds": None, "clock_warning": None}

    by_id: dict[str, dict] = {}
    owner: dict[str, dict] = {}  # origin -> its host's entry
    for h in registered:
        e = by_id[str(h["host_id"])] = blank(str(h["host_id"]), h["host_identifier"])
        e |= {"previous_identifiers": list(h["previous_identifiers"]), "origins": [str(o) for o in h["origins"]],
              "agent": {"version": h["agent_version"], "first_contact": _iso(h["first_seen"]),
                        "last_contact": _iso(h["last_seen"]), "last_sync": _iso(h["last_sync_at"]),
                        "clock_measured_at": _iso(h["clock_measured_at"])},
              "clock_offset_seconds": h["clock_offset_seconds"],
              "clock_warning": clock_warning(h["clock_offset_seconds"])}
        owner |= {o: e for o in e["origins"]}
    by_name: dict[str | None, dict] = {}  # rows and runs of no registered host
    newest: dict[int, datetime] = {}
    for r in totals:
        origin = str(r["origin_id"])
        e = owner.get(origin) or by_name.setdefault(r["host"], blank(None, r["host"]))
        if origin != ZERO_ORIGIN and origin not in e["origins"]:
            e["origins"].append(origin)
        e["first_seen"] = min(filter(None, (e["first_seen"], r["first_seen"])), default=None)
        e["last_seen"] = max(filter(None, (e["last_seen"], r["last_seen"])), default=None)
        e["rows"]["desktop_activity_sessions"] += r["sessions"]
        e["rows"]["file_change_events"] += r["file_events"]
        if r["newest_synced_at"] and (id(e) not in newest or r["newest_synced_at"] > newest[id(e)]):
            newest[id(e)] = r["newest_synced_at"]

    def named(name: str | None) -> list[dict]:
        current = [e for e in by_id.values() if e["host_identifier"] == name]
        return current or [e for e in by_id.values() if name in e["previous_identifiers"]] or [
            by_name.setdefault(name, blank(None, name))]

    latest: dict[int, tuple] = {}
    for r in runs:
        for e in named(r["host"]):
            if r["last_success"] and (e["last_successful_sync"] is None
                                      or r["last_success"].isoformat() > e["last_successful_sync"]):
                e["last_successful_sync"] = r["last_success"].isoformat()
            if r["last_failure"] and (id(e) not in latest or r["last_failure"] > latest[id(e)][0]):
                latest[id(e)] = (r["last_failure"], r["last_failure_message"])
    found = [*by_id.values(), *by_name.values()]
    names = [e["host_identifier"] for e in found]
    for e in found:
        e["origins"].sort()
        e["first_seen"], e["last_seen"] = _iso(e["first_seen"]), _iso(e["last_seen"])
        e["shared_name"] = names.count(e["host_identifier"]) > 1
        if id(e) in newest:
            e["sync_lag_seconds"] = round((now - newest[id(e)]).total_seconds(), 3)
        if id(e) in latest:
            when, message = latest[id(e)]
            e |= {"last_failure": when.isoformat(), "last_failure_message": message}
    return sorted(found, key=lambda h: (h["host_identifier"] is None, h["host_identifier"] or "", h["host_id"] or ""))


async def clock_warnings(conn: asyncpg.Connection) -> list[dict]:
    """The hosts whose clock was last measured more than a minute away from PostgreSQL's."""
    rows = await conn.fetch(
        "SELECT host_id, host_identifier, clock_offset_seconds, clock_measured_at FROM hosts "
        "WHERE abs(clock_offset_seconds) > $1 ORDER BY host_identifier, host_id", CLOCK_OFFSET_LIMIT)
    return [{"host_id": str(r["host_id"]), "host_identifier": r["host_identifier"],
             "clock_offset_seconds": r["clock_offset_seconds"], "clock_measured_at": _iso(r["clock_measured_at"]),
             "warning": clock_warning(r["clock_offset_seconds"])} for r in rows]


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
