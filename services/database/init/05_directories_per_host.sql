-- Reprospective: a monitored directory applies to every host or to one host (version 5).
--
-- host_identifier NULL: every host watches the directory; otherwise only the host whose
-- hostname_username it names. A path may appear once per host, and once for every host, so
-- the old rule "a path is unique" becomes "(path, host) is unique", NULL counting as a value.
-- Writers that used ON CONFLICT (directory_path) now use ON CONFLICT DO NOTHING, and readers
-- select WHERE enabled AND (host_identifier IS NULL OR host_identifier = $1).

ALTER TABLE monitored_directories
    ADD COLUMN IF NOT EXISTS host_identifier TEXT;

ALTER TABLE monitored_directories
    DROP CONSTRAINT IF EXISTS monitored_directories_directory_path_key;

CREATE UNIQUE INDEX IF NOT EXISTS uq_monitored_directories_path_host
    ON monitored_directories (directory_path, COALESCE(host_identifier, ''));

-- The limits the API enforces, kept by the database too so that psql cannot bypass them.
ALTER TABLE monitored_directories
    DROP CONSTRAINT IF EXISTS monitored_directories_display_name_length,
    DROP CONSTRAINT IF EXISTS monitored_directories_description_length;
ALTER TABLE monitored_directories
    ADD CONSTRAINT monitored_directories_display_name_length
        CHECK (display_name IS NULL OR char_length(display_name) <= 100),
    ADD CONSTRAINT monitored_directories_description_length
        CHECK (description IS NULL OR char_length(description) <= 500);

INSERT INTO schema_version (version, description)
VALUES (5, 'monitored_directories per host: host_identifier, unique (path, host), name and description limits')
ON CONFLICT (version) DO NOTHING;
