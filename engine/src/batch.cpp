// The batch runner: reads input rows as it needs them, keeps `concurrency`
// pipeline runs in flight on the engine, and appends each result line with
// one write(2) on an O_APPEND descriptor, so that a killed process leaves
// whole lines plus at most one torn last line, which `resume` drops. Rows
// from a stream (stdin) are read by a thread of its own a few lines ahead,
// so that waiting for a slow writer never holds up the results.

#include "tutti/batch.hpp"

#include <fcntl.h>
#include <poll.h>
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
#include <optional>
#include <thread>

#include "engine/src/line_reader.hpp"
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
    throw batch_error(path + ": not a regular file (the rows of a file are "
                             "read twice; to read them from a pipe, pass "
                             "--in - and give them on stdin)");
  in.open(path, std::ios::binary);
  if (!in)
    throw batch_error(path + ": cannot read: " + std::strerror(errno));
}

/// What `fd` (when >= 0) or else `path` is; nothing when it does not exist.
std::optional<struct stat> file_status(int fd, const std::string& path) {
  struct stat info {};
  if (fd >= 0 ? ::fstat(fd, &info) == 0 : ::stat(path.c_str(), &info) == 0)
    return info;
  return std::nullopt;
}

/// The lines of a stream (stdin, a pipe), read on a thread of its own at
/// most `ahead` lines ahead of the runner; each line keeps at most `max`
/// bytes (the rest is read past and dropped, never held), so what it holds
/// is bounded by (ahead + 1) * max.
class stream_lines {
public:
  struct line {
    std::string text;
    bool too_long = false;
  };

  /// Starts reading `fd` (named `name` in errors); calls `wake` (from the
  /// reading thread) after each line and at the end.
  stream_lines(int fd, std::string name, size_t max, std::function<void()> wake)
      : fd_(fd), name_(std::move(name)), max_(max), wake_(std::move(wake)) {
    if (::pipe2(stop_pipe_, O_CLOEXEC) != 0)
      throw batch_error(name_ + ": cannot read: " + std::strerror(errno));
    thread_ = std::thread{[this] { read_all(); }};
  }

  /// Stops reading, even in the middle of a line or while the writer is
  /// silent, and joins the thread.
  ~stream_lines() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      stopping_ = true;
    }
    room_.notify_one();
    char byte = 0;
    while (::write(stop_pipe_[1], &byte, 1) < 0 && errno == EINTR) {
    }
    thread_.join();
    ::close(stop_pipe_[0]);
    ::close(stop_pipe_[1]);
  }

  stream_lines(const stream_lines&) = delete;
  stream_lines& operator=(const stream_lines&) = delete;

  /// Takes the next line read; false when none is ready yet (or ever:
  /// see `ended`).
  bool pop(line& out) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (lines_.empty())
        return false;
      out = std::move(lines_.front());
      lines_.pop_front();
    }
    room_.notify_one();
    return true;
  }

  /// A line is ready, or the end.
  bool ready() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return !lines_.empty() || ended_;
  }

  /// Every line has been taken and no more will come; `error` says
  /// whether the stream ended in a read error.
  bool ended() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return lines_.empty() && ended_;
  }

  std::string error() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return error_;
  }

