#!/usr/bin/env bash
# Usage: scripts/reset-db.sh [--yes] [--config PATH]
# Resets the PostgreSQL database the agent syncs to: drops Reprospective's tables (every synced
# row and sync_logs entry is lost) and creates them again from services/database/init.
# Asks for confirmation on the terminal; without a terminal it refuses unless --yes is given.
# Refused while the agent runs (stop it with scripts/stop-agent.sh). The local SQLite databases
# are not touched: rows already synced are not sent again.
# Configuration: --config PATH, else $REPROSPECTIVE_CONFIG, else the default location.
# Exit status: 0 reset, 1 failed or declined, 2 no confirmation possible.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

yes=false
while (($#)); do
    if common_option "$@"; then shift "$SHIFT"; continue; fi
    case $1 in
        --yes|-y) yes=true; shift ;;
        *) bad_argument "$1" ;;
    esac
done

find_agent
if ! $yes; then
    if [[ ! -t 0 ]]; then
        log "refusing to reset without confirmation: there is no terminal to ask on (pass --yes to confirm)"
        exit 2
    fi
    target=$("$AGENT" db url "${CONFIG_ARGS[@]}" 2>/dev/null) || target="the configured PostgreSQL"
    printf 'This deletes every row synced to %s and recreates its tables.\n' "$target" >&2
    read -r -p "Type 'reset' to continue: " answer
    if [[ $answer != reset ]]; then
        log "not confirmed; nothing was changed"
        exit 1
    fi
fi
"$AGENT" db reset --yes "${CONFIG_ARGS[@]}"
