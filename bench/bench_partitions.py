"""The partitioned layout against the plain one, in the same run: sync throughput and dashboard p95.

Sync: for each layout, a backlog of ``--rows`` waiting ``file_change_events`` rows (bench_sync's
backlog, all in one month, whose partition exists as the coming months' do) synced by
``DataSyncManager`` with the default batch, the same rows re-sent (the merge path), and
``psql \\copy`` of the same rows into the same layout as the limit; ``--repeat`` rounds, the
layouts taking turns, each measurement in its own process on a fresh database (bench_sync's
``Bench``). The table reports the median round.

Dashboard: bench_dashboard's year of data at ``--scale``, seeded into the plain layout (rollup
triggers running, as the sync would), its endpoints measured (gateway and raw query, p50 / p95 of
``--runs`` warm requests); then the same database converted by ``reprospective-db partition``
(timed) and measured again.

Usage: python bench/bench_partitions.py [--rows 100000] [--repeat 3] [--scale 0.25] [--runs 20]
                                        [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import asyncpg

import bench_dashboard
import bench_sync
from benchmarks_doc import replace_section
from reprospective_db.testing import LAYOUTS, TestServer

ROOT = Path(__file__).resolve().parents[1]
DB_BIN = Path(sys.executable).parent / "reprospective-db"
#: The month of bench_sync's backlog (its first event time).
BACKLOG_TIME = datetime.fromtimestamp(1_780_000_000, timezone.utc)
HEADING = "## Partitioned layout"


async def _make_backlog_month(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SELECT create_activity_partition('file_change_events', $1)", BACKLOG_TIME)
    finally:
        await conn.close()


class LayoutBench(bench_sync.Bench):
    """bench_sync's driver, on a fresh database of one layout."""

    layout = "plain"

    def fresh_database(self) -> str:
        self._n += 1
        name = self.server.create_database(self.server.template(self.layout))
        if self.layout == "partitioned":
            asyncio.run(_make_backlog_month(self.server.url(name)))
        return name


def sync_rounds(rows: int, repeat: int, batch: int) -> dict[str, dict[str, list[dict]]]:
    bench = LayoutBench()
    found: dict[str, dict[str, list[dict]]] = {layout: {"copy": [], "sync": [], "resend": []} for layout in LAYOUTS}
    try:
        bench.start()
        backlog = bench.workdir / "backlog.db"
        bench_sync.make_backlog(backlog, rows)
        for round_ in range(repeat):
            for layout in LAYOUTS if round_ % 2 == 0 else reversed(LAYOUTS):
                bench.layout = layout
                for kind in ("copy", "sync", "resend"):
                    result = bench.measure(kind, backlog, batch)
                    found[layout][kind].append(result)
                    print(f"round {round_ + 1} {layout:<11} {kind:<6} {result['rows_per_s']:>10,.0f} rows/s",
                          file=sys.stderr, flush=True)
    finally:
        bench.stop()
    return found


async def dashboard(scale: float, runs: int) -> dict:
    server = TestServer(prefix="reprospective-bench-partitions-")
    server.start()
    try:
        name = server.create_database()
        url = server.url(name)
        print(f"scale {scale}: seeding the plain layout...", file=sys.stderr, flush=True)
        seeded = await bench_dashboard.seed(url, scale)
        plain = await bench_dashboard.measure(url, runs)
        started = time.perf_counter()
        done = await asyncio.to_thread(
            subprocess.run, [str(DB_BIN), "partition", "--database-url", url], capture_output=True, text=True
        )
        converted = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"conversion failed: {done.stderr.strip()}")
        print(done.stdout.strip(), file=sys.stderr, flush=True)
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("VACUUM ANALYZE", timeout=3600)
            partitions = await conn.fetchval(
                "SELECT count(*) FROM pg_inherits WHERE inhparent = 'file_change_events'::regclass"
            )
        finally:
            await conn.close()
        partitioned = await bench_dashboard.measure(url, runs)
        return {"seeded": seeded, "convert_s": converted, "partitions": partitions,
                "plain": plain, "partitioned": partitioned}  # fmt: skip
    finally:
        server.stop()


