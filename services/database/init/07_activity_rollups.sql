-- Reprospective: 15-minute rollups of sessions and file changes, kept exact by triggers (version 7).
--
-- Derived data: always recomputable from the raw rows (rebuild_activity_rollups()), and kept
-- equal to the raw aggregation as rows arrive, change (a session gaining its end, re-sent with a
-- higher local_revision) or go. Buckets are 15 minutes of UTC: every IANA offset in use is a
-- multiple of 15 minutes, so any local day, week or month is a whole number of buckets.
--
-- Triggers are per statement with transition tables: a COPY or an INSERT ... SELECT of
-- thousands of rows costs one aggregate statement, not one call per row.
-- origin_id is in every key (NULL stored as the zero UUID, host as ''), so each origin's sync
-- touches only its own rollup rows and the tables can later be split by origin.
--
-- active_us: microseconds of sessions inside the bucket (integers: exact under subtraction).
-- sessions_started: sessions whose start falls in the bucket.

CREATE TABLE IF NOT EXISTS session_rollup_15m (
    bucket           TIMESTAMP WITH TIME ZONE NOT NULL,
    origin_id        UUID NOT NULL,
    host_identifier  TEXT NOT NULL,
    application_name TEXT NOT NULL,
    active_us        BIGINT NOT NULL DEFAULT 0,
    sessions_started INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, origin_id, host_identifier, application_name)
);

CREATE TABLE IF NOT EXISTS file_event_rollup_15m (
    bucket          TIMESTAMP WITH TIME ZONE NOT NULL,
    origin_id       UUID NOT NULL,
    host_identifier TEXT NOT NULL,
    project_name    TEXT NOT NULL,
    file_extension  TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    events          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, origin_id, host_identifier, project_name, file_extension, event_type)
);

-- A session's end as the dashboard counts it: an open session lasts its last reported duration.
CREATE OR REPLACE FUNCTION rollup_session_end(start_time TIMESTAMPTZ, end_time TIMESTAMPTZ, duration_seconds INTEGER)
RETURNS TIMESTAMPTZ LANGUAGE sql IMMUTABLE AS $$
    SELECT COALESCE(end_time, start_time + make_interval(secs => COALESCE(duration_seconds, 0)))
$$;

-- The statement that adds (sign 1) or removes (sign -1) the contributions of the rows of the named
-- relation. The trigger functions EXECUTE it themselves: a transition table is visible only to
-- the statements of the trigger function, not to functions it calls.
CREATE OR REPLACE FUNCTION session_rollup_sql(relation TEXT, sign INTEGER) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN format($sql$
        INSERT INTO session_rollup_15m AS r (bucket, origin_id, host_identifier, application_name, active_us,
                                            sessions_started)
        SELECT bucket, origin, host, app, %2$s * sum(us), %2$s * sum(started)
        FROM (
            SELECT g.bucket, COALESCE(s.origin_id, '00000000-0000-0000-0000-000000000000') AS origin,
                   COALESCE(s.host_identifier, '') AS host, s.application_name AS app,
                   (extract(epoch FROM least(rollup_session_end(s.start_time, s.end_time, s.duration_seconds),
                                             g.bucket + interval '15 minutes')
                                       - greatest(s.start_time, g.bucket)) * 1000000)::bigint AS us,
                   0 AS started
            FROM %1$I s,
                 generate_series(date_bin('15 minutes', s.start_time, TIMESTAMPTZ 'epoch'),
                                 rollup_session_end(s.start_time, s.end_time, s.duration_seconds)
                                     - interval '1 microsecond',
                                 interval '15 minutes') AS g(bucket)
            UNION ALL
            SELECT date_bin('15 minutes', s.start_time, TIMESTAMPTZ 'epoch'),
                   COALESCE(s.origin_id, '00000000-0000-0000-0000-000000000000'), COALESCE(s.host_identifier, ''),
                   s.application_name, 0, 1
            FROM %1$I s
        ) AS parts
        GROUP BY 1, 2, 3, 4
        ON CONFLICT (bucket, origin_id, host_identifier, application_name) DO UPDATE
            SET active_us = r.active_us + EXCLUDED.active_us,
                sessions_started = r.sessions_started + EXCLUDED.sessions_started
    $sql$, relation, sign);
END;
$$;

