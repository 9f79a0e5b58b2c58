-- Reprospective: where every synced row came from (version 4).
--
-- origin_id   identifies one local SQLite database instance (a random UUID kept inside it),
--             so a database that is deleted and created again never collides with its past rows.
-- local_id    the row's id in that database.
-- (origin_id, local_id) is unique: re-sending a row can never create a second copy.
-- local_revision counts local edits (a session gaining its end); only a newer revision
-- overwrites the stored copy.

ALTER TABLE desktop_activity_sessions
    ADD COLUMN IF NOT EXISTS host_identifier TEXT,
    ADD COLUMN IF NOT EXISTS origin_id UUID,
    ADD COLUMN IF NOT EXISTS local_id BIGINT,
    ADD COLUMN IF NOT EXISTS local_revision INTEGER NOT NULL DEFAULT 0;

CREATE UNIQUE INDEX IF NOT EXISTS uq_desktop_sessions_origin
    ON desktop_activity_sessions (origin_id, local_id);
CREATE INDEX IF NOT EXISTS idx_desktop_sessions_host
    ON desktop_activity_sessions (host_identifier);

ALTER TABLE file_change_events
    ADD COLUMN IF NOT EXISTS host_identifier TEXT,
    ADD COLUMN IF NOT EXISTS origin_id UUID,
    ADD COLUMN IF NOT EXISTS local_id BIGINT,
    ADD COLUMN IF NOT EXISTS local_revision INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS old_file_path TEXT;  -- the source path of a 'moved' event

CREATE UNIQUE INDEX IF NOT EXISTS uq_file_events_origin
    ON file_change_events (origin_id, local_id);

INSERT INTO schema_version (version, description)
VALUES (4, 'row origin (host_identifier, origin_id, local_id) and move source path')
ON CONFLICT (version) DO NOTHING;
