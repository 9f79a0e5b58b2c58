"""Rows from filesystem changes: escaped paths, extensions, sizes, project names."""

from __future__ import annotations

import os

import pytest
from host_agent.collectors.files.file_events import (
    ProjectResolver,
    build_row,
    escape_path,
    file_extension,
    stat_path,
    unescape_path,
    unescape_path_bytes,
)
from host_agent.common.database import validate_event

RAW_NAMES = [
    b"plain.txt",
    b"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac.md",  # valid UTF-8 stays as it is
    b"latin1-\xe9t\xe9.txt",  # invalid UTF-8
    b"\xff\xfe\x80",
    b"back\\slash",
    b"looks-escaped-\\xff",  # a literal backslash followed by 'xff'
    b"\\\\double",
    b"new\nline",
    b"truncated-\xe6\x97",
]


@pytest.mark.parametrize("raw", RAW_NAMES)
def test_escaped_form_round_trips_to_the_original_bytes(raw):
    path = os.fsdecode(b"/data/" + raw)
    escaped = escape_path(path)
    escaped.encode("utf-8")  # storable as text anywhere
    assert unescape_path(escaped) == path
    assert unescape_path_bytes(escaped) == b"/data/" + raw


def test_escaped_form_documents_invalid_bytes_and_backslashes():
    assert escape_path(os.fsdecode(b"/a/\xff-x")) == "/a/\\xff-x"
    assert escape_path("/a/b\\c") == "/a/b\\\\c"
    assert escape_path("/a/日本語.txt") == "/a/日本語.txt"
    assert unescape_path("/a/\\xFF") == os.fsdecode(b"/a/\xff")  # either hex case is read back


def test_distinct_names_never_share_an_escaped_form():
    escaped = {escape_path(os.fsdecode(raw)) for raw in RAW_NAMES + [b"\\xff", b"\xff"]}
    assert len(escaped) == len(RAW_NAMES) + 2


@pytest.mark.parametrize(
    ("name", "extension"),
    [("main.py", ".py"), ("README.MD", ".md"), ("Makefile", None), (".bashrc", None), ("a.tar.gz", ".gz")],
)
def test_extension_is_lower_case_with_the_dot_or_none(name, extension):
    assert file_extension(name) == extension


def test_row_for_a_file_has_every_column_and_passes_store_validation(tmp_path):
    path = tmp_path / "proj" / "src" / "Main.PY"
    path.parent.mkdir(parents=True)
    path.write_text("hello")
    row = build_row(
        "modified", str(path), str(tmp_path), event_time=1_700_000_000.5, stat=stat_path(str(path)), project_name="proj"
    )
    assert row["file_path"] == str(path)
    assert row["file_path_relative"] == "proj/src/Main.PY"
    assert row["file_name"] == "Main.PY"
    assert row["file_extension"] == ".py"
    assert row["file_size"] == 5
    assert row["is_symlink"] is False
    assert row["monitored_root"] == str(tmp_path)
    assert row["project_name"] == "proj"
    assert row["old_file_path"] is None
    assert row["event_time_iso"].startswith("2023-11-")
    validate_event(row)


def test_deleted_file_has_no_size_and_a_move_keeps_the_old_path(tmp_path):
    deleted = build_row("deleted", str(tmp_path / "gone.txt"), str(tmp_path), event_time=1.0, stat=None)
    assert deleted["file_size"] is None
    moved = build_row(
        "moved", str(tmp_path / "new.txt"), str(tmp_path), event_time=1.0, old_path=str(tmp_path / "old.txt")
    )
    assert moved["old_file_path"] == str(tmp_path / "old.txt")
    validate_event(moved)


def test_symlink_row_describes_the_link_not_its_target(tmp_path):
    target = tmp_path / "big"
    target.write_bytes(b"x" * 1000)
    link = tmp_path / "link"
    link.symlink_to(target)
    row = build_row("created", str(link), str(tmp_path), event_time=1.0, stat=stat_path(str(link)))
    assert row["is_symlink"] is True
    assert row["file_size"] == len(str(target))


def test_build_row_does_not_change_its_arguments(tmp_path):
    st = os.lstat(tmp_path)
    args = ("created", str(tmp_path / "a"), str(tmp_path))
    build_row(*args, event_time=1.0, stat=st)
    assert args == ("created", str(tmp_path / "a"), str(tmp_path))


# -- project inference ----------------------------------------------------------------------


def make(root, *files):
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith("/"):
            path.mkdir(exist_ok=True)
        else:
            path.write_text("")


def test_project_is_the_nearest_git_repository_even_under_a_marker(tmp_path):
    make(tmp_path, "work/repo/.git/", "work/repo/pkg/package.json", "work/repo/pkg/src/a.js")
    resolver = ProjectResolver()
    assert resolver.project_for(str(tmp_path / "work/repo/pkg/src/a.js"), str(tmp_path)) == "repo"


def test_git_worktree_file_counts_as_a_repository(tmp_path):
    make(tmp_path, "wt/.git", "wt/x.py")
    assert ProjectResolver().project_for(str(tmp_path / "wt/x.py"), str(tmp_path)) == "wt"


@pytest.mark.parametrize("marker", ["pyproject.toml", "Cargo.toml", "go.mod", "pom.xml", "Gemfile", "setup.py"])
def test_project_is_the_nearest_folder_with_a_marker_without_git(tmp_path, marker):
    make(tmp_path, f"code/tool/{marker}", "code/tool/src/deep/x")
    assert ProjectResolver().project_for(str(tmp_path / "code/tool/src/deep/x"), str(tmp_path)) == "tool"


def test_project_falls_back_to_the_first_folder_under_the_root(tmp_path):
    make(tmp_path, "notes/2026/todo.md", "loose.txt")
    resolver = ProjectResolver()
    assert resolver.project_for(str(tmp_path / "notes/2026/todo.md"), str(tmp_path)) == "notes"
    assert resolver.project_for(str(tmp_path / "loose.txt"), str(tmp_path)) is None


def test_root_that_is_a_repository_names_the_project(tmp_path):
    make(tmp_path, ".git/", "src/a.py")
    assert ProjectResolver().project_for(str(tmp_path / "src/a.py"), str(tmp_path)) == tmp_path.name


def test_markers_above_the_monitored_root_are_not_used(tmp_path):
    make(tmp_path, "package.json", "root/sub/a.txt")
    assert ProjectResolver().project_for(str(tmp_path / "root/sub/a.txt"), str(tmp_path / "root")) == "sub"


def test_project_answers_are_cached_until_forgotten(tmp_path):
    make(tmp_path, "app/src/a.py")
    clock = [0.0]
    resolver = ProjectResolver(ttl=60, clock=lambda: clock[0])
    assert resolver.project_for(str(tmp_path / "app/src/a.py"), str(tmp_path)) == "app"
    make(tmp_path, "app/src/pyproject.toml")
    assert resolver.project_for(str(tmp_path / "app/src/a.py"), str(tmp_path)) == "app"  # cached
    clock[0] = 61
    assert resolver.project_for(str(tmp_path / "app/src/a.py"), str(tmp_path)) == "src"  # expired
    make(tmp_path, "app/.git/")
    resolver.forget()
    assert resolver.project_for(str(tmp_path / "app/src/a.py"), str(tmp_path)) == "app"
