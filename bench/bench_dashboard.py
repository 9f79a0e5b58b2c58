"""Dashboard latency on a year of seeded data: each endpoint against the raw query, in the same run.

It starts a private PostgreSQL server on loopback, seeds ``--scale`` times the issue's target
year (10 million file events and 2 million sessions from 20 hosts, plus a sync every 5 minutes
per host and table) with SQL ``generate_series`` in batches, as the sync would (so the rollup
triggers run as they do in production), then ``ANALYZE``. For each measurement it runs 20 warm
requests through the gateway (in process, over ASGI: app, pool, queries and JSON) and the same
question asked the plan's way (the raw query, no rollups), and reports p50 / p95 of each.

Then, unless ``--no-browser``, it serves the app with uvicorn on loopback and opens ``/``,
``/timeline`` and ``/sessions`` in headless Chromium (Debian's, through Playwright) ``--runs``
times each after two warm-up loads: the time from the start of the navigation (the page's
``performance.now()``) to the first frame at which its charts or its table are in the DOM.

Several ``--scale`` values in one run show whether a p95 follows the range shown or the table;
the report gives each p95's growth from one scale to the next (the issue asks at most 1.5x
from 1x to 4x). Seeding 4x (40 million file events) takes about half an hour and 30 GB.

Usage: python bench/bench_dashboard.py [--scale 0.25,1] [--runs 20] [--no-browser] [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import sys
import threading
import time
from datetime import date, datetime, timezone
from pathlib import Path

import asyncpg
import httpx
import uvicorn

from benchmarks_doc import replace_section
from api_gateway.app import create_app
from api_gateway.config import Settings
from reprospective_db.testing import TestServer

ROOT = Path(__file__).resolve().parents[1]
YEAR = 2026
HOSTS = 20
FULL_FILE_EVENTS = 10_000_000
FULL_SESSIONS = 2_000_000
BATCH = 500_000
DAY = date(YEAR, 6, 17)  # a Wednesday in the middle of the year
TZ = "Europe/Paris"

SEED_SESSIONS = """
INSERT INTO desktop_activity_sessions (start_time, end_time, start_time_iso, end_time_iso, application_name,
    window_title, duration_seconds, host_identifier, origin_id, local_id, local_revision, synced_at)
SELECT t, t + d, t::text, (t + d)::text, (ARRAY['Emacs','Firefox','Slack','Terminal','Code','Zoom','Evince',
        'Thunderbird','GIMP','LibreOffice','Chromium','Obsidian'])[1 + (i % 12)],
       'window ' || (i % 9973) || CASE WHEN i % 50 = 0 THEN ' quarterly report' ELSE ' notes' END,
       extract(epoch FROM d)::int, 'host' || lpad((i % $3)::text, 2, '0') || '_user',
       ('00000000-0000-4000-8000-' || lpad((i % $3)::text, 12, '0'))::uuid, i, 0, t + interval '5 minutes'
FROM generate_series($1::bigint, $2::bigint) AS i,
     LATERAL (SELECT timestamptz '2026-01-01 00:00:00+00' + (i::float8 / $4) * interval '365 days' AS t,
                     make_interval(secs => 5 + (i * 7919 % 1200)) AS d) AS x
"""

SEED_FILE_EVENTS = """
INSERT INTO file_change_events (event_time, event_time_iso, event_type, file_path, file_path_relative, file_name,
    file_extension, file_size, is_symlink, monitored_root, project_name, host_identifier, origin_id, local_id,
    local_revision, synced_at)
SELECT t, t::text, (ARRAY['created','modified','modified','modified','deleted','moved'])[1 + (i % 6)],
       '/home/user/work/' || p || '/src/file_' || (i % 99991) || e, 'src/file_' || (i % 99991) || e,
       'file_' || (i % 99991) || e, nullif(ltrim(e, '.'), ''), 1000 + i % 50000, false, '/home/user/work',
       p, 'host' || lpad((i % $3)::text, 2, '0') || '_user',
       ('00000000-0000-4000-9000-' || lpad((i % $3)::text, 12, '0'))::uuid, i, 0, t + interval '5 minutes'
FROM generate_series($1::bigint, $2::bigint) AS i,
     LATERAL (SELECT timestamptz '2026-01-01 00:00:00+00' + (i::float8 / $4) * interval '365 days' AS t,
                     (ARRAY['.py','.md','.ts','.rs','.toml',''])[1 + (i % 6)] AS e,
                     -- each host works on one of 37 projects at a time, moving on every 400 of its events
                     'project-' || (((i % $3) * 7 + i / ($3 * 400)) % 37) AS p) AS x
