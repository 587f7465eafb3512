#pragma once

/// Batches started over HTTP (`POST /v1/batches`, docs/http.md#batches):
/// the same `batch_runner` as `tutti batch`, over rows the request carries,
/// written to an input file in the server's batch directory, its results
/// appended to a results file beside it. Each running batch has a thread of
/// its own (the runner waits for its rows; the actors never do); its
/// progress is read under a short lock, and the rows that failed are read
/// back from the results file, a few new bytes at a time.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include "server/openai.hpp"
#include "tutti/batch.hpp"

namespace tutti {
class engine;
struct config;
} // namespace tutti

namespace tutti::http {

/// What `POST /v1/batches` asks for.
struct batch_call {
  std::string pipeline;
  /// One JSONL line per row (an object, as `tutti batch` reads them).
  std::vector<std::string> rows;
  size_t concurrency = 16;
};

/// Most rows one request may carry.
constexpr size_t max_batch_rows = 100'000;

std::variant<batch_call, api_error> parse_batch_request(std::string_view body,
                                                        const config& cfg);

/// A row whose result is `failed` or `invalid`, as the batch view lists it.
struct failed_batch_row {
  size_t line = 0;
  std::string id_json; ///< the row's id as JSON
  std::string status;  ///< "failed" or "invalid"
  std::string kind;
  std::string message;
};

class batch_job {
public:
  batch_job(std::string id, std::string pipeline, std::filesystem::path dir,
            size_t rows, int64_t created_unix);
  ~batch_job();
  batch_job(const batch_job&) = delete;
  batch_job& operator=(const batch_job&) = delete;

  const std::string& id() const { return id_; }
  std::filesystem::path input_path() const { return dir_ / "input.jsonl"; }
  std::filesystem::path results_path() const { return dir_ / "results.jsonl"; }

  /// Runs the batch on a thread of its own; throws what `batch_runner`
  /// throws before anything runs (`batch_error`, `config_error`).
  void start(engine& e, size_t concurrency);
  /// Starts no new row and cancels those in flight (their rows get no
  /// result).
  void cancel();
  /// Waits for the thread (after `cancel`, briefly).
  void join();
  bool finished() const;

  /// The batch as `GET /v1/batches/{id}` shows it; with its failed rows
  /// (at most `max_failed_rows`, read from the results file) when asked.
  std::string json(bool with_failed_rows);

  static constexpr size_t max_failed_rows = 100;

private:
  /// Reads the results file's lines written since the last call.
  void scan_failed_rows();

  const std::string id_;
  const std::string pipeline_;
  const std::filesystem::path dir_;
  const size_t rows_;
  const int64_t created_unix_;
  /// Guards `runner_` and `thread_` while they are set, cancelled and
  /// joined (from the route's threads); the batch's own thread never takes
  /// it.
  std::mutex life_mutex_;
  int input_fd_ = -1; ///< the rows, read by the runner
  std::unique_ptr<batch_runner> runner_;
  std::thread thread_;

  mutable std::mutex mutex_;
  batch_progress progress_;
  std::string status_ = "running"; ///< completed, cancelled, failed
  std::string error_;              ///< why it failed
  int64_t finished_unix_ = 0;
  bool cancel_requested_ = false;

  std::mutex scan_mutex_; ///< one reader of the results file at a time
  uint64_t scanned_bytes_ = 0;
  std::vector<failed_batch_row> failed_rows_;
  size_t failed_seen_ = 0;
};

/// The batches of one server: at most `max_running` at once, finished ones
/// until `keep_max` newer ones have finished. Their files live under
/// `dir`, removed with the server.
class batch_jobs {
public:
  batch_jobs(std::filesystem::path dir, size_t max_running, size_t keep_max);
  /// Cancels every batch, waits for their threads and removes the files.
  ~batch_jobs();

  /// A new job with a fresh id and its directory; null when `max_running`
  /// run already.
  std::shared_ptr<batch_job> add(const std::string& pipeline, size_t rows,
                                 int64_t created_unix);
  std::shared_ptr<batch_job> find(const std::string& id);
  void remove(const std::string& id);
  /// Newest first.
  std::vector<std::shared_ptr<batch_job>> all();
  void cancel_all();

private:
  void prune_locked();

  std::filesystem::path dir_;
  size_t max_running_;
  size_t keep_max_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<batch_job>> jobs_; ///< oldest first
};

} // namespace tutti::http
