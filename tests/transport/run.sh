#!/usr/bin/env bash
# Run the Tessera transport suite (TLS, modes, headers, limits, reload, ACME).
#   tests/transport/run.sh [pytest args...]
# Env: TESSERA_VENV (default <repo>/target/sdk-venv), TESSERA_BIN (default <repo>/target/debug/tessera)
# Needs openssl, and pebble + pebble-challtestsrv for the ACME test (installed with apt-get when missing).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
. "$repo/tests/common/venv.sh"
if ! command -v pebble >/dev/null 2>&1 || ! command -v pebble-challtestsrv >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pebble) >/dev/null \
      || echo "warning: could not install pebble; the ACME test will fail" >&2
  fi
fi
cd "$repo"
export PYTHONDONTWRITEBYTECODE=1
exec "$venv/bin/python" -m pytest -q tests/transport "$@"
