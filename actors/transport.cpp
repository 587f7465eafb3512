#include "actors/transport.hpp"

#include <curl/curl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <mutex>
#include <system_error>
#include <unordered_map>
#include <variant>
#include <vector>

#include <caf/actor.hpp>
#include <caf/send.hpp>

#include "actors/protocol.hpp"

namespace tutti {

namespace {

/// What one transfer reports to its receiver. The easy handle is borrowed
/// from the transport's pool for the transfer's lifetime.
struct transfer {
  uint64_t id = 0;
  caf::actor receiver;
  http_request request;
  CURL* easy = nullptr;
  curl_slist* curl_headers = nullptr;
  int status = 0;
  header_list headers;
  /// The head is complete (the blank line after a final status, or body
  /// bytes) but not yet sent: like the body, it goes at the end of the
  /// wake-up, so that a reply that arrives whole goes as one message.
  bool head_ready = false;
  bool head_sent = false;
  /// Body bytes received since the last `transfer_chunk`: libcurl hands
  /// over a chunked body piece by piece, one wake-up sends them as one.
  std::string pending_body;
  /// The transport's list of transfers with a head or bytes to send before
  /// the thread sleeps again, and whether this one is on it.
  std::vector<transfer*>* with_body = nullptr;
  bool listed = false;
  char error_buffer[CURL_ERROR_SIZE] = {0};

  ~transfer() {
    if (curl_headers != nullptr) {
      curl_slist_free_all(curl_headers);
    }
  }
};

/// Marks the head complete and the transfer as having something to send.
void mark_head_ready(transfer& t) {
  t.head_ready = true;
  if (!t.listed) {
    t.listed = true;
    t.with_body->push_back(&t);
  }
}

void send_head(transfer& t) {
  if (t.head_sent) {
    return;
  }
  t.head_sent = true;
  // Headers after this point could only be trailers, which nobody reads.
  caf::anon_send(t.receiver,
                 transfer_head{t.id, t.status, std::move(t.headers)});
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' ||
                           text.back() == '\r' || text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

/// The status code of an HTTP status line ("HTTP/1.1 200 OK"), 0 if none.
int parse_status(std::string_view line) {
  auto space = line.find(' ');
  if (space == std::string_view::npos) {
    return 0;
  }
  int status = 0;
  for (char c : line.substr(space + 1, 3)) {
    if (c < '0' || c > '9') {
      return 0;
    }
    status = status * 10 + (c - '0');
  }
  return status;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto& t = *static_cast<transfer*>(user);
  auto line = std::string_view{data, size * count};
  if (line.rfind("HTTP/", 0) == 0) {
    // A new status line: a redirect or an interim 1xx starts over.
    t.headers.clear();
    t.status = parse_status(line);
  } else if (auto body = trim(line); body.empty()) {
    if (t.status >= 200) {
      mark_head_ready(t);
    }
  } else if (auto colon = body.find(':'); colon != std::string_view::npos) {
    t.headers.emplace_back(std::string{trim(body.substr(0, colon))},
                           std::string{trim(body.substr(colon + 1))});
  }
  return size * count;
}

/// Maps a libcurl result to a failure kind and a message in plain words.
std::pair<failure_kind, std::string> describe(CURLcode code, transfer& t) {
  std::string detail =
      t.error_buffer[0] != '\0' ? t.error_buffer : curl_easy_strerror(code);
  switch (code) {
  case CURLE_OPERATION_TIMEDOUT: {
    // A reused connection reports no connect time either: what tells a
    // connect that never finished is that nothing was about to be sent.
    curl_off_t connect_us = 0;
    curl_off_t pretransfer_us = 0;
    curl_easy_getinfo(t.easy, CURLINFO_CONNECT_TIME_T, &connect_us);
    curl_easy_getinfo(t.easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer_us);
    if (connect_us == 0 && pretransfer_us == 0) {
      return {failure_kind::timeout_connect, "connect timed out: " + detail};
    }
    return {failure_kind::timeout_total,
            "transfer timed out at the deadline: " + detail};
  }
  case CURLE_COULDNT_RESOLVE_HOST:
    // libcurl's own text names the host; the provider's host is its config's
    // business, not every reader's.
    return {failure_kind::network, "cannot resolve the provider's host"};
  case CURLE_COULDNT_RESOLVE_PROXY:
    return {failure_kind::network, "cannot resolve the proxy's host"};
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

/// The longest the thread sleeps when libcurl wants no timeout: a bound, so
/// that no wait is without a deadline.
constexpr int idle_wait_ms = 1000;

/// Idle easy handles kept at most: each keeps its buffers allocated.
constexpr size_t max_spare_handles = 4096;

/// Transfers handed to libcurl per wake-up. libcurl connects every new
/// transfer before it sends any request, so 500 started at once would all
/// wait for the 500th connect; in groups, the first requests go out while
/// later ones connect, and the upstream does not hold idle connections.
constexpr size_t starts_per_wake = 16;

/// Idle connections libcurl keeps for reuse. Its default, four per easy
/// handle in the multi at the time, shrinks as a burst's transfers finish
/// and so closes most of the burst's connections: the next burst would
/// connect again. Idle ones beyond this are closed, oldest first; libcurl
/// also closes any idle for two minutes.
constexpr long max_idle_connections = 1024;

/// How often the pool gives back handles it did not need. Long enough that
/// bursts of requests a few seconds apart keep theirs: a handle freed and
/// made again costs more than the handle reused.
constexpr steady_us trim_period_us = 30'000'000;

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
  /// The sockets libcurl waits on, plus `wake_fd`. Only the transport
  /// thread waits on it, and a wake-up hands libcurl only the sockets that
  /// are ready, so its cost does not grow with the transfers left waiting.
  int epoll_fd = -1;
  /// Written when a command is queued into an empty queue or at shutdown.
  int wake_fd = -1;
  std::mutex mtx;
  std::vector<command> commands; // guarded by mtx
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> next_id{1};
  std::atomic<int64_t> active{0};
  using transfer_map = std::unordered_map<uint64_t, std::unique_ptr<transfer>>;
  /// Transfers handed to libcurl, by id.
  transfer_map running;
  /// Easy handles of finished transfers, reset and ready for the next one:
  /// a new handle costs allocations and page faults for its buffers.
  std::vector<CURL*> spare_handles;
  /// The fewest spare handles since the last trim: that many were not
  /// needed, so half of them are freed at the next trim.
  size_t spare_low = 0;
  steady_us next_trim = 0;
  /// When libcurl wants `curl_multi_socket_action(CURL_SOCKET_TIMEOUT)`;
  /// negative: it does not.
  steady_us timer_due = -1;
  /// Started transfers not yet handed to libcurl, oldest first.
  std::deque<start_cmd> waiting_starts;
  /// Transfers with body bytes received in this wake-up but not yet sent.
  std::vector<transfer*> with_body;
  std::thread thread;

  impl() {
    static std::once_flag curl_init;
    std::call_once(curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_fd < 0 || wake_fd < 0) {
      auto error = errno;
      close_fds();
      throw std::system_error{error, std::generic_category(),
                              "transport: cannot create its epoll set"};
    }
    epoll_event wake{};
    wake.events = EPOLLIN;
    wake.data.fd = wake_fd;
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake_fd, &wake);
    multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, max_idle_connections);
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);
    thread = std::thread{[this] { loop(); }};
  }

