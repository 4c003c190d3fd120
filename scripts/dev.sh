#!/usr/bin/env bash
# Install agentchat into .venv and start the embedded stack (Temporal dev server, Redis, a
# worker with the demo agent), then send the demo chat its first message. Ctrl-C stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[local,openai]'
exec .venv/bin/agentchat dev "$@"
