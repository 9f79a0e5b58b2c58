-- Reprospective: how each file change was found (version 14).
--
-- detected_by  'watcher': an inotify event (or a rescan after the kernel dropped events);
--              'reconciliation': a change made while the agent (or the tree's watch) was down,
--              found by comparing the tree on disk with its last known state at start-up.
--              Rows synced before this column existed read 'watcher'.
-- detected_at  when a reconciliation found the change; NULL for the watcher's rows, which
--              were found at their event_time. A reconciled row's event_time is the file's
--              modification time (created, modified), or the time found (deleted, moved).

ALTER TABLE file_change_events
    ADD COLUMN IF NOT EXISTS detected_by TEXT DEFAULT 'watcher',
    ADD COLUMN IF NOT EXISTS detected_at TIMESTAMP WITH TIME ZONE;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'file_change_events_detected_by_check') THEN
        ALTER TABLE file_change_events ADD CONSTRAINT file_change_events_detected_by_check
            CHECK (detected_by IN ('watcher', 'reconciliation'));
    END IF;
END
$$;

INSERT INTO schema_version (version, description)
VALUES (14, 'file_change_events.detected_by and detected_at: changes found by reconciliation')
ON CONFLICT (version) DO NOTHING;