  ~impl() {
    stopping = true;
    wake();
    thread.join();
    for (auto& [id, t] : running) {
      curl_multi_remove_handle(multi, t->easy);
      curl_easy_cleanup(t->easy);
    }
    running.clear();
    for (auto* easy : spare_handles) {
      curl_easy_cleanup(easy);
    }
    curl_multi_cleanup(multi);
    close_fds();
  }

  void close_fds() {
    if (wake_fd >= 0) {
      ::close(wake_fd);
    }
    if (epoll_fd >= 0) {
      ::close(epoll_fd);
    }
  }

  void wake() {
    uint64_t one = 1;
    // Fails only when the counter is near overflow: then it is readable.
    [[maybe_unused]] auto written = ::write(wake_fd, &one, sizeof one);
  }

  void push(command cmd) {
    bool was_empty = false;
    {
      std::lock_guard<std::mutex> guard{mtx};
      was_empty = commands.empty();
      commands.emplace_back(std::move(cmd));
    }
    // A non-empty queue has a wake-up on its way already: the thread resets
    // `wake_fd` before it takes the queue. This saves a system call per
    // command when a provider starts many transfers at once.
    if (was_empty) {
      wake();
    }
  }

  // -- libcurl callbacks ------------------------------------------------------

  /// libcurl says which events it wants on a socket; mirror that in epoll.
  static int on_socket(CURL*, curl_socket_t fd, int what, void* user,
                       void* socket_data) {
    auto& self = *static_cast<impl*>(user);
    if (what == CURL_POLL_REMOVE) {
      // Fails harmlessly if the socket is closed already: closing it took
      // it out of the set.
      epoll_ctl(self.epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
      return 0;
    }
    epoll_event ev{};
    ev.events = ((what & CURL_POLL_IN) != 0 ? EPOLLIN : 0u) |
                ((what & CURL_POLL_OUT) != 0 ? EPOLLOUT : 0u);
    ev.data.fd = fd;
    // `socket_data` marks a socket already in the set; libcurl forgets it
    // at CURL_POLL_REMOVE, so a new socket with a reused number starts over.
    auto op = socket_data != nullptr ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(self.epoll_fd, op, fd, &ev) != 0) {
      // A socket closed without REMOVE and its number reused, or the
      // reverse: the other operation is the right one.
      op = op == EPOLL_CTL_ADD ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
      epoll_ctl(self.epoll_fd, op, fd, &ev);
    }
    if (socket_data == nullptr) {
      curl_multi_assign(self.multi, fd, &self);
    }
    return 0;
  }

