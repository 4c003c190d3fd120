#!/usr/bin/env bash
# Install agentchat and exactly the packages uv.lock pins into .venv, start the embedded stack
# (Temporal dev server, Redis, a worker with the demo agent), then send the demo chat its first
# message. Ctrl-C stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/uv.sh
# --inexact: a .venv that scripts/test.sh filled keeps its test tools.
uv_bootstrap
uv sync --locked --quiet --inexact --extra local --extra openai
exec .venv/bin/agentchat dev "$@"
