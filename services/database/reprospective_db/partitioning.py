"""Monthly partitions of the two fact tables: converting a database, and retention by partition.

The partitioned layout (schema 15, ``init/15_activity_partitions.sql``): each fact table is
partitioned by range of its time column, one partition per UTC month and a DEFAULT partition
for the times no month covers. :func:`partition_database` converts a plain database; for each
table, in one transaction:

1. take the schema's advisory lock and an ACCESS EXCLUSIVE lock on the table and the views
   reading it (the dashboard's reads of it and an agent's sync wait; the waiting statements then
   go to the new table);
2. read from the catalogs everything the table carries: indexes, constraints, triggers (with
   their enabled state), grants (table and column), owner, comment, the sequences its columns
   own, the views reading it. Nothing is listed by hand, so what later migrations add is
   carried too; what cannot be carried (a foreign key pointing at the table, a policy, a rule,
   an identity column, an exclusion constraint) stops the conversion with its name;
3. create the partitioned copy under a temporary name with the partitions of every month that
   holds rows (from :data:`MONTHS_BACK` months ago) and of the coming months, copy every row
   (ids kept), then build its indexes and constraints under temporary names; a unique key or
   primary key gains the partition column (PostgreSQL requires it); the triggers are created
   after the copy, so the rollups (derived from the rows, and already holding them) are not
   counted twice;
4. swap: hand the sequences to the new table, drop the old table and the views reading it,
   rename the new table, its indexes and constraints to the old names, then recreate the
   views, the grants, the owner and the comment.

Running it again converts what is left and otherwise only makes the coming months exist.
:func:`drop_old_partitions` drops whole months older than a cut (retention); their rollups stay.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import asyncpg

from reprospective_db.errors import DatabaseError
from reprospective_db.schema import SCHEMA_LOCK_KEY, latest_version, upgrade_schema

log = logging.getLogger(__name__)

#: The fact tables and the time column each is partitioned by.
FACT_TABLES: dict[str, str] = {"desktop_activity_sessions": "start_time", "file_change_events": "event_time"}

#: The conversion gives its own partition to each month holding rows from this many months
#: back; older times (a clock in 1970) go to the DEFAULT partition.
MONTHS_BACK = 120

#: How many months after the current one get their partition ahead of their rows.
MONTHS_AHEAD = 6

#: How long the conversion waits for a lock before giving up, by default (seconds).
LOCK_TIMEOUT = 10.0

BUILD_SUFFIX = "__partitioned"
TEMP_NAME_SUFFIX = "__new"


class PartitioningError(DatabaseError):
    """A table cannot be converted, or retention cannot run on this layout."""


@dataclass(frozen=True)
class TableLayout:
    table: str
    partitioned: bool
    partitions: int = 0


@dataclass
class _Carried:
    """What the old table carries, read from the catalogs before the swap."""

    owner: str = ""
    comment: str | None = None  # as a SQL literal, quoted by PostgreSQL (quote_literal)
    #: (index name, ``CREATE ... INDEX`` statement on the build table under a temporary name)
    indexes: list[tuple[str, str]] = field(default_factory=list)
    #: (constraint name, ``ALTER TABLE ... ADD CONSTRAINT`` on the build table, temporary name)
    constraints: list[tuple[str, str]] = field(default_factory=list)
    #: (``CREATE TRIGGER`` on the table's name, the ``ALTER TABLE`` for its enabled state or None)
    triggers: list[tuple[str, str | None]] = field(default_factory=list)
    grants: list[str] = field(default_factory=list)
    #: (sequence, owning column)
    sequences: list[tuple[str, str]] = field(default_factory=list)
    #: (view name, statements recreating it: CREATE VIEW, grants, owner, comment)
    views: list[tuple[str, list[str]]] = field(default_factory=list)


def _q(name: str) -> str:
    """A quoted SQL identifier (names come from the catalogs or from :data:`FACT_TABLES`)."""
    return '"' + name.replace('"', '""') + '"'


async def table_layouts(conn: asyncpg.Connection) -> list[TableLayout]:
    """Each fact table's layout, as the catalogs say."""
    rows = await conn.fetch(
        "SELECT c.relname, c.relkind = 'p' AS partitioned, "
        "(SELECT count(*) FROM pg_inherits i WHERE i.inhparent = c.oid) AS partitions "
        "FROM pg_class c WHERE c.relname = ANY($1::text[]) AND c.relnamespace = current_schema()::regnamespace "
        "AND c.relkind IN ('r', 'p')",
        list(FACT_TABLES),
    )
    found = {r["relname"]: TableLayout(r["relname"], r["partitioned"], r["partitions"]) for r in rows}
    missing = [t for t in FACT_TABLES if t not in found]
    if missing:
        raise PartitioningError(f"table {', '.join(missing)} does not exist", hint="run reprospective-db upgrade")
    return [found[t] for t in FACT_TABLES]


