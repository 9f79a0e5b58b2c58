-- Reprospective: a monitored directory meant for one host follows that host's id (version 17).
--
-- Until now a row for one host named it by host_identifier, so renaming a host (agent.host_identifier,
-- or a new hostname) left its rows behind: the agent no longer found a row of its own, copied its
-- config.yaml into the table again and lost what had been set for it on the dashboard.
--
-- host_id  the host (hosts.host_id, 13) the row is for. Set by the agent when it copies its
--          config.yaml, and by the gateway when the host it is given (a name or an id) is one known
--          host. No foreign key: a directory may be set for a host before it first syncs (by name).
-- The rule, written once below and used by the agent and the gateway:
--   host_id set       only that host watches the row, whatever its name is now;
--   host_id NULL      host_identifier NULL: every host; else the host(s) of that current name.
-- host_identifier stays as the name the row was given; readers show the host's current name.

ALTER TABLE monitored_directories
    ADD COLUMN IF NOT EXISTS host_id UUID;

CREATE OR REPLACE FUNCTION directory_applies_to(row_host_id UUID, row_host_identifier TEXT,
                                                host UUID, host_name TEXT)
RETURNS BOOLEAN LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN row_host_id IS NOT NULL THEN (row_host_id = host) IS TRUE
                ELSE row_host_identifier IS NULL OR row_host_identifier = host_name END
$$;

-- Rows named for a host that is the only one of that name now follow its id, unless the same path
-- is already set for that id.
UPDATE monitored_directories d SET host_id = h.host_id
FROM hosts h
WHERE d.host_id IS NULL AND d.host_identifier = h.host_identifier
  AND (SELECT count(*) FROM hosts o WHERE o.host_identifier = d.host_identifier) = 1
  AND NOT EXISTS (SELECT FROM monitored_directories x
                  WHERE x.host_id = h.host_id AND x.directory_path = d.directory_path);

-- A path once per host (by id when the row has one, else by name) and once for every host.
DROP INDEX IF EXISTS uq_monitored_directories_path_host;
CREATE UNIQUE INDEX IF NOT EXISTS uq_monitored_directories_path_target
    ON monitored_directories (directory_path, COALESCE(host_id::text, host_identifier, ''));

INSERT INTO schema_version (version, description)
VALUES (17, 'monitored_directories.host_id: a directory set for one host follows the host through a rename')
ON CONFLICT (version) DO NOTHING;
