"""The filesystem watcher on real inotify, real folders and a real SQLite file."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from host_agent.collectors.files.file_events import ProjectResolver, unescape_path_bytes
from host_agent.collectors.files.watcher import FileSystemWatcher, create_collector
from host_agent.collectors.files.directories import PostgresDirectories, StaticDirectories, directory_source_for
from host_agent.core.config import ConfigFile, resolve
from host_agent.collectors.base import CollectorContext

from tests.collectors.fs_harness import (
    ListedDirectories,
    of_type,
    read_events,
    relative_paths,
    running_watcher,
    settings,
    wait_for_rows,
)
from tests.support.unprivileged import NOBODY, run_as_nobody
from tests.support.waiting import eventually


@pytest.fixture
def root(tmp_path) -> Path:
    path = tmp_path / "watched"
    path.mkdir()
    return path


def db_of(data_dir: Path) -> Path:
    return data_dir / "file_changes.db"


async def test_created_modified_and_deleted_files_each_give_one_row(root, data_dir):
    existing = root / "notes.txt"
    existing.write_text("old")
    async with running_watcher(ListedDirectories([root]), data_dir, settings([root])):
        (root / "new.py").write_text("print(1)\n")
        await wait_for_rows(db_of(data_dir), lambda rows: relative_paths(rows, "created") == ["new.py"])
        existing.write_text("changed content")
        await wait_for_rows(db_of(data_dir), lambda rows: relative_paths(rows, "modified") == ["notes.txt"])
        existing.unlink()
        rows = await wait_for_rows(db_of(data_dir), lambda rows: relative_paths(rows, "deleted") == ["notes.txt"])
    created, modified, deleted = rows
    assert created["file_path"] == str(root / "new.py")
    assert created["monitored_root"] == str(root)
    assert created["file_extension"] == ".py"
    assert created["event_time_iso"]
    assert modified["file_size"] == len("changed content")
    assert deleted["file_size"] is None
    assert len(rows) == 3


async def test_move_inside_the_tree_keeps_old_and_new_path(root, data_dir, tmp_path):
    (root / "a").mkdir()
    (root / "b").mkdir()
    (root / "a" / "draft.md").write_text("text")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "incoming.txt").write_text("in")
    async with running_watcher(ListedDirectories([root]), data_dir, settings([root])):
        os.rename(root / "a" / "draft.md", root / "b" / "final.md")
        os.rename(outside / "incoming.txt", root / "incoming.txt")
        os.rename(root / "b" / "final.md", outside / "gone.md")
        rows = await wait_for_rows(db_of(data_dir), lambda rows: len(rows) >= 3)
    assert [(r["event_type"], r["file_path_relative"], r["old_file_path"]) for r in rows] == [
        ("moved", "b/final.md", str(root / "a" / "draft.md")),
        ("created", "incoming.txt", None),
        ("deleted", "b/final.md", None),
    ]
    assert rows[0]["file_size"] in (4, None)  # None if it had moved on when the event was handled


async def test_files_in_a_moved_folder_are_recorded_as_moves(root, data_dir):
    (root / "old" / "sub").mkdir(parents=True)
    for name in ("x.txt", "sub/y.txt"):
        (root / "old" / name).write_text(name)
    async with running_watcher(ListedDirectories([root]), data_dir, settings([root])):
        os.rename(root / "old", root / "new")
        rows = await wait_for_rows(db_of(data_dir), lambda rows: len(rows) >= 2)
    assert sorted((r["file_path_relative"], r["old_file_path"]) for r in of_type(rows, "moved")) == [
        ("new/sub/y.txt", str(root / "old/sub/y.txt")),
        ("new/x.txt", str(root / "old/x.txt")),
    ]


async def test_excluded_paths_and_the_data_folder_are_never_written(tmp_path):
    root = tmp_path / "home"
    data_dir = root / ".local" / "reprospective"  # the data folder inside a monitored directory
    data_dir.mkdir(parents=True)
    names = ("node_modules/lib/index.js", ".git/HEAD", "proj/__pycache__/m.pyc", "proj/.venv/bin/python",
             "proj/build/out.o", "proj/.main.py.swp", "proj/notes.txt~", "proj/app.log", "proj/keep.py")
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
    async with running_watcher(ListedDirectories([root]), data_dir, settings([root])) as watcher:
        for name in names:
            (root / name).write_text("x")
        os.rename(root / "proj/.main.py.swp", root / "proj/main.py")  # an editor's atomic save
        os.rename(root / "proj/keep.py", root / "proj/keep.py.tmp")
        (root / "proj/last.txt").write_text("x")  # events arrive in order: this one comes last
        await eventually(lambda: watcher.buffer.known("%s/proj/last.txt" % root), what="the last event")
    rows = read_events(db_of(data_dir))
    assert [(r["event_type"], r["file_path_relative"]) for r in rows] == [
        ("created", "proj/keep.py"),
        ("created", "proj/main.py"),
        ("deleted", "proj/keep.py"),
        ("created", "proj/last.txt"),
    ]
    everything = repr(rows)
    for hidden in ("node_modules", ".git", "__pycache__", ".venv", "build", ".swp", ".tmp", "file_changes.db"):
        assert hidden not in everything


async def test_symlinks_are_recorded_as_links_and_never_followed(root, data_dir, tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    async with running_watcher(ListedDirectories([root]), data_dir, settings([root])) as watcher:
        (root / "to-dir").symlink_to(target)
        (root / "to-file").symlink_to("/etc/hostname")
        await wait_for_rows(db_of(data_dir), lambda rows: len(rows) == 2)
        (target / "inside-target.txt").write_text("not watched")
        (root / "to-dir").unlink()
        rows = await wait_for_rows(db_of(data_dir), lambda rows: len(of_type(rows, "deleted")) == 1)
        assert watcher.roots.keys() == {str(root)}
    by_path = {(r["event_type"], r["file_path_relative"]): r for r in rows}
    assert by_path[("created", "to-dir")]["is_symlink"] == 1
    assert by_path[("created", "to-dir")]["file_size"] == len(str(target))
    assert by_path[("created", "to-file")]["is_symlink"] == 1
    assert ("deleted", "to-dir") in by_path
    assert "inside-target" not in repr(rows)


async def test_monitored_root_that_is_a_link_is_watched_at_its_target(tmp_path, data_dir, caplog):
    real = tmp_path / "real-project"
    real.mkdir()
    link = tmp_path / "project-link"
    link.symlink_to(real)
    async with running_watcher(ListedDirectories([link]), data_dir, settings([link])):
        (real / "a.txt").write_text("x")
        rows = await wait_for_rows(db_of(data_dir), lambda rows: len(rows) == 1)
    assert rows[0]["file_path"] == str(real / "a.txt")
    assert rows[0]["monitored_root"] == str(real)
    assert f"watching {link} (a link to {real})" in caplog.text


async def test_project_name_comes_from_the_nearest_repository_or_marker(root, data_dir):
    (root / "repo" / ".git").mkdir(parents=True)
    (root / "repo" / "pkg").mkdir()
    (root / "rust" / "src").mkdir(parents=True)
    (root / "rust" / "Cargo.toml").write_text("")
    (root / "misc" / "deep").mkdir(parents=True)
    async with running_watcher(ListedDirectories([root]), data_dir, settings([root])):
        for name in ("repo/pkg/a.py", "rust/src/main.rs", "misc/deep/b.txt", "top.txt"):
            (root / name).write_text("x")
        rows = await wait_for_rows(db_of(data_dir), lambda rows: len(rows) == 4)
    assert {r["file_path_relative"]: r["project_name"] for r in rows} == {
        "repo/pkg/a.py": "repo",
        "rust/src/main.rs": "rust",
        "misc/deep/b.txt": "misc",
        "top.txt": None,
    }


async def test_repeated_modifications_within_the_cooldown_become_one_row(root, data_dir):
    existing = root / "busy.txt"
    existing.write_text("")
    fresh = root / "fresh.txt"
    async with running_watcher(
        ListedDirectories([root]),
        data_dir,
        settings([root], coalesce_seconds=30, buffer={"max_events": 1000, "flush_interval": 3600}),
    ) as watcher:
        busy = os.open(existing, os.O_WRONLY | os.O_APPEND)
        new = os.open(fresh, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            for _ in range(50):
                # Alternating files: the kernel merges identical back-to-back events, not these.
                os.write(busy, b"line\n")
                os.write(new, b"x" * 100)
        finally:
            os.close(busy)
            os.close(new)
        await eventually(lambda: watcher.buffer.coalesced == 99, what="99 coalesced modifications (49 + 50)")
    rows = read_events(db_of(data_dir))
    assert [(r["event_type"], r["file_name"]) for r in rows] == [("created", "fresh.txt"), ("modified", "busy.txt")]
    assert rows[0]["file_size"] == 5000  # the waiting row got the size after the last write


async def test_non_utf8_names_are_recorded_in_escaped_form_and_decode_back(root, data_dir):
    folder = os.fsencode(root) + b"/dossier-\xe9t\xe9"
    os.mkdir(folder)
    async with running_watcher(ListedDirectories([root]), data_dir, settings([root])):
        with open(folder + b"/r\xe9sum\xe9\\1.TXT", "wb") as f:
            f.write(b"abc")
        os.unlink(folder + b"/r\xe9sum\xe9\\1.TXT")
        rows = await wait_for_rows(db_of(data_dir), lambda rows: len(rows) == 2)
    created = rows[0]
    assert created["file_name"] == "r\\xe9sum\\xe9\\\\1.TXT"
    assert created["file_path_relative"] == "dossier-\\xe9t\\xe9/r\\xe9sum\\xe9\\\\1.TXT"
    assert created["file_extension"] == ".txt"
    assert created["project_name"] == "dossier-\\xe9t\\xe9"
    assert unescape_path_bytes(created["file_path"]) == folder + b"/r\xe9sum\xe9\\1.TXT"
    assert rows[1]["event_type"] == "deleted"


async def test_missing_folder_gets_one_warning_the_others_are_watched_and_it_is_watched_once_it_exists(
    root, data_dir, tmp_path, caplog
):
    missing = tmp_path / "not-yet"
    a_file = tmp_path / "plain-file"
    a_file.write_text("")
    source = ListedDirectories([missing, a_file, root])
    async with running_watcher(source, data_dir, settings()) as watcher:
        (root / "seen.txt").write_text("x")
        await wait_for_rows(db_of(data_dir), lambda rows: len(rows) == 1)
        await eventually(lambda: source.loads >= 3, what="two refreshes")
        missing.mkdir()
        await eventually(lambda: str(missing) in watcher.roots, what="the new folder watched")
        (missing / "later.txt").write_text("x")
        rows = await wait_for_rows(db_of(data_dir), lambda rows: len(rows) == 2)
    assert rows[1]["file_path"] == str(missing / "later.txt")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings.count(f"monitored directory {missing} does not exist; not watched (checked again every refresh)") == 1
    assert sum(f"monitored directory {a_file} is not a folder" in w for w in warnings) == 1


async def test_folders_added_to_and_removed_from_the_list_start_and_stop_being_watched(tmp_path, data_dir, caplog):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    source = ListedDirectories([first])
    async with running_watcher(source, data_dir, settings()) as watcher:
        source.directories = [first, second]
        await eventually(lambda: str(second) in watcher.roots, what="second watched")
        (second / "b.txt").write_text("x")
        await wait_for_rows(db_of(data_dir), lambda rows: len(rows) == 1)
        source.directories = [second]
        await eventually(lambda: str(first) not in watcher.roots, what="first dropped")
        (first / "ignored.txt").write_text("x")
        (second / "c.txt").write_text("x")
        rows = await wait_for_rows(db_of(data_dir), lambda rows: len(rows) == 2)
    assert relative_paths(rows) == ["b.txt", "c.txt"]
    assert f"stopped watching {first}" in caplog.text


async def test_a_folder_inside_another_monitored_folder_is_not_recorded_twice(root, data_dir):
    (root / "inner").mkdir()
    async with running_watcher(ListedDirectories([root / "inner", root]), data_dir, settings()) as watcher:
        assert list(watcher.roots) == [str(root)]
        (root / "inner" / "x.txt").write_text("x")
        await wait_for_rows(db_of(data_dir), lambda rows: len(rows) == 1)
        (root / "y.txt").write_text("y")
        rows = await wait_for_rows(db_of(data_dir), lambda rows: len(rows) == 2)
    assert relative_paths(rows) == ["inner/x.txt", "y.txt"]


async def test_a_full_buffer_is_written_before_the_flush_interval(root, data_dir):
    watcher_settings = settings([root], buffer={"max_events": 10, "flush_interval": 3600})
    async with running_watcher(ListedDirectories([root]), data_dir, watcher_settings):
        for i in range(10):
            (root / f"f{i}").write_text("x")
        rows = await wait_for_rows(db_of(data_dir), lambda rows: len(rows) == 10)
    assert len(rows) == 10


async def test_shutdown_writes_what_the_buffer_holds(root, data_dir):
    watcher_settings = settings([root], buffer={"max_events": 1000, "flush_interval": 3600})
    async with running_watcher(ListedDirectories([root]), data_dir, watcher_settings) as watcher:
        for i in range(5):
            (root / f"f{i}").write_text("x")
        await eventually(lambda: len(watcher.buffer) == 5, what="five buffered rows")
        assert read_events(db_of(data_dir)) == []
    assert len(read_events(db_of(data_dir))) == 5


async def test_a_burst_of_thousands_of_files_is_recorded_without_loss(root, data_dir):
    made = 3000
    async with running_watcher(ListedDirectories([root]), data_dir, settings([root])) as watcher:
        for d in range(10):
            folder = root / f"d{d}"
            folder.mkdir()
            (folder / "node_modules").mkdir()
            for i in range(made // 10):
                (folder / f"f{i}.txt").write_text("x")
                if i % 10 == 0:
                    (folder / "node_modules" / f"dep{i}.js").write_text("x")
        rows = await wait_for_rows(db_of(data_dir), lambda rows: len(rows) >= made, timeout=60)
        await eventually(lambda: len(watcher.buffer) == 0, what="an empty buffer")
    rows = read_events(db_of(data_dir))
    assert len(rows) == made
    assert len({r["file_path"] for r in rows}) == made
    assert watcher.overflows == 0


FLOOD = r"""
import os, sys
folder, writes = sys.argv[1], int(sys.argv[2])
fds = [os.open(os.path.join(folder, f"flood{i}"), os.O_WRONLY | os.O_CREAT) for i in range(2)]
for n in range(writes):
    os.write(fds[n & 1], b"x")  # alternating files: the kernel cannot merge the events
    if n % 500 == 0:
        open(os.path.join(folder, f"new{n // 500}.txt"), "w").close()
