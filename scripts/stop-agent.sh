#!/usr/bin/env bash
# Usage: scripts/stop-agent.sh [--config PATH] [--timeout SECONDS]
# Stops the agent running for the configuration's data folder with SIGTERM, as systemd would:
# it closes the current session, flushes its buffers, makes a last sync and exits. Waits for
# that (default: up to 120 s). Does nothing if no agent runs.
# Configuration: --config PATH, else $REPROSPECTIVE_CONFIG, else the default location.
# Exit status: 0 stopped or not running, 1 still running after the timeout.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

timeout=120
while (($#)); do
    if common_option "$@"; then shift "$SHIFT"; continue; fi
    case $1 in
        --timeout) timeout=${2:?--timeout needs seconds}; shift 2 ;;
        *) bad_argument "$1" ;;
    esac
done

find_agent
data_dir=$("$AGENT" paths --get data_dir "${CONFIG_ARGS[@]}") || die "cannot read the configuration (see above)"
pid=$(agent_pid)
if [[ -z $pid ]]; then
    log "no agent is running for data folder $data_dir"
    exit 0
fi

log "stopping the agent (pid $pid): closing its session, flushing, last sync"
kill -TERM "$pid"
deadline=$((SECONDS + timeout))
while process_alive "$pid"; do
    if ((SECONDS >= deadline)); then
        log "the agent (pid $pid) is still running after ${timeout} s, probably still syncing;"
        log "wait and run this again, or 'kill -KILL $pid' (rows not yet synced stay queued locally)"
        exit 1
    fi
    sleep 0.2
done
log "agent stopped"
