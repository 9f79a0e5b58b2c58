-- Reprospective: hourly rollups across all hosts, split in quarter hours; one statement per batch
-- maintains every rollup; a trigram index for searching titles and paths (version 12).
--
-- With no host chosen, the year heatmap, the month's file changes per project and the week's time
-- per application read rollups keyed by origin and host: a year of 20 hosts is 350,000 hourly
-- totals and 2 million session rollup rows, read and re-added on every request. The tables below
-- drop the origin and host from the key and keep one row per UTC hour (and application or
-- project), with each quarter hour's figures in its own column (_0 is :00-:15 ... _3 is :45-:60).
-- A period edge that falls inside an hour (India, Nepal, Newfoundland, central Australia,
-- Chatham, Lord Howe's half-hour DST) splits that hour's row by its quarters, so every IANA zone
-- stays exact; all other rows go to their period whole. A year is 8,760 rows of totals.
--
-- Rows are shared by all origins: two hosts syncing the same hour at once wait for each other's
-- commit on those rows (a batch holds them for the rest of its transaction). Every upsert takes
-- its rows in key order and each trigger firing is one statement (an UPDATE's old and new rows
-- together), so two batches wait rather than deadlock. A merge that both inserts and updates
-- rows fires two triggers; should two hosts' merges ever cross, PostgreSQL fails one with a
-- deadlock error, which the sync treats as transient and retries.
--
-- The rollup triggers of 07-11 ran one statement per rollup, each reading the batch again. Here
-- each trigger runs one statement: the batch is aggregated once per 15 minutes and key, and each
-- rollup is an upsert of that small aggregate (data-modifying WITH clauses). The triggers run with
-- jit off: the planner takes each session's generate_series for 1,000 rows, and compiling the
-- statement (seconds) cost far more than running it on a batch.

CREATE TABLE IF NOT EXISTS activity_totals_all_1h (
    hour          TIMESTAMP WITH TIME ZONE PRIMARY KEY,
    active_us_0   BIGINT NOT NULL DEFAULT 0,
    active_us_1   BIGINT NOT NULL DEFAULT 0,
    active_us_2   BIGINT NOT NULL DEFAULT 0,
    active_us_3   BIGINT NOT NULL DEFAULT 0,
    sessions_0    INTEGER NOT NULL DEFAULT 0,
    sessions_1    INTEGER NOT NULL DEFAULT 0,
    sessions_2    INTEGER NOT NULL DEFAULT 0,
    sessions_3    INTEGER NOT NULL DEFAULT 0,
    file_events_0 INTEGER NOT NULL DEFAULT 0,
    file_events_1 INTEGER NOT NULL DEFAULT 0,
    file_events_2 INTEGER NOT NULL DEFAULT 0,
    file_events_3 INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS application_totals_all_1h (
    hour             TIMESTAMP WITH TIME ZONE NOT NULL,
    application_name TEXT NOT NULL,
    active_us_0      BIGINT NOT NULL DEFAULT 0,
    active_us_1      BIGINT NOT NULL DEFAULT 0,
    active_us_2      BIGINT NOT NULL DEFAULT 0,
    active_us_3      BIGINT NOT NULL DEFAULT 0,
    sessions_0       INTEGER NOT NULL DEFAULT 0,
    sessions_1       INTEGER NOT NULL DEFAULT 0,
    sessions_2       INTEGER NOT NULL DEFAULT 0,
    sessions_3       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, application_name)
);

CREATE TABLE IF NOT EXISTS project_totals_all_1h (
    hour         TIMESTAMP WITH TIME ZONE NOT NULL,
    project_name TEXT NOT NULL,  -- '' for none, as in the other rollups
    events_0     INTEGER NOT NULL DEFAULT 0,
    events_1     INTEGER NOT NULL DEFAULT 0,
    events_2     INTEGER NOT NULL DEFAULT 0,
    events_3     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, project_name)
);

