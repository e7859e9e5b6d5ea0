#!/usr/bin/env bash
# Run the Tessera stripe-python conformance suite.
#   tests/sdk-python/run.sh [pytest args...]
# Env: TESSERA_VENV (default <repo>/target/sdk-venv), TESSERA_BIN (default <repo>/target/debug/tessera)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
. "$repo/tests/common/venv.sh"
cd "$repo"
export PYTHONDONTWRITEBYTECODE=1
exec "$venv/bin/python" -m pytest -q tests/sdk-python "$@"
