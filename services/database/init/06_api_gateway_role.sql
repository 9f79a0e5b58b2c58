-- Reprospective: a role holding exactly what the API gateway needs (version 6).
--
-- reprospective_api is NOLOGIN and has no password: it is a group of privileges. To run the
-- gateway with it, create a login role of your own that belongs to it, e.g.
--   CREATE ROLE dashboard LOGIN PASSWORD '...' IN ROLE reprospective_api;
-- and start reprospective-api --no-upgrade-schema with that user in DATABASE_URL (the role may
-- not change the schema; the agent or `reprospective-db upgrade` does that).
-- It reads the synced activity tables and sync_logs, and reads and writes monitored_directories.
--
-- Roles belong to the whole server, and creating one needs CREATEROLE: a database owner without
-- it gets a NOTICE and the rest of the schema, never a failed upgrade.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'reprospective_api') THEN
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = current_user AND (rolsuper OR rolcreaterole)) THEN
            CREATE ROLE reprospective_api NOLOGIN;
        ELSE
            RAISE NOTICE 'role reprospective_api not created: % may not create roles', current_user;
            RETURN;
        END IF;
    END IF;
    GRANT USAGE ON SCHEMA public TO reprospective_api;
    GRANT SELECT ON schema_version, desktop_activity_sessions, file_change_events, sync_logs
        TO reprospective_api;
    GRANT SELECT, INSERT, UPDATE, DELETE ON monitored_directories TO reprospective_api;
    GRANT USAGE ON SEQUENCE monitored_directories_id_seq TO reprospective_api;
END
$$;

INSERT INTO schema_version (version, description)
VALUES (6, 'reprospective_api role: read activity tables and sync_logs, write monitored_directories')
ON CONFLICT (version) DO NOTHING;
