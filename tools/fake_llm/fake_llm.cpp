// The fake upstream's server core: routes, the script's behaviour per model,
// the fault menu, server-side limits and the request log. Everything that
// differs between vendors comes from a wire_format (wire_format.hpp); the
// replies themselves are written in fake_llm_replies.cpp.

#include "tools/fake_llm/server_impl.hpp"

namespace tutti::fake {

void server::impl::configure() {
  http_.set_tcp_nodelay(true);
  const auto threads = static_cast<size_t>(threads_);
  http_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http_.set_read_timeout(30);
  http_.set_write_timeout(30);
  http_.set_keep_alive_max_count(1'000'000);
  http_.set_keep_alive_timeout(5);
  http_.set_payload_max_length(64u << 20);

  // Never compress: httplib would brotli-encode JSON bodies for any client
  // that accepts it (libcurl does), at ~1 ms a reply. The request object is
  // not const inside httplib, so dropping the header here is sound.
  http_.set_pre_routing_handler(
      [](const httplib::Request& req, httplib::Response&) {
        auto& headers = const_cast<httplib::Request&>(req).headers;
        headers.erase("Accept-Encoding");
        return httplib::Server::HandlerResponse::Unhandled;
      });

  for (const auto& format : wire_formats()) {
    for (const auto& path : format->paths()) {
      http_.Post(path, [this, &f = *format](const httplib::Request& req,
                                            httplib::Response& res) {
        handle(f, req, res, false);
      });
    }
    for (const auto& path : format->embedding_paths()) {
      http_.Post(path, [this, &f = *format](const httplib::Request& req,
                                            httplib::Response& res) {
        handle(f, req, res, true);
      });
    }
  }
  http_.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok", "text/plain");
  });
  http_.Get(R"(/(v1/)?models)",
            [this](const httplib::Request&, httplib::Response& res) {
              rapidjson::StringBuffer buf;
              json_writer w(buf);
              w.StartObject();
              w.Key("object");
              w.String("list");
              w.Key("data");
              w.StartArray();
              for (const auto& [name, ms] : script_.models) {
                w.StartObject();
                w.Key("id");
                write_string(w, name);
                w.Key("object");
                w.String("model");
                w.Key("created");
                w.Int(0);
                w.Key("owned_by");
                w.String("tutti-fake-llm");
                w.EndObject();
              }
              w.EndArray();
              w.EndObject();
              res.set_content(buf.GetString(), "application/json");
            });
  // Other endpoints answer in OpenAI's shape.
  const auto unknown = [](const httplib::Request& req, httplib::Response& res) {
    res.status = 404;
    error_shape e;
    e.message = "Unknown request URL: " + req.method + " " + req.path + ".";
    e.type = "invalid_request_error";
    e.code = "unknown_url";
    res.set_content(wire_format_named("openai").error_json(404, e, {}),
                    "application/json");
  };
  http_.Get(".*", unknown);
  http_.Post(".*", unknown);
}

const model_script* server::impl::find_model(const std::string& name) const {
  auto it = script_.models.find(name);
  if (it != script_.models.end()) {
    return &it->second;
  }
  return script_.fallback ? &*script_.fallback : nullptr;
}

int server::impl::next_attempt(const std::string& model) {
  std::lock_guard<std::mutex> lock(attempts_mutex_);
  return attempts_[model]++;
}

admission server::impl::admit(const std::string& model,
                              const server_limit& limit, int64_t charge) {
  std::lock_guard<std::mutex> lock(limits_mutex_);
  // Timed under the lock, so requests are counted in the order of their
  // times: a bucket never goes back in time, a window never gets a request
  // from before its start.
  admission a;
  a.at_us = steady_now_us();
  a.at_unix_us = unix_now_us();
  a.charge = charge;
  return fake::admit(limits_[model], limit, a);
}

void server::impl::record(arrival rec) {
  rec.finished_steady_us = steady_now_us();
  std::lock_guard<std::mutex> lock(log_mutex_);
  if (!rec.model.empty() && open_[rec.model] > 0)
    --open_[rec.model];
  if (log_.is_open()) {
    log_ << arrival_json(rec) << '\n';
    log_.flush();
  }
  arrivals_.push_back(std::move(rec));
}

// The request id a reply carries in the format's request-id header, if it
// has one.
std::string server::impl::tag_request(const wire_format& format,
                                      httplib::Response& res) {
  const auto header = format.request_id_header();
  if (header.empty()) {
    return {};
  }
  auto id = "req_fake" + std::to_string(++next_id_);
  res.set_header(header, id);
  return id;
}

