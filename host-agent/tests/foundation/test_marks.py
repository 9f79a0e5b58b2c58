"""Marking a committed batch synced: the range plan, and that it marks exactly what row by row would."""

from __future__ import annotations

import json
import random

import pytest
from host_agent.common.database import FileChangeDatabase
from host_agent.store.marks import MarkPlan, plan_marks
from host_agent.store.tables import FILE_CHANGE_EVENTS, SYNCED_TABLES


@pytest.mark.parametrize(
    ("synced", "expected"),
    [
        ([], MarkPlan()),
        # a dense backlog: one range, nothing left out
        ([(1, 0), (2, 0), (3, 0)], MarkPlan(range_=(1, 3))),
        # in any order
        ([(3, 0), (1, 0), (2, 0)], MarkPlan(range_=(1, 3))),
        # a refused or held row in the middle is left out
        ([(10, 0), (11, 0), (13, 0), (14, 0)], MarkPlan(range_=(10, 14), excluded=[12])),
        # an edited row is marked by its revision, and left out of the range
        ([(1, 0), (2, 3), (3, 0)], MarkPlan(range_=(1, 3), excluded=[2], by_row=[(2, 3)])),
        # closed sessions: one range at the revision they were sent at
        ([(4, 1), (5, 1), (7, 1)], MarkPlan(range_=(4, 7), revision=1, excluded=[6])),
        # the revision most rows were sent at takes the range; the others go row by row
        ([(1, 1), (2, 0), (3, 1), (4, 1)], MarkPlan(range_=(1, 4), revision=1, excluded=[2], by_row=[(2, 0)])),
        # a tie: the lowest revision
        ([(5, 1), (9, 2)], MarkPlan(range_=(5, 5), revision=1, by_row=[(9, 2)])),
        # sparse ids (rows synced long ago in between): row by row, not a long exclusion list
        ([(1, 0), (100, 0), (200, 0)], MarkPlan(by_row=[(1, 0), (100, 0), (200, 0)])),
    ],
)
def test_plan_marks(synced, expected):
    assert plan_marks(synced) == expected


def _statuses(db: FileChangeDatabase) -> dict[int, bool]:
    with db.reading() as conn:
        return {row_id: synced is not None for row_id, synced in conn.execute("SELECT id, synced_at FROM file_change_events")}


def _event(i: int) -> dict:
    return dict(event_time=1_780_000_000 + i, event_type="created", file_path=f"/p/f{i}.txt",
                file_path_relative=f"f{i}.txt", file_name=f"f{i}.txt", file_extension=".txt",
                file_size=i, monitored_root="/p", project_name="p")  # fmt: skip


@pytest.mark.parametrize("seed", range(12))
def test_the_range_marks_exactly_what_row_by_row_marks(tmp_path, seed):
    """Random batches over a real SQLite table: some rows already synced, some edited after they
    were read, some refused; both ways leave the same rows waiting. Odd seeds wait at revision 1,
    as closed sessions do, and rows synced before at revision 0 reach it by an edit after the read."""
    rng = random.Random(seed)
    results = []
    base = seed % 2
    for way in ("by_row", "planned"):
        rng.seed(seed)
        db = FileChangeDatabase(tmp_path / f"{way}.db")
        db.save_events([_event(i) for i in range(300)])
        with db.atomic() as conn:
            conn.execute("UPDATE file_change_events SET sync_revision = ?", (base,))
            # rows synced before at revision 0 (gaps in the waiting ids), and rows sent at a later revision
            for row_id in rng.sample(range(1, 301), 60):
                conn.execute("UPDATE file_change_events SET synced_at = 1, sync_revision = 0 WHERE id = ?", (row_id,))
            for row_id in rng.sample(range(1, 301), 20):
                conn.execute("UPDATE file_change_events SET sync_revision = 2 + ?, synced_at = NULL WHERE id = ?",
                             (base, row_id))
        with db.reading() as conn:
            waiting = [tuple(row) for row in conn.execute(
                "SELECT id, sync_revision FROM file_change_events WHERE synced_at IS NULL ORDER BY id")]
        batch = waiting[rng.randrange(0, 40):][: rng.randrange(50, 200)]
        synced = [row for row in batch if rng.random() > 0.05]  # the rest refused
        with db.atomic() as conn:
            # edits after the batch was read: their revision moves on, they must keep waiting
            for row_id, _ in rng.sample(batch, 10):
                conn.execute("UPDATE file_change_events SET file_size = -1 WHERE id = ?", (row_id,))
            # any row, synced ones too: one synced at revision 0 now waits at revision 1
            for row_id in rng.sample(range(1, 301), 10):
                conn.execute("UPDATE file_change_events SET file_size = -2 WHERE id = ?", (row_id,))
            if way == "by_row":
                conn.execute(FILE_CHANGE_EVENTS.mark_synced_sql(), (5, json.dumps(synced)))
            else:
                plan = plan_marks(synced)
                assert plan.revision == base  # most rows were sent at the revision they wait at
                if plan.range_:
                    conn.execute(FILE_CHANGE_EVENTS.mark_synced_range_sql(),
                                 (5, *plan.range_, plan.revision, json.dumps(plan.excluded)))
                if plan.by_row:
                    conn.execute(FILE_CHANGE_EVENTS.mark_synced_sql(), (5, json.dumps(plan.by_row)))
        results.append(_statuses(db))
    assert results[0] == results[1]
    assert any(results[0].values()) and not all(results[0].values())


@pytest.mark.parametrize("table", SYNCED_TABLES, ids=lambda table: table.name)
def test_the_range_mark_walks_the_ids_not_the_index_it_changes(tmp_path, table):
    """Walking ``idx_…_synced_at`` while changing it makes SQLite collect the rows first and
    update them in a second pass; the range is walked by id instead."""
    db = table.store(tmp_path / "local.db")
    with db.reading() as conn:
        plan = conn.execute("EXPLAIN QUERY PLAN " + table.mark_synced_range_sql(), (5, 1, 5000, 0, "[]")).fetchall()
    walk = [row[3] for row in plan if table.name in row[3]]
    assert walk and all("INTEGER PRIMARY KEY" in step for step in walk), walk
