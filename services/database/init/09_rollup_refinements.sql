-- Reprospective: file-change rollups per project and per extension; sync_logs indexes per host and table
-- (version 9).
--
-- 07's file_event_rollup_15m keyed every 15 minutes by project, extension and type together:
-- on a year of 20 busy hosts it held about one row per event, so it saved nothing. Two narrower
-- rollups replace it: per project (with a count per event type) and per extension. It is no longer
-- maintained and is emptied here (derived data; dropping tables is not done in these files).
--
-- The sync status reads, per host and table, the latest run, the latest success and the failures
-- after it: two indexes make each of those a short index range instead of a scan of sync_logs.

CREATE TABLE IF NOT EXISTS file_project_rollup_15m (
    bucket          TIMESTAMP WITH TIME ZONE NOT NULL,
    origin_id       UUID NOT NULL,
    host_identifier TEXT NOT NULL,
    project_name    TEXT NOT NULL,
    events          INTEGER NOT NULL DEFAULT 0,
    created         INTEGER NOT NULL DEFAULT 0,
    modified        INTEGER NOT NULL DEFAULT 0,
    deleted         INTEGER NOT NULL DEFAULT 0,
    moved           INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, origin_id, host_identifier, project_name)
);

CREATE TABLE IF NOT EXISTS file_extension_rollup_15m (
    bucket          TIMESTAMP WITH TIME ZONE NOT NULL,
    origin_id       UUID NOT NULL,
    host_identifier TEXT NOT NULL,
    file_extension  TEXT NOT NULL,
    events          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, origin_id, host_identifier, file_extension)
);

CREATE OR REPLACE FUNCTION file_project_rollup_sql(relation TEXT, sign INTEGER) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN format($sql$
        INSERT INTO file_project_rollup_15m AS r (bucket, origin_id, host_identifier, project_name, events, created,
                                                 modified, deleted, moved)
        SELECT date_bin('15 minutes', f.event_time, TIMESTAMPTZ 'epoch'),
               COALESCE(f.origin_id, '00000000-0000-0000-0000-000000000000'), COALESCE(f.host_identifier, ''),
               COALESCE(f.project_name, ''), %2$s * count(*),
               %2$s * count(*) FILTER (WHERE f.event_type = 'created'),
               %2$s * count(*) FILTER (WHERE f.event_type = 'modified'),
               %2$s * count(*) FILTER (WHERE f.event_type = 'deleted'),
               %2$s * count(*) FILTER (WHERE f.event_type = 'moved')
        FROM %1$I f
        GROUP BY 1, 2, 3, 4
        ON CONFLICT (bucket, origin_id, host_identifier, project_name) DO UPDATE
            SET events = r.events + EXCLUDED.events, created = r.created + EXCLUDED.created,
                modified = r.modified + EXCLUDED.modified, deleted = r.deleted + EXCLUDED.deleted,
                moved = r.moved + EXCLUDED.moved
    $sql$, relation, sign);
END;
$$;

CREATE OR REPLACE FUNCTION file_extension_rollup_sql(relation TEXT, sign INTEGER) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN format($sql$
        INSERT INTO file_extension_rollup_15m AS r (bucket, origin_id, host_identifier, file_extension, events)
        SELECT date_bin('15 minutes', f.event_time, TIMESTAMPTZ 'epoch'),
               COALESCE(f.origin_id, '00000000-0000-0000-0000-000000000000'), COALESCE(f.host_identifier, ''),
               COALESCE(f.file_extension, ''), %2$s * count(*)
        FROM %1$I f
        GROUP BY 1, 2, 3, 4
        ON CONFLICT (bucket, origin_id, host_identifier, file_extension) DO UPDATE
            SET events = r.events + EXCLUDED.events
    $sql$, relation, sign);
END;
$$;

CREATE OR REPLACE FUNCTION file_event_rollup_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        EXECUTE file_project_rollup_sql('old_rows', -1);
        EXECUTE file_extension_rollup_sql('old_rows', -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        EXECUTE file_project_rollup_sql('new_rows', 1);
        EXECUTE file_extension_rollup_sql('new_rows', 1);
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
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION rebuild_activity_rollups() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE desktop_activity_sessions, file_change_events IN SHARE MODE;
    TRUNCATE session_rollup_15m, file_project_rollup_15m, file_extension_rollup_15m, file_event_rollup_15m;
    EXECUTE session_rollup_sql('desktop_activity_sessions', 1);
    EXECUTE file_project_rollup_sql('file_change_events', 1);
    EXECUTE file_extension_rollup_sql('file_change_events', 1);
END;
$$;

SELECT rebuild_activity_rollups();

CREATE INDEX IF NOT EXISTS idx_sync_logs_host_table_started
    ON sync_logs ((COALESCE(host_identifier, '')), table_name, sync_started_at);
CREATE INDEX IF NOT EXISTS idx_sync_logs_failed_host_table_started
    ON sync_logs ((COALESCE(host_identifier, '')), table_name, sync_started_at) WHERE status = 'failed';

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'reprospective_api') THEN
        GRANT SELECT ON file_project_rollup_15m, file_extension_rollup_15m TO reprospective_api;
    END IF;
END
$$;

INSERT INTO schema_version (version, description)
VALUES (9, 'file-change rollups per project and per extension; sync_logs indexes per host and table')
ON CONFLICT (version) DO NOTHING;
