#!/bin/sh
# Sanitizer builds of tutti, for CI and for local runs (docs/reliability.md):
#
#   tools/ci/sanitizers.sh asan   ASan + UBSan + LeakSanitizer: the whole suite
#   tools/ci/sanitizers.sh tsan   ThreadSanitizer: the actor tests and the
#                                 integration tests that run the transport
#                                 thread, the engine, the server and the
#                                 batch runner
#
# Each mode configures and builds its own build directory (build-asan,
# build-tsan; TUTTI_ASAN_BUILD_DIR / TUTTI_TSAN_BUILD_DIR override them) with
# clang (CXX overrides it) and runs CTest there. Any sanitizer report fails
# its test, and this script exits non-zero. TUTTI_JOBS sets the parallelism
# (2 by default).
#
# tsan also builds CAF's core itself, instrumented: Debian's libcaf_core.so
# is not, and TSan cannot see the synchronisation inside an uninstrumented
# library (tools/ci/tsan.supp). The source is Debian's source package of the
# installed libcaf-dev, fetched with apt-get into the build directory (the
# machine's apt sources and lists are not touched), or TUTTI_CAF_SOURCE: an
# unpacked CAF source tree of the same version. The instrumented CAF is kept
# in BUILD_DIR/caf and reused.
set -eu

cd "$(dirname "$0")/../.."
SOURCE_DIR=$(pwd)
CI_DIR="$SOURCE_DIR/tools/ci"
JOBS=${TUTTI_JOBS:-2}
CXX=${CXX:-clang++}

# The tests TSan runs: tests/actors/ (CAF's deterministic scheduler) and the
# integration tests that run the transport thread, the engine facade, the
# server's io threads and the batch runner (`tutti batch` as a child).
TSAN_TESTS="rate_limiter_test aggregator_test ensemble_matrix_test \
protocol_test provider_test pipeline_test timer_service_test provider_faults_test \
provider_cancel_test transport_test provider_formats_test rate_limit_test \
ensemble_http_test \
pipeline_http_test engine_api_test server_test server_connection_test \
server_hostile_test batch_test cli_test store_records_test spend_ledger_test \
store_budget_cache_test server_errors_test routing_test server_reload_test \
server_routing_test server_embeddings_test embed_watch_test live_feed_test \
server_live_test server_batches_test store_retention_test"

say() { printf '==> %s\n' "$*"; }

usage() {
  echo "usage: tools/ci/sanitizers.sh asan|tsan" >&2
  exit 2
}

# -O1, the usual level for sanitizers, and line tables only: all a
# sanitizer's stack trace needs.
debug_flag() {
  case "$CXX" in
    *clang*) echo -gline-tables-only ;;
    *) echo -g1 ;;
  esac
}

# configure BUILD_DIR SANITIZERS [CMAKE_ARG...]: the sanitizers on everything
# but the benchmarks.
configure() {
  dir=$1 sanitizers=$2
  shift 2
  cmake -S "$SOURCE_DIR" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 $(debug_flag) -DNDEBUG" \
    -DCMAKE_CXX_COMPILER="$CXX" -DTUTTI_SANITIZE="$sanitizers" \
    -DTUTTI_BUILD_BENCH=OFF "$@" >/dev/null
}

run_asan() {
  build_dir=${TUTTI_ASAN_BUILD_DIR:-"$SOURCE_DIR/build-asan"}
  say "configuring $build_dir (address,undefined)"
  configure "$build_dir" address,undefined
  say "building (-j$JOBS)"
  cmake --build "$build_dir" -j"$JOBS"
  # shellcheck source=tools/ci/asan_env.sh
  . "$CI_DIR/asan_env.sh"
  say "running the test suite under ASan + UBSan + LSan"
  ctest --test-dir "$build_dir" --output-on-failure -j"$JOBS"
}

