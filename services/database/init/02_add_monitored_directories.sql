-- Reprospective: directories watched by the filesystem watcher (version 2).

CREATE TABLE IF NOT EXISTS monitored_directories (
    id             SERIAL PRIMARY KEY,
    directory_path TEXT NOT NULL UNIQUE
        CONSTRAINT monitored_directories_absolute_path CHECK (directory_path LIKE '/%'),
    enabled        BOOLEAN NOT NULL DEFAULT TRUE,
    display_name   TEXT,
    description    TEXT,
    created_at     TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at     TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
    created_by     TEXT,
    updated_by     TEXT
);

CREATE INDEX IF NOT EXISTS idx_monitored_directories_enabled
    ON monitored_directories (enabled);

CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := CURRENT_TIMESTAMP;
    RETURN NEW;
END;
$$;

DROP TRIGGER IF EXISTS trg_monitored_directories_updated_at ON monitored_directories;
CREATE TRIGGER trg_monitored_directories_updated_at
    BEFORE UPDATE ON monitored_directories
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

INSERT INTO schema_version (version, description)
VALUES (2, 'monitored_directories')
ON CONFLICT (version) DO NOTHING;
