-- Reprospective: the trigram indexes of 12 on session titles and application names go (version 18).
--
-- A title search reads back in time windows along the start-time index with bitmap scans off for
-- its transaction (the trigram indexes' estimate for a long phrase was off by orders of magnitude,
-- and the bitmap plan it chose read every match of every year before the page). A GIN index is
-- read only through a bitmap, so these two served no query, while every session written had to
-- enter both. pg_trgm itself stays: dropping an extension needs rights the owner may not hold.

DROP INDEX IF EXISTS idx_desktop_sessions_title_trgm;
DROP INDEX IF EXISTS idx_desktop_sessions_application_trgm;

INSERT INTO schema_version (version, description)
VALUES (18, 'the unused trigram indexes on session titles and application names dropped')
ON CONFLICT (version) DO NOTHING;
