#include "actors/transport.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <variant>

#include <caf/actor.hpp>
#include <caf/send.hpp>

#include "actors/protocol.hpp"

namespace tutti {

namespace {

/// One libcurl easy handle and what it reports to its receiver.
struct transfer {
  uint64_t id = 0;
  caf::actor receiver;
  http_request request;
  CURL* easy = nullptr;
  curl_slist* curl_headers = nullptr;
  int status = 0;
  header_list headers;
  bool head_sent = false;
  char error_buffer[CURL_ERROR_SIZE] = {0};

  ~transfer() {
    if (easy != nullptr)
      curl_easy_cleanup(easy);
    if (curl_headers != nullptr)
      curl_slist_free_all(curl_headers);
  }
};

void send_head(transfer& t) {
  if (t.head_sent)
    return;
  t.head_sent = true;
  caf::anon_send(t.receiver, transfer_head{t.id, t.status, t.headers});
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' ||
                           text.back() == '\r' || text.back() == '\n'))
    text.remove_suffix(1);
  return text;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto& t = *static_cast<transfer*>(user);
  auto line = std::string_view{data, size * count};
  if (line.rfind("HTTP/", 0) == 0) {
    // A new status line: a redirect or an interim 1xx starts over.
    t.headers.clear();
    auto space = line.find(' ');
    t.status = space == std::string_view::npos
                   ? 0
                   : std::atoi(std::string{line.substr(space + 1, 3)}.c_str());
  } else if (auto body = trim(line); body.empty()) {
    if (t.status >= 200)
      send_head(t);
  } else if (auto colon = body.find(':'); colon != std::string_view::npos) {
    t.headers.emplace_back(std::string{trim(body.substr(0, colon))},
                           std::string{trim(body.substr(colon + 1))});
  }
  return size * count;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto& t = *static_cast<transfer*>(user);
  send_head(t);
  caf::anon_send(t.receiver,
                 transfer_chunk{t.id, std::string{data, size * count}});
  return size * count;
}

/// Maps a libcurl result to a failure kind and a message in plain words.
std::pair<failure_kind, std::string> describe(CURLcode code, transfer& t) {
  std::string detail =
      t.error_buffer[0] != '\0' ? t.error_buffer : curl_easy_strerror(code);
  switch (code) {
  case CURLE_OPERATION_TIMEDOUT: {
    curl_off_t connect_us = 0;
    curl_easy_getinfo(t.easy, CURLINFO_CONNECT_TIME_T, &connect_us);
    if (connect_us == 0)
      return {failure_kind::timeout_connect, "connect timed out: " + detail};
    return {failure_kind::timeout_total,
            "transfer timed out at the deadline: " + detail};
  }
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
    return {failure_kind::network, "cannot resolve host: " + detail};
  case CURLE_COULDNT_CONNECT:
    return {failure_kind::network, "cannot connect: " + detail};
  case CURLE_PARTIAL_FILE:
  case CURLE_GOT_NOTHING:
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
    return {failure_kind::network,
            "connection closed before the response ended: " + detail};
  default:
    return {failure_kind::network, detail};
  }
}

} // namespace

struct transport::impl {
  struct start_cmd {
    std::unique_ptr<transfer> t;
    steady_us deadline;
    transfer_options options;
  };
  struct cancel_cmd {
    uint64_t id;
  };
  using command = std::variant<start_cmd, cancel_cmd>;

  CURLM* multi = nullptr;
  std::mutex mtx;
  std::deque<command> commands; // guarded by mtx
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> next_id{1};
  std::atomic<int64_t> active{0};
  std::unordered_map<uint64_t, std::unique_ptr<transfer>> running;
  std::thread thread;

  impl() {
    static std::once_flag curl_init;
    std::call_once(curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    thread = std::thread{[this] { loop(); }};
  }

  ~impl() {
    stopping = true;
    curl_multi_wakeup(multi);
    thread.join();
    for (auto& [id, t] : running)
      curl_multi_remove_handle(multi, t->easy);
    running.clear();
    curl_multi_cleanup(multi);
  }

