#include "server/batch_jobs.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <system_error>

#include <fcntl.h>
#include <unistd.h>

#include <rapidjson/document.h>

#include "engine/src/json_writers.hpp"
#include "engine/src/line_reader.hpp"
#include "engine/src/random_hex.hpp"
#include "server/request_fields.hpp"
#include "tutti/config.hpp"
#include "tutti/engine.hpp"

namespace tutti::http {

using namespace fields;

namespace {

/// A results line longer than this is not read back (no failed row of
/// ours is near it: the answer of a failed row is null).
constexpr size_t max_result_line = 1 << 20;

} // namespace

std::variant<batch_call, api_error> parse_batch_request(std::string_view body,
                                                        const config& cfg) {
  try {
    auto doc = parse_object(body);
    batch_call call;
    auto* pipeline = field(doc, "pipeline");
    if (pipeline == nullptr)
      fail("pipeline", "request body: pipeline is required (the pipeline "
                       "every row runs)");
    call.pipeline = read_string(*pipeline, "pipeline");
    if (cfg.pipelines.count(call.pipeline) == 0)
      throw api_error{404,
                      "The pipeline " + fields::quoted(call.pipeline) +
                          " does not exist; expected one of: " +
                          join(names_of(cfg.pipelines, "")),
                      "invalid_request_error", "pipeline",
                      "pipeline_not_found"};
    auto* rows = field(doc, "rows");
    if (rows == nullptr || !rows->IsArray() || rows->Empty())
      fail("rows", "request body: rows must be a non-empty array of row "
                   "objects (each as a line of `tutti batch`'s input)");
    if (rows->Size() > max_batch_rows)
      fail("rows", "request body: at most " + std::to_string(max_batch_rows) +
                       " rows (" + std::to_string(rows->Size()) +
                       " given); run more with tutti batch");
    for (rapidjson::SizeType i = 0; i < rows->Size(); ++i) {
      auto& row = (*rows)[i];
      if (!row.IsObject())
        wrong_type("rows[" + std::to_string(i) + "]", "an object", row);
      call.rows.push_back(compact_json(row));
    }
    if (auto* v = field(doc, "concurrency")) {
      auto n = read_integer(*v, "concurrency");
      if (n < 1 || n > 256)
        fail("concurrency", "concurrency: from 1 to 256 rows at once");
      call.concurrency = static_cast<size_t>(n);
    }
    return call;
  } catch (api_error& e) {
    return std::move(e);
  }
}

batch_job::batch_job(std::string id, std::string pipeline,
                     std::filesystem::path dir, size_t rows,
                     int64_t created_unix)
    : id_(std::move(id)), pipeline_(std::move(pipeline)), dir_(std::move(dir)),
      rows_(rows), created_unix_(created_unix) {
  progress_.total = rows;
}

batch_job::~batch_job() {
  cancel();
  join();
  if (input_fd_ >= 0)
    ::close(input_fd_);
}

void batch_job::start(engine& e, size_t concurrency) {
  // Read through a descriptor, so that messages name the request's rows
  // ("rows:3: missing input ..."), not the server's files.
  std::lock_guard<std::mutex> life{life_mutex_};
  input_fd_ = ::open(input_path().c_str(), O_RDONLY | O_CLOEXEC);
  if (input_fd_ < 0)
    throw batch_error{"cannot read the batch's rows back"};
  batch_options options;
  options.pipeline = pipeline_;
  options.input_path = "rows";
  options.input_fd = input_fd_;
  options.output_path = results_path().string();
  options.concurrency = concurrency;
  runner_ = std::make_unique<batch_runner>(e, options);
  {
    std::lock_guard<std::mutex> guard{mutex_};
    progress_ = runner_->progress();
    if (cancel_requested_) // a DELETE came while the rows were written
      runner_->cancel();
  }
  thread_ = std::thread([this] {
    batch_progress last;
    std::string error;
    try {
      last = runner_->run([this](const batch_progress& p) {
        std::lock_guard<std::mutex> guard{mutex_};
        progress_ = p;
      });
    } catch (const std::exception& ex) {
      error = ex.what();
    }
    std::lock_guard<std::mutex> guard{mutex_};
    if (error.empty())
      progress_ = last;
    // The rows are read through a descriptor, as they are needed: the
    // request's count is the total.
    bool all_done = progress_.tally.rows >= rows_;
    status_ = !error.empty()                   ? "failed"
              : cancel_requested_ || !all_done ? "cancelled"
                                               : "completed";
    error_ = error;
    finished_unix_ = unix_now_ms() / 1000;
  });
}

void batch_job::cancel() {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (status_ != "running")
      return;
    cancel_requested_ = true;
  }
  std::lock_guard<std::mutex> life{life_mutex_};
  if (runner_)
    runner_->cancel();
}

