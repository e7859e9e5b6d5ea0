#!/usr/bin/env bash
# Real-browser tests: Debian's chromium driven by playwright-core, against tessera serve
# and the demo merchant (examples/demo-merchant), all on loopback.
#   tests/browser/run.sh
# Installs what it needs: Debian's chromium when /usr/bin/chromium is missing, the
# pinned npm packages of this suite and of the demo merchant. Screenshots go to
# target/browser-artifacts/.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null \
      || echo "warning: could not install chromium; the browser tests will fail" >&2
  fi
fi
(cd "$repo/examples/demo-merchant" && npm ci --no-audit --no-fund --loglevel=error)
cd "$here"
npm ci --no-audit --no-fund --loglevel=error
export TESSERA_BIN="${TESSERA_BIN:-$repo/target/debug/tessera}"
exec npm test
