"""Which rows a committed batch marks synced, as few SQLite lookups as possible: a pure rule.

A batch is read by keyset (``synced_at IS NULL AND id > last ORDER BY id LIMIT n``), so between
its first and last id every row that waited was read, except rows held back at their current
revision. Marking row by row (a JSON list of ``[id, revision]`` joined to the table) costs a
lookup and two JSON extractions per row; in a backlog the ids are nearly dense, so the batch is
marked as one id range instead (``sync_revision = 0`` and still unsynced), minus the ids in the
range that must not be marked: gaps (rows not sent: held back, deleted, already synced) and rows
PostgreSQL refused in this batch. Rows sent at a later revision (edited sessions) and batches
too sparse for a range keep the row-by-row statement.

The result marks exactly what the row-by-row statement would: a sent row whose revision moved
on since it was read keeps waiting either way (its ``sync_revision`` is no longer the one sent).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

#: A range is used when the ids it must leave out are at most this share of the rows it marks.
MAX_EXCLUDED_SHARE = 0.5


@dataclass(frozen=True)
class MarkPlan:
    """``range_`` is ``(first id, last id)`` or ``None``; ``excluded`` are ids in it not to mark;
    ``by_row`` are ``(id, revision sent)`` pairs marked one by one."""

    range_: tuple[int, int] | None = None
    excluded: list[int] = field(default_factory=list)
    by_row: list[tuple[int, int]] = field(default_factory=list)


def plan_marks(synced: Sequence[tuple[int, int]]) -> MarkPlan:
    """``synced``: ``(id, revision sent)`` of the rows PostgreSQL committed, in any order. Ids
    in the range that are not among them (this batch's refused rows included) are excluded."""
    fresh = sorted(row_id for row_id, revision in synced if revision == 0)
    by_row = [(row_id, revision) for row_id, revision in synced if revision != 0]
    if not fresh:
        return MarkPlan(by_row=by_row)
    first, last = fresh[0], fresh[-1]
    span = last - first + 1
    if span - len(fresh) > MAX_EXCLUDED_SHARE * len(fresh):
        return MarkPlan(by_row=[(row_id, 0) for row_id in fresh] + by_row)
    marked = set(fresh)
    excluded = [row_id for row_id in range(first, last + 1) if row_id not in marked]
    return MarkPlan(range_=(first, last), excluded=excluded, by_row=by_row)
