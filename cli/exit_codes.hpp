#pragma once

/// The exit codes of `tutti ask`, `run`, `validate` and `providers`, and of
/// any subcommand's usage or config error. `batch` and `serve` say their own
/// in their headers.

namespace tutti::cli {

/// An answer: status ok or partial (`validate`: the config is valid).
constexpr int exit_answer = 0;

/// No answer: status failed (every member failed, fewer than `min_success`
/// succeeded, or the strategy found nothing to answer with; for a pipeline,
/// its output step has no answer).
constexpr int exit_no_answer = 1;

/// A usage or config error.
constexpr int exit_usage = 2;

} // namespace tutti::cli