async def partition_database(
    conn: asyncpg.Connection, *, lock_timeout: float = LOCK_TIMEOUT, months_ahead: int = MONTHS_AHEAD
) -> list[str]:
    """Convert every fact table still plain; returns one line per table saying what was done."""
    await upgrade_schema(conn)
    return [await _partition_table(conn, table, column, lock_timeout, months_ahead) for table, column in FACT_TABLES.items()]


def _busy(table: str, lock_timeout: float) -> PartitioningError:
    return PartitioningError(
        f"{table}: busy, not locked within {lock_timeout:g} s (a schema upgrade, a sync batch or a long query "
        "holds it); nothing was changed",
        hint="run it again, or with a longer --lock-timeout",
    )


async def _partition_table(
    conn: asyncpg.Connection, table: str, column: str, lock_timeout: float, months_ahead: int
) -> str:
    try:
        return await _convert_table(conn, table, column, lock_timeout, months_ahead)
    except asyncpg.LockNotAvailableError:
        raise _busy(table, lock_timeout) from None


async def _convert_table(
    conn: asyncpg.Connection, table: str, column: str, lock_timeout: float, months_ahead: int
) -> str:
    async with conn.transaction():
        # Every lock this transaction takes (the table's, then the swap's) waits at most lock_timeout.
        await conn.execute(f"SET LOCAL lock_timeout = {int(lock_timeout * 1000)}")
        await conn.execute("SET LOCAL statement_timeout = 0")
        await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK_KEY)
        # ACCESS EXCLUSIVE from the start, the views reading the table first (the order their readers
        # lock them in): the swap needs that mode, and a sync batch waiting to write holds ACCESS
        # SHARE on the table (asyncpg reads the column types before its COPY), so taking a weaker
        # lock for the copy and the strong one at the swap deadlocks with it.
        views = await conn.fetch(_DEPENDENT_VIEWS_SQL, table)
        await conn.execute(f"LOCK TABLE {', '.join(_q(v[0]) for v in views + [(table,)])} IN ACCESS EXCLUSIVE MODE")
        oid = await conn.fetchval("SELECT $1::regclass::oid", table)
        if await conn.fetchval("SELECT relkind = 'p' FROM pg_class WHERE oid = $1", oid):
            return f"{table}: already partitioned by {column}"
        if await conn.fetchval("SELECT max(version) FROM schema_version") < latest_version():
            raise PartitioningError("the schema is not up to date", hint="run reprospective-db upgrade first")
        carried = await _read_catalog(conn, oid, table, column)
        build = table + BUILD_SUFFIX
        await conn.execute(
            f"CREATE TABLE {_q(build)} (LIKE {_q(table)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
            "INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMPRESSION INCLUDING COMMENTS INCLUDING STATISTICS) "
            f"PARTITION BY RANGE ({_q(column)})"
        )
        default = await conn.fetchval("SELECT activity_partition_name($1, NULL)", table)
        await conn.execute(f"CREATE TABLE {_q(default)} PARTITION OF {_q(build)} DEFAULT")
        months = await conn.fetch(
            f"SELECT DISTINCT date_trunc('month', {_q(column)}, 'UTC') AS month FROM {_q(table)} "
            f"WHERE {_q(column)} >= date_trunc('month', now(), 'UTC') - make_interval(months => $1) "
            f"AND {_q(column)} < date_trunc('month', now(), 'UTC') + make_interval(months => $2 + 1) "
            "UNION SELECT date_trunc('month', now(), 'UTC') + make_interval(months => n) "
            "FROM generate_series(0, $2) AS n ORDER BY 1",
            MONTHS_BACK, months_ahead,
        )  # fmt: skip
        for row in months:
            await conn.execute("SELECT create_activity_partition($1, $2, $3)", build, row["month"], table)
        copied = await conn.execute(f"INSERT INTO {_q(build)} SELECT * FROM {_q(table)}")
        for _name, statement in carried.constraints:
            await conn.execute(statement)
        for _name, statement in carried.indexes:
            await conn.execute(statement)
        # -- the swap --
        for sequence, owner_column in carried.sequences:
            await conn.execute(f"ALTER SEQUENCE {_q(sequence)} OWNED BY {_q(build)}.{_q(owner_column)}")
        for view, _statements in reversed(carried.views):
            await conn.execute(f"DROP VIEW {_q(view)}")
        await conn.execute(f"DROP TABLE {_q(table)}")
        await conn.execute(f"ALTER TABLE {_q(build)} RENAME TO {_q(table)}")
        for name, _statement in carried.constraints:
            await conn.execute(f"ALTER TABLE {_q(table)} RENAME CONSTRAINT {_q(name + TEMP_NAME_SUFFIX)} TO {_q(name)}")
        for name, _statement in carried.indexes:
            await conn.execute(f"ALTER INDEX {_q(name + TEMP_NAME_SUFFIX)} RENAME TO {_q(name)}")
        for create, state in carried.triggers:
            await conn.execute(create)
            if state:
                await conn.execute(state)
        for statement in carried.grants:
            await conn.execute(statement)
        await conn.execute(f"ALTER TABLE {_q(table)} OWNER TO {_q(carried.owner)}")
        if carried.comment is not None:
            await conn.execute(f"COMMENT ON TABLE {_q(table)} IS {carried.comment}")
        for _view, statements in carried.views:
            for statement in statements:
                await conn.execute(statement)
        await conn.execute(f"ANALYZE {_q(table)}")
    rows = int(copied.split()[-1])
    log.info("%s: partitioned by month of %s, %d rows copied", table, column, rows)
    return f"{table}: partitioned by month of {column} ({len(months)} months and a default partition, {rows} rows)"


