#!/bin/sh
# One command from a fresh Debian 12 machine to a running tutti:
#
#   ./setup.sh demo    install what is missing, build, run the demo
#   ./setup.sh test    install what is missing, build, run the test suite
#   ./setup.sh build   install what is missing, build
#   ./setup.sh checks  the long checks CI runs after the suite: the suite
#                      under ASan + UBSan and (its threaded part) TSan, the
#                      fuzzers, and the soak; each in a build directory of
#                      its own and each bounded in time
#
# Installing is idempotent: packages already present are not touched, and
# apt-get is not even called when nothing is missing. Needs root (or sudo)
# only when something must be installed.
set -eu

cd "$(dirname "$0")"
SOURCE_DIR=$(pwd)
BUILD_DIR=${TUTTI_BUILD_DIR:-"$SOURCE_DIR/build"}
JOBS=${TUTTI_JOBS:-2}

PACKAGES="g++ make cmake pkg-config ccache ca-certificates \
  libcaf-dev libcurl4-openssl-dev libcpp-httplib-dev rapidjson-dev \
  libyaml-cpp-dev libboost-test-dev libcli11-dev libsqlite3-dev libre2-dev \
  libboost-dev libssl-dev libpq-dev"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# install_packages PKG...: installs those of the packages that are missing.
install_packages() {
  missing=""
  for pkg in "$@"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "installed" ] || missing="$missing $pkg"
  done
  [ -z "$missing" ] && return 0
  # shellcheck disable=SC2086
  apt_install $missing
}

# shellcheck disable=SC2086 # one word per package
install_missing() { install_packages $PACKAGES; }

