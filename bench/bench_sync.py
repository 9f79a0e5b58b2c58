"""Sync throughput and peak memory for a backlog of waiting rows of each synced table.

``--tables`` chooses the tables (default both): ``files`` (``file_change_events``, rows shaped
like a project's file events) and ``sessions`` (``desktop_activity_sessions``, the table with the
heaviest triggers: the rollups of init/07 and 09-12 and the timeline segments of init/16). A
sessions backlog is a host's working days written through the agent's own store
(``DesktopActivityDatabase.start_session`` then ``end_session``, so every row is edited once, at
``sync_revision`` 1, as the desktop monitor leaves it; the last session still open): sessions of
5 s to 30 min (log-uniform) one after the other from 09:00 to 17:00 UTC, several applications,
window titles of 30 to 110 characters.

For each table and backlog size it measures, on the same rows and the same indexed, triggered
PostgreSQL table:

- ``copy``: ``COPY <table> FROM STDIN`` through psql (the limit) of exactly the COPY text the
  sync sends (written by the agent's own ``TableSync.read_batch`` for the whole backlog at once:
  the same columns, origin columns and ``synced_at`` included), in one statement;
- ``sync@B``: ``DataSyncManager.sync_all()`` with batch size B (keyset batches written as COPY
  text by SQLite, COPY straight into the table on two connections at once, SQLite marks);
- ``resend``: the same with every row already in PostgreSQL (a restored backup, a lost mark):
  the merge path (COPY into a staging table, ``INSERT … ON CONFLICT``);
- ``reference`` (with ``--reference REV``): the sync engine of an earlier revision of this
  repository (its ``host-agent`` and ``services/database`` from ``git archive``) on the same rows,
  at the default batch size: the CPU the current engine spends per row is reported against it;
- ``plan``: the plan's reference approach (the whole backlog fetched into a list of dicts, one
  ``INSERT`` per row, transactions of 100 rows, SQLite flags updated per batch); file events only.

Every measurement runs in its own process (peak memory is that process's VmHWM, CPU its user +
system time, threads included) against a fresh database created from a template holding the
schema, on a private PostgreSQL server on loopback.

Usage: python bench/bench_sync.py [--tables files,sessions] [--rows 100000,1000000]
                                  [--batch-sizes 1000,2000,5000,10000,20000] [--plan-rows 100000,1000000]
                                  [--resend-rows 100000,1000000] [--reference REV [--reference-rows N,...]]
                                  [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable

import asyncpg

from benchmarks_doc import replace_section
from sync_worker import report
from host_agent.common.database import DesktopActivityDatabase, FileChangeDatabase
from host_agent.core.identity import host_identifier
from host_agent.store.tables import DESKTOP_ACTIVITY_SESSIONS, FILE_CHANGE_EVENTS, SyncedTable
from host_agent.sync.table_sync import PgStatements, TableSync
from reprospective_db.testing import TestServer

ROOT = Path(__file__).resolve().parents[1]


# -- the rows -------------------------------------------------------------------------------


def make_backlog(path: Path, count: int) -> None:
    """A file_changes.db holding ``count`` waiting rows shaped like a real project's events."""
    FileChangeDatabase(path).close()
    conn = sqlite3.connect(path)
    base = 1_780_000_000
    kinds = ("created", "modified", "modified", "modified", "deleted", "moved")
    exts = (".py", ".md", ".ts", ".rs", ".toml", "")

    def rows():
        for i in range(count):
            project = f"project-{i % 37}"
            ext = exts[i % len(exts)]
            rel = f"src/module_{i % 997}/file_{i}{ext}"
            kind = kinds[i % len(kinds)]
            yield (
                base + i // 10,
                datetime.fromtimestamp(base + i // 10, timezone.utc).isoformat(),
                kind,
                f"/home/user/work/{project}/{rel}",
                rel,
                f"file_{i}{ext}",
                ext or None,
                None if kind == "deleted" else 1000 + i % 50_000,
                0,
                "/home/user/work",
                project,
                f"/home/user/work/{project}/src/old_{i}{ext}" if kind == "moved" else None,
                base + i // 10,
            )

    with conn:
        conn.executemany(
            "INSERT INTO file_change_events (event_time, event_time_iso, event_type, file_path, file_path_relative, "
            "file_name, file_extension, file_size, is_symlink, monitored_root, project_name, old_file_path, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows(),
        )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


APPS = {
    "code": ("{file} - {project} - Visual Studio Code", "● {file} - {project} - Visual Studio Code"),
    "firefox": ("{topic} · Issue #{n} · example/{project} — Mozilla Firefox", "{topic} - Stack Overflow — Mozilla Firefox",
                "Pull request #{n}: {topic} by a-reviewer · example/{project} — Mozilla Firefox"),
    "gnome-terminal-server": ("user@workstation: ~/work/{project}", "make test — ~/work/{project} — bash"),
    "slack": ("#{project} | Example Team | Slack", "Direct message with a colleague | Example Team | Slack"),
    "thunderbird": ("Re: {topic} - Inbox - user@example.org - Mozilla Thunderbird",),
    "evince": ("{topic}.pdf — Page {n} of 214",),
    "libreoffice-calc": ("{project} planning Q{n}.ods - LibreOffice Calc",),
}  # fmt: skip
TOPICS = ("sync throughput below the copy limit", "timeline segments per hour", "retention of synced rows",
          "PostgreSQL partitions by month", "window title changes while typing", "a dashboard for the week")  # fmt: skip


def make_session_backlog(path: Path, count: int) -> None:
    """A desktop_activity.db holding ``count`` waiting sessions, written as the desktop monitor does."""
    rng = random.Random(count)
    apps = list(APPS)
    db = DesktopActivityDatabase(path)
    day = datetime(2026, 3, 2, tzinfo=timezone.utc).timestamp()
    start = day + 9 * 3600
    for i in range(count):
        if start >= day + 17 * 3600:
            day += 86_400
            start = day + 9 * 3600
        app = rng.choice(apps)
        title = rng.choice(APPS[app]).format(
            file=f"module_{rng.randrange(400)}.py", project=f"project-{rng.randrange(12)}",
            topic=rng.choice(TOPICS), n=rng.randrange(1, 900),
        )  # fmt: skip
        duration = round(5 * 360 ** rng.random())  # 5 s to 30 min, log-uniform
        session = db.start_session(app, title, int(start))
        if i < count - 1:  # the last one is the session still open
            db.end_session(session, int(start) + duration)
        start += duration
    db.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


@dataclass(frozen=True)
class BenchTable:
    """One synced table as the bench runs it: its description and how its backlog is made."""

    option: str
    table: SyncedTable
    db_name: str
    make_backlog: Callable[[Path, int], None]

    @property
    def name(self) -> str:
        return self.table.name


BENCH_TABLES = {
    t.option: t
    for t in (
        BenchTable("files", FILE_CHANGE_EVENTS, "file_changes.db", make_backlog),
        BenchTable("sessions", DESKTOP_ACTIVITY_SESSIONS, "desktop_activity.db", make_session_backlog),
    )
}


# -- workers (each in its own process) ------------------------------------------------------


async def worker_plan(url: str, db: Path, batch: int, table: str) -> int:
    """The plan's reference approach, as written there (file events)."""
    assert table == FILE_CHANGE_EVENTS.name, table
    sqlite = sqlite3.connect(db)
    sqlite.row_factory = sqlite3.Row
    records = [dict(r) for r in sqlite.execute(
        "SELECT * FROM file_change_events WHERE synced_at IS NULL ORDER BY event_time"
    ).fetchall()]  # fmt: skip
    pool = await asyncpg.create_pool(url, min_size=1, max_size=5)
    sql = (
        "INSERT INTO file_change_events (event_time, event_time_iso, event_type, file_path, file_path_relative, "
        "file_name, file_extension, file_size, is_symlink, monitored_root, project_name, created_at, synced_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, now())"
    )
    synced = 0
    for start in range(0, len(records), batch):
        chunk = records[start : start + batch]
        async with pool.acquire() as conn, conn.transaction():
            for r in chunk:
                await conn.execute(
                    sql,
                    datetime.fromtimestamp(r["event_time"], timezone.utc), r["event_time_iso"], r["event_type"],
                    r["file_path"], r["file_path_relative"], r["file_name"], r["file_extension"], r["file_size"],
                    bool(r["is_symlink"]), r["monitored_root"], r["project_name"],
                    datetime.fromtimestamp(r["created_at"], timezone.utc),
                )  # fmt: skip
        now = int(time.time())
        sqlite.executemany("UPDATE file_change_events SET synced_at = ? WHERE id = ?", [(now, r["id"]) for r in chunk])
        sqlite.commit()
        synced += len(chunk)
    await pool.close()
    sqlite.close()
    return synced


def run_plan_worker(url: str, db: Path, batch: int, table: str) -> None:
    started = time.perf_counter()
    rows = asyncio.run(worker_plan(url, db, batch, table))
    report(rows, time.perf_counter() - started)


# -- the driver ------------------------------------------------------------------------------


class Bench:
    def __init__(self) -> None:
        self.server = TestServer(prefix="reprospective-bench-")
        self.workdir = self.server.base
        self._n = 0
        #: The source of the reference engine (``--reference``), once unpacked.
        self.reference: Path | None = None

    def unpack_reference(self, revision: str) -> None:
        """The agent and the schema package of ``revision``, from this repository's history."""
        target = self.workdir / "reference"
        target.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "host-agent", "services/database"],
                                 capture_output=True, check=False)
        if archive.returncode != 0:
            raise SystemExit(f"--reference {revision}: git archive failed: {archive.stderr.decode().strip()}")
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
        agent = target / "host-agent"
        if (agent / "setup.py").exists():  # its compiled part, built in place as an editable install does
            build = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=agent,
                                   capture_output=True, text=True, check=False)
            if build.returncode != 0:
                raise SystemExit(f"--reference {revision}: building its compiled part failed:\n{build.stderr.strip()}")
        self.reference = target

    def start(self) -> None:
        self.server.start()

    def fresh_database(self) -> str:
        self._n += 1
        return self.server.create_database()

    def measure(self, kind: str, backlog: Path, batch: int, table: BenchTable | None = None) -> dict:
        """One measurement of ``table`` (file events unless given) from a copy of ``backlog``."""
        table = table or BENCH_TABLES["files"]
        database = self.fresh_database()
        run_dir = self.workdir / f"run_{self._n}"
        run_dir.mkdir()
        db = run_dir / table.db_name
        shutil.copy(backlog, db)
        if kind == "copy":
            result = self._copy(database, table, db)
        else:
            if kind == "resend":  # every row in PostgreSQL already, none marked locally
                self._worker("sync", database, table, db, batch)
                with sqlite3.connect(db) as conn:
                    conn.execute(f"UPDATE {table.name} SET synced_at = NULL")
                conn.close()
            result = self._worker("sync" if kind == "resend" else kind, database, table, db, batch)
        count = int(self.server.psql(f"SELECT count(*) FROM {table.name}", database=database))
        assert count == result["rows"], (kind, count, result)
        self.server.drop_database(database)
        shutil.rmtree(run_dir)
        result["rows_per_s"] = result["rows"] / result["seconds"]
        return result

    def _worker(self, kind: str, database: str, table: BenchTable, db: Path, batch: int) -> dict:
        """``sync`` (this tree's engine), ``reference`` (the ``--reference`` revision's) or ``plan``."""
        url = self.server.url(database)
        env = dict(os.environ)
        if kind == "plan":
            cmd = [sys.executable, __file__, "--worker", "plan", "--url", url, "--db", str(db),
                   "--batch", str(batch), "--table", table.name]
        else:
            cmd = [sys.executable, str(ROOT / "bench" / "sync_worker.py"), url, str(db), str(batch), table.name]
        if kind == "reference":
            assert self.reference is not None
            env["PYTHONPATH"] = os.pathsep.join(
                [str(self.reference / "host-agent"), str(self.reference / "services" / "database")])
        out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
        if out.returncode != 0:
            raise SystemExit(f"the {kind} worker failed:\n{out.stderr.strip()}")
        return json.loads(out.stdout.strip().splitlines()[-1])

    def _copy(self, database: str, table: BenchTable, db: Path) -> dict:
        """psql COPY FROM STDIN of the COPY text the sync sends, all rows in one statement: the limit."""
        store = table.table.store(db)
        try:
            sync = TableSync(table.table, store, host_identifier())
            sync.start_run()
            with store.reading() as conn:
                last_id = conn.execute(table.table.last_id_sql()).fetchone()[0]
            batch = sync.read_batch(0, last_id, last_id)
        finally:
            store.close()
        columns = ", ".join(PgStatements(table.table).copy_columns)
        cmd = self.server.server.command(
            "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.server.server.port),
            "-U", "postgres", "-d", database, "-c", f"\\copy {table.name} ({columns}) FROM STDIN",
        )  # fmt: skip
        started = time.perf_counter()
        subprocess.run(cmd, input=batch.data, check=True, cwd="/")
        seconds = time.perf_counter() - started
        return {"rows": batch.count, "seconds": seconds, "peak_mb": float("nan"), "cpu_s": float("nan")}

    def stop(self) -> None:
        self.server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default=",".join(BENCH_TABLES), help="which tables: files, sessions")
    parser.add_argument("--rows", default="100000,1000000")
    parser.add_argument("--batch-sizes", default="1000,2000,5000,10000,20000")
    parser.add_argument("--default-batch", type=int, default=5000)
    parser.add_argument("--plan-rows", default="100000,1000000", help="backlog sizes the slow reference runs on")
    parser.add_argument("--resend-rows", default="100000,1000000", help="backlog sizes the re-send path runs on")
    parser.add_argument("--reference", metavar="REVISION",
                        help="also run the engine of this git revision on the same rows (its CPU is the reference)")
    parser.add_argument("--reference-rows", default="", help="backlog sizes the reference runs on (default: all)")
    parser.add_argument("--write", metavar="MARKDOWN", help="replace the '## Sync engine' section of this file")
    parser.add_argument("--worker", choices=["plan"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--table", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_plan_worker(args.url, args.db, args.batch, args.table)
        return 0

    unknown = [x for x in args.tables.split(",") if x not in BENCH_TABLES]
    if unknown:
        parser.error(f"--tables: unknown table {', '.join(unknown)} (choose from {', '.join(BENCH_TABLES)})")
    tables = [BENCH_TABLES[x] for x in args.tables.split(",")]
    sizes = [int(x) for x in args.rows.split(",")]
    batches = [int(x) for x in args.batch_sizes.split(",")]
    plan_sizes = {int(x) for x in args.plan_rows.split(",") if x}
    resend_sizes = {int(x) for x in args.resend_rows.split(",") if x}
    reference_sizes = {int(x) for x in args.reference_rows.split(",") if x} or set(sizes)
    bench = Bench()
    workdir = bench.workdir
    results: dict[str, dict[int, dict[str, dict]]] = {}
    load_before = _load()
    try:
        bench.start()
        if args.reference:
            bench.unpack_reference(args.reference)
        for table in tables:
            results[table.name] = by_size = {}
            for size in sizes:
                backlog = workdir / f"backlog_{size}_{table.db_name}"
                table.make_backlog(backlog, size)
                by_size[size] = {}
                runs = ["copy", *(f"sync@{b}" for b in batches)]
                runs += ["reference"] if args.reference and size in reference_sizes else []
                runs += ["resend"] if size in resend_sizes else []
                runs += ["plan"] if size in plan_sizes and table.table is FILE_CHANGE_EVENTS else []
                for key in runs:
                    kind, _, batch = key.partition("@")
                    batch = {"copy": "0", "resend": str(args.default_batch), "reference": str(args.default_batch),
                             "plan": "100"}.get(kind, batch)
                    by_size[size][key] = bench.measure(kind, backlog, int(batch), table)
                    _report(table.name, size, key, by_size[size][key])
                backlog.unlink()
    finally:
        bench.stop()
    text = render(results, batches, args.default_batch, (load_before, _load()), args.reference)
    print(text)
    if args.write:
        replace_section(Path(args.write), "## Sync engine", text)
    return 0


def _report(table: str, size: int, kind: str, result: dict) -> None:
    print(
        f"{table:<26} {size:>9} rows  {kind:<11} {result['rows_per_s']:>10,.0f} rows/s  {result['seconds']:7.2f} s  "
        f"peak {result['peak_mb']:6.1f} MB",
        file=sys.stderr,
        flush=True,
    )


def _load() -> str:
    """The 1, 5 and 15 minute load averages, as /proc/loadavg gives them."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def render(
    results: dict[str, dict[int, dict[str, dict]]], batches: list[int], default_batch: int, load: tuple[str, str],
    reference: str | None = None,
) -> str:
    lines = [
        "## Sync engine",
        "",
        f"Measured {date.today().isoformat()} on {os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}, PostgreSQL {_server_version()} on loopback (TCP), the indexed and "
        f"triggered {' and '.join(f'`{t}`' for t in results)} tables of `services/database/init`.",
        "",
        f"Command: `.venv/bin/python bench/{' '.join([Path(sys.argv[0]).name, *sys.argv[1:]])}`.",
        f"Load average (1, 5, 15 min) before the run: {load[0]}; after: {load[1]}.",
        "",
        "| table | backlog | method | rows/s | seconds | peak memory | CPU s per 1M rows | vs COPY | vs plan |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for table, by_size in results.items():
        for size, by_kind in by_size.items():
            copy = by_kind["copy"]["rows_per_s"]
            plan = by_kind.get("plan", {}).get("rows_per_s")
            for kind, r in by_kind.items():
                label = {
                    "copy": "psql `\\copy` (limit)",
                    "plan": "plan's reference (list, INSERT per row, 100/txn)",
                    "resend": f"`DataSyncManager`, batch {default_batch}, every row already in PostgreSQL (merge)",
                    "reference": f"`DataSyncManager` of `{reference}` (the reference engine), batch {default_batch}",
                }.get(kind, f"`DataSyncManager`, batch {kind.split('@')[-1]}")
                if kind == f"sync@{default_batch}":
                    label += " (default)"
                peak = "n/a (psql)" if r["peak_mb"] != r["peak_mb"] else f"{r['peak_mb']:.0f} MB"
                vs_plan = f"{r['rows_per_s'] / plan:.1f}x" if plan else "–"
                cpu = "n/a (psql)" if r["cpu_s"] != r["cpu_s"] else f"{_cpu(r):.1f}"
                lines.append(
                    f"| `{table}` | {size:,} | {label} | {r['rows_per_s']:,.0f} | {r['seconds']:.1f} | {peak} | "
                    f"{cpu} | {r['rows_per_s'] / copy:.2f}x | {vs_plan} |"
                )
    lines += [
        "",
        "Each `DataSyncManager` figure is a whole run in a fresh process: opening the local stores,",
        "the pool and the schema check, every batch (SQLite writes it as one block of COPY text, which",
        "is copied straight into the table; two connections write and commit batches at once, then",
        "the SQLite marks), and closing, with SQLite's final WAL checkpoint of the marks. Peak memory",
        "is that process's high-water mark (VmHWM); CPU is its user + system time, threads included,",
        "per million rows (it runs no child process). The plan's reference holds the backlog as dicts;",
        "the sync engine holds at most four batches (one read ahead, two being written, one being",
        "marked), so its memory follows the batch size, not the backlog. The merge rows re-send a",
        "backlog PostgreSQL already holds (a restored backup, lost marks). `psql \\copy` copies the",
        "very COPY text the sync sends (origin columns and `synced_at` included), the whole backlog",
        "in one statement, so the statement-level triggers run once for it, against once per batch",
        "for the sync.",
        "",
        "File events are shaped like a project's changes. Sessions are a host's working days",
        "(09:00 to 17:00 UTC) written through the agent's own store as the desktop monitor writes",
        "them: a session opened, then closed, one after the other, 5 s to 30 min each (log-uniform),",
        "several applications, window titles of 30 to 110 characters. Closing a session edits it",
        "(`sync_revision` 1), so the sync sends such batches through the merge (staging table,",
        "`INSERT … ON CONFLICT`), as it must for a session that may already be in PostgreSQL; every",
        "row fires the rollups of init/07 and 09–12 and the timeline segments of init/16. A re-sent",
        "sessions backlog changes no stored row (PostgreSQL already has each at the revision sent), so",
        "no rollup runs: its merge row measures the staging and the conflict check alone.",
        "",
    ]
    for table, by_size in results.items():
        for size, by_kind in by_size.items():
            syncs = {k: v for k, v in by_kind.items() if k.startswith("sync@")}
            if not syncs:
                continue
            best = max(syncs, key=lambda k: syncs[k]["rows_per_s"])
            copy = by_kind["copy"]["rows_per_s"]
            default = syncs.get(f"sync@{default_batch}")
            plan = by_kind.get("plan", {}).get("rows_per_s")
            summary = (
                f"- `{table}`, {size:,} rows: best batch size {best.split('@')[1]} at "
                f"{syncs[best]['rows_per_s'] / copy:.2f}x COPY"
            )
            if default:
                summary += f"; default batch {default_batch}: {default['rows_per_s'] / copy:.2f}x COPY"
                if plan:
                    summary += f", {default['rows_per_s'] / plan:.1f}x the plan's reference"
                summary += f", peak {default['peak_mb']:.0f} MB"
                if ref := by_kind.get("reference"):
                    summary += (f"; CPU per row {_cpu(default) / _cpu(ref):.2f}x the engine of `{reference}` "
                                f"({_cpu(default):.1f} against {_cpu(ref):.1f} s per million rows)")
            lines.append(summary + ".")
    return "\n".join(lines) + "\n"


def _cpu(result: dict) -> float:
    """CPU seconds per million rows."""
    return result["cpu_s"] / result["rows"] * 1e6


def _server_version() -> str:
    try:
        out = subprocess.run(["psql", "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "?"
    match = re.search(r"\d+(\.\d+)+", out)
    return match.group(0) if match else "?"


if __name__ == "__main__":
    raise SystemExit(main())
