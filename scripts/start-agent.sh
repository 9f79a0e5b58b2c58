#!/usr/bin/env bash
# Usage: scripts/start-agent.sh [--config PATH] [--timeout SECONDS]
# Starts the agent in the background, detached from this terminal, and waits until it answers
# (default: up to 120 s; creating the embedded PostgreSQL cluster the first time takes a while).
# Its pid file is <data folder>/agent.pid and its log <data folder>/agent.log (mode 0600).
# Does nothing if an agent already runs for that data folder.
# Configuration: --config PATH, else $REPROSPECTIVE_CONFIG, else the default location.
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
log_file=$("$AGENT" paths --get log_file "${CONFIG_ARGS[@]}")
pid=$(agent_pid)
if [[ -n $pid ]]; then
    log "the agent is already running (pid $pid); log: $log_file"
    exit 0
fi

umask 077
mkdir -p "$data_dir"
printf '\n' >>"$log_file"
nohup setsid "$AGENT" run "${CONFIG_ARGS[@]}" >>"$log_file" 2>&1 </dev/null &
child=$!

deadline=$((SECONDS + timeout))
until "$AGENT" ping "${CONFIG_ARGS[@]}" >/dev/null 2>&1; do
    if ! process_alive "$child"; then
        log "the agent exited during start-up; the end of $log_file:"
        tail -n 20 "$log_file" >&2
        exit 1
    fi
    if ((SECONDS >= deadline)); then
        log "the agent (pid $child) did not answer within ${timeout} s; it may still be starting: see $log_file"
        exit 1
    fi
    sleep 0.3
done
log "agent started (pid $(agent_pid)); log: $log_file"
