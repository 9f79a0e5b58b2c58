#!/usr/bin/env bash
# Usage: scripts/install-system-deps.sh
# Installs the Debian packages the agent and its tests need, if any is missing:
#   postgresql (server binaries for the embedded default and the tests),
#   pgbouncer (the connection pooler the tests put in front of PostgreSQL, as a fleet would use),
#   xvfb, openbox, xdotool, x11-utils (a real X server and window manager for the monitor's tests),
#   chromium (a real headless browser for the dashboard's page tests),
#   python3-venv when the Python that builds .venv ($PYTHON, default python3) lacks venv/ensurepip,
#   gcc, libsqlite3-dev and python3-dev (when that Python has no headers) to build the host agent's
#   compiled part, the copy_text() SQLite aggregate.
# Needs root (or sudo) only when something is missing.
set -euo pipefail

log() { printf '%s\n' "install-system-deps: $*" >&2; }

missing=()
"${PYTHON:-python3}" -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
command -v gcc >/dev/null || missing+=(gcc)
[ -f /usr/include/sqlite3.h ] || missing+=(libsqlite3-dev)
"${PYTHON:-python3}" -c 'import os, sysconfig; assert os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))' \
    2>/dev/null || missing+=(python3-dev)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
command -v psql >/dev/null || missing+=(postgresql-client)
command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
command -v Xvfb >/dev/null || missing+=(xvfb)
command -v openbox >/dev/null || missing+=(openbox)
command -v xdotool >/dev/null || missing+=(xdotool)
command -v xprop >/dev/null || missing+=(x11-utils)
command -v chromium >/dev/null || missing+=(chromium)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null; then
    sudo=(sudo)
else
    log "missing Debian packages: ${missing[*]}; install them as root: apt-get install ${missing[*]}"
    exit 1
fi

log "installing Debian packages: ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