  void push(command cmd) {
    {
      std::lock_guard<std::mutex> guard{mtx};
      commands.emplace_back(std::move(cmd));
    }
    curl_multi_wakeup(multi);
  }

  void begin(std::unique_ptr<transfer> t, steady_us deadline,
             const transfer_options& options) {
    auto* easy = curl_easy_init();
    t->easy = easy;
    for (auto& [name, value] : t->request.headers)
      t->curl_headers =
          curl_slist_append(t->curl_headers, (name + ": " + value).c_str());
    // libcurl would otherwise add "Expect: 100-continue" to large bodies.
    t->curl_headers = curl_slist_append(t->curl_headers, "Expect:");
    curl_easy_setopt(easy, CURLOPT_URL, t->request.url.c_str());
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, t->request.method.c_str());
    if (t->request.method != "GET") {
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, t->request.body.data());
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(t->request.body.size()));
    }
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t->curl_headers);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, t.get());
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->error_buffer);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
    if (options.connect_timeout_ms > 0)
      curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                       static_cast<long>(options.connect_timeout_ms));
    if (!options.ca_file.empty())
      curl_easy_setopt(easy, CURLOPT_CAINFO, options.ca_file.c_str());
    if (deadline > 0) {
      // Rounded up, with a little slack, so that the provider's own deadline
      // timer (which says more) normally fires first.
      auto left_ms =
          std::max<int64_t>(1, (deadline - steady_now_us() + 999) / 1000 + 5);
      curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(left_ms));
    }
    curl_easy_setopt(easy, CURLOPT_PRIVATE, t.get());
    curl_multi_add_handle(multi, easy);
    running.emplace(t->id, std::move(t));
  }

  void abort(uint64_t id) {
    auto i = running.find(id);
    if (i == running.end())
      return;
    curl_multi_remove_handle(multi, i->second->easy);
    running.erase(i);
    --active;
  }

  void finish(CURLMsg* msg) {
    transfer* raw = nullptr;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &raw);
    auto i = running.find(raw->id);
    if (i == running.end())
      return;
    auto& t = *i->second;
    transfer_done done;
    done.transfer_id = t.id;
    done.status = t.status;
    if (msg->data.result == CURLE_OK) {
      done.ok = true;
      send_head(t);
    } else {
      auto [kind, message] = describe(msg->data.result, t);
      done.kind = kind;
      done.message = std::move(message);
    }
    caf::anon_send(t.receiver, std::move(done));
    curl_multi_remove_handle(multi, t.easy);
    running.erase(i);
    --active;
  }

  void drain_commands() {
    std::deque<command> batch;
    {
      std::lock_guard<std::mutex> guard{mtx};
      batch.swap(commands);
    }
    for (auto& cmd : batch) {
      if (auto* start = std::get_if<start_cmd>(&cmd))
        begin(std::move(start->t), start->deadline, start->options);
      else
        abort(std::get<cancel_cmd>(cmd).id);
    }
  }

  void loop() {
    while (!stopping) {
      drain_commands();
      int still_running = 0;
      curl_multi_perform(multi, &still_running);
      int left = 0;
      while (auto* msg = curl_multi_info_read(multi, &left))
        if (msg->msg == CURLMSG_DONE)
          finish(msg);
      curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
    }
  }
};

transport::transport() : impl_(std::make_unique<impl>()) {
  // nop
}

transport::~transport() = default;

uint64_t transport::start(http_request req, caf::actor receiver,
                          steady_us deadline, const transfer_options& options) {
  auto t = std::make_unique<transfer>();
  t->id = impl_->next_id++;
  t->receiver = std::move(receiver);
  t->request = std::move(req);
  auto id = t->id;
  ++impl_->active;
  impl_->push(impl::start_cmd{std::move(t), deadline, options});
  return id;
}

void transport::cancel(uint64_t transfer_id) {
  impl_->push(impl::cancel_cmd{transfer_id});
}

int64_t transport::active() const {
  return impl_->active;
}

} // namespace tutti
