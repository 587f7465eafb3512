// The batch runner: reads input rows as it needs them, keeps `concurrency`
// pipeline runs in flight on the engine, and appends each result line with
// one write(2) on an O_APPEND descriptor, so that a killed process leaves
// whole lines plus at most one torn last line, which `resume` drops.

#include "tutti/batch.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "engine/src/names.hpp"
#include "engine/src/write_all.hpp"
#include "tutti/engine.hpp"

namespace tutti {

namespace {

using steady = std::chrono::steady_clock;

bool blank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

/// `line` without the carriage return of a CRLF file.
void chomp(std::string& line) {
  if (!line.empty() && line.back() == '\r')
    line.pop_back();
}

/// Reads the next line of `in` (without its '\n') into `line`, keeping at
/// most `max` bytes; false at the end of the input. `too_long` tells that
/// the line had more, which were read past and dropped.
bool read_line(std::istream& in, std::string& line, size_t max,
               bool& too_long) {
  line.clear();
  too_long = false;
  auto* buffer = in.rdbuf();
  bool any = false;
  for (;;) {
    auto c = buffer->sbumpc();
    if (c == std::char_traits<char>::eof()) {
      in.setstate(std::ios::eofbit);
      return any;
    }
    any = true;
    if (c == '\n')
      return true;
    if (line.size() < max)
      line.push_back(static_cast<char>(c));
    else
      too_long = true;
  }
}

/// The row of a line longer than the limit.
batch_row overlong_row(size_t line, const std::string& source, size_t max) {
  batch_row row;
  row.line = line;
  row.id_json = std::to_string(line);
  row.error = source + ":" + std::to_string(line) +
              ": the row is longer than " + std::to_string(max) +
              " bytes (the limit; see max_row_bytes)";
  return row;
}

/// Opens the input: it must be a regular file, which is read twice (rows
/// are counted first), so a directory, a pipe or a device is refused.
void open_input(std::ifstream& in, const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0)
    throw batch_error(path + ": cannot read: " + std::strerror(errno));
  if (S_ISDIR(info.st_mode))
    throw batch_error(path + ": is a directory, not a file of rows");
  if (!S_ISREG(info.st_mode))
    throw batch_error(path + ": not a regular file (the rows are read twice, "
                             "so a pipe or device cannot be the input)");
  in.open(path, std::ios::binary);
  if (!in)
    throw batch_error(path + ": cannot read: " + std::strerror(errno));
}

} // namespace

struct batch_runner::impl {
  engine& eng;
  batch_options options;
  std::vector<std::string> input_names;
  std::string output_step;
  batch_results_file before;
  size_t retried = 0; ///< failed rows dropped to be redone
  size_t total = 0;

  std::ifstream input;
  size_t lines_read = 0;
  bool input_done = false;
  int fd = -1;

  std::atomic<bool> stop_requested{false};
  std::atomic<bool> cancel_requested{false};
  bool cancel_sent = false;
  std::string fatal; ///< why the batch stopped on its own

  /// A run's result, handed over from an engine thread.
  struct arrival {
    uint64_t seq = 0;
    batch_row row;
    pipeline_result result;
  };
  std::mutex mtx;
  std::condition_variable cv;
  std::deque<arrival> arrivals;         // guarded by mtx
  std::map<uint64_t, uint64_t> running; ///< seq -> engine run id

  batch_tally tally;
  uint64_t next_seq = 1;
  steady::time_point started;

  impl(engine& e, batch_options o) : eng(e), options(std::move(o)) {
    auto& cfg = eng.loaded_config();
    auto p = cfg.pipelines.find(options.pipeline);
    if (p == cfg.pipelines.end())
      throw batch_error(
          "unknown pipeline '" + options.pipeline +
          "'; expected one of: " + join_names(keys_of(cfg.pipelines)));
    input_names = p->second.inputs;
    output_step = p->second.output;
    if (options.concurrency == 0)
      throw batch_error("concurrency must be at least 1");
    namespace fs = std::filesystem;
    std::error_code ec;
    if (fs::exists(options.output_path, ec) &&
        fs::equivalent(options.input_path, options.output_path, ec))
      throw batch_error(options.output_path +
                        ": the results file is the input file");
    read_output();
    count_input();
    open_output();
    tally = before.tally;
    open_input(input, options.input_path);
  }

