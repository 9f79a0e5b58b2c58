-- Reprospective: hourly totals per origin and host, for long ranges (version 11).
--
-- A year of 15-minute rollups from 20 hosts is millions of rows; the totals of a period (active
-- time, sessions started, file changes), which the year heatmap and every summary's header need,
-- are read here instead: one row per hour, origin and host (175,000 rows for such a year). Exact
-- for every zone whose offset is a whole number of hours; the others (India, Nepal, Newfoundland,
-- central Australia, Chatham...) are answered from the 15-minute rollups.

CREATE TABLE IF NOT EXISTS activity_totals_1h (
    hour             TIMESTAMP WITH TIME ZONE NOT NULL,
    origin_id        UUID NOT NULL,
    host_identifier  TEXT NOT NULL,
    active_us        BIGINT NOT NULL DEFAULT 0,
    sessions_started INTEGER NOT NULL DEFAULT 0,
    file_events      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, origin_id, host_identifier)
);

CREATE OR REPLACE FUNCTION session_totals_sql(relation TEXT, sign INTEGER) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN format($sql$
        INSERT INTO activity_totals_1h AS r (hour, origin_id, host_identifier, active_us, sessions_started)
        SELECT hour, origin, host, %2$s * sum(us), %2$s * sum(started)
        FROM (
            SELECT g.hour, COALESCE(s.origin_id, '00000000-0000-0000-0000-000000000000') AS origin,
                   COALESCE(s.host_identifier, '') AS host,
                   (extract(epoch FROM least(rollup_session_end(s.start_time, s.end_time, s.duration_seconds),
                                             g.hour + interval '1 hour')
                                       - greatest(s.start_time, g.hour)) * 1000000)::bigint AS us,
                   0 AS started
            FROM %1$I s,
                 generate_series(date_bin('1 hour', s.start_time, TIMESTAMPTZ 'epoch'),
                                 rollup_session_end(s.start_time, s.end_time, s.duration_seconds)
                                     - interval '1 microsecond',
                                 interval '1 hour') AS g(hour)
            UNION ALL
            SELECT date_bin('1 hour', s.start_time, TIMESTAMPTZ 'epoch'),
                   COALESCE(s.origin_id, '00000000-0000-0000-0000-000000000000'), COALESCE(s.host_identifier, ''), 0, 1
            FROM %1$I s
        ) AS parts
        GROUP BY 1, 2, 3
        ON CONFLICT (hour, origin_id, host_identifier) DO UPDATE
            SET active_us = r.active_us + EXCLUDED.active_us,
                sessions_started = r.sessions_started + EXCLUDED.sessions_started
    $sql$, relation, sign);
END;
$$;

CREATE OR REPLACE FUNCTION file_totals_sql(relation TEXT, sign INTEGER) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN format($sql$
        INSERT INTO activity_totals_1h AS r (hour, origin_id, host_identifier, file_events)
        SELECT date_bin('1 hour', f.event_time, TIMESTAMPTZ 'epoch'),
               COALESCE(f.origin_id, '00000000-0000-0000-0000-000000000000'), COALESCE(f.host_identifier, ''),
               %2$s * count(*)
        FROM %1$I f
        GROUP BY 1, 2, 3
        ON CONFLICT (hour, origin_id, host_identifier) DO UPDATE SET file_events = r.file_events + EXCLUDED.file_events
    $sql$, relation, sign);
END;
$$;

CREATE OR REPLACE FUNCTION session_rollup_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        EXECUTE session_rollup_sql('old_rows', -1);
        EXECUTE session_totals_sql('old_rows', -1);
        EXECUTE host_totals_sql('old_rows', 'desktop_activity_sessions', 'start_time', -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        EXECUTE session_rollup_sql('new_rows', 1);
        EXECUTE session_totals_sql('new_rows', 1);
        EXECUTE host_totals_sql('new_rows', 'desktop_activity_sessions', 'start_time', 1);
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION file_event_rollup_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        EXECUTE file_project_rollup_sql('old_rows', -1);
        EXECUTE file_extension_rollup_sql('old_rows', -1);
        EXECUTE file_totals_sql('old_rows', -1);
        EXECUTE host_totals_sql('old_rows', 'file_change_events', 'event_time', -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        EXECUTE file_project_rollup_sql('new_rows', 1);
        EXECUTE file_extension_rollup_sql('new_rows', 1);
        EXECUTE file_totals_sql('new_rows', 1);
        EXECUTE host_totals_sql('new_rows', 'file_change_events', 'event_time', 1);
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION truncate_rollup_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'desktop_activity_sessions' THEN
        TRUNCATE session_rollup_15m;
        UPDATE activity_totals_1h SET active_us = 0, sessions_started = 0;
    ELSE
        TRUNCATE file_project_rollup_15m, file_extension_rollup_15m;
        UPDATE activity_totals_1h SET file_events = 0;
    END IF;
    DELETE FROM activity_totals_1h WHERE active_us = 0 AND sessions_started = 0 AND file_events = 0;
    DELETE FROM host_table_totals WHERE table_name = TG_TABLE_NAME;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION rebuild_activity_rollups() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE desktop_activity_sessions, file_change_events IN SHARE MODE;
    TRUNCATE session_rollup_15m, file_project_rollup_15m, file_extension_rollup_15m, file_event_rollup_15m,
             host_table_totals, activity_totals_1h;
    EXECUTE session_rollup_sql('desktop_activity_sessions', 1);
    EXECUTE file_project_rollup_sql('file_change_events', 1);
    EXECUTE file_extension_rollup_sql('file_change_events', 1);
    EXECUTE session_totals_sql('desktop_activity_sessions', 1);
    EXECUTE file_totals_sql('file_change_events', 1);
    EXECUTE host_totals_sql('desktop_activity_sessions', 'desktop_activity_sessions', 'start_time', 1);
    EXECUTE host_totals_sql('file_change_events', 'file_change_events', 'event_time', 1);
END;
$$;

SELECT rebuild_activity_rollups();

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'reprospective_api') THEN
        GRANT SELECT ON activity_totals_1h TO reprospective_api;
    END IF;
END
$$;

INSERT INTO schema_version (version, description)
VALUES (11, 'activity_totals_1h: hourly active time, sessions started and file changes per origin and host')
ON CONFLICT (version) DO NOTHING;
