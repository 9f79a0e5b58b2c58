#!/usr/bin/env bash
# Usage: scripts/start.sh [--config PATH] [--embedded | --docker]
# Starts the local PostgreSQL the agent syncs to:
#   - the embedded cluster under the agent's data folder, when no PostgreSQL URL is configured
#     (it is created on first use; the agent also starts it by itself when needed);
#   - otherwise `docker compose up -d` with the repository's docker-compose.yml, when Docker works.
# --embedded or --docker forces the choice. Configuration: --config PATH, else
# $REPROSPECTIVE_CONFIG, else the default location (DATABASE_URL overrides its URL).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

mode=auto
while (($#)); do
    if common_option "$@"; then shift "$SHIFT"; continue; fi
    case $1 in
        --embedded) mode=embedded; shift ;;
        --docker) mode=docker; shift ;;
        *) bad_argument "$1" ;;
    esac
done

find_agent
[[ $mode == auto ]] && mode=$(postgres_mode)
case $mode in
    external)
        if "$AGENT" db psql "${CONFIG_ARGS[@]}" -- -XqtA -c 'SELECT 1' >/dev/null 2>&1; then
            log "PostgreSQL is configured at $("$AGENT" db url "${CONFIG_ARGS[@]}" 2>/dev/null) and reachable; nothing to start"
            exit 0
        fi
        die "PostgreSQL is configured at $("$AGENT" db url "${CONFIG_ARGS[@]}" 2>/dev/null || echo 'an external server') and not reachable; start.sh manages only the embedded cluster or Docker Compose (no usable Docker here)"
        ;;
    embedded)
        "$AGENT" db start "${CONFIG_ARGS[@]}"
        ;;
    docker)
        file=$(compose_file) || die "no docker-compose.yml in $REPO_DIR"
        docker_usable || die "docker compose is not usable here (is the Docker engine running?)"
        log "docker compose -f $file up -d"
        docker compose -f "$file" up -d
        deadline=$((SECONDS + 60))
        until "$AGENT" db psql "${CONFIG_ARGS[@]}" -- -XqtA -c 'SELECT 1' >/dev/null 2>&1; do
            ((SECONDS < deadline)) || die "PostgreSQL in Docker did not accept connections within 60 s"
            sleep 1
        done
        log "PostgreSQL (Docker Compose) is up"
        ;;
esac
