"""The rows travel as COPY text that SQLite writes: every value arrives in PostgreSQL exactly as it
is stored locally, whatever characters it holds."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

import pytest
from host_agent.collectors.files.file_events import escape_path
from host_agent.store.pg_values import FLAG, INTEGER, MAX_TIME, MIN_TIME, NULL, ROW, TEXT, TIME, VALUE, finish_copy_row
from host_agent.store.sqlite_store import SQLiteStore
from host_agent.store.tables import SyncedTable

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
def test_bytes_that_are_not_utf8_are_refused_in_a_row_read_alone(value, message):
    raw = b"1" + raw_row(b"0", value)
    with pytest.raises(UnicodeError, match=message):
        finish_copy_row(raw, 2)


# -- copy_text() writes a batch; the row-by-row reading writes the same bytes -------------------

CONSTANTS = ("host\tname", "origin", "2026-01-01 00:00:00.5+00")


def _one_column_table(kind: str) -> SyncedTable:
    """A table of one column ``v`` of ``kind``; ``v`` has no type, so it keeps any value as given."""
    sets = {"times": TIME, "integers": INTEGER, "flags": FLAG}
    return SyncedTable(
        name=f"values_{kind}",
        store=SQLiteStore,
        columns=("v",),
        config_path="unused",
        waiting_since="id",
        **{attribute: frozenset({"v"}) for attribute, of in sets.items() if of == kind},
    )


def _random_values(kind: str) -> list[str]:
    """SQL literals of values a ``kind`` column may hold: typical, edge and wrong ones."""
    rng = random.Random(kind)
    texts = ["'x'", "'tab\tnew\nline\rback\\'", "''", "'ÿ日本🎉'", "X'00'", "'a' || char(0) || 'b'", "X'C3'",
             "X'C3A9'", "X'EDA080'", "X'F4908080'", "X'E282AC'", "X'C0AF'", "X'FF'", "1", "-2.5", "1e300", "-0.0"]
    if kind == TEXT:
        texts += [f"X'{rng.randbytes(rng.randrange(1, 12)).hex()}'" for _ in range(300)]
        texts += ["'" + "".join(chr(rng.choice([rng.randrange(1, 128), rng.randrange(128, 0xD800), rng.randrange(0xE000, 0x2FFFF)]))
                                for _ in range(rng.randrange(1, 20))).replace("'", "''") + "'" for _ in range(300)]
        texts += [f"CAST(X'{rng.randbytes(rng.randrange(1, 8)).hex()}' AS TEXT)" for _ in range(100)]
        return texts
    if kind == TIME:
        values = [str(t) for t in (0, -1, 1, MIN_TIME, MAX_TIME, MIN_TIME - 1, MAX_TIME + 1, 946_684_800)]
        values += ["-1.5", "0.0000005", "-0.0000005", "0.0000015", "86399.999999", "1780000000.1234565",
                   f"{MIN_TIME}.0", f"{MAX_TIME - 1}.9999994", "1e300", "-1e300"]
        values += [str(rng.randrange(MIN_TIME, MAX_TIME)) for _ in range(300)]
        values += [repr(rng.uniform(MIN_TIME, MAX_TIME - 1)) for _ in range(300)]
        values += [repr(rng.uniform(-3e9, 6e9)) for _ in range(300)]
        values += [repr(rng.randrange(0, 2_000_000_000) + rng.randrange(0, 1_000_000) / 1e6 + 5e-7) for _ in range(200)]
    elif kind == INTEGER:
        values = ["0", "-1", str(2**63 - 1), str(-(2**63)), "2.0", "1.5"]
        values += [str(rng.randrange(-(2**63), 2**63)) for _ in range(200)]
    else:
        values = ["0", "1", "2", "-1", "0.5", "1.0", "0.0", "'1'"]
    return values + ["NULL", "'text'", "X'01'", "''"]


@pytest.mark.parametrize("kind", [TEXT, TIME, INTEGER, FLAG])
def test_a_batch_written_by_copy_text_is_the_rows_read_one_by_one(tmp_path, kind):
    table = _one_column_table(kind)
    with SQLiteStore(tmp_path / "values.db") as store, store.atomic() as conn:
        conn.execute(f"CREATE TABLE {table.name} (id INTEGER PRIMARY KEY, sync_revision INTEGER, v, synced_at)")
        values = _random_values(kind)
        for n, value in enumerate(values, start=1):
            conn.execute(f"INSERT INTO {table.name} VALUES ({n}, {n % 3}, {value}, NULL)")
        good, bad = [], []
        for n, value in enumerate(values, start=1):
            batch = conn.execute(table.select_batch_sql(skip_held=False), (*CONSTANTS, n - 1, n, 1)).fetchone()
            _id, _revision, problem, raw = conn.execute(
                table.select_waiting_sql(skip_held=False), (*CONSTANTS, n - 1, n, 1)
            ).fetchone()
            try:
                line = None if problem else finish_copy_row(raw, 5)
            except UnicodeError:
                line = None
            if batch[5] is None:  # it cannot travel: reading it alone tells why, or PostgreSQL refuses it
                assert line is None or b"\x00" in line, (value, line)
                bad.append(n)
            else:
                assert batch[5] == line, value
                good.append(line)
        assert good and bad  # both kinds of value were tried
        # Many rows at once: NULL while one of them cannot travel, else every line in id order.
        every = (*CONSTANTS, 0, len(values), len(values))
        assert conn.execute(table.select_batch_sql(skip_held=False), every).fetchone()[5] is None
        conn.execute(f"DELETE FROM {table.name} WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(bad),))
        assert conn.execute(table.select_batch_sql(skip_held=False), every).fetchone()[5] == b"".join(good)


@pytest.mark.parametrize(
    ("kind", "value", "text"),
    [
        (TIME, "0", "1970-01-01 00:00:00+00"),
        (TIME, "-1.5", "1969-12-31 23:59:58.500000+00"),
        (TIME, "1780000000.25", "2026-05-28 20:26:40.250000+00"),
        (TIME, "-0.75", "1969-12-31 23:59:59.250000+00"),
        (TIME, str(MIN_TIME), "0001-01-01 00:00:00+00"),
        (TIME, str(MAX_TIME), "9999-12-31 23:59:59+00"),
        (TIME, "951782400", "2000-02-29 00:00:00+00"),
        (TIME, f"{MAX_TIME}.9999999", None),  # rounds into year 10000
        (TIME, str(MAX_TIME + 1), None),
        (TIME, "'2026-01-01'", None),
        (INTEGER, str(-(2**63)), str(-(2**63))),
        (INTEGER, "2.0", None),
        (FLAG, "1", "1"),
        (FLAG, "1.0", None),
        (FLAG, "2", None),
        (TEXT, "'a\\b\tc\nd\re'", "a\\\\b\\tc\\nd\\re"),
        (TEXT, "1.5", "1.5"),
        (TEXT, "NULL", "\\N"),
        (TEXT, "X'EDA080'", None),  # a surrogate is not UTF-8
        (TEXT, "'a' || char(0)", None),
    ],
)
def test_copy_text_writes_each_kind_as_postgresql_reads_it(tmp_path, kind, value, text):
    table = _one_column_table(kind)
    with SQLiteStore(tmp_path / "values.db") as store, store.atomic() as conn:
        conn.execute(f"CREATE TABLE {table.name} (id INTEGER PRIMARY KEY, sync_revision INTEGER, v, synced_at)")
        conn.execute(f"INSERT INTO {table.name} VALUES (7, 2, {value}, NULL)")
        written = conn.execute(table.select_batch_sql(skip_held=False), (*CONSTANTS, 0, 7, 1)).fetchone()[5]
    assert written == (None if text is None else f"7\t2\t{text}\thost\\tname\torigin\t{CONSTANTS[2]}\n".encode())
