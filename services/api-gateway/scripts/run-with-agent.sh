#!/usr/bin/env bash
# Usage: services/api-gateway/scripts/run-with-agent.sh [agent arguments, e.g. --config PATH]
# What `make run` does: the agent, and the dashboard (reprospective-api) on the same PostgreSQL
# (the embedded cluster unless DATABASE_URL is set), in this terminal. Ctrl-C stops both: the
# agent closes its session, flushes and syncs once more; the dashboard stops serving.
# The dashboard listens on 127.0.0.1:8800 (REPROSPECTIVE_API_HOST / REPROSPECTIVE_API_PORT).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../../scripts/lib/common.sh"

agent_args=("$@")
while (($#)); do
    if common_option "$@"; then shift "$SHIFT"; else shift; fi
done

find_agent
API="$REPO_DIR/.venv/bin/reprospective-api"
[[ -x $API ]] || API=$(command -v reprospective-api) || die "reprospective-api not found: run 'make venv'"

agent_pid="" api_pid=""
stop() {
    trap - INT TERM
    [[ -n $api_pid ]] && kill -TERM "$api_pid" 2>/dev/null || true
    [[ -n $agent_pid ]] && kill -TERM "$agent_pid" 2>/dev/null || true
    wait || true
}
trap 'stop; exit 130' INT TERM

"$AGENT" run "${agent_args[@]}" &
agent_pid=$!
if ! "$AGENT" ping --wait 60 "${CONFIG_ARGS[@]}" >/dev/null; then
    stop
    die "the agent did not answer within 60 s (see its messages above)"
fi

api_args=()
if [[ -z ${DATABASE_URL:-} ]]; then
    # The embedded cluster: a passwordless Unix-socket URL only this user can reach.
    api_args=(--database-url "$("$AGENT" db url "${CONFIG_ARGS[@]}")")
fi
"$API" "${api_args[@]}" &
api_pid=$!
if [[ -n ${REPROSPECTIVE_API_CONFIG:-} ]]; then
    # Its address may come from that file: reprospective-api logs the one it listens on.
    log "dashboard: at the address reprospective-api logs (Ctrl-C stops the agent and the dashboard)"
else
    log "dashboard: http://${REPROSPECTIVE_API_HOST:-127.0.0.1}:${REPROSPECTIVE_API_PORT:-8800}/ (Ctrl-C stops the agent and the dashboard)"
fi

# Whichever stops first (or fails to start) stops the other.
status=0
wait -n "$agent_pid" "$api_pid" || status=$?
stop
exit "$status"
