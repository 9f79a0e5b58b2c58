"""Changes made while a tree was not watched become rows when it is watched again (real
folders, real inotify, the real file_changes.db kept between two watcher runs)."""

from __future__ import annotations

import os
import sqlite3
import time

import pytest
from watchdog.utils.dirsnapshot import DirectorySnapshotDiff

from host_agent.collectors.files.file_events import unescape_path_bytes
from host_agent.collectors.files.reconciliation import event_time_of, reconciled
from host_agent.collectors.files.watcher import MAX_ROWS_PER_TRANSACTION
from host_agent.collectors.files.tree_rescan import StoredSnapshot, SlimStat, take_snapshot

from tests.collectors.fs_harness import ListedDirectories, read_events, running_watcher, settings, wait_for_rows
from tests.support.waiting import eventually


@pytest.fixture
def root(tmp_path):
    path = tmp_path / "tree"
    path.mkdir()
    return path


def db_of(data_dir):
    return data_dir / "file_changes.db"


async def watch_once(root, data_dir, **values):
    """Watch ``root`` until its first list is applied (reconciliation done), then stop."""
    async with running_watcher(ListedDirectories([root]), data_dir, settings([root], **values)) as watcher:
        pass
    return watcher


def stored_size(data_dir, relative):
    conn = sqlite3.connect(db_of(data_dir))
    try:
        row = conn.execute("SELECT size FROM file_tree_state WHERE relative_path = ?", (relative,)).fetchone()
    finally:
        conn.close()
    return row[0] if row else None


def by_path(rows):
    return {r["file_path_relative"]: r for r in rows}


async def test_first_watch_of_an_existing_tree_records_nothing_and_a_restart_without_changes_neither(
    root, data_dir, caplog
):
    for i in range(20):
        (root / f"f{i}.txt").write_text("x")
    (root / "sub").mkdir()
    (root / "sub" / "deep.txt").write_text("y")
    await watch_once(root, data_dir)
    assert read_events(db_of(data_dir)) == []
    assert f"first watch of {root}: its 21 files are its known state from now on" in caplog.text
    await watch_once(root, data_dir)
    assert read_events(db_of(data_dir)) == []
    assert f"reconciled {root}: no change while it was not watched" in caplog.text


async def test_changes_while_stopped_become_rows_marked_as_found_by_reconciliation(root, data_dir, caplog):
    for name in ("edited.txt", "gone.txt", "old-name.txt", "same.txt"):
        (root / name).write_text("version one")
    (root / "sub").mkdir()
    (root / "sub" / "in-gone-folder.txt").write_text("x")
    await watch_once(root, data_dir)

    (root / "new.txt").write_text("made while stopped")
    os.utime(root / "new.txt", ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    (root / "edited.txt").write_text("version two, longer")
    (root / "gone.txt").unlink()
    (root / "sub" / "in-gone-folder.txt").unlink()
    (root / "sub").rmdir()
    os.rename(root / "old-name.txt", root / "new-name.txt")
    before = time.time()
    await watch_once(root, data_dir)
    after = time.time()

    rows = read_events(db_of(data_dir))
    assert sorted((r["event_type"], r["file_path_relative"], r["old_file_path"]) for r in rows) == [
        ("created", "new.txt", None),
        ("deleted", "gone.txt", None),
        ("deleted", "sub/in-gone-folder.txt", None),
        ("modified", "edited.txt", None),
        ("moved", "new-name.txt", str(root / "old-name.txt")),
    ]
    assert {r["detected_by"] for r in rows} == {"reconciliation"}
    assert all(int(before) <= r["detected_at"] <= after for r in rows)
    rows = by_path(rows)
    assert rows["new.txt"]["event_time"] == 1_700_000_000, "a created file's time is its modification time"
    assert rows["new.txt"]["file_size"] == len("made while stopped")
    assert rows["edited.txt"]["event_time"] == int((root / "edited.txt").stat().st_mtime)
    assert rows["gone.txt"]["event_time"] == rows["gone.txt"]["detected_at"], "a deletion's time is when it was found"
    assert f"reconciled {root}: 5 changes made while it was not watched (1 created, 1 modified, 2 deleted, 1 moved)" in caplog.text

    await watch_once(root, data_dir)
    assert len(read_events(db_of(data_dir))) == 5, "a second restart finds nothing new"


async def test_rows_of_a_watched_tree_are_its_known_state_so_a_restart_finds_nothing(root, data_dir):
    (root / "log.txt").write_text("")
    async with running_watcher(ListedDirectories([root]), data_dir, settings([root], coalesce_seconds=30)):
        (root / "made.txt").write_text("x")
        (root / "made-then-gone.txt").write_text("x")
        os.rename(root / "made.txt", root / "renamed.txt")
        (root / "made-then-gone.txt").unlink()
        with open(root / "log.txt", "a") as log_file:
            for i in range(50):  # folded into one row by the cool-down; the state follows every write
                log_file.write(f"line {i}\n")
                log_file.flush()
                if i == 10:
                    await wait_for_rows(db_of(data_dir), lambda rows: "log.txt" in {r["file_path_relative"] for r in rows})
        await wait_for_rows(db_of(data_dir), lambda rows: "renamed.txt" in {r["file_path_relative"] for r in rows})
        size = (root / "log.txt").stat().st_size
        # The later writes gave no row (the cool-down), but the known state follows them.
        await eventually(lambda: stored_size(data_dir, "log.txt") == size, what="the last write in the known state")
    watched = read_events(db_of(data_dir))
    assert {r["detected_by"] for r in watched} == {"watcher"}
    await watch_once(root, data_dir)
    assert read_events(db_of(data_dir)) == watched, "nothing recorded twice, nothing missed"


async def test_excluded_paths_links_and_the_data_folder_are_treated_as_the_watcher_treats_them(root, tmp_path):
    data_dir = root / ".reprospective"
    data_dir.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "inside-the-target.txt").write_text("x")
    await watch_once(root, data_dir)

    (root / "node_modules").mkdir()
    (root / "node_modules" / "dep.js").write_text("x")
    (root / "notes.txt.swp").write_text("x")
    (root / "link").symlink_to(outside)
    (root / "kept.py").write_text("x")
    await watch_once(root, data_dir)
    rows = read_events(db_of(data_dir))
    assert sorted((r["event_type"], r["file_path_relative"], r["is_symlink"]) for r in rows) == [
        ("created", "kept.py", 0),
        ("created", "link", 1),
    ]


