#!/usr/bin/env bash
# Usage: scripts/trigger-sync.sh [--config PATH] [--timeout SECONDS]
# Asks the running agent to sync now (over its control socket, <data folder>/agent.sock) and
# prints what the run did per table. The agent is found through its configuration: --config PATH,
# else $REPROSPECTIVE_CONFIG, else the default location.
# Exit status: 0 synced, 1 the run failed or held rows back, 3 no agent is running.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

timeout_args=()
while (($#)); do
    if common_option "$@"; then shift "$SHIFT"; continue; fi
    case $1 in
        --timeout) timeout_args=(--timeout "${2:?--timeout needs seconds}"); shift 2 ;;
        *) bad_argument "$1" ;;
    esac
done

find_agent
status=0
"$AGENT" trigger "${CONFIG_ARGS[@]}" "${timeout_args[@]}" || status=$?
case $status in
    0) ;;
    3) log "nothing was synced (without an agent, 'reprospective-agent sync --once' syncs from here)" ;;
    *) log "the sync run did not fully succeed (see above; 'reprospective-agent status' tells more)" ;;
esac
exit "$status"
