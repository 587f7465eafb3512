#!/bin/sh
# The soak in CI: bench/soak (built in the normal build directory) drives
# `tutti serve` built with ASan + UBSan (build-asan, from
# `tools/ci/sanitizers.sh asan`) for a bounded time: every answer is checked
# and any sanitizer report in the server fails it.
#
#   tools/ci/soak.sh                 60 s, 50 clients
#   TUTTI_SOAK_SECONDS=600 TUTTI_SOAK_CLIENTS=200 tools/ci/soak.sh
set -eu

CI_DIR=$(cd "$(dirname "$0")" && pwd)
SOURCE_DIR=$(cd "$CI_DIR/../.." && pwd)
BUILD_DIR=${TUTTI_BUILD_DIR:-"$SOURCE_DIR/build"}
ASAN_DIR=${TUTTI_ASAN_BUILD_DIR:-"$SOURCE_DIR/build-asan"}
SECONDS_=${TUTTI_SOAK_SECONDS:-60}
CLIENTS=${TUTTI_SOAK_CLIENTS:-50}
JOBS=${TUTTI_JOBS:-2}

if [ ! -x "$ASAN_DIR/cli/tutti" ]; then
  echo "soak.sh: $ASAN_DIR/cli/tutti is missing; run tools/ci/sanitizers.sh asan first" >&2
  exit 2
fi
printf '==> %s\n' "building the soak driver in $BUILD_DIR"
cmake --build "$BUILD_DIR" -j"$JOBS" --target soak
# shellcheck source=tools/ci/asan_env.sh
. "$CI_DIR/asan_env.sh"
printf '==> %s\n' "soak: ${SECONDS_} s, $CLIENTS clients, tutti serve under ASan + UBSan"
exec "$BUILD_DIR/bench/soak" --seconds "$SECONDS_" --clients "$CLIENTS" \
  --tutti "$ASAN_DIR/cli/tutti"
