"""The watcher's buffer: cool-down, duplicates, replaced files, batches (no disk involved)."""

from __future__ import annotations

from host_agent.collectors.files.event_buffer import EventBuffer
from host_agent.collectors.files.file_events import build_row


def row(kind: str, name: str, *, size: int | None = 1, old: str | None = None) -> dict:
    r = build_row(kind, f"/w/{name}", "/w", event_time=1_700_000_000, old_path=f"/w/{old}" if old else None)
    r["file_size"] = None if kind == "deleted" else size
    return r


def add(buffer: EventBuffer, kind: str, name: str, at: float, **kwargs) -> bool:
    old = kwargs.get("old")
    return buffer.add(row(kind, name, **kwargs), f"/w/{name}", mono=at, old_path=f"/w/{old}" if old else None)


def kinds(rows: list[dict]) -> list[tuple[str, str]]:
    return [(r["event_type"], r["file_name"]) for r in rows]


def test_modifications_within_the_cooldown_fold_into_the_waiting_row_with_its_latest_size():
    buffer = EventBuffer(coalesce_seconds=1.0, max_events=100)
    assert add(buffer, "created", "a", 0.0, size=0)
    assert not add(buffer, "modified", "a", 0.5, size=10)
    assert not add(buffer, "modified", "a", 0.9, size=20)
    assert add(buffer, "modified", "a", 1.2, size=30)  # the cool-down counts from the accepted row
    rows = buffer.take()
    assert kinds(rows) == [("created", "a"), ("modified", "a")]
    assert [r["file_size"] for r in rows] == [20, 30]
    assert buffer.coalesced == 2


def test_a_second_creation_report_soon_after_is_a_duplicate():
    buffer = EventBuffer(coalesce_seconds=0, max_events=100)
    assert add(buffer, "created", "a", 0.0)
    assert not add(buffer, "created", "a", 0.01)
    assert kinds(buffer.take()) == [("created", "a")]
    assert buffer.duplicates == 1


def test_a_file_replaced_later_by_a_rename_is_recorded_as_modified():
    buffer = EventBuffer(coalesce_seconds=1.0, max_events=100)
    assert add(buffer, "created", "doc.txt", 0.0)
    assert add(buffer, "created", "doc.txt", 10.0)  # an editor's save: a temporary file renamed over it
    assert add(buffer, "created", "doc.txt", 20.0)
    assert kinds(buffer.take()) == [("created", "doc.txt"), ("modified", "doc.txt"), ("modified", "doc.txt")]


def test_deleting_twice_is_one_row_and_a_file_can_come_back_after_deletion():
    buffer = EventBuffer(coalesce_seconds=1.0, max_events=100)
    assert add(buffer, "created", "a", 0.0)
    assert add(buffer, "deleted", "a", 0.1)
    assert not add(buffer, "deleted", "a", 0.2)
    assert add(buffer, "created", "a", 0.3)
    assert kinds(buffer.take()) == [("created", "a"), ("deleted", "a"), ("created", "a")]


def test_a_move_leaves_the_old_path_known_as_gone():
    buffer = EventBuffer(coalesce_seconds=1.0, max_events=100)
    assert add(buffer, "moved", "new", 0.0, old="old")
    assert not add(buffer, "deleted", "old", 0.1)
    assert buffer.known("/w/old").kind == "moved_away"


def test_reaching_max_events_signals_once_per_batch():
    calls = []
    buffer = EventBuffer(coalesce_seconds=0, max_events=3, on_full=lambda: calls.append(1))
    for i in range(5):
        add(buffer, "created", f"f{i}", float(i))
    assert calls == [1]
    assert len(buffer.take(limit=2)) == 2
    assert len(buffer) == 3
    buffer.take()
    for i in range(5, 8):
        add(buffer, "created", f"f{i}", float(i))
    assert calls == [1, 1]


def test_rows_put_back_after_a_failed_write_come_first():
    buffer = EventBuffer(coalesce_seconds=0, max_events=100)
    add(buffer, "created", "a", 0.0)
    failed = buffer.take()
    add(buffer, "created", "b", 1.0)
    buffer.put_back(failed)
    assert kinds(buffer.take()) == [("created", "a"), ("created", "b")]


def test_forgetting_before_a_rescan_keeps_later_knowledge():
    buffer = EventBuffer(coalesce_seconds=0, max_events=100)
    add(buffer, "created", "early", 1.0)
    add(buffer, "created", "late", 5.0)
    buffer.forget_before(3.0)
    assert buffer.known("/w/early") is None
    assert buffer.known("/w/late").kind == "created"


def with_state(kind: str, name: str, size: int, *, old: str | None = None) -> dict:
    r = row(kind, name, size=size, old=old)
    r["tree_state"] = ([("/w", old, None)] if old else []) + [("/w", name, None if kind == "deleted" else (size, size, 7))]
    return r


def test_a_folded_report_moves_the_state_on_while_its_row_waits_and_after_it_was_taken():
    buffer = EventBuffer(coalesce_seconds=10.0, max_events=100)
    buffer.add(with_state("moved", "b", 1, old="a"), "/w/b", mono=0.0, old_path="/w/a")
    buffer.add(with_state("created", "b", 2), "/w/b", mono=0.5)  # a duplicate report, folded into the waiting move
    [moved] = buffer.take()
    assert moved["tree_state"] == [("/w", "a", None), ("/w", "b", (2, 2, 7))], "the source stays gone"
    assert buffer.take_late_states() == {}

    buffer.add(with_state("created", "c", 1), "/w/c", mono=1.0)
    assert kinds(buffer.take()) == [("created", "c")]
    buffer.add(with_state("modified", "c", 3), "/w/c", mono=1.5)  # folded into a row already written
    late = buffer.take_late_states()
    assert late == {"/w/c": [("/w", "c", (3, 3, 7))]}
    buffer.put_back_late_states(late)  # the write failed: it waits again
    assert buffer.take_late_states() == late

    buffer.add(with_state("modified", "c", 4), "/w/c", mono=2.0)
    buffer.add(with_state("deleted", "c", 0), "/w/c", mono=3.0)  # a row of its own supersedes it
    assert buffer.take_late_states() == {}
    buffer.put_back_late_states(late)  # an older failed write does not overwrite the waiting row
    assert buffer.take_late_states() == {}
    assert kinds(buffer.take()) == [("deleted", "c")]