  static int on_timer(CURLM*, long timeout_ms, void* user) {
    auto& self = *static_cast<impl*>(user);
    self.timer_due =
        timeout_ms < 0 ? -1 : steady_now_us() + int64_t{timeout_ms} * 1000;
    return 0;
  }

  static size_t on_body(char* data, size_t size, size_t count, void* user) {
    auto& t = *static_cast<transfer*>(user);
    mark_head_ready(t);
    t.pending_body.append(data, size * count);
    return size * count;
  }

  // -- transfers --------------------------------------------------------------

  CURL* take_handle() {
    if (spare_handles.empty()) {
      return curl_easy_init();
    }
    auto* easy = spare_handles.back();
    spare_handles.pop_back();
    spare_low = std::min(spare_low, spare_handles.size());
    return easy;
  }

  /// Takes the handle out of the multi and keeps it for the next transfer.
  /// Removing a transfer that is still running closes its connection.
  void release_handle(CURL* easy) {
    curl_multi_remove_handle(multi, easy);
    if (spare_handles.size() >= max_spare_handles) {
      curl_easy_cleanup(easy);
      return;
    }
    curl_easy_reset(easy);
    // Also spares `curl_easy_cleanup` two sigaction calls, should the
    // handle be trimmed.
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    spare_handles.push_back(easy);
  }

  /// Frees half of the spare handles that went unused since the last trim,
  /// so the pool shrinks back after a burst without fighting the next one.
  void trim_spare_handles(steady_us now) {
    if (now < next_trim) {
      return;
    }
    next_trim = now + trim_period_us;
    auto unused = (spare_low + 1) / 2;
    for (size_t i = 0; i < unused && !spare_handles.empty(); ++i) {
      curl_easy_cleanup(spare_handles.back());
      spare_handles.pop_back();
    }
    spare_low = spare_handles.size();
  }

  void begin(std::unique_ptr<transfer> t, steady_us deadline,
             const transfer_options& options) {
    auto* easy = take_handle();
    t->easy = easy;
    t->with_body = &with_body;
    std::string line;
    for (auto& [name, value] : t->request.headers) {
      line.assign(name).append(": ").append(value);
      t->curl_headers = curl_slist_append(t->curl_headers, line.c_str());
    }
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
    if (options.connect_timeout_ms > 0) {
      curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                       static_cast<long>(options.connect_timeout_ms));
    }
    if (!options.ca_file.empty()) {
      curl_easy_setopt(easy, CURLOPT_CAINFO, options.ca_file.c_str());
    }
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

  void unlist(transfer& t) {
    if (t.listed) {
      t.listed = false;
      with_body.erase(std::find(with_body.begin(), with_body.end(), &t));
    }
  }

  /// Drops a transfer: its bytes not yet sent are never sent.
  void forget(transfer_map::iterator i) {
    auto& t = *i->second;
    unlist(t);
    release_handle(t.easy);
    running.erase(i);
    --active;
  }

  void abort(uint64_t id) {
    if (auto i = running.find(id); i != running.end()) {
      forget(i);
      return;
    }
    auto waiting = std::find_if(
        waiting_starts.begin(), waiting_starts.end(),
        [id](const start_cmd& start) { return start.t->id == id; });
    if (waiting != waiting_starts.end()) {
      waiting_starts.erase(waiting);
      --active;
    }
  }

  /// Sends what a running transfer received in this wake-up.
  void send_body(transfer& t) {
    t.listed = false;
    if (t.head_ready) {
      send_head(t);
    }
    if (t.pending_body.empty()) {
      return;
    }
    caf::anon_send(t.receiver, transfer_chunk{t.id, std::move(t.pending_body)});
    t.pending_body = std::string{};
  }