CREATE OR REPLACE FUNCTION file_event_rollup_sql(relation TEXT, sign INTEGER) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN format($sql$
        INSERT INTO file_event_rollup_15m AS r (bucket, origin_id, host_identifier, project_name, file_extension,
                                               event_type, events)
        SELECT date_bin('15 minutes', f.event_time, TIMESTAMPTZ 'epoch'),
               COALESCE(f.origin_id, '00000000-0000-0000-0000-000000000000'), COALESCE(f.host_identifier, ''),
               COALESCE(f.project_name, ''), COALESCE(f.file_extension, ''), f.event_type, %2$s * count(*)
        FROM %1$I f
        GROUP BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (bucket, origin_id, host_identifier, project_name, file_extension, event_type) DO UPDATE
            SET events = r.events + EXCLUDED.events
    $sql$, relation, sign);
END;
$$;

CREATE OR REPLACE FUNCTION session_rollup_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        EXECUTE session_rollup_sql('old_rows', -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        EXECUTE session_rollup_sql('new_rows', 1);
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION file_event_rollup_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        EXECUTE file_event_rollup_sql('old_rows', -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        EXECUTE file_event_rollup_sql('new_rows', 1);
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION truncate_rollup_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'desktop_activity_sessions' THEN
        TRUNCATE session_rollup_15m;
    ELSE
        TRUNCATE file_event_rollup_15m;
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS trg_session_rollup_insert ON desktop_activity_sessions;
CREATE TRIGGER trg_session_rollup_insert AFTER INSERT ON desktop_activity_sessions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION session_rollup_trigger();
DROP TRIGGER IF EXISTS trg_session_rollup_update ON desktop_activity_sessions;
CREATE TRIGGER trg_session_rollup_update AFTER UPDATE ON desktop_activity_sessions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION session_rollup_trigger();
DROP TRIGGER IF EXISTS trg_session_rollup_delete ON desktop_activity_sessions;
CREATE TRIGGER trg_session_rollup_delete AFTER DELETE ON desktop_activity_sessions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION session_rollup_trigger();
DROP TRIGGER IF EXISTS trg_session_rollup_truncate ON desktop_activity_sessions;
CREATE TRIGGER trg_session_rollup_truncate AFTER TRUNCATE ON desktop_activity_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION truncate_rollup_trigger();

DROP TRIGGER IF EXISTS trg_file_event_rollup_insert ON file_change_events;
CREATE TRIGGER trg_file_event_rollup_insert AFTER INSERT ON file_change_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION file_event_rollup_trigger();
DROP TRIGGER IF EXISTS trg_file_event_rollup_update ON file_change_events;
CREATE TRIGGER trg_file_event_rollup_update AFTER UPDATE ON file_change_events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION file_event_rollup_trigger();
DROP TRIGGER IF EXISTS trg_file_event_rollup_delete ON file_change_events;
CREATE TRIGGER trg_file_event_rollup_delete AFTER DELETE ON file_change_events
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION file_event_rollup_trigger();
DROP TRIGGER IF EXISTS trg_file_event_rollup_truncate ON file_change_events;
CREATE TRIGGER trg_file_event_rollup_truncate AFTER TRUNCATE ON file_change_events
    FOR EACH STATEMENT EXECUTE FUNCTION truncate_rollup_trigger();

-- Recompute both rollups from the raw rows (they are derived data); also run below, so that
-- applying this file, once or twice, leaves them exact.
CREATE OR REPLACE FUNCTION rebuild_activity_rollups() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE desktop_activity_sessions, file_change_events IN SHARE MODE;
    TRUNCATE session_rollup_15m, file_event_rollup_15m;
    EXECUTE session_rollup_sql('desktop_activity_sessions', 1);
    EXECUTE file_event_rollup_sql('file_change_events', 1);
END;
$$;

SELECT rebuild_activity_rollups();

-- The searches and the timeline: newest first within a host, and sessions by their end.
CREATE INDEX IF NOT EXISTS idx_desktop_sessions_host_start
    ON desktop_activity_sessions (host_identifier, start_time);
CREATE INDEX IF NOT EXISTS idx_file_events_host_time
    ON file_change_events (host_identifier, event_time);

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'reprospective_api') THEN
        GRANT SELECT ON session_rollup_15m, file_event_rollup_15m TO reprospective_api;
    END IF;
END
$$;

INSERT INTO schema_version (version, description)
VALUES (7, '15-minute rollups of sessions and file changes, kept by statement triggers; host indexes')
ON CONFLICT (version) DO NOTHING;
