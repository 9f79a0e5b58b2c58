#!/usr/bin/env bash
# Usage: scripts/stop.sh [--config PATH] [--embedded | --docker] [--force]
# Stops the local PostgreSQL started by scripts/start.sh: the embedded cluster (refused while the
# agent runs, unless --force: stop the agent first, it stops the cluster it started itself), or
# the Docker Compose services. An external server configured by URL is left alone.
# Configuration: --config PATH, else $REPROSPECTIVE_CONFIG, else the default location.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

mode=auto
force_args=()
while (($#)); do
    if common_option "$@"; then shift "$SHIFT"; continue; fi
    case $1 in
        --embedded) mode=embedded; shift ;;
        --docker) mode=docker; shift ;;
        --force) force_args=(--force); shift ;;
        *) bad_argument "$1" ;;
    esac
done

find_agent
[[ $mode == auto ]] && mode=$(postgres_mode)
case $mode in
    external)
        log "PostgreSQL is an external server here; stop.sh leaves it alone"
        ;;
    embedded)
        "$AGENT" db stop "${CONFIG_ARGS[@]}" "${force_args[@]}"
        ;;
    docker)
        file=$(compose_file) || die "no docker-compose.yml in $REPO_DIR"
        docker_usable || die "docker compose is not usable here (is the Docker engine running?)"
        log "docker compose -f $file stop"
        docker compose -f "$file" stop
        ;;
esac
