"""The rows travel as COPY text that SQLite writes: every value arrives in PostgreSQL exactly as it
is stored locally, whatever characters it holds."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from host_agent.collectors.files.file_events import escape_path
from host_agent.store.pg_values import NULL, ROW, VALUE, finish_copy_row, finish_copy_text

from tests.support.rows import BASE_TIME, file_event

HOSTILE_TEXTS = [
    "tab\there",
    "back\\slash\\",
    "\\.",
    "line\n\\.\nafter",
    "carriage\rreturn\r\n",
    "\\N",
    "100% %s %d %%",
    "quote ' and \" and ,;|",
    "ÿþý ünïcødé 日本語 🎉",
    escape_path("/home/me/caf\udce9/\udcff\udcfe.txt"),  # undecodable bytes, as the watcher stores them
    "x" * 200_000,
    "",
    " ",
]


def expected_time(epoch: float | None) -> datetime | None:
    """A local time as PostgreSQL must hold it: UTC, to the nearest microsecond (half away from zero)."""
    if epoch is None:
        return None
    micros = (epoch - 946_684_800) * 1_000_000
    micros = int(micros + 0.5) if micros >= 0 else -int(-micros + 0.5)
    return datetime(2000, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=micros)


async def assert_same_rows(files_db, pg, ids):
    columns = [
        "event_time", "event_type", "file_path", "file_name", "monitored_root", "event_time_iso",
        "file_path_relative", "file_extension", "file_size", "is_symlink", "project_name", "old_file_path",
        "detected_by", "detected_at", "created_at",
    ]  # fmt: skip
    times = {"event_time", "detected_at", "created_at"}
    with files_db.reading() as conn:
        local = {row["id"]: row for row in conn.execute("SELECT * FROM file_change_events")}
    remote = {row["local_id"]: row for row in await pg.fetch("SELECT * FROM file_change_events")}
    assert sorted(remote) == sorted(ids)
    assert all(remote[i]["local_revision"] == local[i]["sync_revision"] for i in ids)
    for row_id in ids:
        for column in columns:
            want = local[row_id][column]
            if column in times:
                want = expected_time(want)
            elif column == "is_symlink":
                want = None if want is None else bool(want)
            assert remote[row_id][column] == want, (row_id, column)


async def test_hostile_text_times_and_nulls_arrive_exactly_as_stored(files_db, desktop_db, pg_url, pg, manager_factory):
    events = []
    for i, text in enumerate(HOSTILE_TEXTS):
        events.append(
            file_event(
                i,
                file_path=f"/home/me/src/{text}",
                file_name=text or "empty",
                file_path_relative=text or None,
                project_name=text,
                old_file_path=text,
                event_time_iso=text,
                file_size=[0, None, 2**62, 7][i % 4],
                is_symlink=bool(i % 2),
            )
        )
    events.append(file_event(99, file_extension=None, file_path_relative=None, project_name=None, file_size=None))
    ids = files_db.save_events(events)
    with files_db.atomic() as conn:  # times with fractions, and before 1970, as other programs may write them
        for n, row_id in enumerate(ids):
            fraction = [0.5, 0.000001, 0.999999, 0.1234565, 0.25][n % 5]
            conn.execute(
                "UPDATE file_change_events SET event_time = event_time + ?, detected_at = ?, created_at = ? WHERE id = ?",
                (fraction, [None, -1.5, 0, 86_399.999_999][n % 4], BASE_TIME - fraction, row_id),
            )
    title = "T\t\\itle\n" * 20_000
    session = desktop_db.start_session("edit\\or\t", title, BASE_TIME)
    desktop_db.end_session(session, BASE_TIME + 60)

    manager = await manager_factory(pg_url, batch_size=4)
    results = await manager.sync_all()
    assert results["file_change_events"].records_synced == len(events)
    assert results["desktop_activity_sessions"].records_synced == 1

    await assert_same_rows(files_db, pg, ids)

    # Edited rows (a new revision) travel through the merge: the same values again.
    with files_db.atomic() as conn:
        conn.execute(
            "UPDATE file_change_events SET file_name = file_name || char(9, 92, 10, 13) || '%s', "
            "project_name = coalesce(event_time_iso, '') || '\\.'"
        )
    again = await manager.sync_all()
    assert again["file_change_events"].records_synced == len(events)
    await assert_same_rows(files_db, pg, ids)

    got = await pg.fetchrow("SELECT * FROM desktop_activity_sessions")
    assert (got["application_name"], got["window_title"]) == ("edit\\or\t", title)
    assert (got["start_time"], got["end_time"]) == (expected_time(BASE_TIME), expected_time(BASE_TIME + 60))
    assert got["duration_seconds"] == 60


def raw_row(*fields: bytes | None) -> bytes:
    """A row as SQLite writes it: id, then each field after its marker, then the row marker."""
    return b"".join((NULL if value is None else VALUE + value) for value in fields) + ROW


@pytest.mark.parametrize(
    ("fields", "line"),
    [
        ([b"x"], b"1\t0\tx\n"),
        ([None], b"1\t0\t\\N\n"),
        ([b"a\tb\\c\nd\re"], b"1\t0\ta\\tb\\\\c\\nd\\re\n"),
        ([b"\\N", b""], b"1\t0\t\\\\N\t\n"),
        (["é".encode()], "1\t0\té\n".encode()),
    ],
)
def test_a_row_written_by_sqlite_becomes_one_copy_line(fields, line):
    raw = b"1" + raw_row(b"0", *fields)
    assert finish_copy_row(raw, 1 + len(fields)) == line
    assert finish_copy_text(raw + raw, 2, 1 + len(fields)) == line * 2


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b"caf\xc3", "surrogates not allowed"),  # not UTF-8
        (b"\xffx", "0xFD to 0xFF"),  # a marker byte inside the text
        (b"a\xfeb", "0xFD to 0xFF"),
        (b"\xfd", "0xFD to 0xFF"),
        (b"\xfc", "surrogates not allowed"),
    ],
)
def test_bytes_that_are_not_utf8_are_refused_and_a_batch_holding_them_is_read_row_by_row(value, message):
    raw = b"1" + raw_row(b"0", value)
    with pytest.raises(UnicodeError, match=message):
        finish_copy_row(raw, 2)
    good = b"2" + raw_row(b"0", b"fine")
    assert finish_copy_text(good + raw, 2, 2) is None
