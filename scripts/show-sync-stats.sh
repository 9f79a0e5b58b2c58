#!/usr/bin/env bash
# Usage: scripts/show-sync-stats.sh [--all] [--config PATH]
# Shows what the sync_logs table in PostgreSQL says about synchronisation:
#   1. the latest 10 sync runs (table, start, rows synced and failed, status, host)
#   2. a summary per table (runs, rows synced, rows failed, last sync)
#   3. a summary per host (runs, rows synced, rows failed, last sync)
# Today only (PostgreSQL session's time zone; set PGTZ to change it) unless --all is given.
# Connects with psql to $DATABASE_URL when it is set, else to the database the agent's
# configuration names (--config PATH, else $REPROSPECTIVE_CONFIG, else the default location),
# including the embedded cluster. Exit status: 0 shown, 1 cannot connect or query.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

all=false
while (($#)); do
    if common_option "$@"; then shift "$SHIFT"; continue; fi
    case $1 in
        --all) all=true; shift ;;
        *) bad_argument "$1" ;;
    esac
done

command -v psql >/dev/null 2>&1 || die "psql is not installed (Debian: apt-get install postgresql-client)"
if [[ -n ${DATABASE_URL:-} ]]; then
    psql_cmd=(psql "$DATABASE_URL")
    target=$(sed -E 's#(://[^:/@]*):[^@]*@#\1:***@#' <<<"$DATABASE_URL")
else
    find_agent
    psql_cmd=("$AGENT" db psql "${CONFIG_ARGS[@]}" --)
    target="the database of the agent's configuration"
fi
run_psql() { "${psql_cmd[@]}" -X -q -v ON_ERROR_STOP=1 -P pager=off "$@"; }

if ! error=$(run_psql -tA -c 'SELECT 1' 2>&1 >/dev/null); then
    log "cannot connect to PostgreSQL ($target): ${error:-no answer}"
    exit 1
fi
if [[ $(run_psql -tA -c "SELECT to_regclass('sync_logs') IS NOT NULL") != t ]]; then
    die "connected to $target, but it has no sync_logs table: the agent has not synced to it yet"
fi

if $all; then
    where="TRUE"
    period="all time"
else
    where="sync_started_at >= current_date"
    period="today"
fi
runs=$(run_psql -tA -c "SELECT count(*) FROM sync_logs WHERE $where")
if [[ $runs == 0 ]]; then
    hint=""
    $all || hint=" (use --all for all time)"
    log "no sync runs recorded for $period$hint"
    exit 0
fi

run_psql <<SQL
\echo 'Latest sync runs ($period, newest first, at most 10)'
SELECT table_name,
       to_char(sync_started_at, 'YYYY-MM-DD HH24:MI:SS') AS started,
       records_synced AS synced,
       records_failed AS failed,
       status,
       host_identifier AS host
FROM sync_logs WHERE $where
ORDER BY sync_started_at DESC, id DESC
LIMIT 10;

\echo 'Per table ($period)'
SELECT table_name,
       count(*) AS runs,
       sum(records_synced) AS rows_synced,
       sum(records_failed) AS rows_failed,
       to_char(max(coalesce(sync_completed_at, sync_started_at)), 'YYYY-MM-DD HH24:MI:SS') AS last_sync
FROM sync_logs WHERE $where
GROUP BY table_name ORDER BY table_name;

\echo 'Per host ($period)'
SELECT coalesce(host_identifier, '(unknown)') AS host,
       count(*) AS runs,
       sum(records_synced) AS rows_synced,
       sum(records_failed) AS rows_failed,
       to_char(max(coalesce(sync_completed_at, sync_started_at)), 'YYYY-MM-DD HH24:MI:SS') AS last_sync
FROM sync_logs WHERE $where
GROUP BY host_identifier ORDER BY host;
SQL
