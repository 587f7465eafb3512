#!/bin/sh
# CTest's openai_sdk_test: `tutti serve` under the official OpenAI npm SDK
# (chat_completions.test.mjs). Fails, never skips, when node or the SDK is
# missing: `./setup.sh test` installs both (Debian's nodejs and npm, then
# `npm ci --prefix tests/node`).
#
#   tests/node/run_openai_sdk_test.sh BUILD/cli/tutti BUILD/tools/fake_llm/tutti-fake-llm
set -eu

here=$(cd "$(dirname "$0")" && pwd)

fail() {
  echo "openai_sdk_test: FAILED: $*" >&2
  exit 1
}

[ $# -eq 2 ] || fail "usage: $0 TUTTI_BIN FAKE_LLM_BIN"
[ -x "$1" ] || fail "$1: not an executable (build the tutti target)"
[ -x "$2" ] || fail "$2: not an executable (build the tutti-fake-llm target)"
command -v node >/dev/null 2>&1 ||
  fail "node is not installed; run ./setup.sh test (or: apt-get install nodejs npm && npm ci --prefix tests/node)"
node "$here/check_install.mjs" "$here" ||
  fail "tests/node/node_modules is missing or does not match package-lock.json; run ./setup.sh test (or: npm ci --prefix tests/node)"

cd "$here"
echo "openai_sdk_test: node $(node --version), openai $(node -p 'require("./node_modules/openai/package.json").version')"
TUTTI_BIN=$1 TUTTI_FAKE_LLM_BIN=$2 exec node --test chat_completions.test.mjs