async def test_names_that_are_not_utf8_are_recorded_escaped_as_the_watcher_records_them(root, data_dir):
    folder = os.fsencode(root) + b"/dossier-\xe9t\xe9"
    os.mkdir(folder)
    await watch_once(root, data_dir)
    with open(folder + b"/r\xe9sum\xe9\\1.TXT", "wb") as f:
        f.write(b"x")
    await watch_once(root, data_dir)
    [created] = read_events(db_of(data_dir))
    assert (created["event_type"], created["detected_by"]) == ("created", "reconciliation")
    assert created["file_path_relative"] == "dossier-\\xe9t\\xe9/r\\xe9sum\\xe9\\\\1.TXT"
    assert created["project_name"] == "dossier-\\xe9t\\xe9"
    assert unescape_path_bytes(created["file_path"]) == folder + b"/r\xe9sum\xe9\\1.TXT"

    os.unlink(folder + b"/r\xe9sum\xe9\\1.TXT")
    await watch_once(root, data_dir)
    rows = read_events(db_of(data_dir))
    assert [(r["event_type"], r["file_path"]) for r in rows[1:]] == [("deleted", created["file_path"])]
    await watch_once(root, data_dir)
    assert len(read_events(db_of(data_dir))) == 2


async def test_a_folder_taken_off_the_list_comes_back_as_if_watched_for_the_first_time(tmp_path, data_dir, caplog):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (second / "old.txt").write_text("x")
    listed = ListedDirectories([first, second])
    async with running_watcher(listed, data_dir, settings()) as watcher:
        listed.directories = [first]
        await eventually(lambda: str(second) not in watcher.roots, what="second dropped")
        (second / "old.txt").unlink()
        (second / "while-off.txt").write_text("x")
        listed.directories = [first, second]
        await eventually(lambda: str(second) in watcher.roots, what="second watched again")
        (second / "back.txt").write_text("x")
        rows = await wait_for_rows(db_of(data_dir), lambda rows: len(rows) >= 1)
    assert [(r["event_type"], r["file_path_relative"]) for r in rows] == [("created", "back.txt")]
    assert caplog.text.count(f"first watch of {second}") == 2
    await watch_once(second, data_dir)
    assert len(read_events(db_of(data_dir))) == 1, "its known state is the one taken when it came back"


