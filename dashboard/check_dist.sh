#!/bin/sh
# CTest's dashboard_bundle_test: builds dashboard/src into a temporary
# folder with the packages package-lock.json pins and fails when any file
# differs from the committed dashboard/dist (which the tutti binary carries).
# Fails, never skips, when node or dashboard/node_modules is missing:
# `./setup.sh test` installs both (npm ci --prefix dashboard).
#
#   dashboard/check_dist.sh
#
# After editing src/: `npm run build --prefix dashboard`, then commit dist/.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
fail() {
  echo "dashboard_bundle_test: FAILED: $*" >&2
  exit 1
}

command -v node >/dev/null 2>&1 ||
  fail "node is not installed; run ./setup.sh test (or: apt-get install nodejs npm && npm ci --prefix dashboard)"
node "$here/../tests/node/check_install.mjs" "$here" ||
  fail "dashboard/node_modules is missing or does not match package-lock.json; run ./setup.sh test (or: npm ci --prefix dashboard)"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cd "$here"
TUTTI_DASHBOARD_OUT=$out node node_modules/rollup/dist/bin/rollup \
  -c rollup.config.mjs --silent ||
  fail "rollup could not build dashboard/src"

built=$(cd "$out" && find . -type f | sed 's|^\./||' | sort | tr '\n' ' ')
committed=$(cd dist && find . -type f | sed 's|^\./||' | sort | tr '\n' ' ')
[ "$built" = "$committed" ] ||
  fail "dashboard/dist has [$committed], the sources build [$built]"
for f in $built; do
  cmp -s "$out/$f" "dist/$f" ||
    fail "dashboard/dist/$f is not what dashboard/src builds: run 'npm run build --prefix dashboard' and commit dashboard/dist"
done
echo "dashboard_bundle_test: dashboard/dist ($built) is what dashboard/src builds with rollup $(node -p 'require("./node_modules/rollup/package.json").version')"