void batch_job::join() {
  std::lock_guard<std::mutex> life{life_mutex_};
  if (thread_.joinable())
    thread_.join();
}

bool batch_job::finished() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return status_ != "running";
}

void batch_job::scan_failed_rows() {
  std::ifstream in{results_path(), std::ios::binary};
  if (!in)
    return;
  in.seekg(static_cast<std::streamoff>(scanned_bytes_));
  std::string line;
  bool too_long = false;
  while (read_line(in, line, max_result_line, too_long)) {
    if (in.eof())
      break; // a line still being written: read it next time
    scanned_bytes_ = static_cast<uint64_t>(in.tellg());
    if (too_long)
      continue;
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseIterativeFlag>(line.data(), line.size());
    if (doc.HasParseError() || !doc.IsObject())
      continue;
    auto* status = field(doc, "status");
    if (status == nullptr || !status->IsString())
      continue;
    std::string s = status->GetString();
    if (s != "failed" && s != "invalid")
      continue;
    ++failed_seen_;
    if (failed_rows_.size() >= max_failed_rows)
      continue;
    failed_batch_row row;
    row.status = s;
    if (auto* v = field(doc, "line"); v != nullptr && v->IsUint64())
      row.line = v->GetUint64();
    if (auto* v = field(doc, "id"))
      row.id_json = compact_json(*v);
    if (auto* error = field(doc, "error");
        error != nullptr && error->IsObject()) {
      if (auto* v = field(*error, "kind"); v != nullptr && v->IsString())
        row.kind = v->GetString();
      if (auto* v = field(*error, "message"); v != nullptr && v->IsString())
        row.message =
            std::string{v->GetString(), v->GetStringLength()}.substr(0, 1024);
    }
    failed_rows_.push_back(std::move(row));
  }
}

std::string batch_job::json(bool with_failed_rows) {
  batch_progress p;
  std::string status;
  std::string error;
  int64_t finished = 0;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    p = progress_;
    status = status_;
    error = error_;
    finished = finished_unix_;
  }
  std::vector<failed_batch_row> failed;
  size_t failed_seen = 0;
  if (with_failed_rows) {
    std::lock_guard<std::mutex> guard{scan_mutex_};
    scan_failed_rows();
    failed = failed_rows_;
    failed_seen = failed_seen_;
  }
  return json_detail::json_text([&](auto& w) {
    using json_detail::write_string;
    w.StartObject();
    w.Key("id");
    write_string(w, id_);
    w.Key("object");
    w.String("batch");
    w.Key("pipeline");
    write_string(w, pipeline_);
    w.Key("status");
    write_string(w, status);
    w.Key("error");
    json_detail::write_string_or_null(w, error);
    w.Key("created");
    w.Int64(created_unix_);
    w.Key("finished");
    if (finished > 0)
      w.Int64(finished);
    else
      w.Null();
    w.Key("rows");
    w.Uint64(rows_);
    w.Key("done");
    w.Uint64(p.tally.rows);
    w.Key("ok");
    w.Uint64(p.tally.ok);
    w.Key("partial");
    w.Uint64(p.tally.partial);
    w.Key("failed");
    w.Uint64(p.tally.failed);
    w.Key("invalid");
    w.Uint64(p.tally.invalid);
    w.Key("in_flight");
    w.Uint64(p.in_flight);
    w.Key("failures_by_kind");
    w.StartObject();
    for (auto& [kind, n] : p.tally.failures_by_kind) {
      w.Key(kind.c_str());
      w.Uint64(n);
    }
    w.EndObject();
    w.Key("usage");
    json_detail::write_usage(w, p.tally.usage);
    w.Key("cost_usd");
    w.Double(p.tally.cost_usd);
    w.Key("elapsed_ms");
    w.Int64(p.elapsed_us / 1000);
    auto rate = p.rows_per_second();
    w.Key("rows_per_s");
    w.Double(rate);
    w.Key("eta_ms");
    if (status == "running" && rate > 0)
      w.Int64(static_cast<int64_t>(
          std::llround((rows_ - std::min(rows_, p.tally.rows)) / rate * 1000)));
    else
      w.Null();
    if (with_failed_rows) {
      w.Key("failed_rows");
      w.StartArray();
      for (auto& row : failed) {
        w.StartObject();
        w.Key("line");
        w.Uint64(row.line);
        w.Key("id");
        if (row.id_json.empty())
          w.Null();
        else
          w.RawValue(row.id_json.data(), row.id_json.size(),
                     rapidjson::kStringType);
        w.Key("status");
        write_string(w, row.status);
        w.Key("kind");
        write_string(w, row.kind);
        w.Key("message");
        write_string(w, row.message);
        w.EndObject();
      }
      w.EndArray();
      w.Key("failed_rows_total");
      w.Uint64(failed_seen);
    }
    w.EndObject();
  });
}

