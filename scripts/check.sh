#!/usr/bin/env bash
# The fast loop, with nothing installed: lint, format, types, import contracts, then tests.
#   ./scripts/check.sh            # unit tests only (no servers: -m "not integration")
#   ./scripts/check.sh --all      # every test, as CI runs them (scripts/test.sh ends here)
#   ./scripts/check.sh tests/stream -k reader   # arguments after the checks go to pytest
# Run ./scripts/test.sh once first to create .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
[ -x $bin/python ] || { echo "no .venv yet: run ./scripts/test.sh once" >&2; exit 2; }
all=0
if [ "${1:-}" = "--all" ]; then all=1; shift; fi
$bin/ruff check agentchat tests bench
$bin/ruff format --check agentchat tests bench
$bin/mypy
$bin/lint-imports
if [ $all = 1 ] || [ $# -gt 0 ]; then
    exec $bin/python -m pytest "$@"
fi
exec $bin/python -m pytest -m "not integration" -q
