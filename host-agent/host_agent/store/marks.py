"""Which rows a committed batch marks synced, as few SQLite lookups as possible: a pure rule.

A batch is read by keyset (``synced_at IS NULL AND id > last ORDER BY id LIMIT n``), so between
its first and last id every row that waited was read, except rows held back at their current
revision. Marking row by row (a JSON list of ``[id, revision]`` joined to the table) costs a
lookup and two JSON extractions per row; in a backlog the ids are nearly dense and the rows share
one revision (0 for file events, 1 for closed sessions), so the batch is marked as one id range
at that revision (rows still unsynced and still at the revision sent), minus the ids in the range
that must not be marked: gaps (rows not sent: held back, deleted, already synced when read) and
rows PostgreSQL refused in this batch. Rows sent at another revision and batches too sparse for a
range keep the row-by-row statement.

The result marks exactly what the row-by-row statement would: a sent row whose revision moved
on since it was read keeps waiting either way (its ``sync_revision`` is no longer the one sent),
and a row that was not sent but reached the range's revision since (synced when read, edited
after) is one of the gaps, left out by id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

#: A range is used when the ids it must leave out are at most this share of the rows it marks.
MAX_EXCLUDED_SHARE = 0.5


@dataclass(frozen=True)
class MarkPlan:
    """``range_`` is ``(first id, last id)`` or ``None``, marked where ``sync_revision`` is still
    ``revision``; ``excluded`` are ids in it not to mark; ``by_row`` are ``(id, revision sent)``
    pairs marked one by one."""

    range_: tuple[int, int] | None = None
    revision: int = 0
    excluded: list[int] = field(default_factory=list)
    by_row: list[tuple[int, int]] = field(default_factory=list)


def plan_marks(synced: Sequence[tuple[int, int]]) -> MarkPlan:
    """``synced``: ``(id, revision sent)`` of the rows PostgreSQL committed, in any order. The
    range holds the rows of the revision most of them were sent at (the lowest, on a tie); ids in
    it that are not among those (this batch's refused rows included) are excluded."""
    if not synced:
        return MarkPlan()
    counts = Counter(revision for _, revision in synced)
    revision = min(counts, key=lambda r: (-counts[r], r))
    fresh = sorted(row_id for row_id, sent in synced if sent == revision)
    by_row = [(row_id, sent) for row_id, sent in synced if sent != revision]
    first, last = fresh[0], fresh[-1]
    span = last - first + 1
    if span - len(fresh) > MAX_EXCLUDED_SHARE * len(fresh):
        return MarkPlan(by_row=[(row_id, revision) for row_id in fresh] + by_row)
    marked = set(fresh)
    excluded = [row_id for row_id in range(first, last + 1) if row_id not in marked]
    return MarkPlan(range_=(first, last), revision=revision, excluded=excluded, by_row=by_row)
