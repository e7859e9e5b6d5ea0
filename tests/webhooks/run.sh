#!/usr/bin/env bash
# Run the Tessera webhook suite (endpoints, SDK-verified deliveries, retries, SSRF, crash).
#   tests/webhooks/run.sh [pytest args...]
# Env: TESSERA_VENV (default <repo>/target/sdk-venv), TESSERA_BIN (default <repo>/target/debug/tessera),
#      TESSERA_NODE (default: node on PATH). Needs node; stripe-node comes from tests/sdk-node
#      (installed there with `npm ci` when missing).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
. "$repo/tests/common/venv.sh"
if [ ! -f "$repo/tests/sdk-node/node_modules/stripe/package.json" ]; then
  (cd "$repo/tests/sdk-node" && npm ci --no-audit --no-fund --loglevel=error)
fi
cd "$repo"
export PYTHONDONTWRITEBYTECODE=1
exec "$venv/bin/python" -m pytest -q tests/webhooks "$@"