"""


async def test_kernel_queue_overflow_is_reported_and_a_rescan_records_the_missed_files(root, data_dir, caplog):
    writes = 200_000  # ~400,000 queued events against fs.inotify.max_queued_events (16384 here)
    expected = writes // 500 + 2
    async with running_watcher(ListedDirectories([root]), data_dir, settings([root])) as watcher:
        process = await asyncio.create_subprocess_exec(sys.executable, "-c", FLOOD, str(root), str(writes))
        assert await process.wait() == 0
        await eventually(lambda: watcher.overflows > 0, what="an overflow")
        rows = await wait_for_rows(db_of(data_dir), lambda rows: len(of_type(rows, "created")) >= expected, timeout=60)
    created = relative_paths(rows, "created")
    assert sorted(created) == sorted([f"new{i}.txt" for i in range(writes // 500)] + ["flood0", "flood1"])
    assert "inotify queue overflowed: events were lost; rescanning the monitored directories" in caplog.text
    assert "rescan recorded" in caplog.text


async def test_a_deleted_monitored_folder_is_dropped_and_watched_again_when_it_returns(tmp_path, data_dir, caplog):
    root = tmp_path / "comes-and-goes"
    root.mkdir()
    async with running_watcher(ListedDirectories([root]), data_dir, settings([root])) as watcher:
        root.rmdir()
        await eventually(lambda: str(root) not in watcher.roots, what="the folder dropped")
        root.mkdir()
        await eventually(lambda: str(root) in watcher.roots, what="the folder watched again")
        (root / "back.txt").write_text("x")
        rows = await wait_for_rows(db_of(data_dir), lambda rows: len(rows) == 1)
    assert rows[0]["file_path"] == str(root / "back.txt")
    assert f"monitored directory {root} was deleted" in caplog.text


def test_collector_takes_its_list_from_postgresql_when_a_url_is_known(tmp_path):
    config = resolve(ConfigFile.model_validate({"agent": {"data_dir": str(tmp_path)}}), tmp_path)
    source = directory_source_for(config, "postgresql://u:secret@localhost/db")
    assert isinstance(source, PostgresDirectories)
    watcher = create_collector(CollectorContext(config, display_name=None, directories=source))
    assert isinstance(watcher, FileSystemWatcher)
    assert watcher.directories is source
    assert watcher.name == "filesystem watcher"
    assert isinstance(directory_source_for(config, None), StaticDirectories)
    assert not (tmp_path / "file_changes.db").exists()  # nothing opened before run()


LIMITED = r"""
import asyncio, json, logging, sys
from pathlib import Path
from host_agent.collectors.files.directories import StaticDirectories
from tests.collectors.fs_harness import read_events, running_watcher, settings, wait_for_rows

