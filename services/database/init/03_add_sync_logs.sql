-- Reprospective: one row per table per sync run (version 3).

CREATE TABLE IF NOT EXISTS sync_logs (
    id BIGSERIAL PRIMARY KEY,
    sync_started_at TIMESTAMP WITH TIME ZONE NOT NULL,
    sync_completed_at TIMESTAMP WITH TIME ZONE,
    table_name TEXT NOT NULL,                          -- desktop_activity_sessions or file_change_events
    records_synced INTEGER DEFAULT 0,                  -- rows synced
    records_failed INTEGER DEFAULT 0,                  -- rows that failed (held back locally)
    status TEXT NOT NULL,                              -- success, partial_success, failed
    error_message TEXT,
    host_identifier TEXT,                              -- hostname_username of the sending host
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX IF NOT EXISTS idx_sync_logs_started_at ON sync_logs(sync_started_at);
CREATE INDEX IF NOT EXISTS idx_sync_logs_table_name ON sync_logs(table_name);
CREATE INDEX IF NOT EXISTS idx_sync_logs_status ON sync_logs(status);
CREATE INDEX IF NOT EXISTS idx_sync_logs_host_identifier ON sync_logs(host_identifier);

INSERT INTO schema_version (version, description)
VALUES (3, 'sync_logs')
ON CONFLICT (version) DO NOTHING;
