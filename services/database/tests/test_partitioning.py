"""``reprospective-db partition`` and ``retention``: a database converted to monthly partitions
keeps every row, index, trigger, grant and view; later migrations still apply; old months go whole."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from datetime import datetime, timedelta, timezone

import asyncpg
import pytest

from reprospective_db.schema import migrations_dir, upgrade_schema
from test_cli import run
from test_rollups import check

ORIGIN = uuid.UUID("11111111-2222-3333-4444-555555555555")
NOW = datetime.now(timezone.utc)


async def seed(pg, start_id: int = 1) -> None:
    """Sessions and file changes over 20 months, one session in 1970 and one in 2100 (bad clocks)."""
    times = [NOW - timedelta(days=30 * m + d) for m in range(20) for d in (1, 9)]
    times += [datetime(1970, 1, 2, tzinfo=timezone.utc), datetime(2100, 5, 1, tzinfo=timezone.utc)]
    await pg.executemany(
        "INSERT INTO desktop_activity_sessions (start_time, start_time_iso, end_time, application_name, window_title, "
        "duration_seconds, host_identifier, origin_id, local_id) VALUES ($1::timestamptz, $1::text, $1::timestamptz + interval '10 minutes', "
        "$2, 'notes', 600, 'laptop', $3, $4)",
        [(t, f"app{i % 3}", ORIGIN, start_id + i) for i, t in enumerate(times)],
    )
    await pg.executemany(
        "INSERT INTO file_change_events (event_time, event_time_iso, event_type, file_path, file_name, file_extension, "
        "monitored_root, project_name, host_identifier, origin_id, local_id) "
        "VALUES ($1::timestamptz, $1::text, 'modified', '/p/a.py', 'a.py', 'py', '/p', 'p', 'laptop', $2, $3)",
        [(t, ORIGIN, start_id + i) for i, t in enumerate(times)],
    )


async def snapshot(pg) -> dict:
    return {
        table: [tuple(r) for r in await pg.fetch(f"SELECT * FROM {table} ORDER BY id")]
        for table in ("desktop_activity_sessions", "file_change_events")
    }


async def catalog(pg, table: str) -> dict:
    """What a user would compare: index and trigger names, grants, defaults."""
    return {
        "indexes": sorted(r[0] for r in await pg.fetch("SELECT indexname FROM pg_indexes WHERE tablename = $1", table)),
        "triggers": sorted(
            tuple(r) for r in await pg.fetch(
                "SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal", table)
        ),
        "grants": sorted(
            tuple(r) for r in await pg.fetch(
                "SELECT grantee, privilege_type, column_name FROM information_schema.column_privileges "
                "WHERE table_name = $1 AND grantee <> current_user", table)
        ),
        "defaults": sorted(
            tuple(r) for r in await pg.fetch(
                "SELECT column_name, column_default FROM information_schema.columns WHERE table_name = $1", table)
        ),
    }  # fmt: skip


async def test_a_converted_database_keeps_every_row_index_trigger_grant_and_view(pg, pg_url):
    await seed(pg)
    # What a later migration might add: an index, a row trigger (disabled), a column grant, a view.
    await pg.execute("""
        CREATE INDEX idx_sessions_title_lower ON desktop_activity_sessions (lower(window_title));
        CREATE FUNCTION keep_title() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
        CREATE TRIGGER trg_keep_title BEFORE INSERT ON desktop_activity_sessions FOR EACH ROW EXECUTE FUNCTION keep_title();
        ALTER TABLE desktop_activity_sessions DISABLE TRIGGER trg_keep_title;
        GRANT UPDATE (window_title) ON desktop_activity_sessions TO reprospective_api;
        CREATE VIEW session_titles AS SELECT id, window_title FROM desktop_activity_sessions;
        GRANT SELECT ON session_titles TO reprospective_api;
        COMMENT ON TABLE desktop_activity_sessions IS 'one row per window session';
    """)  # fmt: skip
    before = await snapshot(pg)
    before_catalog = {t: await catalog(pg, t) for t in before}
    await check(pg)

    done = run("partition", "--database-url", pg_url)
    assert done.returncode == 0, done.stderr
    assert "desktop_activity_sessions: partitioned by month of start_time" in done.stdout

    assert await snapshot(pg) == before
    assert {t: await catalog(pg, t) for t in before} == before_catalog
    await check(pg)  # the rollups were not counted a second time
    assert await pg.fetchval("SELECT count(*) FROM session_titles") == len(before["desktop_activity_sessions"])
    assert await pg.fetchval("SELECT has_table_privilege('reprospective_api', 'session_titles', 'SELECT')")
    assert await pg.fetchval("SELECT obj_description('desktop_activity_sessions'::regclass)") == (
        "one row per window session"
    )
    kinds = await pg.fetch(
        "SELECT relname, relkind::text FROM pg_class WHERE relname IN ('desktop_activity_sessions', 'file_change_events')"
    )
    assert {r["relkind"] for r in kinds} == {"p"}
    # Each month of the last 10 years with rows has its partition; 1970 and 2100 are in the DEFAULT one.
    month = (NOW - timedelta(days=1)).strftime("%Y%m")
    assert await pg.fetchval("SELECT count(*) FROM desktop_activity_sessions_default") == 2
    assert await pg.fetchval(f"SELECT count(*) FROM desktop_activity_sessions_p{month}") >= 1
    # ids go on from the same sequence
    new_id = await pg.fetchval(
        "INSERT INTO desktop_activity_sessions (start_time, start_time_iso, application_name) "
        "VALUES (now(), 'x', 'new') RETURNING id"
    )
    assert new_id > max(r[0] for r in before["desktop_activity_sessions"])
    await check(pg)

    again = run("partition", "--database-url", pg_url)
    assert again.returncode == 0, again.stderr
    assert "already partitioned" in again.stdout


async def test_a_month_created_later_takes_its_rows_out_of_the_default_partition(pg, pg_url):
    assert run("partition", "--database-url", pg_url).returncode == 0
    far = NOW + timedelta(days=365 * 2)  # beyond the months made ahead
    await seed(pg)
    await pg.execute(
        "INSERT INTO desktop_activity_sessions (start_time, start_time_iso, application_name, origin_id, local_id) "
        "VALUES ($1, 'x', 'later', $2, 9999)", far, ORIGIN,
    )  # fmt: skip
    rows = await snapshot(pg)
    assert await pg.fetchval("SELECT count(*) FROM desktop_activity_sessions_default WHERE start_time = $1", far) == 1

    assert await pg.fetchval("SELECT create_activity_partition('desktop_activity_sessions', $1)", far)
    part = f"desktop_activity_sessions_p{far:%Y%m}"
    assert await pg.fetchval(f"SELECT count(*) FROM {part}") == 1
    assert await pg.fetchval("SELECT count(*) FROM desktop_activity_sessions_default WHERE start_time = $1", far) == 0
    assert await snapshot(pg) == rows
    await check(pg)  # moving rows between partitions changes no rollup
    assert not await pg.fetchval("SELECT create_activity_partition('desktop_activity_sessions', $1)", far)


async def test_later_migrations_still_apply_to_a_partitioned_database(pg, pg_url, tmp_path):
    assert run("partition", "--database-url", pg_url).returncode == 0
    folder = tmp_path / "init"
    shutil.copytree(migrations_dir(), folder)
    (folder / "99_later.sql").write_text("""
        ALTER TABLE desktop_activity_sessions ADD COLUMN IF NOT EXISTS focus_seconds INTEGER;
        CREATE INDEX IF NOT EXISTS idx_sessions_focus ON desktop_activity_sessions (focus_seconds);
        CREATE OR REPLACE FUNCTION count_it() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
        CREATE TRIGGER trg_later AFTER INSERT ON desktop_activity_sessions
            REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_it();
        INSERT INTO schema_version (version, description) VALUES (99, 'later') ON CONFLICT (version) DO NOTHING;
    """)  # fmt: skip
    assert await upgrade_schema(pg, folder) == ["99_later.sql"]
    await seed(pg)
    await check(pg)
    assert await pg.fetchval(
        "SELECT count(*) FROM pg_indexes WHERE indexname LIKE 'desktop_activity_sessions_p%focus%'"
    ) > 0  # the new index exists on every partition


async def test_a_busy_table_is_refused_with_a_clear_message(pg, pg_url):
    holder = await asyncpg.connect(pg_url)
    try:
        tx = holder.transaction()
        await tx.start()
        await holder.execute("LOCK TABLE file_change_events IN ROW EXCLUSIVE MODE")  # a sync batch in flight
        done = await asyncio.to_thread(run, "partition", "--lock-timeout", "0.5", "--database-url", pg_url)
        await tx.rollback()
    finally:
        await holder.close()
    assert done.returncode == 1
    assert "file_change_events: busy, not locked within 0.5 s" in done.stderr
    assert "Traceback" not in done.stderr
    # desktop_activity_sessions was converted; the busy one converts on the next run
    assert run("partition", "--database-url", pg_url).returncode == 0
    assert await pg.fetchval("SELECT count(*) FROM pg_partitioned_table") == 2


async def test_retention_drops_whole_old_months_and_keeps_their_rollups(pg, pg_url):
    await seed(pg)
    assert run("partition", "--database-url", pg_url).returncode == 0
    rollup_before = await pg.fetchval("SELECT sum(sessions_started) FROM session_rollup_15m")
    old = await pg.fetchval("SELECT count(*) FROM desktop_activity_sessions WHERE start_time < "
                            "date_trunc('month', now(), 'UTC') - interval '13 months' "
                            "AND start_time > '2000-01-01'")  # fmt: skip
    assert old > 0

    dry = run("retention", "--older-than", "13months", "--dry-run", "--database-url", pg_url)
    assert dry.returncode == 0, dry.stderr
    assert "would drop desktop_activity_sessions_p" in dry.stdout
    assert "kept 1 rows of desktop_activity_sessions" in dry.stdout  # 1970, in the DEFAULT partition
    count = await pg.fetchval("SELECT count(*) FROM desktop_activity_sessions")

    done = run("retention", "--older-than", "13months", "--database-url", pg_url)
    assert done.returncode == 0, done.stderr
    assert await pg.fetchval("SELECT count(*) FROM desktop_activity_sessions") == count - old
    assert await pg.fetchval("SELECT sum(sessions_started) FROM session_rollup_15m") == rollup_before
    assert await pg.fetchval(
        "SELECT rows FROM host_table_totals WHERE table_name = 'desktop_activity_sessions'"
    ) == count - old
    again = run("retention", "--older-than", "13", "--database-url", pg_url).stdout
    assert "dropped" not in again and "kept 1 rows of desktop_activity_sessions" in again


def test_retention_on_the_plain_layout_says_it_needs_partitioning(pg_url):
    done = run("retention", "--older-than", "13months", "--database-url", pg_url)
    assert done.returncode == 1
    assert "not partitioned" in done.stderr and "reprospective-db partition" in done.stderr


@pytest.mark.parametrize("value", ["thirteen", "0", "13 days", "-2"])
def test_a_bad_retention_age_is_named(pg_url, value):
    done = run("retention", "--older-than", value, "--database-url", pg_url)
    assert done.returncode == 2
    assert f"--older-than {value!r}" in done.stderr