void server::impl::respond_error(httplib::Response& res, arrival& rec,
                                 const wire_format& format, int status,
                                 const error_shape& shape,
                                 const char* outcome) {
  res.status = status;
  const auto request_id = tag_request(format, res);
  res.set_content(format.error_json(status, shape, request_id),
                  "application/json");
  rec.status = status;
  rec.outcome = outcome;
  record(rec);
}

void server::impl::handle(const wire_format& format,
                          const httplib::Request& req, httplib::Response& res,
                          bool embedding) {
  arrival rec;
  rec.unix_us = unix_now_us();
  rec.steady_us = steady_now_us();
  rec.path = req.path;
  rec.format = format.name();
  rec.api_key = carries_api_key(req);
  rec.api_version = api_version(req);
  try {
    serve(format, req, res, rec, embedding);
  } catch (const std::exception& e) {
    auto shape = format.default_error(500);
    shape.message = std::string("fake server error: ") + e.what();
    respond_error(res, rec, format, 500, shape, "internal_error");
  }
}

void server::impl::serve(const wire_format& format, const httplib::Request& req,
                         httplib::Response& res, arrival& rec, bool embedding) {
  request_view view;
  view.body = req.body;
  for (const auto& match : req.matches) {
    view.captures.push_back(match.str());
  }
  view.query.insert(req.params.begin(), req.params.end());
  const chat_request chat = embedding ? format.parse_embedding_request(view)
                                      : format.parse_request(view);
  rec.model = chat.model;
  if (!rec.model.empty()) {
    std::lock_guard<std::mutex> lock(log_mutex_);
    ++open_[rec.model]; // until `record`
  }
  rec.stream = chat.stream;
  rec.seed = chat.seed.value_or(-1);
  rec.body = req.body.substr(0, arrival_body_max);
  if (!chat.error.empty()) {
    auto shape = format.default_error(400);
    shape.message = chat.error;
    shape.param = chat.error_param;
    shape.code = chat.error_code;
    respond_error(res, rec, format, 400, shape, "bad_request");
    return;
  }
  const model_script* ms = find_model(chat.model);
  if (ms == nullptr) {
    auto shape = format.default_error(404);
    shape.message = format.unknown_model_message(chat.model);
    respond_error(res, rec, format, 404, shape, "not_found");
    return;
  }
  if (ms->limit) {
    const int64_t charge =
        chat.embedding
            ? chat.prompt_tokens
            : chat.prompt_tokens +
                  chat.max_tokens.value_or(
                      plan_reply(format, *ms, chat).completion_tokens);
    const auto a = admit(chat.model, *ms->limit, charge);
    rec.steady_us = a.at_us;
    rec.unix_us = a.at_unix_us;
    rec.limit_window_steady_us = a.window_start_us;
    rec.limit_requests_left = ms->limit->requests > 0 ? a.requests.left : -1;
    rec.limit_tokens_left = ms->limit->tokens > 0 ? a.tokens.left : -1;
    for (const auto& [name, value] :
         format.limit_headers(budget_reports(*ms->limit, a))) {
      res.set_header(name, value);
    }
    if (!a.admitted) {
      const int64_t retry_ms = ceil_div(a.retry_us, 1000);
      const int64_t retry_s = ceil_div(retry_ms, 1000);
      auto shape =
          format.limit_error(refusal_of(chat.model, *ms->limit, a, retry_ms));
      shape.retry_after_s = static_cast<int>(retry_s);
      res.set_header("Retry-After", std::to_string(retry_s));
      res.set_header("retry-after-ms", std::to_string(retry_ms));
      respond_error(res, rec, format, 429, shape, "rate_limited");
      return;
    }
  }
  const int attempt = next_attempt(chat.model);
  if (ms->latency_ms > 0 &&
      !sleep_until(steady_clock::now() +
                   std::chrono::milliseconds(ms->latency_ms))) {
    auto shape = format.default_error(503);
    shape.message = "The fake server is stopping.";
    respond_error(res, rec, format, 503, shape, "stopped");
    return;
  }
  if (ms->fail_status != 0 &&
      (ms->fail_times < 0 || attempt < ms->fail_times)) {
    auto shape = format.default_error(ms->fail_status);
    if (!ms->fail_message.empty()) {
      shape.message = ms->fail_message;
    }
    if (!ms->fail_type.empty()) {
      shape.type = ms->fail_type;
    }
    if (!ms->fail_code.empty()) {
      shape.code = ms->fail_code;
    }
    if (ms->retry_after_s >= 0) {
      res.set_header("Retry-After", std::to_string(ms->retry_after_s));
      shape.retry_after_s = ms->retry_after_s;
    }
    if (ms->retry_after_ms >= 0) {
      res.set_header("retry-after-ms", std::to_string(ms->retry_after_ms));
    }
    respond_error(res, rec, format, ms->fail_status, shape,
                  ms->fail_status == 429 ? "rate_limited" : "failed");
    return;
  }
  response_ids ids;
  ids.id = format.response_id(++next_id_);
  ids.created = rec.unix_us / 1'000'000;
  ids.model = chat.model;
  if (chat.embedding) {
    serve_embedding(format, res, rec, *ms, chat, ids);
  } else if (chat.stream) {
    serve_stream(format, req, res, rec, *ms, chat, ids);
  } else {
    serve_whole(format, req, res, rec, *ms, chat, ids);
  }
}