-- The rows a trigger (or a rebuild) adds and removes, as one FROM item with a sign column: 1 for a
-- row added, -1 for a row removed. An UPDATE is one statement over both (its old rows out, its new
-- rows in), so every rollup row it touches is locked once and in key order.
CREATE OR REPLACE FUNCTION signed_rows(operation TEXT, source TEXT DEFAULT NULL) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE operation
        WHEN 'INSERT' THEN '(SELECT r.*, 1 AS sign FROM new_rows r)'
        WHEN 'DELETE' THEN '(SELECT r.*, -1 AS sign FROM old_rows r)'
        WHEN 'UPDATE' THEN '(SELECT r.*, -1 AS sign FROM old_rows r UNION ALL SELECT r.*, 1 FROM new_rows r)'
        WHEN 'REBUILD' THEN format('(SELECT r.*, 1 AS sign FROM %I r)', source)
    END
$$;

-- Every session rollup from the signed rows (see signed_rows): the
-- 15-minute rollup (07), the hourly totals per host (11, sessions part) and the two tables above.
-- The parts per 15 minutes are the ones 07 computes; a sum of them is the same integer as 11's
-- clip per hour (microseconds, exact).
CREATE OR REPLACE FUNCTION session_rollups_sql(signed_rows TEXT) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN format($sql$
        WITH parts AS (
            SELECT g.bucket, COALESCE(s.origin_id, '00000000-0000-0000-0000-000000000000') AS origin,
                   COALESCE(s.host_identifier, '') AS host, s.application_name AS app,
                   (extract(epoch FROM least(rollup_session_end(s.start_time, s.end_time, s.duration_seconds),
                                             g.bucket + interval '15 minutes')
                                       - greatest(s.start_time, g.bucket)) * 1000000)::bigint * s.sign AS us,
                   0 AS started
            FROM %1$s s,
                 generate_series(date_bin('15 minutes', s.start_time, TIMESTAMPTZ 'epoch'),
                                 rollup_session_end(s.start_time, s.end_time, s.duration_seconds)
                                     - interval '1 microsecond',
                                 interval '15 minutes') AS g(bucket)
            UNION ALL
            SELECT date_bin('15 minutes', s.start_time, TIMESTAMPTZ 'epoch'),
                   COALESCE(s.origin_id, '00000000-0000-0000-0000-000000000000'), COALESCE(s.host_identifier, ''),
                   s.application_name, 0, s.sign
            FROM %1$s s
        ), q AS MATERIALIZED (
            SELECT bucket, origin, host, app, sum(us) AS us, sum(started)::integer AS started,
                   date_bin('1 hour', bucket, TIMESTAMPTZ 'epoch') AS hour,
                   (extract(epoch FROM bucket - date_bin('1 hour', bucket, TIMESTAMPTZ 'epoch')) / 900)::integer AS k
            FROM parts
            GROUP BY 1, 2, 3, 4
        ), by_15m AS (
            INSERT INTO session_rollup_15m AS r (bucket, origin_id, host_identifier, application_name, active_us,
                                                sessions_started)
            SELECT bucket, origin, host, app, us, started
            FROM q
            ORDER BY 1, 2, 3, 4
            ON CONFLICT (bucket, origin_id, host_identifier, application_name) DO UPDATE
                SET active_us = r.active_us + EXCLUDED.active_us,
                    sessions_started = r.sessions_started + EXCLUDED.sessions_started
        ), by_host_1h AS (
            INSERT INTO activity_totals_1h AS r (hour, origin_id, host_identifier, active_us, sessions_started)
            SELECT hour, origin, host, sum(us), sum(started)
            FROM q
            GROUP BY 1, 2, 3
            ORDER BY 1, 2, 3
            ON CONFLICT (hour, origin_id, host_identifier) DO UPDATE
                SET active_us = r.active_us + EXCLUDED.active_us,
                    sessions_started = r.sessions_started + EXCLUDED.sessions_started
        ), by_app AS (
            INSERT INTO application_totals_all_1h AS r (hour, application_name, active_us_0, active_us_1,
                                                       active_us_2, active_us_3, sessions_0, sessions_1,
                                                       sessions_2, sessions_3)
            SELECT hour, app,
                   COALESCE(sum(us) FILTER (WHERE k = 0), 0), COALESCE(sum(us) FILTER (WHERE k = 1), 0),
                   COALESCE(sum(us) FILTER (WHERE k = 2), 0), COALESCE(sum(us) FILTER (WHERE k = 3), 0),
                   COALESCE(sum(started) FILTER (WHERE k = 0), 0),
                   COALESCE(sum(started) FILTER (WHERE k = 1), 0),
                   COALESCE(sum(started) FILTER (WHERE k = 2), 0),
                   COALESCE(sum(started) FILTER (WHERE k = 3), 0)
            FROM q
            GROUP BY 1, 2
            ORDER BY 1, 2
            ON CONFLICT (hour, application_name) DO UPDATE
                SET active_us_0 = r.active_us_0 + EXCLUDED.active_us_0,
                    active_us_1 = r.active_us_1 + EXCLUDED.active_us_1,
                    active_us_2 = r.active_us_2 + EXCLUDED.active_us_2,
                    active_us_3 = r.active_us_3 + EXCLUDED.active_us_3,
                    sessions_0 = r.sessions_0 + EXCLUDED.sessions_0, sessions_1 = r.sessions_1 + EXCLUDED.sessions_1,
                    sessions_2 = r.sessions_2 + EXCLUDED.sessions_2, sessions_3 = r.sessions_3 + EXCLUDED.sessions_3
        )
        INSERT INTO activity_totals_all_1h AS r (hour, active_us_0, active_us_1, active_us_2, active_us_3,
                                                sessions_0, sessions_1, sessions_2, sessions_3)
        SELECT hour,
               COALESCE(sum(us) FILTER (WHERE k = 0), 0), COALESCE(sum(us) FILTER (WHERE k = 1), 0),
               COALESCE(sum(us) FILTER (WHERE k = 2), 0), COALESCE(sum(us) FILTER (WHERE k = 3), 0),
               COALESCE(sum(started) FILTER (WHERE k = 0), 0),
               COALESCE(sum(started) FILTER (WHERE k = 1), 0),
               COALESCE(sum(started) FILTER (WHERE k = 2), 0),
               COALESCE(sum(started) FILTER (WHERE k = 3), 0)
        FROM q
        GROUP BY 1
        ORDER BY 1
        ON CONFLICT (hour) DO UPDATE
            SET active_us_0 = r.active_us_0 + EXCLUDED.active_us_0, active_us_1 = r.active_us_1 + EXCLUDED.active_us_1,
                active_us_2 = r.active_us_2 + EXCLUDED.active_us_2, active_us_3 = r.active_us_3 + EXCLUDED.active_us_3,
                sessions_0 = r.sessions_0 + EXCLUDED.sessions_0, sessions_1 = r.sessions_1 + EXCLUDED.sessions_1,
                sessions_2 = r.sessions_2 + EXCLUDED.sessions_2, sessions_3 = r.sessions_3 + EXCLUDED.sessions_3
    $sql$, signed_rows);
