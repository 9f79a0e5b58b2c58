-- Reprospective: the day timeline's segments kept ahead of time; file changes per project and UTC day (version 16).
--
-- A busy day is tens of thousands of sessions across the hosts; clipping and merging them at
-- every request grew with the density of the day. timeline_runs holds the segments a timeline
-- draws, per origin and host name (as every rollup is keyed, 07), built by fixed rules that do not
-- depend on the viewer's zone or day, so a day's timeline reads the segments overlapping it and
-- clips them (api_gateway/day_lanes.py). The rules (api_gateway/timeline.py is the reference the
-- tests hold this file to), over one origin and host's sessions in (start, id) order, a session's
-- end being rollup_session_end() (an open session lasts its last reported duration):
--
-- - Sessions are chained per origin, host name and the UTC hour their start falls in, so that a
--   segment spans at most its hour's sessions and a change touches only its own hours.
-- - short: a session shorter than 60 s (min_seconds), zero-length ones included.
-- - A session joins the segment before it when it starts before the end of an earlier session
--   (an overlap: two windows cannot both be shown apart in one lane), at the start of the one
--   before it, or when it is short and starts at most 5 minutes (max_gap) after the end of an
--   earlier short session; otherwise it starts a segment. So sessions of a minute or more stay
--   whole and runs of short ones become one segment, however the viewer's day is cut.
-- - A segment spans its sessions' earliest start to their latest end; it is labelled with the
--   application that took most of its sessions' seconds (ties: the one seen first), and carries
--   its first session's id, its session count and, for a single session, its window title.
--
-- The triggers are statement-level with transition tables on desktop_activity_sessions itself
-- (allowed on a partitioned table's parent as well), run with jit off like 12's: one statement
-- per batch deletes the segments of every (origin, host, hour) a changed row (old or new
-- version) starts in and chains that hour's raw rows again, in key order. The test suite checks
-- that the segments kept this way equal a rebuild (rebuild_timeline_runs()) and the Python
-- rules after random inserts, sessions gaining their end, re-sent rows and deletes.

CREATE TABLE IF NOT EXISTS timeline_runs (
    origin_id        UUID NOT NULL,
    host_identifier  TEXT NOT NULL,
    start_time       TIMESTAMP WITH TIME ZONE NOT NULL,
    end_time         TIMESTAMP WITH TIME ZONE NOT NULL,
    last_start       TIMESTAMP WITH TIME ZONE NOT NULL,  -- the latest start of its sessions
    application_name TEXT NOT NULL,
    window_title     TEXT,                               -- only for a segment of one session
    sessions         INTEGER NOT NULL,
    first_id         BIGINT NOT NULL,
    PRIMARY KEY (origin_id, host_identifier, start_time, first_id)
);

-- A day reads the segments overlapping it; the triggers find an hour's by the primary key.
CREATE INDEX IF NOT EXISTS idx_timeline_runs_span ON timeline_runs USING gist (tstzrange(start_time, end_time, '[]'));

-- The segments of the sessions of `source` (a relation or a subquery with the columns of
-- desktop_activity_sessions plus origin, host and hour: the key as stored and the hour chained
-- in), as timeline_runs rows.
CREATE OR REPLACE FUNCTION timeline_runs_select(source TEXT) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN format($sql$
        WITH sized AS (
            SELECT s.id, s.origin, s.host, s.hour, s.application_name AS app, s.window_title AS title,
                   s.start_time AS s,
                   greatest(s.start_time, rollup_session_end(s.start_time, s.end_time, s.duration_seconds)) AS e
            FROM %1$s s
        ), reach AS (
            SELECT z.*, z.e - z.s < interval '60 seconds' AS short,
                   max(z.e) OVER w AS ended, lag(z.s) OVER (PARTITION BY z.origin, z.host, z.hour ORDER BY z.s, z.id) AS before,
                   max(z.e + interval '5 minutes') FILTER (WHERE z.e - z.s < interval '60 seconds') OVER w AS reached
            FROM sized z
            WINDOW w AS (PARTITION BY z.origin, z.host, z.hour ORDER BY z.s, z.id
                         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
        ), numbered AS MATERIALIZED (
            SELECT r.*, count(*) FILTER (WHERE r.ended IS NULL OR (r.s >= r.ended AND r.s > r.before AND NOT (
                            r.short AND r.reached IS NOT NULL AND r.s <= r.reached)))
                            OVER (PARTITION BY r.origin, r.host, r.hour ORDER BY r.s, r.id) AS segment,
                   row_number() OVER (PARTITION BY r.origin, r.host, r.hour ORDER BY r.s, r.id) AS pos
            FROM reach r
        ), labels AS (
            SELECT DISTINCT ON (origin, host, hour, segment) origin, host, hour, segment, app
            FROM (SELECT origin, host, hour, segment, app, sum(e - s) AS took, min(pos) AS seen
                  FROM numbered GROUP BY 1, 2, 3, 4, 5) AS a
            ORDER BY origin, host, hour, segment, took DESC, seen
        )
        SELECT g.origin, g.host, g.start_time, g.end_time, g.last_start, l.app, g.title, g.sessions, g.first_id
        FROM (
            SELECT origin, host, hour, segment, min(s) AS start_time, max(e) AS end_time, max(s) AS last_start,
                   count(*)::integer AS sessions, (array_agg(id ORDER BY pos))[1] AS first_id,
                   CASE WHEN count(*) = 1 THEN min(title) END AS title
            FROM numbered
            GROUP BY 1, 2, 3, 4
        ) g JOIN labels l USING (origin, host, hour, segment)
    $sql$, source);
END;
$$;

-- The hours (per origin and host) the changed rows of a batch start in (the transition tables
-- named in `relations`): their segments are deleted and their sessions chained again. The
-- INSERT reads the deletion's count first, so no new segment meets an old one's key.
CREATE OR REPLACE FUNCTION timeline_runs_sql(relations TEXT[]) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    changed TEXT := (SELECT string_agg(format(
        'SELECT COALESCE(origin_id, %L::uuid) AS origin, COALESCE(host_identifier, %L) AS host, '
        'date_bin(%L, start_time, TIMESTAMPTZ %L) AS hour FROM %I',
        '00000000-0000-0000-0000-000000000000', '', '1 hour', 'epoch', r), ' UNION ') FROM unnest(relations) AS r);
BEGIN
    RETURN format($sql$
        WITH changed AS MATERIALIZED (SELECT DISTINCT * FROM (%1$s) AS c),
        gone AS (  -- found hour by hour through the primary key, deleted by row address
            DELETE FROM timeline_runs t
            WHERE t.ctid = ANY (ARRAY(
                SELECT x.ctid FROM changed c
                CROSS JOIN LATERAL (
                    SELECT r.ctid FROM timeline_runs r
                    WHERE r.origin_id = c.origin AND r.host_identifier = c.host
                      AND r.start_time >= c.hour AND r.start_time < c.hour + interval '1 hour'
                    OFFSET 0) x))  -- OFFSET 0: kept an index scan per hour, never a join of the whole table
            RETURNING 1
        ), batch_rows AS (
            SELECT x.*, c.origin, c.host, c.hour
            FROM changed c
            CROSS JOIN LATERAL (
                SELECT s.* FROM desktop_activity_sessions s
                WHERE s.origin_id = c.origin AND COALESCE(s.host_identifier, '') = c.host
                  AND s.start_time >= c.hour AND s.start_time < c.hour + interval '1 hour'
                UNION ALL  -- rows synced before origins existed (04)
                SELECT s.* FROM desktop_activity_sessions s
                WHERE c.origin = '00000000-0000-0000-0000-000000000000' AND s.origin_id IS NULL
                  AND COALESCE(s.host_identifier, '') = c.host
                  AND s.start_time >= c.hour AND s.start_time < c.hour + interval '1 hour'
            ) x
            WHERE (SELECT count(*) FROM gone) >= 0
        ), chained AS (%2$s)
        INSERT INTO timeline_runs (origin_id, host_identifier, start_time, end_time, last_start, application_name,
                                   window_title, sessions, first_id)
        SELECT * FROM chained
        ORDER BY 1, 2, 3, 9
    $sql$, changed, timeline_runs_select('batch_rows'));
END;
$$;

CREATE OR REPLACE FUNCTION timeline_runs_trigger() RETURNS trigger
LANGUAGE plpgsql SET jit = off AS $$
BEGIN
    EXECUTE timeline_runs_sql(CASE TG_OP WHEN 'INSERT' THEN ARRAY['new_rows'] WHEN 'DELETE' THEN ARRAY['old_rows']
                                         ELSE ARRAY['old_rows', 'new_rows'] END);
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION timeline_runs_truncate_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE timeline_runs;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS trg_timeline_runs_insert ON desktop_activity_sessions;
CREATE TRIGGER trg_timeline_runs_insert AFTER INSERT ON desktop_activity_sessions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION timeline_runs_trigger();
DROP TRIGGER IF EXISTS trg_timeline_runs_update ON desktop_activity_sessions;
CREATE TRIGGER trg_timeline_runs_update AFTER UPDATE ON desktop_activity_sessions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION timeline_runs_trigger();
DROP TRIGGER IF EXISTS trg_timeline_runs_delete ON desktop_activity_sessions;
CREATE TRIGGER trg_timeline_runs_delete AFTER DELETE ON desktop_activity_sessions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION timeline_runs_trigger();
DROP TRIGGER IF EXISTS trg_timeline_runs_truncate ON desktop_activity_sessions;
CREATE TRIGGER trg_timeline_runs_truncate AFTER TRUNCATE ON desktop_activity_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION timeline_runs_truncate_trigger();

-- Recompute every segment from the raw rows (derived data); also run below, so that applying
-- this file, once or twice, leaves them exact.
CREATE OR REPLACE FUNCTION rebuild_timeline_runs() RETURNS void
LANGUAGE plpgsql SET jit = off AS $$
BEGIN
    LOCK TABLE desktop_activity_sessions IN SHARE MODE;
    TRUNCATE timeline_runs;
    EXECUTE format('INSERT INTO timeline_runs (origin_id, host_identifier, start_time, end_time, last_start, '
                   'application_name, window_title, sessions, first_id) %s ORDER BY 1, 2, 3, 9',
                   timeline_runs_select(format(
                       '(SELECT s.*, COALESCE(s.origin_id, %L::uuid) AS origin, COALESCE(s.host_identifier, %L) AS host, '
                       'date_bin(%L, s.start_time, TIMESTAMPTZ %L) AS hour FROM desktop_activity_sessions s)',
                       '00000000-0000-0000-0000-000000000000', '', '1 hour', 'epoch')));
END;
$$;

SELECT rebuild_timeline_runs();

-- File changes per project and UTC day across all hosts, for long ranges with no host chosen.
--
-- A month's changes per project read 12's project_totals_all_1h: one row per hour and project
-- being worked on, more as hosts switch projects more often within an hour (the rows grew by a
-- third from 1x to 4x the bench's data). A UTC day that lies wholly inside one of the viewer's
-- periods is read here instead (one row per day and project), and only the hours at the
-- periods' edges from the hourly table (api_gateway/summary.py). UTC days keep it zone-free: a
-- local day's edges fall inside a UTC day, so a day of a zone other than UTC has none, and reads
-- the hours as before. Its rows are shared by all origins, as 12's are, taken in key order.

CREATE TABLE IF NOT EXISTS project_totals_all_1d (
    day          TIMESTAMP WITH TIME ZONE NOT NULL,  -- the start of a UTC day
    project_name TEXT NOT NULL,                      -- '' for none, as in the other rollups
    events       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, project_name)
);

CREATE OR REPLACE FUNCTION project_days_sql(signed_rows TEXT) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN format($sql$
        INSERT INTO project_totals_all_1d AS r (day, project_name, events)
        SELECT date_bin('1 day', f.event_time, TIMESTAMPTZ 'epoch'), COALESCE(f.project_name, ''), sum(f.sign)
        FROM %1$s f
        GROUP BY 1, 2
        ORDER BY 1, 2
        ON CONFLICT (day, project_name) DO UPDATE SET events = r.events + EXCLUDED.events
    $sql$, signed_rows);
END;
$$;

CREATE OR REPLACE FUNCTION project_days_trigger() RETURNS trigger
LANGUAGE plpgsql SET jit = off AS $$
BEGIN
    EXECUTE project_days_sql(signed_rows(TG_OP));
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION project_days_truncate_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE project_totals_all_1d;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS trg_project_days_insert ON file_change_events;
CREATE TRIGGER trg_project_days_insert AFTER INSERT ON file_change_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION project_days_trigger();
DROP TRIGGER IF EXISTS trg_project_days_update ON file_change_events;
CREATE TRIGGER trg_project_days_update AFTER UPDATE ON file_change_events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION project_days_trigger();
DROP TRIGGER IF EXISTS trg_project_days_delete ON file_change_events;
CREATE TRIGGER trg_project_days_delete AFTER DELETE ON file_change_events
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION project_days_trigger();
DROP TRIGGER IF EXISTS trg_project_days_truncate ON file_change_events;
CREATE TRIGGER trg_project_days_truncate AFTER TRUNCATE ON file_change_events
    FOR EACH STATEMENT EXECUTE FUNCTION project_days_truncate_trigger();

CREATE OR REPLACE FUNCTION rebuild_project_days() RETURNS void
LANGUAGE plpgsql SET jit = off AS $$
BEGIN
    LOCK TABLE file_change_events IN SHARE MODE;
    TRUNCATE project_totals_all_1d;
    EXECUTE project_days_sql(signed_rows('REBUILD', 'file_change_events'));
END;
$$;

SELECT rebuild_project_days();

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'reprospective_api') THEN
        GRANT SELECT ON timeline_runs, project_totals_all_1d TO reprospective_api;
    END IF;
END
$$;

INSERT INTO schema_version (version, description)
VALUES (16, 'timeline_runs: the day timeline''s segments per origin and host; file changes per project and UTC day')
ON CONFLICT (version) DO NOTHING;
