-- Reprospective: who a host is (version 13).
--
-- hosts         one row per host, keyed by host_id: a random UUID the agent makes once in its data
--               folder (the file host_id, next to its SQLite databases). host_identifier is the
--               host's current name (agent.host_identifier in the agent's config, by default
--               hostname_username); previous_identifiers the names it had before, oldest first.
--               first_seen / last_seen: the host's first and latest run that reached PostgreSQL;
--               last_sync_at: the end of its latest run in which every table synced;
--               clock_offset_seconds: the host's clock minus PostgreSQL's, measured at its latest
--               run (round trip halved), and when (clock_measured_at).
-- host_origins  which host each origin belongs to (an origin is one local SQLite database, see
--               04). Every synced row and every rollup row (07, 09, 10, 11) carries its origin_id,
--               so a host's rows are the rows of its origins, whatever name they were synced with.
--
-- The agent's sync keeps both at each run with one statement (host_agent/sync/hosts.py), and
-- marks last_sync_at by primary key after a run that synced every table.
--
-- Decisions, as the API applies them (origins_of_host() below decides which hosts a `host`
-- parameter means; the gateway's api_gateway/hosts.py host_condition() is the one SQL fragment using it):
-- - Rename: the id stays, the name changes. The hosts row takes the new name and keeps the old one
--   in previous_identifiers; rows keep the name they were synced with. A host is found by its
--   origins, so filtering by its current name (or its id) finds its rows of every name.
-- - Shared names: two data folders are two hosts (two ids), even with the same name. The API's
--   `host` parameter takes a host id (exactly that host) or a name: every host whose current
--   name it is (both, when two share it: the hosts list marks them shared_name and gives their
--   ids, to pick one); when no host has it as its current name, the hosts that had it before.
--   Rows of origins no host has registered (synced before this version, by an agent that has
--   not run since) are found by the name they carry.
-- - An origin belongs to one host: a database file copied into another data folder moves to the
--   host that synced it last.
-- - Rows without an origin (synced before version 4) belong to no host; a `host` name finds them
--   by the name they carry.
-- - Rows keep the host's own timestamps; a clock offset over a minute is shown (hosts list, /sync
--   page, `reprospective-agent status`), never corrected.

CREATE TABLE IF NOT EXISTS hosts (
    host_id              UUID PRIMARY KEY,
    host_identifier      TEXT NOT NULL,
    previous_identifiers TEXT[] NOT NULL DEFAULT '{}',
    first_seen           TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    last_seen            TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
    agent_version        TEXT,
    last_sync_at         TIMESTAMP WITH TIME ZONE,
    clock_offset_seconds DOUBLE PRECISION,
    clock_measured_at    TIMESTAMP WITH TIME ZONE
);

CREATE INDEX IF NOT EXISTS idx_hosts_identifier ON hosts (host_identifier);

CREATE TABLE IF NOT EXISTS host_origins (
    origin_id  UUID PRIMARY KEY,
    host_id    UUID NOT NULL REFERENCES hosts (host_id) ON DELETE CASCADE,
    first_seen TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS idx_host_origins_host ON host_origins (host_id);

-- The origins of the hosts `wanted` names: a host id, else a name (see the decisions above).
-- Never NULL: a name nobody has gives an empty array, which matches no row.
CREATE OR REPLACE FUNCTION origins_of_host(wanted TEXT) RETURNS UUID[]
LANGUAGE sql STABLE AS $$
    WITH by_id AS (
        SELECT h.host_id FROM hosts h WHERE h.host_id::text = lower(wanted)
    ), by_name AS (
        SELECT h.host_id FROM hosts h WHERE h.host_identifier = wanted AND NOT EXISTS (SELECT FROM by_id)
    ), by_old_name AS (
        SELECT h.host_id FROM hosts h
        WHERE wanted = ANY(h.previous_identifiers) AND NOT EXISTS (SELECT FROM by_id)
          AND NOT EXISTS (SELECT FROM by_name)
    ), chosen AS (
        SELECT host_id FROM by_id UNION SELECT host_id FROM by_name UNION SELECT host_id FROM by_old_name
    )
    SELECT COALESCE(array_agg(DISTINCT origin), '{}') FROM (
        SELECT o.origin_id AS origin FROM host_origins o JOIN chosen c ON c.host_id = o.host_id
        UNION ALL
        SELECT t.origin_id FROM host_table_totals t
        WHERE t.host_identifier = wanted AND t.origin_id <> '00000000-0000-0000-0000-000000000000'
          AND NOT EXISTS (SELECT FROM by_id)
          AND NOT EXISTS (SELECT FROM host_origins o WHERE o.origin_id = t.origin_id)
    ) found
$$;

-- A host filter reads rows by origin and time: these replace (host_identifier, time) of 07 for it.
CREATE INDEX IF NOT EXISTS idx_desktop_sessions_origin_start
    ON desktop_activity_sessions (origin_id, start_time);
CREATE INDEX IF NOT EXISTS idx_file_events_origin_time
    ON file_change_events (origin_id, event_time);

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'reprospective_api') THEN
        GRANT SELECT ON hosts, host_origins TO reprospective_api;
    END IF;
END
$$;

INSERT INTO schema_version (version, description)
VALUES (13, 'hosts: a stable id per host, its names, origins, last sync and clock offset')
ON CONFLICT (version) DO NOTHING;
