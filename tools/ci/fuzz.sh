#!/bin/sh
# Builds tutti's libFuzzer targets (tests/fuzz, docs/fuzzing.md) with clang,
# ASan and UBSan, and runs each for a bounded time from seeds and the
# recorded fixtures. Any crash, leak, timeout, sanitizer report or broken
# property makes it exit non-zero and print the reproducer's path.
#
#   tools/ci/fuzz.sh                        every target, 5 s each (CI)
#   tools/ci/fuzz.sh 30                     every target, 30 s each
#   TUTTI_FUZZ_SECONDS=1800 tools/ci/fuzz.sh codec   one target, 30 min
#   TUTTI_FUZZ_JOBS=5 TUTTI_FUZZ_SECONDS=1800 tools/ci/fuzz.sh
#                                           every target, 5 at a time
#
# Arguments: target names (with or without the _fuzz suffix) and at most
# one number, the seconds per target. Environment:
#   TUTTI_FUZZ_SECONDS    seconds per target (default 5; an argument wins)
#   TUTTI_FUZZ_JOBS       targets run at once (default 1)
#   TUTTI_FUZZ_BUILD_DIR  the clang build directory (default build-fuzz)
#   TUTTI_FUZZ_WORK_DIR   where corpora, logs and crashes go (default: a
#                         temporary directory, removed when all passed);
#                         give one to keep a corpus between long runs
#   CXX                   the compiler (default clang++)
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${TUTTI_FUZZ_BUILD_DIR:-build-fuzz}
case $build in
/*) ;;
*) build=$root/$build ;;
esac
seconds=${TUTTI_FUZZ_SECONDS:-5}
jobs=${TUTTI_FUZZ_JOBS:-1}
case $jobs in
'' | *[!0-9]* | 0)
  echo "fuzz.sh: TUTTI_FUZZ_JOBS must be a positive number" >&2
  exit 2
  ;;
esac
cores=$(nproc 2>/dev/null || echo 1)
if [ "$jobs" -gt "$cores" ]; then
  # libFuzzer's -timeout and -max_total_time are wall-clock time: targets
  # sharing a core run slower and get less CPU in the same time.
  echo "fuzz.sh: $jobs targets at once on $cores cores: each gets about" \
    "$cores/$jobs of a core; see the CPU time reported for each" >&2
fi

all_targets="sse_decoder stream_decoder codec codec_encode retry_headers config \
prompt_template batch_rows json_reader utf8 secrets vote combine \
server_openai server_guard http_request"

targets=
for arg in "$@"; do
  case $arg in
  *[!0-9]*) targets="$targets ${arg%_fuzz}" ;;
  '') ;;
  *) seconds=$arg ;;
  esac
done
[ -n "$targets" ] || targets=$all_targets
for t in $targets; do
  case " $all_targets " in
  *" $t "*) ;;
  *)
    echo "fuzz.sh: no target '$t'; the targets: $all_targets" >&2
    exit 2
    ;;
  esac
done

# The longest input libFuzzer makes for a target.
max_len_of() {
  case $1 in
  server_guard) echo 512 ;;
  utf8 | secrets | retry_headers) echo 1024 ;;
  prompt_template) echo 2048 ;;
  http_request) echo 20480 ;; # past the 16 KiB head limit
  sse_decoder | stream_decoder | codec | config | combine) echo 8192 ;;
  *) echo 4096 ;;
  esac
}

# Copies the seeds of target $1 into directory $2: its own under
# tests/fuzz/seeds/ and the recorded fixtures that fit it.
copy_seeds() {
  if [ -d "$root/tests/fuzz/seeds/$1" ]; then
    cp "$root/tests/fuzz/seeds/$1"/* "$2"/
  fi
  fixtures=$root/tests/fixtures
  case $1 in
  sse_decoder) find "$fixtures" -name '*.sse' ;;
  stream_decoder) find "$fixtures/aws_event_stream" -type f ;;
  codec) find "$fixtures" -path "$fixtures/config" -prune -o -type f -print ;;
  config) find "$fixtures/config" "$root/configs" -name '*.yaml' ;;
  json_reader) find "$fixtures" -name '*.json' ;;
  batch_rows) find "$root/configs" -name '*.jsonl' ;;
  prompt_template) find "$root/configs" -name "*.yaml" ;;
  vote) find "$fixtures/openai" -name "completion*.json" ;;
  esac | while read -r file; do
    # Fixtures of several vendors share names.
    cp "$file" "$2/$(echo "${file#"$root"/}" | tr / _)"
  done
}

echo "fuzz.sh: building in $build"
cmake -S "$root" -B "$build" -DCMAKE_CXX_COMPILER="${CXX:-clang++}" \
  -DTUTTI_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
build_targets=
for t in $targets; do
  build_targets="$build_targets ${t}_fuzz"
done
# shellcheck disable=SC2086 # one word per target
cmake --build "$build" -j2 --target $build_targets

if [ -n "${TUTTI_FUZZ_WORK_DIR:-}" ]; then
  work=$TUTTI_FUZZ_WORK_DIR
  keep=1
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/tutti-fuzz.XXXXXX")
  keep=0
fi
mkdir -p "$work"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# Runs target $1 and leaves its exit status in $work/$1/status.
run_target() {
  dir=$work/$1
  mkdir -p "$dir/corpus" "$dir/seeds"
  # A kept work directory holds the last run's status and reproducers.
  rm -f "$dir/status" "$dir/cpu" "$dir"/crash-* "$dir"/leak-* \
    "$dir"/timeout-* "$dir"/oom-* "$dir"/slow-unit-*
  copy_seeds "$1" "$dir/seeds"
  log=$dir/fuzz.log
  echo "fuzz.sh: $1 for ${seconds}s (max_len $(max_len_of "$1"))"
  status=0
  "$build/tests/fuzz/${1}_fuzz" -max_total_time="$seconds" \
    -max_len="$(max_len_of "$1")" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$dir/" \
    "$dir/corpus" "$dir/seeds" >"$log" 2>&1 || status=$?
  echo "$status" >"$dir/status"
  # The CPU time the fuzzer had (several run side by side share the cores):
  # the second line of `times` is this shell's children's user and system
  # (not in a pipe, whose subshell would not have them).
  times >"$dir/times"
  sed -n 2p "$dir/times" >"$dir/cpu"
}

# Prints how target $1 ended; adds it to $failed when it failed.
report_target() {
  dir=$work/$1
  log=$dir/fuzz.log
  status=$(cat "$dir/status" 2>/dev/null || echo 1)
  # The last status line: "#N DONE cov: C ft: F corp: U/Bb ... exec/s: E".
  stats=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  echo "fuzz.sh: $1: ${stats:-no status line} (cpu user/sys: $(cat "$dir/cpu" 2>/dev/null))"
  if [ "$status" -ne 0 ]; then
    failed="$failed $1"
    echo "fuzz.sh: $1 FAILED (exit $status); the end of $log:" >&2
    tail -n 60 "$log" >&2
    for crash in "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* \
      "$dir"/oom-* "$dir"/slow-unit-*; do
      [ -e "$crash" ] || continue
      echo "fuzz.sh: reproducer: $crash" >&2
      echo "  rerun: $build/tests/fuzz/${1}_fuzz $crash" >&2
    done
  fi
}

# At most $jobs targets at once, each in a subshell of its own.
running=0
for t in $targets; do
  (run_target "$t") &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait
    running=0
  fi
done
wait

failed=
for t in $targets; do
  report_target "$t"
done

if [ -n "$failed" ]; then
  echo "fuzz.sh: failed:$failed (corpora, logs and reproducers in $work)" >&2
  exit 1
fi
if [ "$keep" -eq 0 ]; then
  rm -rf "$work"
else
  echo "fuzz.sh: corpora and logs in $work"
fi
echo "fuzz.sh: all passed"
