# The sanitizers' options for an ASan + UBSan build, sourced by
# sanitizers.sh and soak.sh (CI_DIR: this directory).
# halt_on_error: the first report ends the process, so its test fails.
# detect_leaks: LeakSanitizer at exit, with tools/ci/lsan.supp.
ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0\
:detect_stack_use_after_return=1:check_initialization_order=1\
:strict_init_order=1"
UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:print_summary=1"
LSAN_OPTIONS="suppressions=$CI_DIR/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
