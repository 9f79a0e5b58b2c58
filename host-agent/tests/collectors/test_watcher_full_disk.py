"""While file events cannot be written (the disk holding file_changes.db is full), the watcher's
memory stays bounded; once writing works again, the trees are rescanned and every file created
meanwhile is recorded. The full disk is a 2 MB tmpfs in a mount namespace of the test's own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FULL_DISK = r"""
import asyncio, json, logging, os, subprocess, sys
from pathlib import Path
from host_agent.collectors.files.directories import StaticDirectories
from tests.collectors.fs_harness import running_watcher, settings, wait_for_rows
from tests.support.waiting import eventually as wait_for

root, disk = Path(sys.argv[1]), Path(sys.argv[2])
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], check=True)
data = disk / "data"
data.mkdir()
filler = disk / "filler"
messages = []
handler = logging.Handler(logging.INFO)
handler.emit = lambda record: messages.append(record.getMessage())
logging.getLogger("host_agent").addHandler(handler)
logging.getLogger("host_agent").setLevel(logging.INFO)

def fill():
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:  # no space left: the point
        pass
    finally:
        os.close(fd)

async def main():
    created = [f"before_{i}.txt" for i in range(5)]
    watcher_settings = settings(buffer={"max_events": 10, "flush_interval": 0.1, "max_pending": 50})
    async with running_watcher(StaticDirectories([root]), data, watcher_settings) as watcher:
        for name in created:
            (root / name).write_text("x")
        await wait_for_rows(data / "file_changes.db", lambda rows: len(rows) == 5)
        fill()

        def one_more_file_until_a_write_fails():
            name = f"until_{len(created)}.txt"
            (root / name).write_text("x")
            created.append(name)
            return any(m.startswith("cannot write file events") for m in messages)

        await wait_for(one_more_file_until_a_write_fails, timeout=30, what="a write to fail", interval=0.01)
        most_kept = 0
        for i in range(300):
            (root / f"during_{i}.txt").write_text("x")
            created.append(f"during_{i}.txt")
            most_kept = max(most_kept, len(watcher.buffer))
        await wait_for(lambda: watcher.events_not_kept > 0, what="events not kept")
        most_kept = max(most_kept, len(watcher.buffer))
        filler.unlink()
        rows = await wait_for_rows(
            data / "file_changes.db", lambda rows: len({r["file_path"] for r in rows}) == len(created), timeout=30
        )
    print(json.dumps({"most_kept": most_kept, "messages": messages, "created": sorted(created),
                      "paths": sorted({r["file_path"] for r in rows})}))

asyncio.run(main())
"""


def test_a_full_disk_keeps_memory_bounded_and_a_rescan_records_what_was_not_kept(tmp_path):
    root, disk = tmp_path / "src", tmp_path / "disk"
    root.mkdir()
    disk.mkdir()
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "mount", "-t", "tmpfs", "tmpfs", str(disk)],
        capture_output=True,
        timeout=10,
    )
    if probe.returncode != 0:
        pytest.skip(f"no mount namespace to make a small disk in: {probe.stderr.decode().strip()}")
    run = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", sys.executable, "-c", FULL_DISK, root, disk],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[2],
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["most_kept"] <= 50  # buffer.max_pending
    assert result["paths"] == sorted(str(root / name) for name in result["created"])
    messages = result["messages"]
    assert any(m.startswith("cannot write file events") and "database or disk is full" in m for m in messages)
    assert any("further events are not kept" in m for m in messages)
    assert any(m.startswith("rescanning 1 monitored trees for the") for m in messages)
    assert any(m.startswith("file events are written to") and m.endswith("again") for m in messages)
