#!/bin/sh
# Sanitizer builds of tutti, for CI and for local runs (docs/reliability.md):
#
#   tools/ci/sanitizers.sh asan   ASan + UBSan + LeakSanitizer: the whole suite
#   tools/ci/sanitizers.sh tsan   ThreadSanitizer: the actor tests and the
#                                 integration tests that drive the transport
#                                 thread and the engine
#
# Each mode configures and builds its own build directory (build-asan,
# build-tsan; TUTTI_ASAN_BUILD_DIR / TUTTI_TSAN_BUILD_DIR override them) with
# clang (CXX overrides it) and runs CTest there. Any sanitizer report stops
# the process that made it, so it fails its test, and this script exits
# non-zero. TUTTI_JOBS sets the parallelism (2 by default).
set -eu

cd "$(dirname "$0")/../.."
SOURCE_DIR=$(pwd)
CI_DIR="$SOURCE_DIR/tools/ci"
JOBS=${TUTTI_JOBS:-2}
CXX=${CXX:-clang++}

# The tests TSan runs: tests/actors/ (CAF's deterministic scheduler) and the
# integration tests that exercise the transport thread and the engine facade.
TSAN_TESTS="rate_limiter_test aggregator_test ensemble_matrix_test \
protocol_test provider_test pipeline_test provider_faults_test \
provider_cancel_test provider_formats_test engine_api_test ensemble_http_test"

say() { printf '==> %s\n' "$*"; }

usage() {
  echo "usage: tools/ci/sanitizers.sh asan|tsan" >&2
  exit 2
}

# configure BUILD_DIR SANITIZERS: the sanitizers on everything but the
# benchmarks. -O1, the usual level for sanitizers, and line tables only: all
# a sanitizer's stack trace needs.
configure() {
  case "$CXX" in
    *clang*) debug=-gline-tables-only ;;
    *) debug=-g1 ;;
  esac
  cmake -S "$SOURCE_DIR" -B "$1" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 $debug -DNDEBUG" \
    -DCMAKE_CXX_COMPILER="$CXX" -DTUTTI_SANITIZE="$2" \
    -DTUTTI_BUILD_BENCH=OFF >/dev/null
}

run_asan() {
  build_dir=${TUTTI_ASAN_BUILD_DIR:-"$SOURCE_DIR/build-asan"}
  say "configuring $build_dir (address,undefined)"
  configure "$build_dir" address,undefined
  say "building (-j$JOBS)"
  cmake --build "$build_dir" -j"$JOBS"
  # halt_on_error: the first report ends the process, so its test fails.
  # detect_leaks: LeakSanitizer at exit, with tools/ci/lsan.supp.
  ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0\
:detect_stack_use_after_return=1:check_initialization_order=1\
:strict_init_order=1:print_suppressions=0"
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:print_summary=1"
  LSAN_OPTIONS="suppressions=$CI_DIR/lsan.supp:print_suppressions=0"
  export ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
  say "running the test suite under ASan + UBSan + LSan"
  ctest --test-dir "$build_dir" --output-on-failure -j"$JOBS"
}

run_tsan() {
  build_dir=${TUTTI_TSAN_BUILD_DIR:-"$SOURCE_DIR/build-tsan"}
  say "configuring $build_dir (thread)"
  configure "$build_dir" thread
  say "building the TSan tests (-j$JOBS)"
  # shellcheck disable=SC2086
  cmake --build "$build_dir" -j"$JOBS" --target $TSAN_TESTS
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1\
:suppressions=$CI_DIR/tsan.supp:print_suppressions=0"
  export TSAN_OPTIONS
  regex="^($(echo $TSAN_TESTS | tr ' ' '|'))\$"
  say "running the actor and transport tests under TSan"
  ctest --test-dir "$build_dir" --output-on-failure -j"$JOBS" -R "$regex"
}

[ $# -eq 1 ] || usage
case "$1" in
  asan) run_asan ;;
  tsan) run_tsan ;;
  *) usage ;;
esac