small, big, data = (Path(p) for p in sys.argv[1:4])

async def main():
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logging.getLogger("host_agent").addHandler(handler)
    async with running_watcher(StaticDirectories([small, big]), data, settings()) as watcher:
        (small / "seen.txt").write_text("x")
        (big / "top.txt").write_text("x")
        await wait_for_rows(data / "file_changes.db", lambda rows: len(rows) == 2)
        roots = sorted(watcher.roots)
    print(json.dumps({"warnings": [r.getMessage() for r in records], "roots": roots,
                      "rows": [r["file_path"] for r in read_events(data / "file_changes.db")]}))

asyncio.run(main())
"""


def test_watch_limit_gets_one_warning_naming_the_sysctl_and_the_unwatched_folders(tmp_path, data_dir):
    """The limit is lowered to 40 watches inside a user namespace of its own (the machine's stays)."""
    small, big = tmp_path / "small", tmp_path / "big"
    (small / "sub").mkdir(parents=True)
    for i in range(60):
        (big / f"folder{i:02d}").mkdir(parents=True)
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "sh", "-c", "echo 40 > /proc/sys/user/max_inotify_watches"],
        capture_output=True,
        timeout=10,
    )
    if probe.returncode != 0:
        pytest.skip(f"no user namespace to lower the inotify limit in: {probe.stderr.decode().strip()}")
    script = 'echo 40 > /proc/sys/user/max_inotify_watches && exec "$0" -c "$1" "$2" "$3" "$4"'
    run = subprocess.run(
        ["unshare", "--user", "--map-root-user", "sh", "-c", script, sys.executable, LIMITED, small, big, data_dir],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[2],
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["roots"] == [str(big), str(small)]
    assert sorted(result["rows"]) == [str(big / "top.txt"), str(small / "seen.txt")]
    [warning] = result["warnings"]
    assert warning.startswith(f"monitored directory {big}: ")
    assert "folders are not watched: " in warning and str(big / "folder") in warning
    assert "sysctl -w fs.inotify.max_user_watches=" in warning


def test_a_refused_row_is_reported_by_path_and_the_rest_of_its_batch_is_stored(tmp_path, caplog):
    from host_agent.collectors.files.file_events import build_row
    from host_agent.collectors.files.watcher import _save
    from host_agent.common.database import FileChangeDatabase

    good = [build_row("created", f"/w/f{i}", "/w", event_time=1_700_000_000) for i in range(3)]
    bad = {**build_row("created", "/w/broken", "/w", event_time=1_700_000_000), "file_size": -1}
    with FileChangeDatabase(tmp_path / "file_changes.db") as db:
        assert _save(db, [good[0], bad, *good[1:]]) == 3
        stored = [r["file_path"] for r in db.get_recent_events(10)]
    assert sorted(stored) == ["/w/f0", "/w/f1", "/w/f2"]
    assert "file event for /w/broken could not be stored: file change event #0: 'file_size'" in caplog.text


async def test_saves_through_a_temporary_file_are_recorded_as_changes_of_the_file(root, data_dir):
    """An editor writes ``.doc.txt.swp`` (excluded) and renames it over ``doc.txt``, save after save."""
    watcher_settings = settings([root], coalesce_seconds=0)
    async with running_watcher(ListedDirectories([root]), data_dir, watcher_settings) as watcher:
        watcher.buffer.duplicate_seconds = 0  # three saves in a row here, not watchdog repeating itself
        for text in ("v1", "v2", "v3"):
            (root / ".doc.txt.swp").write_text(text)
            os.rename(root / ".doc.txt.swp", root / "doc.txt")
        rows = await wait_for_rows(db_of(data_dir), lambda rows: len(rows) == 3)
    assert [(r["event_type"], r["file_name"]) for r in rows] == [
        ("created", "doc.txt"),
        ("modified", "doc.txt"),
        ("modified", "doc.txt"),
    ]


async def test_an_event_that_fails_to_be_recorded_is_reported_and_recording_goes_on(root, data_dir, caplog):
    class FragileProjects(ProjectResolver):  # describing the file fails, as a bug would make it
        def project_for(self, path, root):
            if os.path.basename(path).startswith("poison"):
                raise ValueError("cannot describe this file")
            return super().project_for(path, root)

    watcher = FileSystemWatcher(ListedDirectories([root]), data_dir / "file_changes.db", settings([root]), data_dir=data_dir)
    watcher.projects = FragileProjects()
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    try:
        await eventually(lambda: watcher.lists_applied, what="the first list")
        (root / "poison1").touch()  # one 'created' each (a write would add a 'modified')
        (root / "poison2").touch()
        (root / "after.txt").touch()
        rows = await wait_for_rows(db_of(data_dir), lambda rows: len(rows) == 1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
    assert rows[0]["file_name"] == "after.txt"
    assert watcher.failed_events == 2
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "could not be recorded" in errors[0].getMessage()


UNPRIVILEGED = r"""
import asyncio, json, logging, sys
from pathlib import Path
from host_agent.collectors.files.directories import StaticDirectories
from tests.collectors.fs_harness import read_events, running_watcher, settings, wait_for_rows

locked, readable, data = (Path(p) for p in sys.argv[1:4])

async def main():
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logging.getLogger("host_agent").addHandler(handler)
    async with running_watcher(StaticDirectories([locked, readable]), data, settings()) as watcher:
        (readable / "mine.txt").write_text("x")
        await wait_for_rows(data / "file_changes.db", lambda rows: len(rows) == 1)
        roots = sorted(watcher.roots)
    print(json.dumps({"warnings": [r.getMessage() for r in records], "roots": roots,
                      "rows": [r["file_path"] for r in read_events(data / "file_changes.db")]}))

asyncio.run(main())
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: it makes folders 'nobody' cannot read, then runs as 'nobody'")
def test_unreadable_folders_get_one_warning_each_and_the_rest_is_watched():
    """Run as 'nobody' (root reads everything): a locked monitored folder, a locked subfolder."""
    base = Path(tempfile.mkdtemp(prefix="fsw-perm-"))
    try:
        os.chmod(base, 0o755)
        locked, readable, data = base / "locked", base / "readable", base / "data"
        for folder, mode in ((locked, 0o700), (readable, 0o755), (data, 0o700)):
            folder.mkdir(mode=mode)
        os.chown(readable, NOBODY, NOBODY)
        os.chown(data, NOBODY, NOBODY)
        (readable / "private").mkdir(mode=0o700)  # owned by root: closed to nobody
        run = run_as_nobody(
            UNPRIVILEGED, str(locked), str(readable), str(data),
            imports=["host_agent.collectors.files.directories", "tests.collectors.fs_harness"],
            workdir=base,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        result = json.loads(run.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(base)
    assert result["roots"] == [str(readable)]
    assert result["rows"] == [str(readable / "mine.txt")]
    assert result["warnings"] == [
        f"monitored directory {locked} is not readable; not watched (checked again every refresh)",
        f"monitored directory {readable}: 1 folder is not readable and not watched: {readable / 'private'}",
    ]