  void flush_bodies() {
    for (auto* t : with_body) {
      send_body(*t);
    }
    with_body.clear();
  }

  void finish(CURLMsg* msg) {
    transfer* raw = nullptr;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &raw);
    auto i = running.find(raw->id);
    if (i == running.end()) {
      return;
    }
    auto& t = *i->second;
    transfer_done done;
    done.transfer_id = t.id;
    done.status = t.status;
    if (msg->data.result == CURLE_OK) {
      done.ok = true;
    } else {
      auto [kind, message] = describe(msg->data.result, t);
      done.kind = kind;
      done.message = std::move(message);
    }
    // What this wake-up received goes with the end: one message, not three,
    // for a reply that arrived whole.
    unlist(t);
    if (!t.head_sent && (done.ok || t.head_ready)) {
      t.head_sent = true;
      done.has_head = true;
      done.headers = std::move(t.headers);
    }
    done.bytes = std::move(t.pending_body);
    caf::anon_send(t.receiver, std::move(done));
    forget(i);
  }

  void finish_done_transfers() {
    int left = 0;
    while (auto* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg == CURLMSG_DONE) {
        finish(msg);
      }
    }
  }

  void drain_commands() {
    // Reset before taking the queue: a command queued after the swap finds
    // the queue empty and wakes the thread again.
    uint64_t count = 0;
    [[maybe_unused]] auto got = ::read(wake_fd, &count, sizeof count);
    std::vector<command> batch;
    {
      std::lock_guard<std::mutex> guard{mtx};
      batch.swap(commands);
    }
    for (auto& cmd : batch) {
      if (auto* start = std::get_if<start_cmd>(&cmd)) {
        waiting_starts.push_back(std::move(*start));
      } else {
        abort(std::get<cancel_cmd>(cmd).id);
      }
    }
  }

  void admit_waiting_starts() {
    for (size_t i = 0; i < starts_per_wake && !waiting_starts.empty(); ++i) {
      auto& start = waiting_starts.front();
      begin(std::move(start.t), start.deadline, start.options);
      waiting_starts.pop_front();
    }
  }

  /// Milliseconds until libcurl's timer is due, rounded up, at most
  /// `idle_wait_ms`.
  int wait_ms(steady_us now) const {
    if (!waiting_starts.empty()) {
      return 0;
    }
    if (timer_due < 0) {
      return idle_wait_ms;
    }
    auto left_us = std::max<steady_us>(0, timer_due - now);
    return static_cast<int>(
        std::min<steady_us>(idle_wait_ms, (left_us + 999) / 1000));
  }

  static int socket_events(uint32_t events) {
    // As poll() tells libcurl when it looks itself: an error or hang-up
    // makes the socket readable and writable, and the call then says why.
    int bits = 0;
    if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) {
      bits |= CURL_CSELECT_IN;
    }
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0) {
      bits |= CURL_CSELECT_OUT;
    }
    return bits;
  }

  void loop() {
    constexpr int max_events = 256;
    epoll_event events[max_events];
    int running_handles = 0;
    while (!stopping) {
      int n =
          epoll_wait(epoll_fd, events, max_events, wait_ms(steady_now_us()));
      bool woken = false;
      for (int i = 0; i < n; ++i) {
        if (events[i].data.fd == wake_fd) {
          woken = true;
          continue;
        }
        curl_multi_socket_action(multi, events[i].data.fd,
                                 socket_events(events[i].events),
                                 &running_handles);
      }
      // Sent per wake-up rather than per piece libcurl hands over; before
      // any command, so that a cancel is the last word on its transfer.
      // Finished transfers first: they take their head and bytes along.
      finish_done_transfers();
      flush_bodies();
      if (woken) {
        drain_commands();
      }
      admit_waiting_starts();
      auto now = steady_now_us();
      if (timer_due >= 0 && timer_due <= now) {
        curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0,
                                 &running_handles);
        // libcurl calls `on_timer` only when its next expiry changes: were
        // this one early by libcurl's clock, it would still count as set
        // and nothing would fire it. So ask for the next one.
        long next_ms = -1;
        curl_multi_timeout(multi, &next_ms);
        timer_due =
            next_ms < 0 ? -1 : steady_now_us() + int64_t{next_ms} * 1000;
        finish_done_transfers();
        flush_bodies();
      }
      trim_spare_handles(now);
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
