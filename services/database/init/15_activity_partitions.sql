-- Reprospective: monthly partitions of the two fact tables, when a database has been converted (version 15).
--
-- A database keeps the plain layout until `reprospective-db partition` converts it
-- (reprospective_db/partitioning.py): desktop_activity_sessions is then partitioned by range of
-- start_time, file_change_events by range of event_time, one partition per calendar month of
-- UTC (<table>_pYYYYMM) and a DEFAULT partition (<table>_default) for every time no month
-- covers (a clock in 1970 or 2100), so no row is ever refused for its time. A unique key of a
-- partitioned table must hold its partition column: the exactly-once key becomes
-- (origin_id, local_id, start_time | event_time), which the agent's sync finds in the catalog.
-- Neither time changes once a row exists (the agent writes it when it inserts the row).
--
-- ensure_activity_partitions(months_ahead) makes the partitions of the current month and the
-- next months_ahead months exist before their rows arrive; every schema upgrade (agent start,
-- gateway start, `reprospective-db upgrade`) calls it. On the plain layout it does nothing.
-- create_activity_partition() makes one month's partition; rows of that month already in the
-- DEFAULT partition move into it first (a partition cannot be attached over rows the DEFAULT
-- holds). Moving them touches neither rollups nor totals: the statement triggers of the
-- partitioned table fire for statements on it, not for those on its partitions.

-- The partition column of a partitioned fact table, or NULL (plain layout, or not a fact table).
CREATE OR REPLACE FUNCTION activity_partition_column(tbl TEXT) RETURNS TEXT
LANGUAGE sql STABLE AS $$
    SELECT a.attname::text
    FROM pg_partitioned_table p
    JOIN pg_class c ON c.oid = p.partrelid
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = p.partattrs[0]
    WHERE c.relname = tbl AND c.relnamespace = current_schema()::regnamespace
$$;

-- The name of a month's partition (UTC months) and of the DEFAULT partition; `base` is the table's name.
CREATE OR REPLACE FUNCTION activity_partition_name(base TEXT, month TIMESTAMPTZ) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN month IS NULL THEN base || '_default'
                ELSE format('%s_p%s', base, to_char(month AT TIME ZONE 'UTC', 'YYYYMM')) END
$$;

-- Create the partition of the month holding `month` (UTC) if missing; true when it was created.
-- `base`: the name its partitions are named after (the table's own, unless it is being built
-- under another name by the conversion).
CREATE OR REPLACE FUNCTION create_activity_partition(tbl TEXT, month TIMESTAMPTZ, base TEXT DEFAULT NULL)
RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
DECLARE
    col  TEXT := activity_partition_column(tbl);
    lo   TIMESTAMPTZ := date_trunc('month', month, 'UTC');
    hi   TIMESTAMPTZ := date_trunc('month', month, 'UTC') + interval '1 month';
    part TEXT := activity_partition_name(COALESCE(base, tbl), month);
    dflt TEXT := activity_partition_name(COALESCE(base, tbl), NULL);
BEGIN
    IF col IS NULL THEN
        RAISE EXCEPTION 'table % is not partitioned', tbl;
    END IF;
    IF to_regclass(quote_ident(part)) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part, tbl);
    IF to_regclass(quote_ident(dflt)) IS NOT NULL THEN
        -- ACCESS EXCLUSIVE at once, the mode ATTACH needs on it: a sync batch holds ACCESS SHARE on
        -- every partition from planning its statements, so taking a weaker lock first and the
        -- stronger one at ATTACH could deadlock with a batch routing a row to the DEFAULT partition.
        EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', dflt);
        EXECUTE format(
            'WITH moved AS (DELETE FROM %1$I WHERE %2$I >= %3$L AND %2$I < %4$L RETURNING *) '
            'INSERT INTO %5$I SELECT * FROM moved', dflt, col, lo, hi, part);
    END IF;
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', tbl, part, lo, hi);
    RETURN true;
END;
$$;

-- The partitions of this month and the next months_ahead ones, for both fact tables when
-- partitioned; returns how many were created.
CREATE OR REPLACE FUNCTION ensure_activity_partitions(months_ahead INTEGER DEFAULT 6) RETURNS INTEGER
LANGUAGE plpgsql AS $$
DECLARE
    tbl     TEXT;
    created INTEGER := 0;
    n       INTEGER;
BEGIN
    FOREACH tbl IN ARRAY ARRAY['desktop_activity_sessions', 'file_change_events'] LOOP
        IF activity_partition_column(tbl) IS NULL THEN
            CONTINUE;
        END IF;
        FOR n IN 0..months_ahead LOOP
            IF create_activity_partition(tbl, date_trunc('month', now(), 'UTC') + make_interval(months => n)) THEN
                created := created + 1;
            END IF;
        END LOOP;
    END LOOP;
    RETURN created;
END;
$$;

SELECT ensure_activity_partitions();

INSERT INTO schema_version (version, description)
VALUES (15, 'monthly partitions of the fact tables once converted: ensure_activity_partitions()')
ON CONFLICT (version) DO NOTHING;
