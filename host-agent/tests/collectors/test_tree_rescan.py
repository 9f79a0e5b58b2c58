"""Rescans: what a new snapshot shows that no event reported (real folders, real snapshots)."""

from __future__ import annotations

import os

from host_agent.collectors.files.event_buffer import EventBuffer
from host_agent.collectors.files.file_events import build_row
from host_agent.collectors.files.tree_rescan import missed_changes, take_snapshot


def test_rescan_reports_only_changes_no_event_reported(tmp_path):
    for name in ("gone.txt", "edited.txt", "old-name.txt", "told-gone.txt"):
        (tmp_path / name).write_text("v1")
    (tmp_path / "node_modules").mkdir()
    enter = lambda folder: os.path.basename(folder) != "node_modules"  # noqa: E731
    before = take_snapshot(str(tmp_path), enter)

    (tmp_path / "reported.txt").write_text("new")
    (tmp_path / "missed.txt").write_text("new")
    (tmp_path / "gone.txt").unlink()
    (tmp_path / "told-gone.txt").unlink()
    (tmp_path / "edited.txt").write_text("version two")
    os.rename(tmp_path / "old-name.txt", tmp_path / "new-name.txt")
    (tmp_path / "node_modules" / "dep.js").write_text("x")
    after = take_snapshot(str(tmp_path), enter)

    buffer = EventBuffer(coalesce_seconds=1, max_events=100)
    for kind, name in (("created", "reported.txt"), ("deleted", "told-gone.txt")):
        path = str(tmp_path / name)
        buffer.add(build_row(kind, path, str(tmp_path), event_time=1.0), path, mono=0.0)

    def mtime(path):
        return os.lstat(path).st_mtime if os.path.lexists(path) else None

    changes = missed_changes(after - before, buffer.known, lambda path: "node_modules" not in path, mtime)
    assert sorted(changes) == [
        ("created", str(tmp_path / "missed.txt"), None),
        ("deleted", str(tmp_path / "gone.txt"), None),
        ("modified", str(tmp_path / "edited.txt"), None),
        ("moved", str(tmp_path / "new-name.txt"), str(tmp_path / "old-name.txt")),
    ]


def test_snapshot_does_not_enter_skipped_folders_or_follow_links(tmp_path):
    (tmp_path / "skip" / "deep").mkdir(parents=True)
    (tmp_path / "skip" / "deep" / "x").write_text("x")
    target = tmp_path.parent / f"{tmp_path.name}-target"
    target.mkdir()
    (target / "inside").write_text("x")
    (tmp_path / "link").symlink_to(target)
    snapshot = take_snapshot(str(tmp_path), lambda folder: not folder.endswith("/skip"))
    assert snapshot.paths == {str(tmp_path), str(tmp_path / "link")}