async def _read_catalog(conn: asyncpg.Connection, oid: int, table: str, column: str) -> _Carried:
    carried = _Carried()
    build = _q(table + BUILD_SUFFIX)
    await _refuse_what_cannot_be_carried(conn, oid, table)
    info = await conn.fetchrow(
        "SELECT pg_get_userbyid(relowner) AS owner, quote_literal(obj_description(oid, 'pg_class')) AS comment, "
        "(SELECT attnum FROM pg_attribute WHERE attrelid = $1 AND attname = $2) AS partition_attnum "
        "FROM pg_class WHERE oid = $1",
        oid, column,
    )  # fmt: skip
    carried.owner, carried.comment = info["owner"], info["comment"]
    for c in await conn.fetch(
        "SELECT c.conname, c.contype, c.condeferrable, c.conindid, c.conkey, pg_get_constraintdef(c.oid) AS def, "
        "ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i) "
        "      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i)::text[] AS cols "
        "FROM pg_constraint c WHERE c.conrelid = $1 AND c.contype IN ('p', 'u', 'f') ORDER BY c.conname",
        oid,
    ):
        temp = _q(c["conname"] + TEMP_NAME_SUFFIX)
        if c["contype"] == "f":
            carried.constraints.append((c["conname"], f"ALTER TABLE {build} ADD CONSTRAINT {temp} {c['def']}"))
            continue
        if c["condeferrable"]:
            raise PartitioningError(f"{table}: deferrable key {c['conname']} cannot be carried over")
        cols = list(c["cols"]) + ([] if column in c["cols"] else [column])
        kind = "PRIMARY KEY" if c["contype"] == "p" else "UNIQUE"
        carried.constraints.append(
            (c["conname"], f"ALTER TABLE {build} ADD CONSTRAINT {temp} {kind} ({', '.join(map(_q, cols))})")
        )
    for i in await conn.fetch(
        "SELECT ic.relname AS name, pg_get_indexdef(i.indexrelid) AS def, i.indisunique, i.indkey::int2[] AS keys, "
        "i.indpred IS NOT NULL AS partial, i.indexprs IS NOT NULL AS expressions, "
        "ARRAY(SELECT a.attname FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(n, o) "
        "      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o)::text[] AS cols "
        "FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
        "WHERE i.indrelid = $1 AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid "
        "AND c.conrelid = $1) ORDER BY ic.relname",
        oid,
    ):
        name, temp = i["name"], _q(i["name"] + TEMP_NAME_SUFFIX)
        if len(name + TEMP_NAME_SUFFIX) > 63:
            raise PartitioningError(f"{table}: index name {name} is too long to be carried over (over 59 characters)")
        if i["indisunique"] and info["partition_attnum"] not in i["keys"]:
            if i["partial"] or i["expressions"]:
                raise PartitioningError(
                    f"{table}: unique index {name} does not hold {column} and cannot gain it (partial or on expressions)"
                )
            cols = ", ".join(map(_q, [*i["cols"], column]))
            carried.indexes.append((name, f"CREATE UNIQUE INDEX {temp} ON {build} ({cols})"))
            continue
        definition = i["def"]
        using = definition.index(" USING ")
        unique = "UNIQUE " if i["indisunique"] else ""
        carried.indexes.append((name, f"CREATE {unique}INDEX {temp} ON {build}{definition[using:]}"))
    for t in await conn.fetch(
        "SELECT tgname, pg_get_triggerdef(oid) AS def, tgenabled::text AS enabled FROM pg_trigger "
        "WHERE tgrelid = $1 AND NOT tgisinternal ORDER BY tgname",
        oid,
    ):
        state = {"D": "DISABLE", "R": "ENABLE REPLICA", "A": "ENABLE ALWAYS"}.get(t["enabled"])
        carried.triggers.append(
            (t["def"], f"ALTER TABLE {_q(table)} {state} TRIGGER {_q(t['tgname'])}" if state else None)
        )
    carried.grants = await _grants(conn, oid, _q(table))
    carried.sequences = [
        (r["seq"], r["col"])
        for r in await conn.fetch(
            "SELECT s.relname AS seq, a.attname AS col FROM pg_depend d JOIN pg_class s ON s.oid = d.objid "
            "JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
            "WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjid = $1 "
            "AND d.deptype = 'a' AND s.relkind = 'S'",
            oid,
        )
    ]
    carried.views = await _dependent_views(conn, oid, table)
    return carried