"""

SEED_SYNC_LOGS = """
INSERT INTO sync_logs (sync_started_at, sync_completed_at, table_name, records_synced, records_failed, status,
    error_message, host_identifier)
SELECT t, t + interval '2 seconds', tbl, 40, 0, CASE WHEN (n + h) % 997 = 0 THEN 'failed' ELSE 'success' END,
       CASE WHEN (n + h) % 997 = 0 THEN 'connection refused' END, 'host' || lpad(h::text, 2, '0') || '_user'
FROM generate_series(0, 365 * 288 - 1) AS n, generate_series(0, $1 - 1) AS h,
     unnest(ARRAY['desktop_activity_sessions', 'file_change_events']) AS tbl,
     LATERAL (SELECT timestamptz '2026-01-01 00:00:00+00' + n * interval '5 minutes' AS t) AS x
"""

# The plan's way of answering each question: the raw tables and the 01 views, no rollups.
RAW = {
    "day timeline": ("SELECT id, host_identifier, application_name, window_title, start_time, end_time "
                     "FROM desktop_activity_sessions WHERE start_time < $2 AND end_time > $1 ORDER BY start_time",
                     "day"),
    "week summary (time per application)": (
        "SELECT application_name, sum(total_duration_seconds) FROM daily_application_summary "
        "WHERE activity_date BETWEEN $1::date AND $2::date GROUP BY 1", "week"),
    "month summary (file events per project)": (
        "SELECT project_name, sum(event_count) FROM daily_file_change_summary "
        "WHERE activity_date BETWEEN $1::date AND $2::date GROUP BY 1", "month"),
    "year heatmap (active time per day)": (
        "SELECT start_time::date, sum(duration_seconds) FROM desktop_activity_sessions "
        "WHERE start_time >= $1 AND start_time < $2 GROUP BY 1", "year"),
    "title search, first page": (
        "SELECT * FROM desktop_activity_sessions WHERE window_title ILIKE '%quarterly report%' "
        "ORDER BY start_time DESC LIMIT 100", None),
    "path search, first page": (
        "SELECT * FROM file_change_events WHERE file_path ILIKE '%project-7/src/file\\_1%' AND event_time >= $1 "
        "AND event_time < $2 ORDER BY event_time DESC, id DESC LIMIT 101", "month utc"),
    "path search, a rare name in a month": (
        "SELECT * FROM file_change_events WHERE file_path ILIKE '%/file\\_4242.%' AND event_time >= $1 "
        "AND event_time < $2 ORDER BY event_time DESC, id DESC LIMIT 101", "month utc"),
    "sync status": (
        "SELECT host_identifier, table_name, max(sync_completed_at) FILTER (WHERE status <> 'failed'), "
        "max(sync_started_at) FILTER (WHERE status = 'failed'), count(*) FROM sync_logs GROUP BY 1, 2", None),
}

API = {
    "day timeline": f"/api/v1/activities/timeline?date={DAY}&tz={TZ}",
    "week summary (time per application)": f"/api/v1/activities/summary?period=week&group_by=application"
                                           f"&start={DAY}&end={DAY}&tz={TZ}",
    "month summary (file events per project)": f"/api/v1/activities/summary?period=month&group_by=project"
                                               f"&start={DAY.replace(day=1)}&end={DAY.replace(day=30)}&tz={TZ}",
    "year heatmap (active time per day)": f"/api/v1/activities/summary?period=day&group_by=none&start={YEAR}-01-01"
                                          f"&end={YEAR}-12-31&tz={TZ}",
    "title search, first page": f"/api/v1/activities/sessions?q=quarterly%20report&start={YEAR}-06-01"
                                f"&end={YEAR}-06-30&tz={TZ}",
    "path search, first page": f"/api/v1/activities/file-events?q=project-7/src/file_1&start={YEAR}-06-01"
                               f"&end={YEAR}-06-30&tz=UTC",
    # About one change in 100,000 is to a file_4242: a month's first page reads back window by
    # window until the search time is spent, and answers with the matches found so far.
    "path search, a rare name in a month": f"/api/v1/activities/file-events?q=/file_4242.&start={YEAR}-06-01"
                                           f"&end={YEAR}-06-30&tz=UTC",
    "sync status": f"/api/v1/sync/status?tz={TZ}",
}
# The pages a person opens, and the DOM condition that says each one is drawn.
PAGES = {
    "overview /": (f"/?date={DAY}", "#apps-chart canvas, #heatmap canvas", 2),
    "timeline /timeline": (f"/timeline?date={DAY}", "#timeline-chart canvas", 1),
    "sessions /sessions": (f"/sessions?start={DAY}&end={DAY}", "#results table.rows tbody tr", 1),
}
PAGE_TARGET_MS = 1000
CHROMIUM = "/usr/bin/chromium"
# Without them Chromium keeps opening connections this machine's closed network refuses.
CHROMIUM_ARGS = ["--disable-gpu", "--disable-quic", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
TARGET_MS = {"day timeline": 50, "week summary (time per application)": 30,
             "month summary (file events per project)": 30, "year heatmap (active time per day)": 50,
             "title search, first page": 100, "sync status": 20, "path search, first page": 100,
             # no index answers it (a trigram index on paths would slow the sync's COPY 3.6 times): bounded by
             # the search time (Settings.search_seconds), under the ceiling of 1 s for any request
             "path search, a rare name in a month": 1000}


def raw_args(kind: str | None) -> tuple:
    if kind == "day":
        return (datetime(YEAR, 6, 16, 22, tzinfo=timezone.utc), datetime(YEAR, 6, 17, 22, tzinfo=timezone.utc))
    if kind == "week":
        return (date(YEAR, 6, 15), date(YEAR, 6, 21))
    if kind == "month":
        return (date(YEAR, 6, 1), date(YEAR, 6, 30))
    if kind == "month utc":
        return (datetime(YEAR, 6, 1, tzinfo=timezone.utc), datetime(YEAR, 7, 1, tzinfo=timezone.utc))
    if kind == "year":
        return (datetime(YEAR, 1, 1, tzinfo=timezone.utc), datetime(YEAR + 1, 1, 1, tzinfo=timezone.utc))
    return ()


async def seed(url: str, scale: float) -> dict:
    sessions, events = int(FULL_SESSIONS * scale), int(FULL_FILE_EVENTS * scale)
    conn = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        for sql, total in ((SEED_SESSIONS, sessions), (SEED_FILE_EVENTS, events)):
            for first in range(1, total + 1, BATCH):
                await conn.execute(sql, first, min(first + BATCH - 1, total), HOSTS, total, timeout=3600)
        await conn.execute(SEED_SYNC_LOGS, HOSTS, timeout=3600)
        await conn.execute("VACUUM ANALYZE", timeout=3600)
        seconds = time.perf_counter() - started
        counts = {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in (
            "desktop_activity_sessions", "file_change_events", "sync_logs", "session_rollup_15m",
            "file_project_rollup_15m", "activity_totals_1h", "timeline_runs")}
    finally:
        await conn.close()
    return {"seconds": seconds, **counts}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def measure(url: str, runs: int) -> dict:
    results = {}
    conn = await asyncpg.connect(url)
    app = create_app(Settings(database_url=url, statement_timeout=60))
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", timeout=120) as http:
                for name, path in API.items():
                    sql, kind = RAW[name]
                    api_times, raw_times, size = [], [], 0
                    for i in range(runs + 2):  # two warm-up rounds
                        t0 = time.perf_counter()
                        response = await http.get(path)
                        t1 = time.perf_counter()
                        await conn.fetch(sql, *raw_args(kind), timeout=600)
                        t2 = time.perf_counter()
                        assert response.status_code == 200, (path, response.text[:300])
                        size = len(response.content)
                        if i >= 2:
                            api_times.append((t1 - t0) * 1000)
                            raw_times.append((t2 - t1) * 1000)
                    results[name] = {"api_p50": statistics.median(api_times), "api_p95": percentile(api_times, 95),
                                     "raw_p50": statistics.median(raw_times), "raw_p95": percentile(raw_times, 95),
                                     "bytes": size}
                    print(f"  {name}: api p95 {results[name]['api_p95']:.1f} ms, raw p95 "
                          f"{results[name]['raw_p95']:.1f} ms, {size:,} bytes", flush=True)
    finally:
        await conn.close()
    return results


class Served:
    """The app under uvicorn on a loopback port, in a thread of its own, for the browser."""

    def __init__(self, url: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        app = create_app(Settings(database_url=url, statement_timeout=60))
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


async def measure_pages(url: str, runs: int) -> dict:
    """Per page: p50 / p95 ms from the navigation's start to the first frame with it drawn."""
    from playwright.async_api import async_playwright

    results = {}
    with Served(url) as base:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                context = await browser.new_context(viewport={"width": 1280, "height": 800}, timezone_id=TZ,
                                                    base_url=base)
                context.set_default_timeout(60_000)
                page = await context.new_page()
                for name, (path, selector, count) in PAGES.items():
                    drawn = (f"() => document.querySelectorAll({selector!r}).length >= {count} "
                             "? performance.now() : false")
                    times = []
                    for i in range(runs + 2):
                        response = await page.goto(path, wait_until="commit")
                        assert response is not None and response.status == 200, (path, response and response.status)
                        handle = await page.wait_for_function(drawn, polling="raf")
                        if i >= 2:
                            times.append(await handle.json_value())
                    results[name] = {"p50": statistics.median(times), "p95": percentile(times, 95)}
                    print(f"  {name}: painted p95 {results[name]['p95']:.0f} ms", flush=True)
            finally:
                await browser.close()
    return results


