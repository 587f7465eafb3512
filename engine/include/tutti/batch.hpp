#pragma once

/// Batch runs: one pipeline over every row of a JSONL file, each row's
/// result appended to a JSONL results file as soon as it is known. The
/// results file is the whole state of a batch: a run that stops (Ctrl-C, a
/// crash, kill -9) is completed by running again with `resume`, which skips
/// the input lines that already have a result and redoes a torn last line.
/// The format of both files is in docs/batch.md.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tutti/messages.hpp"

namespace tutti {

class engine;

/// A batch that cannot start: an unreadable file, a results file that
/// belongs to another input, one that is there without `resume`. The
/// message names the file and line.
class batch_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// One input row, read from its line.
struct batch_row {
  size_t line = 0;     ///< 1-based line number in the input file
  std::string id_json; ///< its "id" as JSON (string or number); else the line
  std::map<std::string, std::string> inputs;
  std::string error; ///< why the line is not a valid row; empty: valid
};

/// Reads line `line` of `source` (its text without the line break) as a row
/// for a pipeline that takes `input_names`. The inputs are taken from the
/// row's `inputs` object when it has one, else from its top-level fields;
/// other fields are ignored. Strings are used as they are, other JSON
/// values as their JSON text. A line that is not a JSON object, or lacks an
/// input, gives a row whose `error` says so, naming `source:line`.
batch_row parse_batch_row(std::string_view text, size_t line,
                          const std::string& source,
                          const std::vector<std::string>& input_names);

/// Counts of the rows in a results file.
struct batch_tally {
  size_t rows = 0;
  size_t ok = 0;
  size_t partial = 0;
  size_t failed = 0;
  size_t invalid = 0; ///< input lines that were not valid rows
  std::map<std::string, size_t> failures_by_kind;
  tutti::usage usage;
  double cost_usd = 0;
};

/// The result line (JSON and a line break) of a row that ran: id, line,
/// status, the output step's answer and members, every step's status,
/// usage, cost, error (kind and message, null when it has an answer) and
/// wall time.
std::string batch_result_line(const batch_row& row,
                              const pipeline_result& result,
                              const std::string& output_step);

/// The result line of a row whose input line is not a valid row: status
/// `invalid`, error kind `bad_input`.
std::string batch_invalid_line(const batch_row& row);

/// Adds the row of `batch_result_line` for `result` to `tally`.
void count_result(const pipeline_result& result, batch_tally& tally);

/// Adds the row of `batch_invalid_line` to `tally`.
void count_invalid(batch_tally& tally);

/// Adds a result line read back from a results file to `tally`; a line
/// that is not a result row adds nothing.
void count_result_line(std::string_view line, batch_tally& tally);

/// What a results file holds, read for `resume`.
struct batch_results_file {
  /// Input line number -> the id its result row carries.
  std::map<size_t, std::string> done;
  batch_tally tally;
  /// Bytes of the complete result lines; anything after is a torn line
  /// (a write cut short by a crash) to drop and redo.
  uint64_t complete_bytes = 0;
  bool torn = false;
};

/// Reads the results file at `path` (missing: empty). Throws `batch_error`
/// on a complete line that is not a result row, or two rows for one input
/// line, naming `path:line`.
batch_results_file read_batch_results(const std::string& path);

/// Removes the result rows whose status is `failed` (and a torn last line)
/// from the results file at `path`, so that resuming redoes those rows
/// once each. The file is replaced whole (a new file renamed over it, both
/// flushed to disk): a crash leaves the old file or the new one. Returns
/// how many rows it removed; throws `batch_error` as `read_batch_results`
/// does, or when the file cannot be replaced.
size_t drop_failed_results(const std::string& path);

struct batch_options {
  std::string pipeline;
  std::string input_path;
  std::string output_path;
  /// >= 0: read the rows from this descriptor (stdin, a pipe, a terminal)
  /// instead of opening `input_path`, which then only names it in messages
  /// ("stdin"). A stream is read once, as the rows are needed, on a thread
  /// of its own a few lines ahead (so a slow writer never holds up the
  /// results of the rows in flight); it is not counted up front, so
  /// `batch_progress::total` grows as it is read. Not with `resume`: the
  /// results are matched to their input lines by reading the input before
  /// anything runs. The descriptor is not closed.
  int input_fd = -1;
  /// >= 0: append the result lines to this descriptor (stdout) instead of
  /// opening `output_path`, which then only names it in messages
  /// ("stdout"). Nothing is read back from it, so not with `resume`.
  /// The descriptor is not closed.
  int output_fd = -1;
  size_t concurrency = 16; ///< rows running at once
  /// Complete an existing results file; without it an existing, non-empty
  /// results file is an error (nothing is overwritten).
  bool resume = false;
  /// Redo the rows whose result is `failed`, once each (implies `resume`):
  /// `drop_failed_results` first, then resume.
  bool retry_failed = false;
  /// Neither read nor fill the response cache.
  bool no_cache = false;
  /// How often `run` calls its `on_tick`.
  std::chrono::milliseconds tick{100};
  /// Flush the results file to disk (fdatasync) at least this often; it
  /// is also flushed at the end. A killed process loses no written row
  /// either way; this bounds what a power cut can take.
  std::chrono::milliseconds sync_every{1000};
  /// Longest input row, in bytes; a longer line is an invalid row (its
  /// bytes beyond the limit are skipped, never held).
  size_t max_row_bytes = 8 << 20;
};

/// Where a batch stands.
struct batch_progress {
  size_t total = 0; ///< rows in the input file (a stream: read so far)
  /// Whether `total` is every row: always for a file, for a stream once
  /// its end has been read.
  bool total_known = true;
  size_t done_before = 0; ///< rows with a result before this run began
  size_t retried = 0;     ///< failed rows this run redoes (`retry_failed`)
  batch_tally tally;      ///< every row with a result, those before included
  size_t in_flight = 0;
  int64_t elapsed_us = 0;  ///< since this run began
  bool stopping = false;   ///< `stop` was called: no new rows start
  bool cancelling = false; ///< `cancel` was called
  /// Rows still without a result (in flight or not started).
  size_t left() const { return total - tally.rows; }
  /// Rows finished in this run per second; 0 before any time has passed.
  double rows_per_second() const {
    auto seconds = elapsed_us / 1e6;
    return seconds > 0 ? (tally.rows - done_before) / seconds : 0;
  }
};

/// Runs one batch on an engine. Not thread-safe except `stop` and
/// `cancel`, which any thread (and `on_tick`) may call.
class batch_runner {
public:
  /// Checks the pipeline, reads the results file (truncating a torn last
  /// line when resuming) and counts the input rows. Throws `batch_error`
  /// or `config_error` before anything runs.
  batch_runner(engine& e, batch_options options);
  ~batch_runner();

  batch_runner(const batch_runner&) = delete;
  batch_runner& operator=(const batch_runner&) = delete;

  /// Runs every row without a result, at most `concurrency` at once, in
  /// input order, each at batch priority; appends each result line as it
  /// comes (one write per line). An invalid input line gets its `invalid`
  /// row and the batch goes on. Calls `on_tick` every `tick` on this
  /// thread. Returns when every row has its result, or after `stop` when
  /// the rows in flight have ended. After `cancel` a row in flight gets a
  /// result line only if it still came back `ok`; the others have none,
  /// so `resume` redoes them.
  batch_progress run(const std::function<void(const batch_progress&)>& on_tick);

  /// Starts no new row; the rows in flight finish.
  void stop();
  /// Also cancels the rows in flight.
  void cancel();

  /// Where the batch stands before `run` (rows, those already done).
  batch_progress progress() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace tutti
