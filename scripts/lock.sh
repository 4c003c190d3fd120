#!/usr/bin/env bash
# Refresh uv.lock after a change to pyproject.toml's dependencies, or to take newer releases:
#   ./scripts/lock.sh                    # re-resolve only what pyproject.toml changed
#   ./scripts/lock.sh --upgrade          # newest releases pyproject.toml's ranges allow
#   ./scripts/lock.sh --upgrade-package redis
# then run ./scripts/test.sh and commit uv.lock with the change that needed it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/uv.sh
uv_bootstrap
uv lock "$@"