END;
$$;

-- Every file-change rollup from the signed rows: per project (09, with its counts per
-- type) and per extension (09), the hourly totals per host (11, file part), the tables above.
CREATE OR REPLACE FUNCTION file_rollups_sql(signed_rows TEXT) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN format($sql$
        WITH q AS MATERIALIZED (
            SELECT date_bin('15 minutes', f.event_time, TIMESTAMPTZ 'epoch') AS bucket,
                   COALESCE(f.origin_id, '00000000-0000-0000-0000-000000000000') AS origin,
                   COALESCE(f.host_identifier, '') AS host, COALESCE(f.project_name, '') AS project,
                   COALESCE(f.file_extension, '') AS ext, f.event_type AS type, sum(f.sign)::integer AS n
            FROM %1$s f
            GROUP BY 1, 2, 3, 4, 5, 6
        ), by_project AS (
            INSERT INTO file_project_rollup_15m AS r (bucket, origin_id, host_identifier, project_name, events,
                                                     created, modified, deleted, moved)
            SELECT bucket, origin, host, project, sum(n),
                   COALESCE(sum(n) FILTER (WHERE type = 'created'), 0),
                   COALESCE(sum(n) FILTER (WHERE type = 'modified'), 0),
                   COALESCE(sum(n) FILTER (WHERE type = 'deleted'), 0),
                   COALESCE(sum(n) FILTER (WHERE type = 'moved'), 0)
            FROM q
            GROUP BY 1, 2, 3, 4
            ORDER BY 1, 2, 3, 4
            ON CONFLICT (bucket, origin_id, host_identifier, project_name) DO UPDATE
                SET events = r.events + EXCLUDED.events, created = r.created + EXCLUDED.created,
                    modified = r.modified + EXCLUDED.modified, deleted = r.deleted + EXCLUDED.deleted,
                    moved = r.moved + EXCLUDED.moved
        ), by_extension AS (
            INSERT INTO file_extension_rollup_15m AS r (bucket, origin_id, host_identifier, file_extension, events)
            SELECT bucket, origin, host, ext, sum(n)
            FROM q
            GROUP BY 1, 2, 3, 4
            ORDER BY 1, 2, 3, 4
            ON CONFLICT (bucket, origin_id, host_identifier, file_extension) DO UPDATE
                SET events = r.events + EXCLUDED.events
        ), hq AS MATERIALIZED (
            SELECT date_bin('1 hour', bucket, TIMESTAMPTZ 'epoch') AS hour,
                   (extract(epoch FROM bucket - date_bin('1 hour', bucket, TIMESTAMPTZ 'epoch')) / 900)::integer AS k,
                   origin, host, project, sum(n) AS n
            FROM q
            GROUP BY 1, 2, 3, 4, 5
        ), by_host_1h AS (
            INSERT INTO activity_totals_1h AS r (hour, origin_id, host_identifier, file_events)
            SELECT hour, origin, host, sum(n)
            FROM hq
            GROUP BY 1, 2, 3
            ORDER BY 1, 2, 3
            ON CONFLICT (hour, origin_id, host_identifier) DO UPDATE SET file_events = r.file_events + EXCLUDED.file_events
        ), by_project_all AS (
            INSERT INTO project_totals_all_1h AS r (hour, project_name, events_0, events_1, events_2, events_3)
            SELECT hour, project,
                   COALESCE(sum(n) FILTER (WHERE k = 0), 0), COALESCE(sum(n) FILTER (WHERE k = 1), 0),
                   COALESCE(sum(n) FILTER (WHERE k = 2), 0), COALESCE(sum(n) FILTER (WHERE k = 3), 0)
            FROM hq
            GROUP BY 1, 2
            ORDER BY 1, 2
            ON CONFLICT (hour, project_name) DO UPDATE
                SET events_0 = r.events_0 + EXCLUDED.events_0, events_1 = r.events_1 + EXCLUDED.events_1,
                    events_2 = r.events_2 + EXCLUDED.events_2, events_3 = r.events_3 + EXCLUDED.events_3
        )
        INSERT INTO activity_totals_all_1h AS r (hour, file_events_0, file_events_1, file_events_2, file_events_3)
        SELECT hour,
               COALESCE(sum(n) FILTER (WHERE k = 0), 0), COALESCE(sum(n) FILTER (WHERE k = 1), 0),
               COALESCE(sum(n) FILTER (WHERE k = 2), 0), COALESCE(sum(n) FILTER (WHERE k = 3), 0)
        FROM hq
        GROUP BY 1
        ORDER BY 1
        ON CONFLICT (hour) DO UPDATE
            SET file_events_0 = r.file_events_0 + EXCLUDED.file_events_0,
                file_events_1 = r.file_events_1 + EXCLUDED.file_events_1,
                file_events_2 = r.file_events_2 + EXCLUDED.file_events_2,
                file_events_3 = r.file_events_3 + EXCLUDED.file_events_3
    $sql$, signed_rows);
