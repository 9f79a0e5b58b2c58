"""Pure rules for a day's timeline: segments per origin and host built by fixed rules, clipped to the day.

A busy day holds thousands of sessions of a few seconds; drawing each would make the response
and the chart heavy, and merging them afresh for every day asked costs more as the days fill.
The segments are therefore built once, by rules that know nothing of the viewer's zone or day
(PostgreSQL keeps them as sessions arrive, ``init/16_timeline_runs.sql``; this module is the
reference it is tested against), and a day's timeline clips the segments that overlap it.

Sessions are chained per origin, host name and the UTC hour their start falls in (so a segment
holds at most an hour's sessions, and a change to a session touches only its hour). Over those
sessions in (start, id) order, a session's end never before its start: a session shorter than ``min_seconds`` (a minute: narrower than a pixel of a day at
1280 px) is short, zero-length ones included; it joins the segment before it when it starts
before the end of an earlier session (an overlap), at the start of the one before it, or, being
short, at most ``max_gap`` after the end of an earlier short session. Otherwise it starts a
segment. So sessions of a minute or more stay whole, runs of short ones (even of under a second)
become one segment labelled with the application that took most of their time (ties: the one
seen first) and the number of sessions it stands for, and overlapping sessions (which one lane
cannot show apart) are drawn as one.

A lane is a host: every origin of a host (:mod:`api_gateway.hosts`) under its current name, so a
renamed host is one lane.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Hashable

MIN_SECONDS = 60.0
MAX_GAP = timedelta(minutes=5)
UNKNOWN_HOST = "(unknown host)"


@dataclass(frozen=True)
class Session:
    id: int
    host: str  # the name the row was synced with ('' for none)
    application: str
    title: str | None
    start: datetime
    end: datetime
    origin: str = ""  # the origin (a local database) it came from


@dataclass
class Segment:
    start: datetime
    end: datetime
    application: str
    title: str | None
    session_ids: list[int] = field(default_factory=list)
    seconds_by_app: dict[str, timedelta] = field(default_factory=dict)
    last_start: datetime | None = None

    @property
    def count(self) -> int:
        return len(self.session_ids)

    def as_json(self) -> dict:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "application": self.application,
            "title": self.title if self.count == 1 else None,
            "sessions": self.count,
            "first_id": self.session_ids[0],
        }


def chain(sessions: list[Session], min_seconds: float = MIN_SECONDS, max_gap: timedelta = MAX_GAP) -> list[Segment]:
    """The segments of one origin and host's sessions (any order), by the rules above."""
    segments: list[Segment] = []
    ended = reached = before = None
    short_below = timedelta(seconds=min_seconds)
    for s in sorted(sessions, key=lambda r: (r.start, r.id)):
        end = max(s.start, s.end)
        took = end - s.start
        short = took < short_below
        joins = ended is not None and (s.start < ended or s.start == before
                                       or (short and reached is not None and s.start <= reached))
        if joins:
            seg = segments[-1]
            seg.end = max(seg.end, end)
            seg.last_start = s.start
            seg.session_ids.append(s.id)
            seg.seconds_by_app[s.application] = seg.seconds_by_app.get(s.application, timedelta(0)) + took
            seg.application = max(seg.seconds_by_app, key=seg.seconds_by_app.__getitem__)
        else:
            segments.append(Segment(s.start, end, s.application, s.title, [s.id], {s.application: took}, s.start))
        ended = end if ended is None else max(ended, end)
        if short:
            reached = end + max_gap if reached is None else max(reached, end + max_gap)
        before = s.start
    return segments


def hour_of(moment: datetime) -> datetime:
    """The start of the UTC hour ``moment`` falls in."""
    return moment.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)


def runs(sessions: list[Session], min_seconds: float = MIN_SECONDS,
         max_gap: timedelta = MAX_GAP) -> dict[tuple[str, str], list[Segment]]:
    """Per (origin, host name): its segments in time order, as ``timeline_runs`` stores them."""
    by_hour: dict[tuple[str, str, datetime], list[Session]] = {}
    for s in sessions:
        by_hour.setdefault((s.origin, s.host, hour_of(s.start)), []).append(s)
    found: dict[tuple[str, str], list[Segment]] = {}
    for (origin, host, _), rows in sorted(by_hour.items()):
        found.setdefault((origin, host), []).extend(chain(rows, min_seconds, max_gap))
    return found


