#!/bin/sh
# CTest's dashboard_browser_test: tests/browser/dashboard.test.mjs (History,
# runs, the key) and live.test.mjs (Live, the playground), Debian's
# chromium driven by playwright-core against `tutti serve` and the fake
# upstream (tests/node/serve_fixture.mjs). Fails, never skips, when node,
# chromium or the locked packages are missing: `./setup.sh test` installs
# them (Debian's nodejs, npm and chromium, then npm ci --prefix
# tests/browser and --prefix tests/node).
#
#   tests/browser/run_browser_test.sh BUILD/cli/tutti BUILD/tools/fake_llm/tutti-fake-llm SCREENSHOT_DIR
set -eu

here=$(cd "$(dirname "$0")" && pwd)
fail() {
  echo "dashboard_browser_test: FAILED: $*" >&2
  exit 1
}

[ $# -eq 3 ] || fail "usage: $0 TUTTI_BIN FAKE_LLM_BIN SCREENSHOT_DIR"
[ -x "$1" ] || fail "$1: not an executable (build the tutti target)"
[ -x "$2" ] || fail "$2: not an executable (build the tutti-fake-llm target)"
command -v node >/dev/null 2>&1 ||
  fail "node is not installed; run ./setup.sh test"
chromium=${TUTTI_CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] ||
  fail "$chromium is missing; run ./setup.sh test (or: apt-get install chromium)"
node "$here/../node/check_install.mjs" "$here" ||
  fail "tests/browser/node_modules is missing or does not match package-lock.json; run ./setup.sh test (or: npm ci --prefix tests/browser)"

mkdir -p "$3"
echo "dashboard_browser_test: node $(node --version); $("$chromium" --version 2>/dev/null | head -1);" \
  "playwright-core $(node -p "require('$here/node_modules/playwright-core/package.json').version")"
TUTTI_BIN=$1 TUTTI_FAKE_LLM_BIN=$2 TUTTI_SCREENSHOT_DIR=$3 TUTTI_CHROMIUM=$chromium \
  exec node --test --test-timeout=60000 "$here/dashboard.test.mjs" "$here/live.test.mjs"
