-- Reprospective: per origin and table, how many rows a host has and when it was seen (version 10).
--
-- The hosts list needs, per host, its rows per table, first and last activity and newest sync;
-- aggregating 10 million raw rows for that takes seconds. host_table_totals keeps those figures
-- per (origin, host, table), maintained by the same statement-level triggers as the rollups.
-- rows is exact through inserts and deletes; first_seen, last_seen and newest_synced_at are the
-- extremes ever seen (a delete does not move them back; rebuild_activity_rollups() recomputes all).

CREATE TABLE IF NOT EXISTS host_table_totals (
    origin_id        UUID NOT NULL,
    host_identifier  TEXT NOT NULL,
    table_name       TEXT NOT NULL,
    rows             BIGINT NOT NULL DEFAULT 0,
    first_seen       TIMESTAMP WITH TIME ZONE,
    last_seen        TIMESTAMP WITH TIME ZONE,
    newest_synced_at TIMESTAMP WITH TIME ZONE,
    PRIMARY KEY (origin_id, host_identifier, table_name)
);

-- time_column: start_time or event_time; sign 1 adds the rows of the relation, -1 removes them.
CREATE OR REPLACE FUNCTION host_totals_sql(relation TEXT, source TEXT, time_column TEXT, sign INTEGER) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN format($sql$
        INSERT INTO host_table_totals AS t (origin_id, host_identifier, table_name, rows, first_seen, last_seen,
                                            newest_synced_at)
        SELECT COALESCE(x.origin_id, '00000000-0000-0000-0000-000000000000'), COALESCE(x.host_identifier, ''), %2$L,
               %4$s * count(*), min(x.%3$I), max(x.%3$I), max(x.synced_at)
        FROM %1$I x
        GROUP BY 1, 2
        ON CONFLICT (origin_id, host_identifier, table_name) DO UPDATE
            SET rows = t.rows + EXCLUDED.rows,
                first_seen = CASE WHEN %4$s > 0 THEN least(t.first_seen, EXCLUDED.first_seen) ELSE t.first_seen END,
                last_seen = CASE WHEN %4$s > 0 THEN greatest(t.last_seen, EXCLUDED.last_seen) ELSE t.last_seen END,
                newest_synced_at = CASE WHEN %4$s > 0 THEN greatest(t.newest_synced_at, EXCLUDED.newest_synced_at)
                                        ELSE t.newest_synced_at END
    $sql$, relation, source, time_column, sign);
END;
$$;

CREATE OR REPLACE FUNCTION session_rollup_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        EXECUTE session_rollup_sql('old_rows', -1);
        EXECUTE host_totals_sql('old_rows', 'desktop_activity_sessions', 'start_time', -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        EXECUTE session_rollup_sql('new_rows', 1);
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
        EXECUTE host_totals_sql('old_rows', 'file_change_events', 'event_time', -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        EXECUTE file_project_rollup_sql('new_rows', 1);
        EXECUTE file_extension_rollup_sql('new_rows', 1);
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
    ELSE
        TRUNCATE file_project_rollup_15m, file_extension_rollup_15m;
    END IF;
    DELETE FROM host_table_totals WHERE table_name = TG_TABLE_NAME;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION rebuild_activity_rollups() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE desktop_activity_sessions, file_change_events IN SHARE MODE;
    TRUNCATE session_rollup_15m, file_project_rollup_15m, file_extension_rollup_15m, file_event_rollup_15m,
             host_table_totals;
    EXECUTE session_rollup_sql('desktop_activity_sessions', 1);
    EXECUTE file_project_rollup_sql('file_change_events', 1);
    EXECUTE file_extension_rollup_sql('file_change_events', 1);
    EXECUTE host_totals_sql('desktop_activity_sessions', 'desktop_activity_sessions', 'start_time', 1);
    EXECUTE host_totals_sql('file_change_events', 'file_change_events', 'event_time', 1);
END;
$$;

SELECT rebuild_activity_rollups();

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'reprospective_api') THEN
        GRANT SELECT ON host_table_totals TO reprospective_api;
    END IF;
END
$$;

INSERT INTO schema_version (version, description)
VALUES (10, 'host_table_totals: rows, first and last seen, newest sync per origin, host and table')
ON CONFLICT (version) DO NOTHING;
