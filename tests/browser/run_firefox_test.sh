#!/bin/sh
# CTest's dashboard_firefox_test: tests/browser/firefox.test.mjs (Live,
# History, the playground), Debian's firefox-esr driven by puppeteer-core
# over WebDriver BiDi against `tutti serve` and the fake upstream
# (tests/node/serve_fixture.mjs). Fails, never skips, when node,
# firefox-esr or the locked packages are missing: `./setup.sh test`
# installs them (Debian's nodejs, npm and firefox-esr, then npm ci
# --prefix tests/browser).
#
#   tests/browser/run_firefox_test.sh BUILD/cli/tutti BUILD/tools/fake_llm/tutti-fake-llm SCREENSHOT_DIR
set -eu

here=$(cd "$(dirname "$0")" && pwd)
fail() {
  echo "dashboard_firefox_test: FAILED: $*" >&2
  exit 1
}

[ $# -eq 3 ] || fail "usage: $0 TUTTI_BIN FAKE_LLM_BIN SCREENSHOT_DIR"
[ -x "$1" ] || fail "$1: not an executable (build the tutti target)"
[ -x "$2" ] || fail "$2: not an executable (build the tutti-fake-llm target)"
command -v node >/dev/null 2>&1 ||
  fail "node is not installed; run ./setup.sh test"
firefox=${TUTTI_FIREFOX:-/usr/bin/firefox-esr}
if [ ! -f "$firefox" ] || [ ! -x "$firefox" ]; then
  fail "$firefox is missing; run ./setup.sh test (or: apt-get install firefox-esr)"
fi
node "$here/../node/check_install.mjs" "$here" ||
  fail "tests/browser/node_modules is missing or does not match package-lock.json; run ./setup.sh test (or: npm ci --prefix tests/browser)"

mkdir -p "$3"
echo "dashboard_firefox_test: node $(node --version); $("$firefox" --version 2>/dev/null | head -1);" \
  "puppeteer-core $(node -p "require('$here/node_modules/puppeteer-core/package.json').version")"
TUTTI_BIN=$1 TUTTI_FAKE_LLM_BIN=$2 TUTTI_SCREENSHOT_DIR=$3 TUTTI_FIREFOX=$firefox \
  exec node --test --test-timeout=60000 "$here/firefox.test.mjs"
