"""Kill -9: how many file events a killed agent loses, and what its next start recovers.

A real agent process (``python -m host_agent run``, default filesystem watcher settings: buffer
of 100 rows or 1 s, 1 s cool-down; sync and desktop monitor off) watches a real folder while a
thread of this script creates files at a steady rate (default 20 files/s for 120 s). Every
``duration / kills`` seconds, at a random point of that slot, the agent gets SIGKILL; it is
started again after ``--down`` seconds. After the last kill it is started once more and stopped
with SIGTERM. Then every file is looked up in ``file_changes.db``:

- made *while an agent watched* (after its log said ``watching <folder>``, before its kill): a
  file with no ``watcher`` row is an event lost to the kill; the loss window is how long before
  the kill the lost ones were made (max, p95);
- made while no agent watched (killed, or starting up): recorded by reconciliation at the next
  start, or not;
- each file should have exactly one ``created`` row.

Then, with ``--tree-files N`` (0 skips it), what reconciling a large tree costs: a tree of N files
(folders of 1,000) is watched for the first time, watched again without changes, then again
after N/10 files were created, N/10 deleted and N/10 appended to while the agent was stopped.
Each start is timed from the process start to its log line (``first watch of``, ``reconciled``;
for the last one, until every row is in SQLite), with the agent's peak resident memory
(``VmHWM``) at that point.

Usage: python bench/bench_kill_loss.py [--rate 20] [--duration 120] [--kills 10] [--down 1]
                                       [--tree-files 100000] [--base /tmp] [--seed 1]
                                       [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import shutil
import signal
import sqlite3
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from benchmarks_doc import replace_section
from host_agent.testing import AgentProcess

HEADING = "## Kill -9"


class Maker(threading.Thread):
    """Creates ``rate`` files per second (a few bytes each) until stopped; keeps (name, time made)."""

    def __init__(self, folder: Path, rate: float) -> None:
        super().__init__(name="file-maker")
        self.folder, self.interval = folder, 1.0 / rate
        self.made: list[tuple[str, float]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        next_at = time.monotonic()
        n = 0
        while not self.halt.is_set():
            name = f"f{n:06d}.txt"
            with open(self.folder / name, "w") as f:
                f.write("x = 1\n")
            self.made.append((name, time.time()))
            n += 1
            next_at += self.interval
            self.halt.wait(max(0.0, next_at - time.monotonic()))


def agent_for(work: Path, root: Path, run: int) -> AgentProcess:
    data_dir = work / "data"
    config = work / "agent.yaml"
    config.write_text(
        f"agent:\n  data_dir: '{data_dir}'\n  log_level: INFO\n"
        "data_sync:\n  enabled: false\n"
        "desktop_monitor:\n  enabled: false\n"
        f"filesystem_watcher:\n  monitored_directories: ['{root}']\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "DISPLAY", "REPROSPECTIVE_"))}
    return AgentProcess(config, data_dir, env=env, log_path=work / f"agent-{run:02d}.log")


def start_watching(agent: AgentProcess, root: Path) -> float:
    """Start the agent; returns the wall time its watch was seen up."""
    agent.start()
    agent.wait_for_log(f"watching {root}", timeout=60)
    return time.time()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def measure(args: argparse.Namespace) -> dict:
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="bench-kill-", dir=args.base))
    root = work / "tree"
    root.mkdir()
    maker = Maker(root, args.rate)
    watched: list[tuple[float, float]] = []  # (watch up, killed) per run
    runs = 0
    try:
        agent = agent_for(work, root, runs)
        up = start_watching(agent, root)
        maker.start()
        began = time.monotonic()
        slot = args.duration / args.kills
        for k in range(args.kills):
            kill_at = began + k * slot + rng.uniform(0.3, 1.0) * (slot - args.down)
            while time.monotonic() < kill_at:
                time.sleep(0.01)
            agent.process.send_signal(signal.SIGKILL)
            killed = time.time()
            agent.process.wait(timeout=10)
            watched.append((up, killed))
            time.sleep(args.down)  # the agent is down: what is made now only a reconciliation can find
            runs += 1
            agent = agent_for(work, root, runs)
            up = start_watching(agent, root)
        while time.monotonic() < began + args.duration:
            time.sleep(0.01)
        maker.halt.set()
        maker.join()
        # Let the last watch see the last files before it stops (a SIGTERM flushes its buffer).
        time.sleep(2)
        stopped = time.time()
        assert agent.stop(signal.SIGTERM, timeout=60) == 0, agent.log()
        last_run = (up, stopped)
        rows = read_rows(work / "data" / "file_changes.db")
    finally:
        maker.halt.set()
        if maker.is_alive():
            maker.join()
        try:
            agent.ensure_gone()
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return tally(maker.made, watched, last_run, rows)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def count_rows(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT count(*) FROM file_change_events").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def measure_tree(args: argparse.Namespace) -> list[tuple[str, float, float, int]]:
    """(what, seconds from process start, peak RSS MB, rows) for the three starts."""
    n = args.tree_files
    work = Path(tempfile.mkdtemp(prefix="bench-tree-", dir=args.base))
    root = work / "tree"
    root.mkdir()
    for i in range(n):
        if i % 1000 == 0:
            folder = root / f"pkg{i // 1000:04d}"
            folder.mkdir()
        (folder / f"m{i}.py").write_text("x = 1\n")
    results = []

    def one_start(run: int, what: str, line: str, rows: int) -> None:
        agent = agent_for(work, root, 100 + run)
        started = time.monotonic()
        agent.start()
        try:
            agent.wait_for_log(line, timeout=600)
            db = work / "data" / "file_changes.db"
            while count_rows(db) < rows:
                time.sleep(0.05)
            results.append((what, time.monotonic() - started, peak_rss_mb(agent.process.pid), count_rows(db)))
            assert agent.stop(signal.SIGTERM, timeout=120) == 0, agent.log()
        finally:
            agent.ensure_gone()

    try:
        one_start(0, f"first watch of a tree of {n:,} files (no rows)", f"first watch of {root}", 0)
        one_start(1, "restart, nothing changed", f"reconciled {root}: no change", 0)
        tenth = n // 10
        for i in range(tenth):
            (root / f"pkg{i // 1000:04d}" / f"m{i}.py").unlink()
            with open(root / f"pkg{(i + tenth) // 1000:04d}" / f"m{i + tenth}.py", "a") as f:
                f.write("y = 2\n")
            (root / f"pkg{(i + 2 * tenth) // 1000:04d}" / f"new{i}.py").write_text("z = 3\n")
        one_start(2, f"restart after {tenth:,} created, {tenth:,} deleted, {tenth:,} modified", f"reconciled {root}:", 3 * tenth)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def read_rows(db: Path) -> dict[str, list[tuple[str, str]]]:
    conn = sqlite3.connect(db)
    try:
        found: dict[str, list[tuple[str, str]]] = {}
        for name, kind, by in conn.execute("SELECT file_name, event_type, detected_by FROM file_change_events"):
            found.setdefault(name, []).append((kind, by))
        return found
    finally:
        conn.close()


def tally(made, watched, last_run, rows) -> dict:
    result = {
        "made": len(made), "watched": 0, "lost_to_kill": 0, "recovered": 0, "never": 0,
        "unwatched": 0, "unwatched_recorded": 0, "duplicates": 0, "windows": [],
    }
    for name, at in made:
        created = [by for kind, by in rows.get(name, []) if kind == "created"]
        result["duplicates"] += max(0, len(created) - 1)
        run = next((r for r in watched if r[0] <= at < r[1]), None)
        if run is not None or last_run[0] <= at < last_run[1]:
            result["watched"] += 1
            if "watcher" not in created:
                result["lost_to_kill"] += 1
                result["recovered" if created else "never"] += 1
                if run is not None:
                    result["windows"].append(run[1] - at)
        else:
            result["unwatched"] += 1
            result["unwatched_recorded"] += bool(created)
    return result


def report(args: argparse.Namespace, r: dict, tree: list, load_before: str, load_after: str) -> str:
    windows = r["windows"]
    window = (
        f"max **{max(windows):.2f} s**, p95 {percentile(windows, 0.95):.2f} s, median {percentile(windows, 0.5):.2f} s"
        if windows else "none lost"
    )
    command = (
        f".venv/bin/python bench/bench_kill_loss.py --rate {args.rate:g} --duration {args.duration:g} "
        f"--kills {args.kills} --down {args.down:g} --seed {args.seed}"
        + f" --tree-files {args.tree_files}" + (f" --base {args.base}" if args.base else "") + " --write docs/benchmarks.md"
    )
    tree_text = ""
    if tree:
        lines = "\n".join(f"| {what} | {seconds:.1f} | {rss:.0f} | {rows:,} |" for what, seconds, rss, rows in tree)
        tree_text = f"""