def median_round(results: list[dict]) -> dict:
    return sorted(results, key=lambda r: r["rows_per_s"])[len(results) // 2]


def render(sync: dict, dash: dict | None, args, load: tuple[str, str], command: str) -> str:
    lines = [
        HEADING, "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, PostgreSQL {bench_sync._server_version()} on loopback.", "",
        f"Command: `{command}`", "",
        f"Load average (1, 5, 15 min) before the run: {load[0]}; after: {load[1]}.", "",
        f"Sync of a backlog of {args.rows:,} `file_change_events` rows, the median of {args.repeat} rounds (the "
        "layouts taking turns; each figure a fresh process on a fresh database). `vs COPY`: against `psql \\copy` "
        "of the same rows into the same layout in the same round.", "",
        "| layout | method | rows/s (median) | all rounds | vs COPY, same layout | vs plain, same method |",
        "|---|---|---:|---|---:|---:|",
    ]
    labels = {"copy": "psql `\\copy` (limit)", "sync": f"`DataSyncManager`, batch {args.batch}",
              "resend": f"`DataSyncManager`, batch {args.batch}, every row re-sent (merge)"}
    for layout in LAYOUTS:
        copy = median_round(sync[layout]["copy"])["rows_per_s"]
        for kind, results in sync[layout].items():
            r = median_round(results)["rows_per_s"]
            every = ", ".join(f"{x['rows_per_s']:,.0f}" for x in results)
            base = median_round(sync["plain"][kind])["rows_per_s"]
            lines.append(f"| {layout} | {labels[kind]} | {r:,.0f} | {every} | {r / copy:.2f}x | {r / base:.2f}x |")
    if dash:
        seeded = dash["seeded"]
        lines += [
            "",
            f"Dashboard at scale {args.scale:g} ({seeded['desktop_activity_sessions']:,} sessions, "
            f"{seeded['file_change_events']:,} file events over a year, 20 hosts): p50 / p95 in ms of {args.runs} "
            "warm requests through the gateway, and of the raw query (bench_dashboard's plan-way question: raw "
            "tables, no rollups) in the same run; the plain layout first, then the same database after "
            f"`reprospective-db partition` ({dash['convert_s']:.0f} s for "
            f"{seeded['desktop_activity_sessions'] + seeded['file_change_events']:,} rows, "
            f"{dash['partitions']} partitions of file_change_events).", "",
            "| endpoint | plain p50 | plain p95 | partitioned p50 | partitioned p95 | p95 ratio | raw p95 plain "
            "| raw p95 partitioned | raw ratio |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, p in dash["plain"].items():
            q = dash["partitioned"][name]
            lines.append(
                f"| {name} | {p['api_p50']:.1f} | {p['api_p95']:.1f} | {q['api_p50']:.1f} | {q['api_p95']:.1f} | "
                f"{q['api_p95'] / p['api_p95']:.2f}x | {p['raw_p95']:.1f} | {q['raw_p95']:.1f} | "
                f"{q['raw_p95'] / p['raw_p95']:.2f}x |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--scale", type=float, default=0.25, help="bench_dashboard's scale; 0 skips the dashboard")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--write", metavar="PATH", help=f"replace the '{HEADING}' section of this file")
    args = parser.parse_args()
    load_before = bench_sync._load()
    sync = sync_rounds(args.rows, args.repeat, args.batch)
    dash = asyncio.run(dashboard(args.scale, args.runs)) if args.scale > 0 else None
    command = " ".join([".venv/bin/python", "bench/bench_partitions.py", *sys.argv[1:]])
    text = render(sync, dash, args, (load_before, bench_sync._load()), command)
    print(text)
    if args.write:
        replace_section(Path(args.write), HEADING, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