  ~impl() {
    if (fd >= 0)
      ::close(fd);
  }

  /// What the results file already holds; nothing is written yet.
  void read_output() {
    auto& path = options.output_path;
    if (options.retry_failed) {
      retried = drop_failed_results(path);
      before = read_batch_results(path);
    } else if (options.resume) {
      before = read_batch_results(path);
    } else {
      std::error_code ec;
      auto size = std::filesystem::file_size(path, ec);
      if (!ec && size > 0)
        throw batch_error(path + ": already holds results; pass --resume to "
                                 "complete it, or remove it to start over");
    }
  }

  /// Opens the results file for appending, without its torn last line.
  void open_output() {
    auto& path = options.output_path;
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
      throw batch_error(path +
                        ": cannot open for writing: " + std::strerror(errno));
    if (before.torn &&
        ::ftruncate(fd, static_cast<off_t>(before.complete_bytes)) != 0)
      throw batch_error(
          path + ": cannot drop its torn last line: " + std::strerror(errno));
  }

  /// Counts the rows and checks that each result in the results file
  /// belongs to the input line it names.
  void count_input() {
    std::ifstream in;
    open_input(in, options.input_path);
    std::string line;
    size_t number = 0;
    bool too_long = false;
    std::set<size_t> rows_seen; // of the lines with a result
    while (read_line(in, line, options.max_row_bytes, too_long)) {
      ++number;
      chomp(line);
      if (!too_long && blank(line))
        continue;
      ++total;
      auto done = before.done.find(number);
      if (done == before.done.end())
        continue;
      rows_seen.insert(number);
      auto row =
          too_long
              ? overlong_row(number, options.input_path, options.max_row_bytes)
              : parse_batch_row(line, number, options.input_path, input_names);
      if (row.id_json != done->second)
        throw batch_error(options.output_path + ": its result for " +
                          options.input_path + " line " +
                          std::to_string(number) + " has id " + done->second +
                          ", but that line's id is " + row.id_json +
                          ": the results belong to another input");
    }
    for (auto& [number, id] : before.done)
      if (rows_seen.count(number) == 0)
        throw batch_error(options.output_path + ": holds a result for " +
                          options.input_path + " line " +
                          std::to_string(number) +
                          ", which has no row: the results belong to "
                          "another input");
  }

  /// Appends one result line with a single write; false (and `fatal` says
  /// why) when it could not be written.
  bool write_line(const std::string& line) {
    if (write_all(fd, line))
      return true;
    fatal = options.output_path + ": cannot write: " + std::strerror(errno);
    return false;
  }

  /// The next row without a result, or false at the end of the input.
  bool next_row(batch_row& row) {
    std::string line;
    bool too_long = false;
    while (read_line(input, line, options.max_row_bytes, too_long)) {
      ++lines_read;
      chomp(line);
      if ((!too_long && blank(line)) || before.done.count(lines_read) > 0)
        continue;
      row = too_long ? overlong_row(lines_read, options.input_path,
                                    options.max_row_bytes)
                     : parse_batch_row(line, lines_read, options.input_path,
                                       input_names);
      return true;
    }
    input_done = true;
    return false;
  }

  bool taking_rows() const {
    return !stop_requested && !cancel_requested && fatal.empty();
  }