Reconciling a large tree (same agent settings; a tree of {args.tree_files:,} files in folders of 1,000, each start timed from the process start until its log line, or until every row was in SQLite):

| start | seconds | agent's peak RSS (MB) | rows |
|---|---:|---:|---:|
{lines}

The walk and the diff run in a worker thread; the stored state is read in pages of 5,000 and, while diffing, held like a second reference snapshot, then dropped; a reconciliation's rows are buffered at most 5,000 at a time (it waits for the writes).
"""
    return f"""{HEADING}

Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, Linux {platform.release()}, Python {platform.python_version()}; watched folder under {args.base or tempfile.gettempdir()}; the agent's default watcher settings (buffer 100 rows or **1 s**, cool-down 1 s), sync and desktop monitor off; load average {load_before} → {load_after} (start → end).

Command: `{command}`

A real agent process watches a folder while {args.rate:g} files/s are created for {args.duration:g} s; it gets SIGKILL {args.kills} times (at a random point of each {args.duration / args.kills:g} s slot) and is started again {args.down:g} s later; at the end it is stopped with SIGTERM.

| measurement | result |
|---|---|
| files made | {r["made"]:,} |
| made while an agent watched | {r["watched"]:,} |
| of those, with no watcher row (lost to a kill) | {r["lost_to_kill"]:,} |
| loss window: how long before its kill a lost file was made | {window} |
| of the lost ones, recorded at the next start by reconciliation | {r["recovered"]:,} |
| made while an agent watched, with no row at all | **{r["never"]:,}** |
| made while no agent watched (killed or starting) | {r["unwatched"]:,} |
| of those, recorded by reconciliation at the next start | **{r["unwatched_recorded"]:,}** |
| files with more than one `created` row | {r["duplicates"]:,} |

A file is "made while an agent watched" from the moment the agent's log says `watching <folder>` (seen by polling the log, so a few milliseconds late) until SIGKILL is sent. The events of the last `flush_interval` are in memory only, so that is what a kill can lose as watcher rows; the tree state is written in the same transactions as the rows, so the next start finds every such file on disk and records it with `detected_by = 'reconciliation'` (its `event_time` is the file's modification time). Before reconciliation and the 1 s default (issue: 10 s flushes, fresh snapshot at start-up), the same load lost 441 of 1,901 watched files, all within 5 s before a kill, and none of 400 files made while no agent ran were recorded.
{tree_text}"""


def load_average() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--duration", type=float, default=120.0)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--down", type=float, default=1.0)
    parser.add_argument("--tree-files", type=int, default=100_000)
    parser.add_argument("--base", default=None, help="folder for the watched tree and the agent's data")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--write", type=Path, help="replace the section in this markdown file")
    args = parser.parse_args()
    before = load_average()
    result = measure(args)
    tree = measure_tree(args) if args.tree_files else []
    text = report(args, result, tree, before, load_average())
    print(text)
    if args.write:
        replace_section(args.write, HEADING, text)


if __name__ == "__main__":
    main()