async def run(scales: list[float], runs: int, browser: bool = True) -> tuple[list, str]:
    server = TestServer(prefix="reprospective-bench-dashboard-")
    server.start()
    try:
        version = server.psql("SHOW server_version", "postgres").strip().splitlines()[-1].strip()
        found = []
        for scale in scales:
            name = server.create_database()
            url = server.url(name)
            print(f"scale {scale}: seeding...", flush=True)
            seeded = await seed(url, scale)
            print(f"  seeded in {seeded['seconds']:.0f} s: {seeded}", flush=True)
            results = await measure(url, runs)
            pages = await measure_pages(url, runs) if browser else {}
            found.append((scale, seeded, results, pages))
            server.drop_database(name)
        return found, version
    finally:
        server.stop()


def report(found: list, version: str, runs: int, command: str) -> str:
    lines = [
        "## Dashboard", "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, PostgreSQL {version} on loopback; load average "
        f"{os.getloadavg()[0]:.1f} at the end.", "",
        f"Command: `{command}`", "",
        "Each line: p50 / p95 in ms of "
        f"{runs} warm requests through the gateway (in process over ASGI: routing, pool, queries, JSON), "
        "and of the same question asked the plan's way in the same run (raw tables and the 01 views, no rollups). "
        "Data: `--scale` times a year of 10 million file events and 2 million sessions from 20 hosts, "
        "with a sync log row per host and table every 5 minutes.", "",
        "| scale (sessions / file events) | endpoint | gateway p50 | gateway p95 | target p95 | raw p50 | raw p95 "
        "| response |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for scale, seeded, results, _ in found:
        label = f"{scale:g}x ({seeded['desktop_activity_sessions']:,} / {seeded['file_change_events']:,})"
        for name, r in results.items():
            lines.append(f"| {label} | {name} | {r['api_p50']:.1f} | {r['api_p95']:.1f} | {TARGET_MS[name]} | "
                         f"{r['raw_p50']:.1f} | {r['raw_p95']:.1f} | {r['bytes'] / 1024:.0f} KB |")
    if any(pages for *_, pages in found):
        lines += ["", f"Pages painted in headless Chromium ({runs} warm loads each, ms from the start of the "
                  "navigation to the first frame with the page's charts or table in the DOM; the server in the "
                  "same process under uvicorn on loopback):", "",
                  "| scale | page | p50 | p95 | target p95 |", "|---|---|---:|---:|---:|"]
        for scale, _, _, pages in found:
            for name, r in pages.items():
                lines.append(f"| {scale:g}x | `{name.split()[1]}` | {r['p50']:.0f} | {r['p95']:.0f} | "
                             f"{PAGE_TARGET_MS} |")
    lines.append("")
    for scale, seeded, *_ in found:
        lines.append(f"- {scale:g}x: seeded in {seeded['seconds']:.0f} s (rollup triggers included); "
                     f"{seeded['session_rollup_15m']:,} session and {seeded['file_project_rollup_15m']:,} "
                     f"file-project 15-minute rollup rows, {seeded['activity_totals_1h']:,} hourly totals, "
                     f"{seeded['timeline_runs']:,} timeline segments, "
                     f"{seeded['sync_logs']:,} sync log rows.")
    for (small, _, a, pa), (big, _, b, pb) in zip(found, found[1:]):
        growth = [f"{n}: {b[n]['api_p95'] / a[n]['api_p95']:.2f}x" for n in a]
        growth += [f"page `{n.split()[1]}`: {pb[n]['p95'] / pa[n]['p95']:.2f}x" for n in pa if n in pb]
        lines.append(f"- p95 growth from {small:g}x to {big:g}x the data ({big / small:g}x): {', '.join(growth)}.")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="0.25,1", help="comma-separated multiples of the target year")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-browser", action="store_true", help="skip the pages painted in Chromium")
    parser.add_argument("--write", metavar="PATH", help="replace the '## Dashboard' section of this file")
    args = parser.parse_args()
    scales = [float(s) for s in args.scale.split(",")]
    found, version = asyncio.run(run(scales, args.runs, browser=not args.no_browser))
    command = " ".join([".venv/bin/python", "bench/bench_dashboard.py", *sys.argv[1:]])
    text = report(found, version, args.runs, command)
    print(text)
    if args.write:
        replace_section(Path(args.write), "## Dashboard", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
