#!/bin/sh
# The examples against the installed package, as a host project would build
# them: `cmake --install` into a fresh prefix, configure examples/host_app
# with only that prefix, build it, and have it answer a question from the
# demo ensemble behind the fake upstream; then examples/own_plugins, which
# registers its own codec and strategy and asks an ensemble using both.
#
#   host_app_test.sh SOURCE_DIR BUILD_DIR FAKE_LLM_BIN [CMAKE_ARG...]
#
# CMAKE_ARGs go to the host's configure step (the compiler and, in a
# sanitizer build, the sanitizer flags: tests/CMakeLists.txt).
set -eu
src=$1 build=$2 fake=$3
shift 3
work=$(mktemp -d)
fake_pid=""
cleanup() {
  [ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
fail() { echo "host_app_test: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$work/prefix" >"$work/install.log" 2>&1 ||
  { cat "$work/install.log" >&2; fail "cmake --install failed"; }
cfg="$work/prefix/lib/cmake/tutti/tuttiConfig.cmake"
[ -f "$cfg" ] || cfg=$(find "$work/prefix" -name tuttiConfig.cmake | head -1)
[ -n "$cfg" ] && [ -f "$cfg" ] || fail "no tuttiConfig.cmake installed"
[ -f "$work/prefix/include/tutti/engine.hpp" ] || fail "no tutti/engine.hpp"
[ -x "$work/prefix/bin/tutti" ] || fail "no bin/tutti"
# The public headers need no CAF (nor any other dependency's) include.
if grep -rlE '#include <(caf|yaml-cpp|curl|rapidjson|httplib)' \
    "$work/prefix/include"; then
  fail "an installed header includes a dependency's header"
fi

cmake -S "$src/examples/host_app" -B "$work/host" \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release "$@" \
  >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log" >&2; fail "configuring host_app failed"; }
# Only the installed tree may serve: the tutti source tree is not on any
# include path of the host build.
if grep -q -- "-I$src" "$work/host/CMakeFiles/host_app.dir/flags.make"; then
  fail "host_app compiles against the source tree, not the installed one"
fi
cmake --build "$work/host" >"$work/build.log" 2>&1 ||
  { cat "$work/build.log" >&2; fail "building host_app failed"; }

"$fake" --script "$src/configs/demo-upstream.yaml" --port 0 >"$work/fake.log" 2>&1 &
fake_pid=$!
url=""
for _ in $(seq 1 100); do
  url=$(sed -n 's/^tutti-fake-llm listening on \(http:[^ ]*\)$/\1/p' "$work/fake.log")
  [ -n "$url" ] && break
  sleep 0.05
done
[ -n "$url" ] || { cat "$work/fake.log" >&2; fail "the fake upstream did not start"; }

status=0
TUTTI_FAKE_URL="$url/v1" timeout 60 "$work/host/host_app" \
  "$src/configs/demo.yaml" demo "What is the capital of France?" \
  >"$work/out.txt" 2>&1 || status=$?
cat "$work/out.txt"
# The demo has one broken member: the answer is partial, the program says
# so, and exits 0 (the ensemble answered).
[ "$status" -eq 0 ] || fail "host_app exited $status"
grep -q '^answer (partial): ' "$work/out.txt" || fail "no partial answer"
grep -q 'Paris' "$work/out.txt" || fail "the answer does not name Paris"
grep -q '^  broken: failed (' "$work/out.txt" || fail "the broken member is not reported"
grep -q '^  \[fast done: ok\]' "$work/out.txt" || fail "no streamed member event"
grep -q '^streamed answer (partial)' "$work/out.txt" || fail "no streamed answer"

# A host program's own codec and strategy, through the engine's registry.
cmake -S "$src/examples/own_plugins" -B "$work/own" \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release "$@" \
  >"$work/configure-own.log" 2>&1 ||
  { cat "$work/configure-own.log" >&2; fail "configuring own_plugins failed"; }
cmake --build "$work/own" >"$work/build-own.log" 2>&1 ||
  { cat "$work/build-own.log" >&2; fail "building own_plugins failed"; }
status=0
timeout 60 "$work/own/own_plugins" "$url/v1" "What is the capital of France?" \
  >"$work/own.txt" 2>&1 || status=$?
cat "$work/own.txt"
[ "$status" -eq 0 ] || fail "own_plugins exited $status"
# The strategy picked the longest reply, which the codec put in capitals.
grep -q '^answer (ok, longest, winner loud): THE CAPITAL OF FRANCE IS PARIS, ON THE SEINE.$' \
  "$work/own.txt" || fail "own_plugins did not answer with its own codec and strategy"
grep -q '^  plain: Paris.$' "$work/own.txt" || fail "the built-in codec's member is missing"
echo "host_app_test: ok"