def clip_to(segment: Segment, lower: datetime, upper: datetime) -> Segment | None:
    """The part of a segment within [lower, upper); a zero-length one stays when it lies inside."""
    if not (segment.start < upper and (segment.end > lower or segment.start == lower)):
        return None
    return Segment(max(segment.start, lower), min(segment.end, upper), segment.application, segment.title,
                   segment.session_ids, segment.seconds_by_app, segment.last_start)


def lanes(sessions: list[Session], lower: datetime, upper: datetime,
          lane_of: Callable[[str, str], Hashable] | None = None, min_seconds: float = MIN_SECONDS,
          max_gap: timedelta = MAX_GAP) -> dict[Hashable, list[Segment]]:
    """Per lane (sorted): the day's segments ordered by their start, then their first session.

    ``lane_of(origin, host)`` names the lane of an origin's segments; by default the host name."""
    lane_of = lane_of or (lambda origin, host: host or UNKNOWN_HOST)
    found: dict[Hashable, list[tuple]] = {}
    for (origin, host), segments in runs(sessions, min_seconds, max_gap).items():
        for seg in segments:
            clipped = clip_to(seg, lower, upper)
            if clipped is not None:
                found.setdefault(lane_of(origin, host), []).append((seg.start, seg.session_ids[0], clipped))
    return {lane: [c for *_, c in sorted(rows, key=lambda r: r[:2])] for lane, rows in sorted(found.items())}


# -- a day that would not fit -------------------------------------------------------------------

#: The most a day's timeline answers with, in bytes of JSON: a day of 20 busy hosts fits, and the
#: page draws it at once. A day that would be larger draws close neighbours as one bar (below).
MAX_DAY_BYTES = 300_000
#: Bytes of a segment's JSON beside its application and title (times, counts, keys).
SEGMENT_BYTES = 150
#: The gaps tried in turn, smallest first, when a day does not fit: bars of a lane at most this far
#: apart are drawn as one. The last leaves a bar per lane and run of activity.
MERGE_GAPS = tuple(timedelta(seconds=s) for s in (0, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600))


def json_bytes(segments: int, text_bytes: int) -> int:
    """About how many bytes of JSON ``segments`` segments take, ``text_bytes`` being the UTF-8
    bytes of their applications and titles."""
    return SEGMENT_BYTES * segments + text_bytes


@dataclass
class Bar:
    """A segment as a day's timeline draws it: clipped to the day, ``sessions`` behind it."""

    start: datetime
    end: datetime
    application: str
    title: str | None
    sessions: int
    first_id: int
    #: Seconds of the day's bars each application covers (a merged bar is named for the largest).
    seconds_by_app: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.seconds_by_app:
            self.seconds_by_app = {self.application: (self.end - self.start).total_seconds()}

    def json_bytes(self) -> int:
        return json_bytes(1, len(self.application.encode()) + (len(self.title.encode()) if self.title else 0))


def merge_close(bars: list[Bar], gap: timedelta) -> list[Bar]:
    """One lane's bars (ordered by start) with those at most ``gap`` after the end of the bar
    before drawn as one: its span, all their sessions, the application covering most of it, no title."""
    merged: list[Bar] = []
    for bar in bars:
        last = merged[-1] if merged else None
        if last is None or bar.start - last.end > gap:
            merged.append(Bar(bar.start, bar.end, bar.application, bar.title, bar.sessions, bar.first_id,
                              dict(bar.seconds_by_app)))
            continue
        last.end = max(last.end, bar.end)
        last.sessions += bar.sessions
        last.title = None
        for app, seconds in bar.seconds_by_app.items():
            last.seconds_by_app[app] = last.seconds_by_app.get(app, 0.0) + seconds
        last.application = max(last.seconds_by_app, key=last.seconds_by_app.__getitem__)
    return merged


def fit_day(lanes: list[list[Bar]], max_bytes: int = MAX_DAY_BYTES) -> tuple[list[list[Bar]], timedelta | None]:
    """The day's lanes within ``max_bytes`` of JSON: as they are if they fit, else with the
    smallest gap of :data:`MERGE_GAPS` that makes them fit (the largest if none does), which is
    returned beside them (``None``: nothing merged)."""
    def size(candidate: list[list[Bar]]) -> int:
        return sum(bar.json_bytes() for lane in candidate for bar in lane)

    if size(lanes) <= max_bytes:
        return lanes, None
    for gap in MERGE_GAPS:
        merged = [merge_close(lane, gap) for lane in lanes]
        if size(merged) <= max_bytes:
            break
    return merged, gap
