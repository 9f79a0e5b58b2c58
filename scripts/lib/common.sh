# Sourced by the scripts in scripts/: log(), die(), usage(), finding the agent command, --config.
# Not meant to be run on its own.

SCRIPT_NAME=$(basename "$0")
REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CONFIG_ARGS=()

log() { printf '%s: %s\n' "$SCRIPT_NAME" "$*" >&2; }
die() { log "$*"; exit 1; }

# The comment block at the top of the calling script, without the '#! ' line and the '# ' prefixes.
usage() { sed -n '2,/^[^#]/{/^#/{s/^# \{0,1\}//;p}}' "$0"; }

# Handles the options every script shares; returns 1 for an argument it does not know.
# Usage: common_option "$@" && shift "$SHIFT" (SHIFT is how many arguments it took).
common_option() {
    SHIFT=1
    case $1 in
        --config) CONFIG_ARGS=(--config "${2:?--config needs a path}"); SHIFT=2 ;;
        --config=*) CONFIG_ARGS=(--config "${1#*=}") ;;
        -h|--help) usage; exit 0 ;;
        *) return 1 ;;
    esac
}

bad_argument() { log "unknown argument: $1"; usage >&2; exit 2; }

# AGENT: the repository's virtualenv console script, else the one on PATH.
find_agent() {
    if [[ -x "$REPO_DIR/.venv/bin/reprospective-agent" ]]; then
        AGENT="$REPO_DIR/.venv/bin/reprospective-agent"
    elif command -v reprospective-agent >/dev/null 2>&1; then
        AGENT=$(command -v reprospective-agent)
    else
        die "reprospective-agent not found: run 'make venv' in $REPO_DIR, or install host-agent"
    fi
}

# The running agent's pid for this configuration, or nothing.
agent_pid() { "$AGENT" paths --get agent_pid "${CONFIG_ARGS[@]}"; }

# A docker-compose file in the repository and a Docker engine that answers.
compose_file() {
    local f
    for f in "$REPO_DIR/docker-compose.yml" "$REPO_DIR/compose.yaml" "$REPO_DIR/services/docker-compose.yml"; do
        [[ -f $f ]] && { printf '%s\n' "$f"; return 0; }
    done
    return 1
}
docker_usable() {
    command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1 && docker info >/dev/null 2>&1
}

# How the configured PostgreSQL is run here: "embedded" (the agent's own cluster), "docker"
# (Docker Compose with the repository's file), or "external" (a server these scripts leave alone).
postgres_mode() {
    if [[ $("$AGENT" db kind "${CONFIG_ARGS[@]}") == embedded ]]; then
        echo embedded
    elif compose_file >/dev/null && docker_usable; then
        echo docker
    else
        echo external
    fi
}

# Whether a process runs (a zombie, exited but not yet reaped by its parent, does not).
process_alive() {
    local state
    state=$(sed -E 's/^.*\) (.).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z && $state != X ]]
}
