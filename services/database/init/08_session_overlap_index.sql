-- Reprospective: find the sessions overlapping a time range without scanning the past (version 8).
--
-- "Sessions overlapping [a, b)" is start_time < b AND end > a: two half-open conditions that a
-- B-tree can only answer by scanning everything before b. A GiST index on the session's span
-- answers the && (overlaps) operator directly. greatest() keeps a malformed row (an end before
-- its start) indexable instead of refusing it.

CREATE OR REPLACE FUNCTION session_span(start_time TIMESTAMPTZ, end_time TIMESTAMPTZ, duration_seconds INTEGER)
RETURNS tstzrange LANGUAGE sql IMMUTABLE AS $$
    SELECT tstzrange(start_time, greatest(start_time, rollup_session_end(start_time, end_time, duration_seconds)), '[)')
$$;

CREATE INDEX IF NOT EXISTS idx_desktop_sessions_span
    ON desktop_activity_sessions USING gist (session_span(start_time, end_time, duration_seconds));

INSERT INTO schema_version (version, description)
VALUES (8, 'GiST index on the span of each session, for the timeline and overlap queries')
ON CONFLICT (version) DO NOTHING;
