"""Filesystem watcher: events recorded per second into SQLite, and losses, for file bursts.

A separate process creates N files (in folders of 100, folders created during the burst, as a
``git checkout`` does; each file gets a few bytes) under a folder on a tmpfs, while the watcher,
with its default settings (a buffer of 100 rows or 1 s, 1 s cool-down), records them. A run ends
when SQLite holds N rows or nothing new arrived for 15 s. Reported per run:

- ``made/s``: how fast the files were created;
- ``recorded/s``: rows committed per second until every full batch of 100 was written;
- ``all rows in``: seconds until the last row was committed (the last partial batch waits for
  the flush interval);
- ``lost``: files made minus distinct files recorded; ``dup``: rows beyond one per file;
- ``overflows``: kernel queue overflows seen (each answered with a rescan);
- ``loop lag``: the longest an asyncio callback waited during the run (the agent's other tasks).

Usage: python bench/bench_fs_watcher.py [--files 20000,100000] [--runs 3] [--base /dev/shm]
                                        [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from benchmarks_doc import replace_section
from host_agent.collectors.files.watcher import FileSystemWatcher
from host_agent.collectors.files.directories import StaticDirectories
from host_agent.core.config import BufferSection, FilesystemWatcherSection

HEADING = "## Filesystem watcher"

MAKER = r"""
import os, sys, time
root, count = sys.argv[1], int(sys.argv[2])
start = time.monotonic()
for i in range(count):
    if i % 100 == 0:
        folder = os.path.join(root, f"pkg{i // 100:04d}")
        os.mkdir(folder)
    with open(os.path.join(folder, f"module_{i}.py"), "w") as f:
        f.write("x = 1\n")
print(time.monotonic() - start)
"""


def count_rows(db: Path) -> tuple[int, int]:
    if not db.exists():
        return 0, 0
    conn = sqlite3.connect(db)
    try:
        rows, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT file_path) FROM file_change_events WHERE event_type = 'created'"
        ).fetchone()
        return rows, distinct
    except sqlite3.OperationalError:
        return 0, 0
    finally:
        conn.close()


async def lag_probe(stop: asyncio.Event, worst: list[float]) -> None:
    while not stop.is_set():
        before = time.monotonic()
        await asyncio.sleep(0.01)
        worst[0] = max(worst[0], time.monotonic() - before - 0.01)


async def one_run(base: Path, files: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="fsw-bench-", dir=base))
    try:
        root, data = work / "checkout", work / "data"
        root.mkdir()
        data.mkdir()
        settings = FilesystemWatcherSection(monitored_directories=[root])
        watcher = FileSystemWatcher(StaticDirectories([root]), data / "file_changes.db", settings, data_dir=data)
        stop, probe_stop, worst = asyncio.Event(), asyncio.Event(), [0.0]
        task = asyncio.create_task(watcher.run(stop))
        while watcher.lists_applied == 0:
            await asyncio.sleep(0.01)
        probe = asyncio.create_task(lag_probe(probe_stop, worst))
        started = time.monotonic()
        maker = await asyncio.create_subprocess_exec(
            sys.executable, "-c", MAKER, str(root), str(files), stdout=subprocess.PIPE
        )
        out, _ = await maker.communicate()
        made_seconds = float(out)
        db = data / "file_changes.db"
        last_change, last_seen, done_at, batches_at = time.monotonic(), -1, None, None
        while True:
            rows, _ = await asyncio.to_thread(count_rows, db)
            now = time.monotonic()
            if rows != last_seen:
                last_seen, last_change = rows, now
            if batches_at is None and rows > files - settings.buffer.max_events:
                batches_at = (now, rows)
            if rows >= files:
                done_at = now
                break
            if now - last_change > 15:
                break
            await asyncio.sleep(0.05)
        probe_stop.set()
        await probe
        stop.set()
        await task
        rows, distinct = count_rows(db)
        elapsed = (done_at or last_change) - started
        full_at, full_rows = batches_at or (last_change, rows)
        return {
            "made_per_s": files / made_seconds,
            "recorded_per_s": full_rows / (full_at - started),
            "all_in_s": elapsed,
            "lost": files - distinct,
            "dup": rows - distinct,
            "overflows": watcher.overflows,
            "lag_ms": worst[0] * 1000,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass  # not Linux: the CPU model is only shown for information
    return f"{os.cpu_count()} cores ({cpu}), Linux {platform.release()}, Python {platform.python_version()}"


def fs_type(path: Path) -> str:
    best, kind = "", "unknown"
    for line in Path("/proc/mounts").read_text().splitlines():
        _, mount, fstype, *_ = line.split()
        if str(path).startswith(mount) and len(mount) > len(best):
            best, kind = mount, fstype
    return kind


def limits() -> str:
    values = []
    for name in ("max_queued_events", "max_user_watches"):
        try:
            values.append(f"{name} {Path('/proc/sys/fs/inotify', name).read_text().strip()}")
        except OSError:
            values.append(f"{name} unknown")
    return ", ".join(values)


def report(results: list[dict], args: argparse.Namespace, command: str) -> str:
    buffer = BufferSection()
    rows, every = buffer.max_events, f"{buffer.flush_interval:g} s"
    lines = [
        HEADING,
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {machine()}; watched folder on "
        f"{fs_type(args.base)} ({args.base}); inotify {limits()}; watcher defaults "
        f"(buffer {rows} rows or {every}, cool-down 1 s); load average {args.load:.2f} at the start.",
        "",
        f"Command: `{command}`",
        "",
        "Bursts of new files (a new folder every 100 files, a few bytes each) made by a separate process "
        "as fast as it can while the watcher records them:",
        "",
        "| files | made/s | recorded/s | all rows in (s) | lost | duplicate rows | overflows | worst loop lag (ms) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['files']:,} | {r['made_per_s']:,.0f} | {r['recorded_per_s']:,.0f} | {r['all_in_s']:.1f} "
            f"| {r['lost']} | {r['dup']} "
            f"| {r['overflows']} | {r['lag_ms']:.0f} |"
        )
    lines += [
        "",
        "`recorded/s`: rows committed to SQLite per second, from the first file made until every full batch "
        f"was written; `all rows in`: until the last row was written (the last partial batch, under {rows} "
        f"rows, waits for the {every} flush interval by design); `lost`: files made minus distinct files "
        "recorded. Each row also updates its tree's stored state (for start-up reconciliation) in the same "
        "SQLite transaction. The machine differs from the one of earlier runs (see the CPU above).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", default="20000", help="comma-separated burst sizes")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--base", type=Path, default=Path("/dev/shm"), help="a tmpfs folder for the files")
    parser.add_argument("--write", metavar="MARKDOWN", help=f"replace the '{HEADING}' section of this file")
    args = parser.parse_args()
    args.load = os.getloadavg()[0]
    results = []
    for files in (int(n) for n in args.files.split(",")):
        for i in range(args.runs):
            result = {"files": files, **asyncio.run(one_run(args.base, files))}
            print(f"run {i + 1}: " + ", ".join(f"{k} {v:,.1f}" for k, v in result.items()), flush=True)
            results.append(result)
    command = " ".join([".venv/bin/python", "bench/bench_fs_watcher.py", *sys.argv[1:]])
    text = report(results, args, command)
    print(text)
    if args.write:
        replace_section(Path(args.write), HEADING, text)


if __name__ == "__main__":
    main()