async def _refuse_what_cannot_be_carried(conn: asyncpg.Connection, oid: int, table: str) -> None:
    checks = (
        ("SELECT conname || ' on ' || conrelid::regclass::text FROM pg_constraint WHERE confrelid = $1",
         "foreign key {} points at it (a partitioned table's keys hold the time column)"),
        ("SELECT conname FROM pg_constraint WHERE conrelid = $1 AND contype NOT IN ('p', 'u', 'f', 'c', 'n')",
         "constraint {} (exclusion or trigger constraint) cannot be carried over"),
        ("SELECT polname FROM pg_policy WHERE polrelid = $1", "row security policy {} is not carried over"),
        ("SELECT rulename FROM pg_rewrite WHERE ev_class = $1", "rule {} is not carried over"),
        ("SELECT attname FROM pg_attribute WHERE attrelid = $1 AND attidentity <> ''",
         "identity column {} is not carried over"),
        ("SELECT inhparent::regclass::text FROM pg_inherits WHERE inhrelid = $1 UNION ALL "
         "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = $1", "it inherits from or to {}"),
    )  # fmt: skip
    for query, problem in checks:
        names = [r[0] for r in await conn.fetch(query, oid)]
        if names:
            raise PartitioningError(f"{table}: {problem.format(', '.join(names))}", hint="remove it, then convert")


