-- Reprospective: base schema (version 1).
-- Every statement is idempotent so that the file can be applied twice harmlessly,
-- either by the PostgreSQL Docker entrypoint or by the host-agent on start-up.

CREATE TABLE IF NOT EXISTS schema_version (
    version     INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied_at  TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- One row per desktop activity session (same application + same window title).
CREATE TABLE IF NOT EXISTS desktop_activity_sessions (
    id               BIGSERIAL PRIMARY KEY,
    start_time       TIMESTAMP WITH TIME ZONE NOT NULL,
    end_time         TIMESTAMP WITH TIME ZONE,
    start_time_iso   TEXT NOT NULL,
    end_time_iso     TEXT,
    application_name TEXT NOT NULL,
    window_title     TEXT,
    duration_seconds INTEGER,
    created_at       TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at       TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
    synced_at        TIMESTAMP WITH TIME ZONE
);

CREATE INDEX IF NOT EXISTS idx_desktop_sessions_start_time
    ON desktop_activity_sessions (start_time);
CREATE INDEX IF NOT EXISTS idx_desktop_sessions_application
    ON desktop_activity_sessions (application_name);

-- One row per file change under a monitored directory.
CREATE TABLE IF NOT EXISTS file_change_events (
    id                 BIGSERIAL PRIMARY KEY,
    event_time         TIMESTAMP WITH TIME ZONE NOT NULL,
    event_time_iso     TEXT NOT NULL,
    event_type         TEXT NOT NULL
        CONSTRAINT file_change_events_event_type_check
        CHECK (event_type IN ('created', 'modified', 'deleted', 'moved')),
    file_path          TEXT NOT NULL,
    file_path_relative TEXT,
    file_name          TEXT NOT NULL,
    file_extension     TEXT,
    file_size          BIGINT,
    is_symlink         BOOLEAN NOT NULL DEFAULT FALSE,
    monitored_root     TEXT NOT NULL,
    project_name       TEXT,
    created_at         TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
    synced_at          TIMESTAMP WITH TIME ZONE
);

CREATE INDEX IF NOT EXISTS idx_file_events_event_time
    ON file_change_events (event_time);
CREATE INDEX IF NOT EXISTS idx_file_events_project
    ON file_change_events (project_name);

-- Daily summaries, by the server's TimeZone setting.
CREATE OR REPLACE VIEW daily_application_summary AS
SELECT
    start_time::date                    AS activity_date,
    application_name,
    COUNT(*)                            AS session_count,
    COALESCE(SUM(duration_seconds), 0)  AS total_duration_seconds
FROM desktop_activity_sessions
GROUP BY start_time::date, application_name;

CREATE OR REPLACE VIEW daily_file_change_summary AS
SELECT
    event_time::date                              AS activity_date,
    project_name,
    COUNT(*)                                      AS event_count,
    COUNT(*) FILTER (WHERE event_type = 'created')  AS created_count,
    COUNT(*) FILTER (WHERE event_type = 'modified') AS modified_count,
    COUNT(*) FILTER (WHERE event_type = 'deleted')  AS deleted_count,
    COUNT(*) FILTER (WHERE event_type = 'moved')    AS moved_count
FROM file_change_events
GROUP BY event_time::date, project_name;

INSERT INTO schema_version (version, description)
VALUES (1, 'desktop_activity_sessions, file_change_events, daily summaries')
ON CONFLICT (version) DO NOTHING;