# fetch_caf_source DIR: Debian's source of the installed libcaf-dev, unpacked
# under DIR; prints the source tree. apt-get reads a deb-src list of its own
# (DIR/apt), so the machine's apt sources and lists stay as they are.
fetch_caf_source() {
  dir=$1
  package=$(dpkg-query -W -f='${source:Package}' libcaf-dev)
  version=$(dpkg-query -W -f='${source:Version}' libcaf-dev)
  upstream=$(dpkg-query -W -f='${source:Upstream-Version}' libcaf-dev)
  tree="$dir/$package-$upstream"
  if [ ! -d "$tree" ]; then
    # shellcheck source=/dev/null
    codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
    mkdir -p "$dir/apt/sources" "$dir/apt/lists/partial"
    : >"$dir/apt/sources.list"
    printf '%s\n' "Types: deb-src" "URIs: http://deb.debian.org/debian" \
      "Suites: $codename" "Components: main" \
      "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" \
      >"$dir/apt/sources/debian-src.sources"
    apt_src() {
      apt-get -qq -o APT::Sandbox::User=root \
        -o Dir::Etc::SourceList="$dir/apt/sources.list" \
        -o Dir::Etc::SourceParts="$dir/apt/sources" \
        -o Dir::State::Lists="$dir/apt/lists" "$@" >&2
    }
    apt_src update
    # Only the upstream tarball is used (apt checks its hash against the
    # signed index; a failure to fetch the Debian patch tarball is harmless):
    # its headers are the installed ones byte for byte.
    (cd "$dir" && apt_src source --download-only "$package=$version") || true
    tarball="$dir/${package}_$upstream.orig.tar.gz"
    if [ ! -f "$tarball" ]; then
      echo "sanitizers.sh: could not fetch the source of $package $version;" \
        "set TUTTI_CAF_SOURCE to an unpacked CAF $upstream tree" >&2
      exit 2
    fi
    tar -xzf "$tarball" -C "$dir"
  fi
  echo "$tree"
}

# build_caf_tsan BUILD_DIR: CAF's core, static and instrumented, installed in
# BUILD_DIR/caf, once. Its configuration header is Debian's (log level quiet,
# everything else at its default).
build_caf_tsan() {
  prefix="$1/caf"
  [ -f "$prefix/lib/libcaf_core_static.a" ] && return 0
  caf_source=${TUTTI_CAF_SOURCE:-}
  [ -n "$caf_source" ] || caf_source=$(fetch_caf_source "$1/caf-source")
  launcher=$(command -v ccache || true)
  say "building CAF's core from $caf_source with -fsanitize=thread (-j$JOBS)"
  cmake -S "$caf_source" -B "$1/caf-build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_CXX_COMPILER_LAUNCHER="$launcher" \
    -DCMAKE_CXX_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" \
    -DCMAKE_CXX_FLAGS_RELEASE="-O1 $(debug_flag) -DNDEBUG" \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DCMAKE_INSTALL_PREFIX="$prefix" \
    -DCAF_NO_AUTO_LIBCPP=ON -DCAF_BUILD_STATIC_ONLY=ON -DCAF_NO_IO=ON \
    -DCAF_NO_EXAMPLES=ON -DCAF_NO_TOOLS=ON -DCAF_NO_UNIT_TESTS=ON \
    -DCAF_NO_OPENCL=ON -DCAF_NO_OPENSSL=ON -DCAF_NO_PYTHON=ON \
    -DCAF_NO_SUMMARY=ON -DCAF_LOG_LEVEL=QUIET >/dev/null
  cmake --build "$1/caf-build" -j"$JOBS" >/dev/null
  cmake --install "$1/caf-build" >/dev/null
}

run_tsan() {
  build_dir=${TUTTI_TSAN_BUILD_DIR:-"$SOURCE_DIR/build-tsan"}
  mkdir -p "$build_dir"
  build_caf_tsan "$build_dir"
  say "configuring $build_dir (thread, with the instrumented CAF)"
  configure "$build_dir" thread \
    -DCAF_INCLUDE_DIR="$build_dir/caf/include" \
    -DCAF_CORE_LIBRARY="$build_dir/caf/lib/libcaf_core_static.a"
  say "building the TSan tests (-j$JOBS)"
  # shellcheck disable=SC2086
  cmake --build "$build_dir" -j"$JOBS" --target $TSAN_TESTS
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1\
:suppressions=$CI_DIR/tsan.supp:print_suppressions=0"
  export TSAN_OPTIONS
  # shellcheck disable=SC2086
  regex="^($(echo $TSAN_TESTS | tr ' ' '|'))\$"
  say "running the actor, transport, engine, server and batch tests under TSan"
  ctest --test-dir "$build_dir" --output-on-failure -j"$JOBS" -R "$regex"
}

[ $# -eq 1 ] || usage
case "$1" in
  asan) run_asan ;;
  tsan) run_tsan ;;
  *) usage ;;
esac
