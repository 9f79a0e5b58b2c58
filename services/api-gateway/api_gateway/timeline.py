"""Pure rules for a day's timeline: lanes per host, sessions clipped to the day, short runs merged.

A busy day holds thousands of sessions of a few seconds; drawing each would make the response
and the chart heavy. Consecutive sessions shorter than a threshold on the same host (with no
gap longer than ``max_gap`` between them) become one segment, labelled with the application that
took most of its time and the number of sessions it stands for. The threshold is ``min_seconds``
(a minute: narrower than a pixel of a day at 1280 px), raised on a lane with more sessions than
its share of ``budget`` until only that many sessions stay whole, so a day of 20 busy hosts stays
around a thousand segments (about 200 KB).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Session:
    id: int
    host: str
    application: str
    title: str | None
    start: datetime
    end: datetime


@dataclass
class Segment:
    start: datetime
    end: datetime
    application: str
    title: str | None
    session_ids: list[int] = field(default_factory=list)
    seconds_by_app: dict[str, float] = field(default_factory=dict)

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


def clip_to(session: Session, lower: datetime, upper: datetime) -> Session | None:
    start, end = max(session.start, lower), min(session.end, upper)
    if end <= start:
        return None
    return Session(session.id, session.host, session.application, session.title, start, end)


def merge_short(sessions: list[Session], min_seconds: float, max_gap: timedelta) -> list[Segment]:
    """Segments of one host's sessions (sorted by start), short neighbours merged."""
    segments: list[Segment] = []
    short_run: Segment | None = None
    for s in sessions:
        seconds = (s.end - s.start).total_seconds()
        if seconds >= min_seconds:
            short_run = None
            segments.append(Segment(s.start, s.end, s.application, s.title, [s.id], {s.application: seconds}))
            continue
        if short_run is not None and s.start - short_run.end <= max_gap:
            short_run.end = max(short_run.end, s.end)
            short_run.session_ids.append(s.id)
            short_run.seconds_by_app[s.application] = short_run.seconds_by_app.get(s.application, 0.0) + seconds
            short_run.application = max(short_run.seconds_by_app, key=short_run.seconds_by_app.__getitem__)
            continue
        short_run = Segment(s.start, s.end, s.application, s.title, [s.id], {s.application: seconds})
        segments.append(short_run)
    return segments


def threshold(sessions: list[Session], min_seconds: float, keep: int) -> float:
    """The shortest duration a session may have and still be drawn alone, keeping about ``keep``."""
    if len(sessions) <= keep:
        return min_seconds
    durations = sorted(((s.end - s.start).total_seconds() for s in sessions), reverse=True)
    return max(min_seconds, durations[keep - 1] + 1e-6)


def lanes(sessions: list[Session], lower: datetime, upper: datetime, min_seconds: float = 60.0,
          max_gap: timedelta = timedelta(minutes=5), budget: int = 1200) -> dict[str, list[Segment]]:
    """Per host (sorted by name): the day's segments in time order."""
    by_host: dict[str, list[Session]] = {}
    for session in sessions:
        clipped = clip_to(session, lower, upper)
        if clipped is not None:
            by_host.setdefault(session.host, []).append(clipped)
    # Whole sessions and merged runs alternate at worst, so keep half the lane's share whole.
    keep = max(25, budget // max(1, len(by_host)) // 2)
    return {
        host: merge_short(sorted(rows, key=lambda r: (r.start, r.id)), threshold(rows, min_seconds, keep), max_gap)
        for host, rows in sorted(by_host.items())
    }