async def test_a_tree_that_changed_a_lot_is_reconciled_in_bounded_batches_each_change_once(root, data_dir):
    made = 12_000
    await watch_once(root, data_dir)
    for d in range(12):
        folder = root / f"d{d}"
        folder.mkdir()
        for i in range(made // 12):
            (folder / f"f{i}.txt").write_text("x")
    async with running_watcher(ListedDirectories([root]), data_dir, settings([root])) as watcher:
        await wait_for_rows(db_of(data_dir), lambda rows: len(rows) >= made, timeout=120)
    rows = read_events(db_of(data_dir))
    assert len(rows) == len({r["file_path"] for r in rows}) == made
    assert {(r["event_type"], r["detected_by"]) for r in rows} == {("created", "reconciliation")}
    assert watcher.buffer.most_waiting <= MAX_ROWS_PER_TRANSACTION, "the reconciliation waited for writes"


async def test_an_interrupted_first_walk_starts_afresh(root, data_dir):
    from host_agent.store.file_changes import FileChangeDatabase

    (root / "a.txt").write_text("x")
    with FileChangeDatabase(db_of(data_dir)) as db:  # what a kill during a first walk leaves: state, no mark
        db.save_events([], tree_state=[(str(root), "was-there.txt", (1, 1, 1))])
    await watch_once(root, data_dir)
    assert read_events(db_of(data_dir)) == []
    await watch_once(root, data_dir)
    assert read_events(db_of(data_dir)) == [], "the partial state was dropped, not reported as deleted"


def test_a_rename_is_a_move_only_when_inode_size_and_time_match(tmp_path):
    for name in ("renamed", "renamed-and-edited"):
        (tmp_path / name).write_text("v1")
    disk_before = take_snapshot(str(tmp_path), lambda folder: True)
    stored = StoredSnapshot(
        str(tmp_path),
        disk_before.stat_info(str(tmp_path)),
        [
            (p, st.st_size, st.st_mtime_ns, st.st_ino)
            for p in disk_before.paths
            if p != str(tmp_path) and (st := disk_before.stat_info(p))
        ],
    )
    os.rename(tmp_path / "renamed", tmp_path / "renamed-2")
    os.rename(tmp_path / "renamed-and-edited", tmp_path / "edited-2")
    (tmp_path / "edited-2").write_text("version two")
    disk = take_snapshot(str(tmp_path), lambda folder: True)
    changes = [
        ("moved", str(tmp_path / "renamed-2"), str(tmp_path / "renamed")),
        ("moved", str(tmp_path / "edited-2"), str(tmp_path / "renamed-and-edited")),
        ("modified", str(tmp_path / "renamed-and-edited"), None),
    ]
    assert reconciled(changes, stored, disk) == [
        ("moved", str(tmp_path / "renamed-2"), str(tmp_path / "renamed")),
        ("deleted", str(tmp_path / "renamed-and-edited"), None),
        ("created", str(tmp_path / "edited-2"), None),
    ]


@pytest.mark.parametrize(
    ("kind", "mtime", "ctime", "expected"),
    [
        ("created", 100.0, 150.0, 100.0),
        ("modified", 120.0, 150.0, 120.0),
        ("modified", 500.0, 500.0, 200.0),  # a time in the future: never later than when found
        ("moved", 100.0, 150.0, 150.0),
        ("deleted", None, None, 200.0),
    ],
)
def test_event_time_of_a_reconciled_change(kind, mtime, ctime, expected):
    st = None if mtime is None else os.stat_result((0o100644, 1, 1, 1, 0, 0, 3, 0, int(mtime), int(ctime), mtime, mtime, ctime))
    assert event_time_of(kind, st, 200.0) == expected


def test_a_stored_snapshot_compares_exactly_with_a_walk(tmp_path):
    (tmp_path / "f").write_text("x")
    disk = take_snapshot(str(tmp_path), lambda folder: True)
    st = disk.stat_info(str(tmp_path / "f"))
    stored = StoredSnapshot(str(tmp_path), disk.stat_info(str(tmp_path)), [(str(tmp_path / "f"), st.st_size, st.st_mtime_ns, st.st_ino)])
    assert isinstance(st, SlimStat)
    diff = DirectorySnapshotDiff(stored, disk, ignore_device=True)
    assert (diff.files_created, diff.files_deleted, diff.files_modified) == ([], [], [])