private:
  static constexpr size_t ahead = 2;

  /// Hands one line over, waiting for room; false when stopping.
  bool push(line&& l) {
    {
      std::unique_lock<std::mutex> lock{mtx_};
      room_.wait(lock, [this] { return lines_.size() < ahead || stopping_; });
      if (stopping_)
        return false;
      lines_.push_back(std::move(l));
    }
    wake_();
    return true;
  }

  void end(std::string error) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      ended_ = true;
      error_ = std::move(error);
    }
    wake_();
  }

  void read_all() {
    std::vector<char> buffer(64 * 1024);
    line current;
    bool any = false; // `current` has begun
    for (;;) {
      pollfd fds[2] = {{fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR)
          continue;
        return end(name_ + ": cannot read: " + std::strerror(errno));
      }
      if (fds[1].revents != 0)
        return; // stopping
      auto n = ::read(fd_, buffer.data(), buffer.size());
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN)
          continue;
        return end(name_ + ": cannot read: " + std::strerror(errno));
      }
      if (n == 0) {
        if (any && !push(std::move(current)))
          return;
        return end({});
      }
      std::string_view chunk{buffer.data(), static_cast<size_t>(n)};
      while (!chunk.empty()) {
        any = true;
        auto newline = chunk.find('\n');
        auto piece = chunk.substr(0, newline);
        auto room = max_ - std::min(max_, current.text.size());
        current.text.append(piece.substr(0, room));
        if (piece.size() > room)
          current.too_long = true;
        if (newline == std::string_view::npos)
          break;
        if (!push(std::move(current)))
          return;
        current = line{};
        any = false;
        chunk.remove_prefix(newline + 1);
      }
    }
  }

  int fd_;
  std::string name_;
  size_t max_;
  std::function<void()> wake_;
  int stop_pipe_[2] = {-1, -1};
  mutable std::mutex mtx_;
  std::condition_variable room_;
  std::deque<line> lines_; // guarded by mtx_
  bool ended_ = false;     // guarded by mtx_
  bool stopping_ = false;  // guarded by mtx_
  std::string error_;      // guarded by mtx_
  std::thread thread_;
};

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
  /// The rows of a stream (`input_fd`), once `run` began.
  std::unique_ptr<stream_lines> stream;
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
    refuse_resume_of_streams();
    auto in = file_status(options.input_fd, options.input_path);
    auto out = file_status(options.output_fd, options.output_path);
    if (in && out && S_ISREG(in->st_mode) && in->st_dev == out->st_dev &&
        in->st_ino == out->st_ino)
      throw batch_error(options.output_path +
                        ": the results file is the input file");
    read_output();
    if (options.input_fd < 0)
      count_input();
    open_output();
    tally = before.tally;
    if (options.input_fd < 0)
      open_input(input, options.input_path);
  }

  ~impl() {
    stream.reset(); // its thread wakes `cv`
    if (fd >= 0 && fd != options.output_fd)
      ::close(fd);
  }

  /// Resuming reads the results back and matches them to the input lines
  /// before anything runs: neither works on a stream.
  void refuse_resume_of_streams() const {
    if (!options.resume && !options.retry_failed)
      return;
    if (options.output_fd >= 0)
      throw batch_error(options.output_path +
                        ": cannot resume: results written to a stream cannot "
                        "be read back; write them to a file (--out FILE) to "
                        "be able to resume a batch");
    if (options.input_fd >= 0)
      throw batch_error(options.input_path +
                        ": cannot resume from a stream: resuming matches each "
                        "result to its input line, and a stream can be read "
                        "only once; save the rows to a file and resume with "
                        "--in FILE");
  }

  /// What the results file already holds; nothing is written yet.
  void read_output() {
    auto& path = options.output_path;
    if (options.output_fd >= 0)
      return; // appended to as it is; resuming was refused
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
    if (options.output_fd >= 0) {
      fd = options.output_fd;
      return;
    }
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
    if (options.input_fd >= 0)
      return next_stream_row(row);
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

  /// The next row the stream has ready; false when none is ready yet, or
  /// at its end (`input_done`). Rows are counted as they are read.
  bool next_stream_row(batch_row& row) {
    if (!stream)
      return false;
    stream_lines::line l;
    while (stream->pop(l)) {
      ++lines_read;
      chomp(l.text);
      if (!l.too_long && blank(l.text))
        continue;
      ++total;
      row = l.too_long ? overlong_row(lines_read, options.input_path,
                                      options.max_row_bytes)
                       : parse_batch_row(l.text, lines_read, options.input_path,
                                         input_names);
      return true;
    }
    if (stream->ended()) {
      input_done = true;
      if (fatal.empty())
        fatal = stream->error();
    }
    return false;
  }

  /// Whether the run loop would take a row now.
  bool wants_rows() const {
    return taking_rows() && running.size() < options.concurrency && !input_done;
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
    p.total_known = options.input_fd < 0 || input_done;
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
    if (options.input_fd >= 0)
      stream = std::make_unique<stream_lines>(
          options.input_fd, options.input_path, options.max_row_bytes, [this] {
            std::lock_guard<std::mutex> guard{mtx};
            cv.notify_one();
          });
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
        cv.wait_until(lock, std::min(next_tick, next_sync), [this] {
          return !arrivals.empty() ||
                 (stream && wants_rows() && stream->ready());
        });
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
    stream.reset(); // a stopped batch leaves the rest of the stream unread
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