async def _grants(conn: asyncpg.Connection, oid: int, target: str) -> list[str]:
    """GRANT statements giving ``target`` (a quoted name) the privileges relation ``oid`` has,
    table and column ones."""
    rows = await conn.fetch(
        "SELECT NULL::text AS col, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END AS who, "
        "a.privilege_type AS what, a.is_grantable AS grantable "
        "FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = $1 AND a.grantee <> c.relowner "
        "UNION ALL "
        "SELECT t.attname, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END, "
        "a.privilege_type, a.is_grantable "
        "FROM pg_attribute t JOIN pg_class c ON c.oid = t.attrelid, aclexplode(t.attacl) a "
        "WHERE t.attrelid = $1 AND t.attacl IS NOT NULL AND a.grantee <> c.relowner",
        oid,
    )
    statements = []
    for r in rows:
        who = "PUBLIC" if r["who"] == "PUBLIC" else _q(r["who"])
        what = r["what"] + (f" ({_q(r['col'])})" if r["col"] else "")
        option = " WITH GRANT OPTION" if r["grantable"] else ""
        statements.append(f"GRANT {what} ON {target} TO {who}{option}")
    return statements


#: Parameter: a table's name. The names of the views reading it.
_DEPENDENT_VIEWS_SQL = (
    "SELECT DISTINCT v.relname FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid "
    "JOIN pg_class v ON v.oid = r.ev_class WHERE d.classid = 'pg_rewrite'::regclass "
    "AND d.refobjid = $1::regclass AND v.oid <> d.refobjid ORDER BY 1"
)


async def _dependent_views(conn: asyncpg.Connection, oid: int, table: str) -> list[tuple[str, list[str]]]:
    rows = await conn.fetch(
        "SELECT DISTINCT v.oid, v.relname, v.relkind::text AS kind, pg_get_viewdef(v.oid) AS def, "
        "pg_get_userbyid(v.relowner) AS owner, quote_literal(obj_description(v.oid, 'pg_class')) AS comment "
        "FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class "
        "WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = $1 AND v.oid <> $1 ORDER BY v.relname",
        oid,
    )
    views = []
    for v in rows:
        if v["kind"] != "v":
            raise PartitioningError(f"{table}: materialized view {v['relname']} reads it", hint="drop it, then convert")
        nested = await conn.fetch(
            "SELECT DISTINCT w.relname FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid "
            "JOIN pg_class w ON w.oid = r.ev_class WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = $1 "
            "AND w.oid <> $1",
            v["oid"],
        )
        if nested:
            names = ", ".join(r[0] for r in nested)
            raise PartitioningError(f"{table}: view {names} reads the view {v['relname']}", hint="drop it, then convert")
        name = _q(v["relname"])
        statements = [f"CREATE VIEW {name} AS {v['def']}", f"ALTER VIEW {name} OWNER TO {_q(v['owner'])}"]
        statements += await _grants(conn, v["oid"], name)
        if v["comment"] is not None:
            statements.append(f"COMMENT ON VIEW {name} IS {v['comment']}")
        views.append((v["relname"], statements))
    return views


# -- retention ------------------------------------------------------------------------------

_OLDER_THAN = re.compile(r"^\s*(?P<n>\d+)\s*(?:months?)?\s*$", re.IGNORECASE)