# apt_install PKG...: installs Debian packages, as root or through sudo.
apt_install() {
  say "installing Debian packages: $*"
  if [ "$(id -u)" -eq 0 ]; then
    sudo=""
  elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "setup.sh: need root to install: $*" >&2
    exit 2
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

build() {
  if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    say "configuring in $BUILD_DIR"
    cmake -S "$SOURCE_DIR" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      >/dev/null
  fi
  say "building (-j$JOBS)"
  cmake --build "$BUILD_DIR" -j"$JOBS"
}

# `tutti demo` starts the fake upstream inside itself on a free loopback
# port and asks configs/demo.yaml's ensemble (built into the binary).
run_demo() {
  prompt="What is the capital of France?"
  say "tutti demo \"$prompt\"  (scripted models on a fake upstream, not real ones)"
  "$BUILD_DIR/cli/tutti" demo "$prompt"
  start_dashboard
}

# Leaves `tutti serve --demo` running in the background, its runs kept in a
# file under /tmp, and says where its dashboard is (docs/dashboard.md). A
# server an earlier `./setup.sh demo` left is stopped first; port 8700 when
# it is free, else any free one.
start_dashboard() {
  state=${TMPDIR:-/tmp}/tutti-demo-serve
  if [ -f "$state.pid" ] && kill -0 "$(cat "$state.pid")" 2>/dev/null; then
    kill "$(cat "$state.pid")" 2>/dev/null || true
    sleep 1
  fi
  for listen in 127.0.0.1:8700 127.0.0.1:0; do
    : >"$state.log"
    nohup "$BUILD_DIR/cli/tutti" serve --demo --listen "$listen" \
      --store "$state-runs.db" >"$state.log" 2>&1 &
    echo $! >"$state.pid"
    tries=0
    while [ $tries -lt 100 ] && kill -0 "$(cat "$state.pid")" 2>/dev/null &&
      ! grep -q "listening on" "$state.log"; do
      sleep 0.1
      tries=$((tries + 1))
    done
    url=$(sed -n 's/^tutti serve listening on //p' "$state.log" | head -1)
    if [ -n "$url" ]; then
      say "the dashboard is at $url/ (tutti serve --demo, scripted models; stop it: kill $(cat "$state.pid"))"
      say "ask it something: curl -s $url/v1/chat/completions -H 'Content-Type: application/json' -d '{\"model\":\"ensemble/demo\",\"messages\":[{\"role\":\"user\",\"content\":\"Capital of France?\"}]}'"
      return 0
    fi
  done
  say "the dashboard could not start: $(cat "$state.log")"
  return 1
}

# The node client tests (tests/node; CTest's openai_sdk_test, ai_sdk_test
# and langchain_test: the OpenAI SDK, the Vercel AI SDK and LangChain JS)
# need node and npm, and the libraries tests/node/package-lock.json pins.
# The dashboard's tests need the same for dashboard/ (rollup and Preact:
# dashboard_bundle_test rebuilds dashboard/dist) and tests/browser
# (playwright-core and puppeteer-core), Debian's chromium for
# dashboard_browser_test, and Debian's firefox-esr for
# dashboard_firefox_test: the dashboard must work in Firefox too, and
# playwright-core drives only its own patched Firefox builds, so that test
# drives the stock one with puppeteer-core over WebDriver BiDi (neither
# library downloads a browser). Only `test` needs them. node and npm are
# looked for as commands, not as Debian packages, so a node installed some
# other way is used as it is.
install_node_test_deps() {
  need=""
  command -v node >/dev/null 2>&1 || need="$need nodejs"
  command -v npm >/dev/null 2>&1 || need="$need npm"
  [ -x /usr/bin/chromium ] || need="$need chromium"
  [ -x /usr/bin/firefox-esr ] || need="$need firefox-esr"
  # shellcheck disable=SC2086
  [ -z "$need" ] || apt_install $need
  for dir in tests/node dashboard tests/browser; do
    if ! node tests/node/check_install.mjs "$dir" >/dev/null 2>&1; then
      say "installing the npm packages $dir/package-lock.json pins (npm ci --prefix $dir)"
      npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >/dev/null
    fi
  done
}

# The store's PostgreSQL tests (tests/integration/store_test.cpp) start a
# throwaway server of Debian's postgresql on a free loopback port in a
# temporary directory; only `test` (and `checks`) need it.
TEST_PACKAGES="postgresql"

# shellcheck disable=SC2086 # one word per package
install_test_deps() { install_packages $TEST_PACKAGES; }

run_tests() {
  say "running the test suite"
  ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$JOBS"
}

# What the long checks need beyond the build: clang with its sanitizer and
# libFuzzer runtimes (a Recommends of clang, which --no-install-recommends
# leaves out), llvm-symbolizer for readable reports, and dpkg-dev for
# `apt-get source` (the TSan step builds CAF's core from Debian's source).
CHECK_PACKAGES="clang libclang-rt-14-dev llvm dpkg-dev"

# shellcheck disable=SC2086 # one word per package
install_check_deps() { install_packages $CHECK_PACKAGES; }

# step MINUTES NAME COMMAND...: one bounded check, timed.
step() {
  minutes=$1 name=$2
  shift 2
  say "check: $name (at most $minutes min)"
  started=$(date +%s)
  status=0
  # -k: what ignores the TERM is killed a minute later.
  timeout -k 1m "${minutes}m" "$@" || status=$?
  say "check: $name took $(($(date +%s) - started)) s, exit $status"
  if [ "$status" -ne 0 ]; then
    [ "$status" -eq 124 ] && echo "setup.sh: $name ran out of time" >&2
    exit "$status"
  fi
}

run_checks() {
  step 35 "ASan + UBSan suite" tools/ci/sanitizers.sh asan
  step 20 "TSan: actors, transport, engine, server" tools/ci/sanitizers.sh tsan
  step 10 "fuzzers" tools/ci/fuzz.sh
  step 5 "soak under ASan" tools/ci/soak.sh
}

case "${1:-}" in
  demo) install_missing; build; run_demo ;;
  test) install_missing; install_test_deps; install_node_test_deps; build; run_tests ;;
  build) install_missing; build ;;
  checks) install_missing; install_test_deps; install_check_deps; build; run_checks ;;
  *)
    echo "usage: ./setup.sh demo|test|build|checks" >&2
    exit 2
    ;;
esac
