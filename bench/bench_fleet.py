"""Many hosts at once: N agent processes, each with its own data folder and backlog of waiting
``file_change_events`` rows, syncing into one PostgreSQL at the same time.

For each fleet size (1, 10 and 50 hosts by default) it runs, on a fresh database each time:

- ``fleet``: N processes, each a ``DataSyncManager.sync_all()`` of its own backlog. Every process
  opens its stores and pool first, then all are released together; the fleet's time runs from
  the first run's start to the last run's end;
- ``one agent``: a single process syncing one backlog holding the fleet's total, in the same
  invocation (the same machine load), for comparison.

It checks what a user would: every host's rows in PostgreSQL row for row (local id, path, event
type per origin), no row twice, every run ``success`` (a full server is waited out, not failed),
no deadlock (``pg_stat_database.deadlocks``). It samples ``pg_stat_activity`` every 20 ms for the
peak number of client connections to the database. ``--via pgbouncer`` puts a PgBouncer in
transaction pooling mode in front (``--bouncer-pool`` server connections).

Usage: python bench/bench_fleet.py [--hosts 1,10,50] [--rows-per-host 5000] [--batch-size 1000]
                                   [--via direct,pgbouncer] [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path

import asyncpg

from bench_sync import _load, _server_version, make_backlog
from benchmarks_doc import replace_section
from host_agent.common.data_sync import DataSyncManager
from host_agent.common.database import FileChangeDatabase
from reprospective_db.testing import PgBouncer, TestServer

HEADING = "## Fleet"
#: How often pg_stat_activity is sampled while the fleet runs.
SAMPLE_SECONDS = 0.02
#: A fleet that has not finished by then is stuck (a deadlock, a lost wake-up): the bench fails.
FLEET_TIMEOUT = 900


# -- one host (its own process) --------------------------------------------------------------


async def worker(url: str, folder: Path, batch: int) -> None:
    """Open the stores and the pool, say ready, wait for 'go' on stdin, sync once, report."""
    manager = DataSyncManager(url, folder / "desktop_activity.db", folder / "file_changes.db", batch_size=batch)
    await manager.initialize()
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    started = time.time()
    try:
        results = await manager.sync_all()
    finally:
        await manager.close()
    ended = time.time()
    report = {
        "started": started,
        "ended": ended,
        "rows": sum(r.records_synced for r in results.values()),
        "statuses": sorted({r.status for r in results.values()}),
        "errors": [r.error for r in results.values() if r.error],
    }
    print(json.dumps(report), flush=True)


# -- the driver ------------------------------------------------------------------------------


def host_folders(base: Path, hosts: int, rows: int) -> list[Path]:
    folders = []
    for host in range(hosts):
        folder = base / f"host{host}"
        folder.mkdir(parents=True)
        make_backlog(folder / "file_changes.db", rows)
        folders.append(folder)
    return folders


async def run_hosts(url: str, folders: list[Path], batch: int, sample_url: str, database: str) -> dict:
    """Start one process per folder, release them together, sample connections until all end."""
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--worker", "--url", url, "--folder", str(folder), "--batch", str(batch),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        for folder in folders
    ]
    for proc in procs:
        line = await proc.stdout.readline()
        if line.strip() != b"ready":
            raise RuntimeError(f"a host did not start: {line!r} {(await proc.stderr.read()).decode()}")
    sampler = await asyncpg.connect(sample_url)
    peak = 0
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            count = await sampler.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' "
                "AND pid <> pg_backend_pid()",
                database,
            )
            peak = max(peak, count)
            await asyncio.sleep(SAMPLE_SECONDS)

    sampling = asyncio.create_task(sample())
    for proc in procs:
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
    try:
        outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), FLEET_TIMEOUT)
    finally:
        done.set()
        await sampling
        await sampler.close()
    reports = []
    transient = 0
    for proc, (out, err) in zip(procs, outputs, strict=True):
        if proc.returncode != 0:
            raise RuntimeError(f"a host failed ({proc.returncode}): {err.decode()}")
        reports.append(json.loads(out.decode().strip().splitlines()[-1]))
        transient += err.decode().count("no free connection slot")
    runs = sorted(r["ended"] - r["started"] for r in reports)
    seconds = max(r["ended"] for r in reports) - min(r["started"] for r in reports)
    rows = sum(r["rows"] for r in reports)
    return {
        "hosts": len(folders),
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "p95_run_s": runs[min(len(runs) - 1, math.ceil(0.95 * len(runs)) - 1)],
        "peak_connections": peak,
        "failed_runs": sum(1 for r in reports if r["statuses"] != ["success"]),
        "crowded_hosts": transient,
    }


async def check(url: str, folders: list[Path]) -> dict:
    """Row for row per host, duplicates, deadlocks."""
    conn = await asyncpg.connect(url)
    try:
        missing = 0
        for folder in folders:
            with FileChangeDatabase(folder / "file_changes.db") as db, db.reading() as local:
                mine = [tuple(r) for r in local.execute(
                    "SELECT id, file_path, event_type FROM file_change_events ORDER BY id"
                )]  # fmt: skip
                remote = [tuple(r) for r in await conn.fetch(
                    "SELECT local_id, file_path, event_type FROM file_change_events WHERE origin_id = $1 "
                    "ORDER BY local_id", db.origin_id,
                )]  # fmt: skip
                unsynced = local.execute("SELECT count(*) FROM file_change_events WHERE synced_at IS NULL").fetchone()[0]
            # A row absent, altered or extra in PostgreSQL, or never marked synced locally.
            missing += len(set(mine) ^ set(remote)) + unsynced
        duplicates = await conn.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM file_change_events GROUP BY origin_id, local_id HAVING count(*) > 1) d"
        )
        deadlocks = await conn.fetchval("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return {"missing": missing, "duplicates": duplicates, "deadlocks": deadlocks}
    finally:
        await conn.close()


def measure(server: TestServer, bouncer: PgBouncer | None, base: Path, hosts: int, rows: int, batch: int) -> dict:
    database = server.create_database()
    url = bouncer.url(database) if bouncer else server.url(database)
    folders = host_folders(base / f"fleet_{hosts}", hosts, rows)
    fleet = asyncio.run(run_hosts(url, folders, batch, server.url(database), database))
    fleet.update(asyncio.run(check(server.url(database), folders)))
    server.drop_database(database)

    database = server.create_database()
    url = bouncer.url(database) if bouncer else server.url(database)
    single = host_folders(base / f"one_{hosts}", 1, rows * hosts)
    one = asyncio.run(run_hosts(url, single, batch, server.url(database), database))
    one.update(asyncio.run(check(server.url(database), single)))
    server.drop_database(database)
    for result in (fleet, one):
        if result["missing"] or result["duplicates"] or result["deadlocks"] or result["failed_runs"]:
            raise RuntimeError(f"the fleet of {hosts} did not arrive intact: {result}")
    return {"fleet": fleet, "one": one}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="1,10,50")
    parser.add_argument("--rows-per-host", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--via", default="direct,pgbouncer", help="direct, pgbouncer, or both (comma-separated)")
    parser.add_argument("--bouncer-pool", type=int, default=20, help="PgBouncer's server connections")
    parser.add_argument("--write", metavar="MARKDOWN", help=f"replace the '{HEADING}' section of this file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(worker(args.url, args.folder, args.batch))
        return 0

    sizes = [int(x) for x in args.hosts.split(",")]
    routes = [x.strip() for x in args.via.split(",") if x.strip()]
    server = TestServer(prefix="reprospective-bench-fleet-")
    results: dict[str, dict[int, dict]] = {}
    load_before = _load()
    try:
        server.start()
        max_connections = server.psql("SHOW max_connections", "postgres")
        for route in routes:
            bouncer = PgBouncer(server, pool_size=args.bouncer_pool) if route == "pgbouncer" else None
            if bouncer:
                bouncer.start()
            try:
                results[route] = {}
                for hosts in sizes:
                    base = server.base / f"{route}_{hosts}"
                    results[route][hosts] = measure(server, bouncer, base, hosts, args.rows_per_host, args.batch_size)
                    _report(route, hosts, results[route][hosts])
            finally:
                if bouncer:
                    bouncer.stop()
    finally:
        server.stop()
    text = render(results, args, max_connections, (load_before, _load()))
    print(text)
    if args.write:
        replace_section(Path(args.write), HEADING, text)
    return 0


def _report(route: str, hosts: int, result: dict) -> None:
    fleet, one = result["fleet"], result["one"]
    print(
        f"{route:>9} {hosts:>3} hosts  {fleet['rows_per_s']:>9,.0f} rows/s (one agent {one['rows_per_s']:>9,.0f})  "
        f"p95 run {fleet['p95_run_s']:6.2f} s  peak {fleet['peak_connections']:>3} connections",
        file=sys.stderr,
        flush=True,
    )


def render(results: dict[str, dict[int, dict]], args: argparse.Namespace, max_connections: str, load) -> str:
    command = f".venv/bin/python bench/bench_fleet.py --hosts {args.hosts} --rows-per-host {args.rows_per_host}"
    command += f" --batch-size {args.batch_size}"
    command += f" --via {args.via} --write docs/benchmarks.md"
    lines = [
        HEADING,
        "",
        f"Measured {date.today().isoformat()} on {os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}, PostgreSQL {_server_version()} on loopback (TCP, `max_connections` "
        f"{max_connections}), PgBouncer in transaction pooling mode with {args.bouncer_pool} server connections "
        "where the route says so.",
        "",
        f"Command: `{command}`.",
        f"Load average (1, 5, 15 min) before the run: {load[0]}; after: {load[1]}.",
        "",
        f"Each host is its own process with its own data folder and a backlog of {args.rows_per_host:,} waiting "
        f"`file_change_events` rows (batch size {args.batch_size}); all are released at once. *One agent* is a "
        "single process syncing the fleet's total from one backlog, in the same run.",
        "",
        "| route | hosts | rows | fleet rows/s | one agent rows/s | fleet / one agent | p95 run per host | "
        "peak connections | hosts that met a full server | missing | duplicates | deadlocks |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for route, by_size in results.items():
        for hosts, r in by_size.items():
            fleet, one = r["fleet"], r["one"]
            lines.append(
                f"| {route} | {hosts} | {fleet['rows']:,} | {fleet['rows_per_s']:,.0f} | {one['rows_per_s']:,.0f} | "
                f"{fleet['rows_per_s'] / one['rows_per_s']:.2f}x | {fleet['p95_run_s']:.2f} s | "
                f"{fleet['peak_connections']} | {fleet['crowded_hosts']} | {fleet['missing']} | "
                f"{fleet['duplicates']} | {fleet['deadlocks']} |"
            )
    lines += [
        "",
        "Fleet rows/s is every host's rows over the time from the first run's start to the last one's end;",
        "a host's run time is its `sync_all()` (every batch, the SQLite marks). Peak connections is the",
        "most client connections to the database `pg_stat_activity` showed, sampled every 20 ms (the",
        "sampler's own excluded): at most two per host directly, at most PgBouncer's pool through it.",
        "Missing compares every host's rows in PostgreSQL with its SQLite rows, row for row (and counts",
        "rows never marked synced locally). A host that met a full server logged it once and waited for",
        "a slot; none failed a run. The hosts' Python work (reading SQLite, encoding rows, marking",
        "them) shares the machine's cores with each other and with PostgreSQL: a fleet can use every",
        "core where one agent uses about one, and 50 processes starting at once on two cores mostly",
        "wait their turn. The figures move with the machine's load.",
        "",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