batch_jobs::batch_jobs(std::filesystem::path dir, size_t max_running,
                       size_t keep_max)
    : dir_(std::move(dir)), max_running_(max_running), keep_max_(keep_max) {}

batch_jobs::~batch_jobs() {
  cancel_all();
  std::vector<std::shared_ptr<batch_job>> jobs;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    jobs.swap(jobs_);
  }
  for (auto& job : jobs)
    job->join();
  jobs.clear();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::shared_ptr<batch_job> batch_jobs::add(const std::string& pipeline,
                                           size_t rows, int64_t created_unix) {
  std::lock_guard<std::mutex> guard{mutex_};
  prune_locked();
  auto running = std::count_if(jobs_.begin(), jobs_.end(),
                               [](auto& j) { return !j->finished(); });
  if (static_cast<size_t>(running) >= max_running_)
    return nullptr;
  auto id = "batch_" + random_hex(24);
  auto dir = dir_ / id;
  std::filesystem::create_directories(dir);
  auto job = std::make_shared<batch_job>(id, pipeline, dir, rows, created_unix);
  jobs_.push_back(job);
  return job;
}

std::shared_ptr<batch_job> batch_jobs::find(const std::string& id) {
  std::lock_guard<std::mutex> guard{mutex_};
  for (auto& job : jobs_)
    if (job->id() == id)
      return job;
  return nullptr;
}

void batch_jobs::remove(const std::string& id) {
  std::shared_ptr<batch_job> gone;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    auto i = std::find_if(jobs_.begin(), jobs_.end(),
                          [&](auto& j) { return j->id() == id; });
    if (i == jobs_.end())
      return;
    gone = *i;
    jobs_.erase(i);
  }
  gone->cancel();
  gone->join();
  std::error_code ignored;
  std::filesystem::remove_all(dir_ / id, ignored);
}

std::vector<std::shared_ptr<batch_job>> batch_jobs::all() {
  std::lock_guard<std::mutex> guard{mutex_};
  return {jobs_.rbegin(), jobs_.rend()};
}

void batch_jobs::cancel_all() {
  for (auto& job : all())
    job->cancel();
}

void batch_jobs::prune_locked() {
  size_t finished = std::count_if(jobs_.begin(), jobs_.end(),
                                  [](auto& j) { return j->finished(); });
  for (auto i = jobs_.begin(); i != jobs_.end() && finished > keep_max_;) {
    if ((*i)->finished()) {
      (*i)->join();
      std::error_code ignored;
      std::filesystem::remove_all(dir_ / (*i)->id(), ignored);
      i = jobs_.erase(i);
      --finished;
    } else {
      ++i;
    }
  }
}

} // namespace tutti::http