def parse_months(text: str) -> int:
    """``13months``, ``13 months`` or ``13``: a whole number of months, at least 1."""
    match = _OLDER_THAN.match(text)
    if not match or int(match["n"]) < 1:
        raise PartitioningError(f"--older-than {text!r}: give a whole number of months, e.g. 13months")
    return int(match["n"])


@dataclass(frozen=True)
class OldPartition:
    table: str
    partition: str
    upper: object  # datetime: the end of its month
    rows: int


async def old_partitions(conn: asyncpg.Connection, months: int) -> tuple[object, list[OldPartition], dict[str, int]]:
    """The cut (the start of the month ``months`` before the current one), the month partitions
    ending at or before it, and per table the rows older than the cut left in the DEFAULT partition."""
    layouts = await table_layouts(conn)
    plain = [t.table for t in layouts if not t.partitioned]
    if plain:
        raise PartitioningError(
            f"{', '.join(plain)}: not partitioned; retention drops whole months of a partitioned table",
            hint="run reprospective-db partition first",
        )
    cut = await conn.fetchval("SELECT date_trunc('month', now(), 'UTC') - make_interval(months => $1)", months)
    found, in_default = [], {}
    for table, column in FACT_TABLES.items():
        for r in await conn.fetch(
            "SELECT c.relname, (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \\(''([^'']+)''\\)'))[1]::timestamptz AS upper "
            "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass "
            "ORDER BY 2",
            table,
        ):
            if r["upper"] is None:
                default = r["relname"]
                in_default[table] = await conn.fetchval(
                    f"SELECT count(*) FROM {_q(default)} WHERE {_q(column)} < $1", cut
                )
                continue
            if r["upper"] <= cut:
                rows = await conn.fetchval(f"SELECT count(*) FROM {_q(r['relname'])}")
                found.append(OldPartition(table, r["relname"], r["upper"], rows))
    return cut, found, in_default


async def drop_old_partitions(
    conn: asyncpg.Connection, months: int, *, dry_run: bool = False, lock_timeout: float = LOCK_TIMEOUT
) -> list[str]:
    """Drop the month partitions entirely older than ``months`` months before the current month.

    The rollups of the dropped months stay (the dashboard's summaries and heatmaps of those
    months keep working); the hosts list's row counts (host_table_totals) lose the dropped rows.
    Dropping a partition fires no row trigger, so nothing else changes. Returns one line per
    partition and one per table whose DEFAULT partition holds older rows (those stay).
    """
    cut, found, in_default = await old_partitions(conn, months)
    lines = []
    for old in found:
        verb = "would drop" if dry_run else "dropped"
        if not dry_run:
            try:
                async with conn.transaction():
                    # Detaching waits for the table's readers and writers, and makes later ones wait
                    # behind it: never for long.
                    await conn.execute(f"SET LOCAL lock_timeout = {int(lock_timeout * 1000)}")
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK_KEY)
                    await conn.execute(f"ALTER TABLE {_q(old.table)} DETACH PARTITION {_q(old.partition)}")
                    subtract = await conn.fetchval(
                        "SELECT host_totals_sql($1, $2, $3, -1)", old.partition, old.table, FACT_TABLES[old.table]
                    )
                    await conn.execute(subtract)
                    await conn.execute(f"DROP TABLE {_q(old.partition)}")
            except asyncpg.LockNotAvailableError:
                raise PartitioningError(
                    f"{old.table}: busy, {old.partition} not detached within {lock_timeout:g} s"
                    + (f" (dropped before it: {', '.join(lines)})" if lines else ""),
                    hint="run it again",
                ) from None
            log.info("retention: dropped %s (%d rows)", old.partition, old.rows)
        lines.append(f"{verb} {old.partition} ({old.rows} rows, before {old.upper:%Y-%m-%d})")
    for table, rows in in_default.items():
        if rows:
            lines.append(
                f"kept {rows} rows of {table} older than {cut:%Y-%m-%d} in {table}_default "
                "(times no month covers; delete them there if unwanted)"
            )
    if not lines:
        lines.append(f"nothing older than {cut:%Y-%m-%d}")
    return lines