END;
$$;

CREATE OR REPLACE FUNCTION session_rollup_trigger() RETURNS trigger
LANGUAGE plpgsql SET jit = off AS $$
BEGIN
    EXECUTE session_rollups_sql(signed_rows(TG_OP));
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        EXECUTE host_totals_sql('old_rows', 'desktop_activity_sessions', 'start_time', -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        EXECUTE host_totals_sql('new_rows', 'desktop_activity_sessions', 'start_time', 1);
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION file_event_rollup_trigger() RETURNS trigger
LANGUAGE plpgsql SET jit = off AS $$
BEGIN
    EXECUTE file_rollups_sql(signed_rows(TG_OP));
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        EXECUTE host_totals_sql('old_rows', 'file_change_events', 'event_time', -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        EXECUTE host_totals_sql('new_rows', 'file_change_events', 'event_time', 1);
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION truncate_rollup_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'desktop_activity_sessions' THEN
        TRUNCATE session_rollup_15m, application_totals_all_1h;
        UPDATE activity_totals_1h SET active_us = 0, sessions_started = 0;
        UPDATE activity_totals_all_1h SET active_us_0 = 0, active_us_1 = 0, active_us_2 = 0, active_us_3 = 0,
                                          sessions_0 = 0, sessions_1 = 0, sessions_2 = 0, sessions_3 = 0;
    ELSE
        TRUNCATE file_project_rollup_15m, file_extension_rollup_15m, project_totals_all_1h;
        UPDATE activity_totals_1h SET file_events = 0;
        UPDATE activity_totals_all_1h SET file_events_0 = 0, file_events_1 = 0, file_events_2 = 0, file_events_3 = 0;
    END IF;
    DELETE FROM activity_totals_1h WHERE active_us = 0 AND sessions_started = 0 AND file_events = 0;
    DELETE FROM activity_totals_all_1h
    WHERE (active_us_0, active_us_1, active_us_2, active_us_3, sessions_0, sessions_1, sessions_2, sessions_3,
           file_events_0, file_events_1, file_events_2, file_events_3) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    DELETE FROM host_table_totals WHERE table_name = TG_TABLE_NAME;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION rebuild_activity_rollups() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE desktop_activity_sessions, file_change_events IN SHARE MODE;
    TRUNCATE session_rollup_15m, file_project_rollup_15m, file_extension_rollup_15m, file_event_rollup_15m,
             host_table_totals, activity_totals_1h, activity_totals_all_1h, application_totals_all_1h,
             project_totals_all_1h;
    EXECUTE session_rollups_sql(signed_rows('REBUILD', 'desktop_activity_sessions'));
    EXECUTE file_rollups_sql(signed_rows('REBUILD', 'file_change_events'));
    EXECUTE host_totals_sql('desktop_activity_sessions', 'desktop_activity_sessions', 'start_time', 1);
    EXECUTE host_totals_sql('file_change_events', 'file_change_events', 'event_time', 1);
END;
$$;

SELECT rebuild_activity_rollups();

-- Title search (window title or application name ILIKE '%text%'): a trigram index on each, so a
-- rare word's first page is a bitmap of its few rows, not a scan of the range (a common word
-- still walks the start_time index newest first and stops at the page). pg_trgm is a trusted
-- extension (PostgreSQL 13+): the database owner may create it without being a superuser. File
-- paths get none: a trigram index on file_change_events made its COPY 3.6 times slower, and
-- that COPY is the sync's path.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX IF NOT EXISTS idx_desktop_sessions_title_trgm
    ON desktop_activity_sessions USING gin (window_title gin_trgm_ops);
CREATE INDEX IF NOT EXISTS idx_desktop_sessions_application_trgm
    ON desktop_activity_sessions USING gin (application_name gin_trgm_ops);

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'reprospective_api') THEN
        GRANT SELECT ON activity_totals_all_1h, application_totals_all_1h, project_totals_all_1h TO reprospective_api;
    END IF;
END
$$;

INSERT INTO schema_version (version, description)
VALUES (12, 'hourly rollups across all hosts split in quarter hours; one rollup statement per batch; trigram search')
ON CONFLICT (version) DO NOTHING;
