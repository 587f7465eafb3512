// /v1/batches: a pipeline over many rows, as `tutti batch` runs it, started
// over HTTP and watched while it runs (the dashboard's Batches view).
// Admin only: a batch spends for many questions at once.

#include <fstream>

#include "server/guard.hpp"
#include "server/server_impl.hpp"

namespace tutti {

namespace {

using http::api_error;
using http::error_response;
using http::exchange_ptr;
using http::json_response;

/// Results beyond this are not sent whole; `tutti batch` (or the file,
/// on the server's machine) has them.
constexpr uintmax_t max_results_bytes = 64u << 20;

} // namespace

bool server::impl::admin_only(http::exchange& ex, const char* what) {
  if (ex.key_name.empty())
    return true;
  ex.respond(
      error_response(api_error{403,
                               "API key '" + ex.key_name + "' may not " + what +
                                   "; the server's token may",
                               "invalid_request_error", "", "forbidden"}));
  return false;
}

void server::impl::create_batch(const exchange_ptr& ex) {
  if (!admin_only(*ex, "run batches"))
    return;
  auto parsed = valid_call(
      http::parse_batch_request(ex->body(), engine.loaded_config()), *ex);
  if (!parsed)
    return;
  ex->target = parsed->pipeline;
  auto call = std::make_shared<http::batch_call>(std::move(*parsed));
  // Files are written and the runner reads them on the waiting pool, off
  // the connection's thread.
  bool queued = waiting.submit([this, ex, call] {
    std::shared_ptr<http::batch_job> job;
    http::response r;
    try {
      job = batches.add(call->pipeline, call->rows.size(), http::unix_now());
      if (!job) {
        r = error_response(api_error{
            429, "Too many batches are running; retry when one has finished",
            "rate_limit_error", "", "too_many_batches"});
        r.headers.emplace_back("Retry-After", "5");
      } else {
        {
          std::ofstream out{job->input_path(), std::ios::binary};
          for (auto& row : call->rows)
            out << row << '\n';
          out.close();
          if (!out)
            throw batch_error{"cannot write " + job->input_path().string()};
        }
        job->start(engine, call->concurrency);
        r = json_response(202, job->json(false));
        r.headers.emplace_back("Location", "/v1/batches/" + job->id());
      }
    } catch (const std::exception& e) {
      if (job)
        batches.remove(job->id());
      r = error_response(
          api_error{500, std::string{"The batch cannot start: "} + e.what(),
                    "server_error", "", "batch_error"});
    }
    ex->post([ex, r = std::move(r)]() mutable { ex->respond(std::move(r)); });
  });
  if (!queued)
    ex->respond(error_response(api_error{503, "Too busy; try again shortly",
                                         "server_error", "", "busy"}));
}

std::shared_ptr<http::batch_job> server::impl::find_batch(const std::string& id,
                                                          http::exchange& ex) {
  if (!admin_only(ex, "read batches"))
    return nullptr;
  auto job = batches.find(id);
  if (!job)
    ex.respond(error_response(
        api_error{404,
                  "No batch '" + id +
                      "' (this server forgets a batch once 100 newer ones have "
                      "finished, and all of them when it stops)",
                  "invalid_request_error", "id", "batch_not_found"}));
  return job;
}

void server::impl::list_batches(const exchange_ptr& ex) {
  if (!admin_only(*ex, "read batches"))
    return;
  std::string body = "{\"object\":\"list\",\"data\":[";
  bool first = true;
  for (auto& job : batches.all()) {
    body += (first ? "" : ",") + job->json(false);
    first = false;
  }
  body += "]}";
  ex->respond(json_response(200, std::move(body)));
}

void server::impl::get_batch(const std::string& id, const exchange_ptr& ex) {
  auto job = find_batch(id, *ex);
  if (!job)
    return;
  // Its failed rows are read from the results file: on the waiting pool.
  answer_waiting(ex, [job] { return json_response(200, job->json(true)); });
}

void server::impl::delete_batch(const std::string& id, const exchange_ptr& ex) {
  auto job = find_batch(id, *ex);
  if (!job)
    return;
  job->cancel();
  answer_waiting(ex, [job] {
    job->join();
    return json_response(200, job->json(true));
  });
}

void server::impl::batch_results(const std::string& id,
                                 const exchange_ptr& ex) {
  auto job = find_batch(id, *ex);
  if (!job)
    return;
  answer_waiting(ex, [job] {
    std::error_code failed;
    auto size = std::filesystem::file_size(job->results_path(), failed);
    if (failed)
      size = 0;
    if (size > max_results_bytes)
      return error_response(
          api_error{413,
                    "The results are " + std::to_string(size) +
                        " bytes, more than this route sends (" +
                        std::to_string(max_results_bytes) + ")",
                    "invalid_request_error", "", "results_too_large"});
    std::string body(static_cast<size_t>(size), '\0');
    std::ifstream in{job->results_path(), std::ios::binary};
    in.read(body.data(), static_cast<std::streamsize>(size));
    body.resize(static_cast<size_t>(in.gcount()));
    // Only whole lines: the last may still be being written.
    body.resize(body.rfind('\n') == std::string::npos ? 0
                                                      : body.rfind('\n') + 1);
    http::response r;
    r.status = 200;
    r.content_type = "application/x-ndjson";
    r.body = std::move(body);
    return r;
  });
}

} // namespace tutti