// An embeddings reply: a vector per input from the hash of its text, whole
// at once (latency and failures were scripted before); `malformed` and
// `raw_body` apply as to a whole reply.
void server::impl::serve_embedding(const wire_format& format,
                                   httplib::Response& res, arrival& rec,
                                   const model_script& ms,
                                   const chat_request& req,
                                   const response_ids& ids) {
  rec.status = 200;
  std::string body;
  if (ms.raw_body) {
    body = *ms.raw_body;
    rec.outcome = "malformed";
  } else if (ms.malformed) {
    body = format.malformed_body(ids);
    rec.outcome = "malformed";
  } else {
    std::vector<std::vector<float>> vectors;
    vectors.reserve(req.inputs.size());
    for (const auto& text : req.inputs) {
      vectors.push_back(fake_embedding(text, req.dimensions));
    }
    body = format.embedding_body(ids, vectors, req);
    rec.outcome = "ok";
    rec.input_tokens = req.prompt_tokens;
  }
  tag_request(format, res);
  res.status = 200;
  res.set_content(body, "application/json");
  record(rec);
}

server::server(script s, std::string log_path, int threads)
    : impl_(
          std::make_unique<impl>(std::move(s), std::move(log_path), threads)) {}

server::~server() {
  stop();
}

int server::start(const std::string& host, int port) {
  auto& d = *impl_;
  if (d.started_ || d.stopped_) {
    throw std::logic_error("fake_llm::server::start called twice");
  }
  ignore_sigpipe_once();
  int bound = -1;
  if (port == 0) {
    bound = d.http_.bind_to_any_port(host);
  } else if (d.http_.bind_to_port(host, port)) {
    bound = port;
  }
  if (bound <= 0) {
    throw std::runtime_error("tutti-fake-llm: cannot listen on " + host + ":" +
                             std::to_string(port));
  }
  ::listen(d.http_.listen_socket(), SOMAXCONN);
  d.host_ = host;
  d.port_ = bound;
  d.listener_ = std::thread([&d] { d.http_.listen_after_bind(); });
  // stop() only works once the accept loop runs.
  auto give_up = steady_clock::now() + std::chrono::seconds(5);
  while (!d.http_.is_running() && steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  d.started_ = true;
  return bound;
}

void server::stop() {
  auto& d = *impl_;
  {
    std::lock_guard<std::mutex> lock(d.stop_mutex_);
    if (d.stopped_) {
      return;
    }
    d.stopped_ = true;
    d.stopping_ = true;
  }
  d.stop_cv_.notify_all();
  if (!d.started_) {
    return;
  }
  d.http_.stop();
  // Idle keep-alive connections would hold their worker (and so the join
  // below) for up to the keep-alive timeout; wake them.
  shutdown_connections(d.port_);
  if (d.listener_.joinable()) {
    d.listener_.join();
  }
}

std::vector<arrival> server::arrivals() const {
  std::lock_guard<std::mutex> lock(impl_->log_mutex_);
  return impl_->arrivals_;
}

int server::open_requests(const std::string& model) const {
  std::lock_guard<std::mutex> lock(impl_->log_mutex_);
  auto it = impl_->open_.find(model);
  return it == impl_->open_.end() ? 0 : it->second;
}

std::string server::base_url() const {
  if (impl_->port_ == 0) {
    return {};
  }
  auto host = impl_->host_;
  if (host.find(':') != std::string::npos) {
    host = "[" + host + "]";
  }
  return "http://" + host + ":" + std::to_string(impl_->port_) + "/v1";
}

std::string server::root_url() const {
  auto base = base_url();
  return base.empty() ? base : base.substr(0, base.size() - 3);
}

int server::port() const {
  return impl_->port_;
}

} // namespace tutti::fake
