#!/bin/sh
# CTest's node client tests (openai_sdk_test, ai_sdk_test, langchain_test):
# one test file of tests/node run under node's test runner against
# `tutti serve` and the fake upstream (serve_fixture.mjs). Fails, never
# skips, when node or the client libraries are missing: `./setup.sh test`
# installs both (Debian's nodejs and npm, then `npm ci --prefix tests/node`).
#
#   tests/node/run_node_test.sh BUILD/cli/tutti BUILD/tools/fake_llm/tutti-fake-llm TEST_FILE
#
# TEST_FILE is a path, or a name in tests/node (chat_completions.test.mjs).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
name=${3:-node_test}
name=$(basename "$name")

fail() {
  echo "$name: FAILED: $*" >&2
  exit 1
}

[ $# -eq 3 ] || fail "usage: $0 TUTTI_BIN FAKE_LLM_BIN TEST_FILE"
[ -x "$1" ] || fail "$1: not an executable (build the tutti target)"
[ -x "$2" ] || fail "$2: not an executable (build the tutti-fake-llm target)"
case $3 in
  */*) test_file=$(cd "$(dirname "$3")" && pwd)/$(basename "$3") ;;
  *) test_file=$here/$3 ;;
esac
[ -f "$test_file" ] || fail "$3: no such test file"
command -v node >/dev/null 2>&1 ||
  fail "node is not installed; run ./setup.sh test (or: apt-get install nodejs npm && npm ci --prefix tests/node)"
node "$here/check_install.mjs" "$here" ||
  fail "tests/node/node_modules is missing or does not match package-lock.json; run ./setup.sh test (or: npm ci --prefix tests/node)"

cd "$here"
# shellcheck disable=SC2016 # JavaScript, not shell, expands ${...} here
versions=$(node -e '
const lock = require("./package-lock.json");
const direct = Object.keys(lock.packages[""].devDependencies ?? {}).sort();
console.log(direct.map((p) => `${p} ${lock.packages["node_modules/" + p].version}`).join(", "));
')
echo "$name: node $(node --version); $versions"
# Loopback only: LangChain would send traces to LangSmith if the caller's
# environment asked it to.
LANGSMITH_TRACING=false LANGCHAIN_TRACING_V2=false LANGCHAIN_TRACING=false \
  TUTTI_BIN=$1 TUTTI_FAKE_LLM_BIN=$2 exec node --test "$test_file"