  /// Starts rows until `concurrency` are in flight.
  void fill() {
    batch_row row;
    while (taking_rows() && running.size() < options.concurrency &&
           !input_done && next_row(row)) {
      if (!row.error.empty()) {
        if (write_line(batch_invalid_line(row)))
          count_invalid(tally);
        continue;
      }
      auto seq = next_seq++;
      run_options run;
      run.priority = priority::batch;
      run.record.kind = "batch";
      run.no_cache = options.no_cache;
      auto inputs = row.inputs;
      try {
        running[seq] = 0;
        running[seq] =
            eng.start_run(options.pipeline, inputs, std::move(run),
                          [this, seq, row](pipeline_result result) {
                            // Notified under the lock: once the caller's
                            // thread sees the last arrival it may return and
                            // destroy `cv`, which a notify after the unlock
                            // would still be using.
                            std::lock_guard<std::mutex> guard{mtx};
                            arrivals.push_back({seq, row, std::move(result)});
                            cv.notify_one();
                          });
      } catch (const std::exception& e) {
        // A provider that cannot start (an unset ${VAR}): every row would
        // fail alike, so the batch stops and says why.
        running.erase(seq);
        fatal = e.what();
      }
    }
  }

  /// Writes the results that have come in.
  void drain() {
    std::deque<arrival> ready;
    {
      std::lock_guard<std::mutex> guard{mtx};
      ready.swap(arrivals);
    }
    for (auto& a : ready) {
      running.erase(a.seq);
      // A cancelled row keeps no result unless it got its answer whole:
      // `resume` runs it again.
      if (cancel_requested && a.result.status != answer_status::ok)
        continue;
      if (fatal.empty() &&
          write_line(batch_result_line(a.row, a.result, output_step)))
        count_result(a.result, tally);
    }
  }

  void cancel_running() {
    if (cancel_sent)
      return;
    cancel_sent = true;
    for (auto& [seq, run] : running)
      if (run != 0)
        eng.cancel(run);
  }

  batch_progress progress() const {
    batch_progress p;
    p.total = total;
    p.done_before = before.tally.rows;
    p.retried = retried;
    p.tally = tally;
    p.in_flight = running.size();
    p.elapsed_us = started == steady::time_point{}
                       ? 0
                       : std::chrono::duration_cast<std::chrono::microseconds>(
                             steady::now() - started)
                             .count();
    p.stopping = stop_requested || cancel_requested || !fatal.empty();
    p.cancelling = cancel_requested;
    return p;
  }

  void sync() { ::fdatasync(fd); }

  batch_progress run(const std::function<void(const batch_progress&)>& tick) {
    started = steady::now();
    auto next_tick = started + options.tick;
    auto next_sync = started + options.sync_every;
    for (;;) {
      drain();
      if (!fatal.empty() || cancel_requested)
        cancel_running();
      fill();
      if (running.empty() && (input_done || !taking_rows()))
        break;
      {
        std::unique_lock<std::mutex> lock{mtx};
        cv.wait_until(lock, std::min(next_tick, next_sync),
                      [this] { return !arrivals.empty(); });
      }
      auto now = steady::now();
      if (now >= next_sync) {
        sync();
        next_sync = now + options.sync_every;
      }
      if (now >= next_tick) {
        if (tick)
          tick(progress());
        next_tick = now + options.tick;
      }
    }
    sync();
    if (!fatal.empty())
      throw batch_error(fatal);
    return progress();
  }
};

batch_runner::batch_runner(engine& e, batch_options options)
    : impl_(std::make_unique<impl>(e, std::move(options))) {
  // nop
}

batch_runner::~batch_runner() = default;

batch_progress
batch_runner::run(const std::function<void(const batch_progress&)>& on_tick) {
  return impl_->run(on_tick);
}

void batch_runner::stop() {
  impl_->stop_requested = true;
  impl_->cv.notify_one();
}

void batch_runner::cancel() {
  impl_->cancel_requested = true;
  impl_->cv.notify_one();
}

batch_progress batch_runner::progress() const {
  return impl_->progress();
}

} // namespace tutti
