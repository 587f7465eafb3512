// The provider actor on CAF's deterministic scheduler, with a scripted
// transport: the test plays the server by sending the transfer messages
// itself, and moves the clock by hand. What is pinned down here is what the
// provider does with the replies: its circuit breaker, its retries, its
// timeouts, cancellation and the permits it takes from a real limiter.

#include <boost/test/unit_test.hpp>

#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actors/provider.hpp"
#include "actors/rate_limiter.hpp"
#include "actors/response_cache.hpp"
#include "actors/transport.hpp"
#include "tests/actors/actor_fixture.hpp"
#include "tutti/registry.hpp"
#include "tutti/stream_decoder.hpp"

using namespace tutti;
using namespace std::chrono_literals;

namespace {

/// One transfer the provider started.
struct started_transfer {
  uint64_t id = 0;
  http_request request;
  caf::actor receiver;
  steady_us deadline = 0;
};

/// A transport that only takes notes: the test sends the replies.
class scripted_port final : public transfer_port {
public:
  std::vector<started_transfer> started;
  std::vector<uint64_t> cancelled;

  uint64_t start(http_request req, caf::actor receiver, steady_us deadline,
                 const transfer_options&) override {
    started.push_back(
        started_transfer{next_id_++, std::move(req), receiver, deadline});
    return started.back().id;
  }

  void cancel(uint64_t transfer_id) override {
    cancelled.push_back(transfer_id);
  }

private:
  uint64_t next_id_ = 1;
};

const std::string ok_body = R"({"choices":[{"message":{"role":"assistant",)"
                            R"("content":"4"},"finish_reason":"stop"}],)"
                            R"("usage":{"prompt_tokens":5,)"
                            R"("completion_tokens":1}})";

const std::string server_error_body =
    R"({"error":{"message":"The server had an error","type":"server_error"}})";

const std::string bad_request_body =
    R"({"error":{"message":"Unknown parameter","type":"invalid_request_error"}})";

const std::string bad_key_body =
    R"({"error":{"message":"Incorrect API key provided",)"
    R"("type":"invalid_request_error","code":"invalid_api_key"}})";

const std::string rate_limited_body =
    R"({"error":{"message":"Rate limit reached","type":"requests",)"
    R"("code":"rate_limit_exceeded"}})";

using outcome_slot = std::shared_ptr<std::optional<member_outcome>>;

struct provider_fixture : testing::actor_fixture {
  std::shared_ptr<scripted_port> net = std::make_shared<scripted_port>();
  limiter_settings limits;
  provider_deps deps;
  caf::actor limiter;
  caf::actor prov;
  int next_query = 1;
  bool streaming = false; ///< queries ask for a token stream
  /// Queries have a listener, where member_progress lands; and ask for it.
  bool listen = false;
  bool report_progress = false;
  std::shared_ptr<std::vector<member_progress>> progress =
      std::make_shared<std::vector<member_progress>>();

  /// Three counting failures open the breaker for 30 s; no retries.
  provider_fixture() {
    limits.group = "test-group";
    limits.concurrency = 4;
    deps.settings.name = "gpt";
    deps.settings.kind = "openai";
    deps.settings.model = "gpt-test";
    deps.settings.base_url = "http://upstream.test/v1";
    deps.settings.api_key = "sk-test-key";
    deps.wire = registry::builtin().make_codec("openai");
    deps.retry.attempts = 1;
    deps.retry.backoff_ms = 10;
    deps.retry.max_backoff_ms = 10;
    deps.breaker.failures = 3;
    deps.breaker.cooldown_ms = 30'000;
  }

  void start() {
    limiter = spawn_owned(rate_limiter, limits);
    deps.limiter = limiter;
    deps.net = net;
    prov = spawn_owned(provider, deps);
    run();
  }

  /// Sends a query with a fresh id; the outcome lands in the slot once the
  /// provider answers.
  outcome_slot query(std::string id = {},
                     tutti::priority urgency = priority::interactive,
                     const std::string& prompt = "2+2?",
                     std::optional<int64_t> max_tokens = std::nullopt) {
    if (id.empty())
      id = "r" + std::to_string(next_query++);
    member_query q;
    q.member = "m";
    q.request.id = id;
    q.request.priority = urgency;
    q.request.messages.push_back(chat_message{"user", prompt});
    q.request.params.max_tokens = max_tokens;
    q.request.stream = streaming;
    if (listen || report_progress) {
      q.progress = report_progress;
      q.listener = sys.spawn([seen = progress](caf::event_based_actor*) {
        return caf::behavior{
            [=](member_progress& p) { seen->push_back(std::move(p)); },
            [](member_delta&) {},
        };
      });
    }
    auto slot = std::make_shared<std::optional<member_outcome>>();
    sys.spawn([slot, q, prov = prov](caf::event_based_actor* self) {
      self->request(prov, caf::infinite, query_atom::value, q)
          .then([=](member_outcome& outcome) { *slot = std::move(outcome); });
    });
    run();
    return slot;
  }

  const started_transfer& last_transfer() {
    BOOST_REQUIRE(!net->started.empty());
    return net->started.back();
  }

  void head(uint64_t transfer, int status, header_list headers = {}) {
    caf::anon_send(prov, transfer_head{transfer, status, std::move(headers)});
    run();
  }

  void chunk(uint64_t transfer, std::string bytes) {
    caf::anon_send(prov, transfer_chunk{transfer, std::move(bytes)});
    run();
  }

  void done(uint64_t transfer, int status) {
    transfer_done msg;
    msg.transfer_id = transfer;
    msg.ok = true;
    msg.status = status;
    caf::anon_send(prov, msg);
    run();
  }

  /// The server answers the latest transfer with a whole response.
  void reply(int status, const std::string& body, header_list headers = {}) {
    auto id = last_transfer().id;
    head(id, status, std::move(headers));
    chunk(id, body);
    done(id, status);
  }

  /// The server's whole response arrives in one wake-up of the transport:
  /// one `transfer_done` carries the head and the body.
  void reply_whole(int status, const std::string& body,
                   header_list headers = {}) {
    transfer_done msg;
    msg.transfer_id = last_transfer().id;
    msg.ok = true;
    msg.status = status;
    msg.has_head = true;
    msg.headers = std::move(headers);
    msg.bytes = body;
    caf::anon_send(prov, msg);
    run();
  }

  /// The latest transfer fails below HTTP (connection reset, ...).
  void network_failure() {
    transfer_done msg;
    msg.transfer_id = last_transfer().id;
    msg.ok = false;
    msg.kind = failure_kind::network;
    msg.message = "connection reset by peer";
    caf::anon_send(prov, msg);
    run();
  }

  /// A query whose transfer ends with a 500; returns its outcome.
  member_outcome query_failing_with_500() {
    auto started = net->started.size();
    auto outcome = query();
    BOOST_REQUIRE(net->started.size() == started + 1);
    reply(500, server_error_body);
    BOOST_REQUIRE(outcome->has_value());
    return **outcome;
  }

  /// Opens the breaker with three 500s in a row.
  void open_breaker() {
    for (int i = 0; i < 3; ++i)
      query_failing_with_500();
    BOOST_REQUIRE(snapshot().breaker == "open");
  }

  /// Another provider of the limit group takes a permit and keeps it;
  /// returns its id.
  uint64_t hold_permit() {
    auto permit = std::make_shared<uint64_t>(0);
    permit_request req;
    req.request_id = "elsewhere";
    req.provider = "other";
    sys.spawn([permit, req, limiter = limiter](caf::event_based_actor* self) {
      self->request(limiter, caf::infinite, acquire_atom::value, req)
          .then([=](const permit_grant& grant) { *permit = grant.permit_id; });
    });
    run();
    BOOST_REQUIRE(*permit != 0);
    return *permit;
  }

  void cancel(const std::string& id) {
    caf::anon_send(prov, cancel_atom::value, id);
    run();
  }

  provider_snapshot snapshot() {
    provider_snapshot result;
    sys.spawn([&](caf::event_based_actor* self) {
      self->request(prov, caf::infinite, state_atom::value)
          .then([&](const provider_snapshot& st) { result = st; });
    });
    run();
    return result;
  }

  limiter_state limiter_snapshot() {
    limiter_state result;
    sys.spawn([&](caf::event_based_actor* self) {
      self->request(limiter, caf::infinite, state_atom::value)
          .then([&](const limiter_state& st) { result = st; });
    });
    run();
    return result;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(provider_tests, provider_fixture)

// -- the circuit breaker: closed -> open --------------------------------------

BOOST_AUTO_TEST_CASE(three_server_errors_in_a_row_open_the_breaker) {
  start();
  auto first = query_failing_with_500();
  BOOST_TEST(!first.ok);
  BOOST_TEST(first.error.kind == failure_kind::server);
  BOOST_TEST(first.error.http_status == 500);
  BOOST_TEST(first.error.attempts == 1);
  BOOST_TEST(snapshot().breaker == "closed");
  BOOST_TEST(snapshot().consecutive_failures == 1);
  query_failing_with_500();
  BOOST_TEST(snapshot().breaker == "closed");
  BOOST_TEST(snapshot().consecutive_failures == 2);
  query_failing_with_500();
  auto opened_at = now_us();
  auto st = snapshot();
  BOOST_TEST(st.breaker == "open");
  BOOST_TEST(st.consecutive_failures == 3);
  BOOST_TEST(st.breaker_open_until == opened_at + 30'000'000);
  BOOST_TEST(st.calls == 0);
}

BOOST_AUTO_TEST_CASE(an_open_breaker_answers_at_once_without_sending) {
  start();
  open_breaker();
  auto outcome = query();
  BOOST_REQUIRE(outcome->has_value());
  auto& o = **outcome;
  BOOST_TEST(!o.ok);
  BOOST_TEST(o.error.kind == failure_kind::circuit_open);
  BOOST_TEST(o.error.attempts == 0);
  BOOST_TEST(o.error.message.find("3 consecutive failures") !=
             std::string::npos);
  BOOST_TEST(o.error.message.find("next try in 30000 ms") != std::string::npos);
  BOOST_TEST(o.provider == "gpt");
  BOOST_TEST(o.member == "m");
  BOOST_TEST(net->started.size() == 3u);
  // No permit was taken for it.
  BOOST_TEST(limiter_snapshot().in_flight == 0);
  BOOST_TEST(limiter_snapshot().queued == 0);
}

BOOST_AUTO_TEST_CASE(network_errors_overload_and_server_errors_all_count) {
  start();
  query();
  network_failure();
  query();
  reply(503, R"({"error":{"message":"Overloaded"}})");
  BOOST_TEST(snapshot().consecutive_failures == 2);
  auto third = query_failing_with_500();
  BOOST_TEST(third.error.kind == failure_kind::server);
  BOOST_TEST(snapshot().breaker == "open");
}

BOOST_AUTO_TEST_CASE(a_network_failure_is_reported_with_its_kind) {
  start();
  auto outcome = query();
  network_failure();
  BOOST_REQUIRE(outcome->has_value());
  BOOST_TEST((*outcome)->error.kind == failure_kind::network);
  BOOST_TEST((*outcome)->error.message == "connection reset by peer");
  BOOST_TEST((*outcome)->error.attempts == 1);
  BOOST_TEST(snapshot().consecutive_failures == 1);
}

BOOST_AUTO_TEST_CASE(failures_of_the_request_itself_do_not_open_the_breaker) {
  start();
  for (int i = 0; i < 3; ++i) {
    auto bad = query();
    reply(400, bad_request_body);
    BOOST_REQUIRE(bad->has_value());
    BOOST_TEST((*bad)->error.kind == failure_kind::bad_request);
    auto refused = query();
    reply(401, bad_key_body);
    BOOST_REQUIRE(refused->has_value());
    BOOST_TEST((*refused)->error.kind == failure_kind::auth);
  }
  auto st = snapshot();
  BOOST_TEST(st.breaker == "closed");
  BOOST_TEST(st.consecutive_failures == 0);
  // They neither reset the count: two 500s, a 400, then a third 500 opens.
  query_failing_with_500();
  query_failing_with_500();
  query();
  reply(400, bad_request_body);
  BOOST_TEST(snapshot().consecutive_failures == 2);
  query_failing_with_500();
  BOOST_TEST(snapshot().breaker == "open");
}

BOOST_AUTO_TEST_CASE(a_success_in_between_resets_the_count) {
  start();
  query_failing_with_500();
  query_failing_with_500();
  auto good = query();
  reply(200, ok_body);
  BOOST_REQUIRE(good->has_value());
  BOOST_TEST((*good)->ok);
  BOOST_TEST(snapshot().consecutive_failures == 0);
  query_failing_with_500();
  query_failing_with_500();
  auto st = snapshot();
  BOOST_TEST(st.breaker == "closed");
  BOOST_TEST(st.consecutive_failures == 2);
}

BOOST_AUTO_TEST_CASE(breaker_policy_of_zero_failures_never_opens) {
  deps.breaker.failures = 0;
  start();
  for (int i = 0; i < 5; ++i)
    query_failing_with_500();
  auto st = snapshot();
  BOOST_TEST(st.breaker == "closed");
  BOOST_TEST(st.consecutive_failures == 0);
  query();
  BOOST_TEST(net->started.size() == 6u);
}

// -- the circuit breaker: open -> half_open -> closed or open -----------------

BOOST_AUTO_TEST_CASE(the_breaker_half_opens_when_the_cooldown_has_passed) {
  start();
  open_breaker();
  advance(29'999ms);
  BOOST_TEST(snapshot().breaker == "open");
  auto early = query();
  BOOST_REQUIRE(early->has_value());
  BOOST_TEST((*early)->error.kind == failure_kind::circuit_open);
  BOOST_TEST((*early)->error.message.find("next try in 1 ms") !=
             std::string::npos);
  advance(1ms);
  BOOST_TEST(snapshot().breaker == "half_open");
  BOOST_TEST(net->started.size() == 3u);
}

BOOST_AUTO_TEST_CASE(a_half_open_breaker_lets_exactly_one_probe_through) {
  start();
  open_breaker();
  advance(30s);
  auto probe = query();
  BOOST_TEST(net->started.size() == 4u);
  BOOST_TEST(!probe->has_value());
  auto second = query();
  BOOST_REQUIRE(second->has_value());
  BOOST_TEST((*second)->error.kind == failure_kind::circuit_open);
  BOOST_TEST((*second)->error.attempts == 0);
  BOOST_TEST(net->started.size() == 4u);
  auto st = snapshot();
  BOOST_TEST(st.breaker == "half_open");
  BOOST_TEST(st.calls == 1);
}

BOOST_AUTO_TEST_CASE(a_successful_probe_closes_the_breaker) {
  start();
  open_breaker();
  advance(30s);
  auto probe = query();
  reply(200, ok_body);
  BOOST_REQUIRE(probe->has_value());
  BOOST_TEST((*probe)->ok);
  BOOST_TEST((*probe)->reply.text == "4");
  BOOST_TEST((*probe)->reply.attempts == 1);
  auto st = snapshot();
  BOOST_TEST(st.breaker == "closed");
  BOOST_TEST(st.consecutive_failures == 0);
  BOOST_TEST(st.breaker_open_until == 0);
  // Calls flow again, several at once.
  query();
  query();
  BOOST_TEST(net->started.size() == 6u);
}

BOOST_AUTO_TEST_CASE(a_failed_probe_reopens_for_a_fresh_cooldown) {
  start();
  open_breaker();
  advance(30s);
  auto probe = query();
  advance(5s);
  reply(500, server_error_body);
  auto failed_at = now_us();
  BOOST_REQUIRE(probe->has_value());
  BOOST_TEST((*probe)->error.kind == failure_kind::server);
  auto st = snapshot();
  BOOST_TEST(st.breaker == "open");
  BOOST_TEST(st.consecutive_failures == 4);
  BOOST_TEST(st.breaker_open_until == failed_at + 30'000'000);
  auto rejected = query();
  BOOST_REQUIRE(rejected->has_value());
  BOOST_TEST((*rejected)->error.kind == failure_kind::circuit_open);
  BOOST_TEST(net->started.size() == 4u);
  advance(30s);
  BOOST_TEST(snapshot().breaker == "half_open");
}

BOOST_AUTO_TEST_CASE(a_probe_failing_for_its_own_request_lets_another_probe) {
  start();
  open_breaker();
  advance(30s);
  auto probe = query();
  reply(400, bad_request_body);
  BOOST_REQUIRE(probe->has_value());
  BOOST_TEST((*probe)->error.kind == failure_kind::bad_request);
  BOOST_TEST(snapshot().breaker == "half_open");
  query();
  BOOST_TEST(net->started.size() == 5u);
}

// -- timeouts -----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_first_token_timeout_fails_the_call_and_counts) {
  deps.timeouts.first_token_ms = 2000;
  start();
  auto outcome = query();
  auto transfer = last_transfer().id;
  advance(1999ms);
  BOOST_TEST(!outcome->has_value());
  advance(1ms);
  BOOST_REQUIRE(outcome->has_value());
  auto& o = **outcome;
  BOOST_TEST(o.error.kind == failure_kind::timeout_first_token);
  BOOST_TEST(o.error.message == "no first token within 2000 ms");
  BOOST_TEST(o.error.attempts == 1);
  BOOST_TEST(net->cancelled == (std::vector<uint64_t>{transfer}),
             boost::test_tools::per_element());
  BOOST_TEST(snapshot().consecutive_failures == 1);
  BOOST_TEST(limiter_snapshot().in_flight == 0);
}

BOOST_AUTO_TEST_CASE(three_first_token_timeouts_open_the_breaker) {
  deps.timeouts.first_token_ms = 2000;
  start();
  for (int i = 0; i < 3; ++i) {
    query();
    advance(2s);
  }
  BOOST_TEST(snapshot().breaker == "open");
  BOOST_TEST(net->cancelled.size() == 3u);
}

BOOST_AUTO_TEST_CASE(content_before_the_first_token_timeout_keeps_the_call) {
  deps.timeouts.first_token_ms = 2000;
  start();
  auto outcome = query();
  auto transfer = last_transfer().id;
  advance(1s);
  head(transfer, 200);
  chunk(transfer, ok_body.substr(0, 10));
  advance(5s);
  BOOST_TEST(!outcome->has_value());
  chunk(transfer, ok_body.substr(10));
  done(transfer, 200);
  BOOST_REQUIRE(outcome->has_value());
  BOOST_TEST((*outcome)->ok);
  BOOST_TEST((*outcome)->reply.timing.first_token_us == 1'000'000);
  BOOST_TEST((*outcome)->reply.timing.total_us == 6'000'000);
  BOOST_TEST(net->cancelled.empty());
}

// Regression: max_tokens near 2^63 overflowed the token estimate; the
// negative estimate sat at the head of the limiter's queue until its
// deadline and every request of the group waited behind it.
BOOST_AUTO_TEST_CASE(an_absurd_max_tokens_fails_at_once_and_blocks_nobody) {
  limits.tokens = window_budget{100'000, 60'000'000};
  start();
  auto absurd = query("absurd", priority::interactive, "2+2?", INT64_MAX);
  BOOST_REQUIRE(absurd->has_value());
  BOOST_TEST(!(*absurd)->ok);
  BOOST_TEST((*absurd)->error.kind == failure_kind::bad_request);
  BOOST_TEST((*absurd)->error.message.find(
                 "more than the whole token budget") != std::string::npos);
  BOOST_TEST(net->started.empty());
  // The next request of the group is sent at once.
  auto normal = query();
  BOOST_TEST(net->started.size() == 1u);
  reply(200, ok_body);
  BOOST_REQUIRE(normal->has_value());
  BOOST_TEST((*normal)->ok);
  BOOST_TEST(limiter_snapshot().queued == 0);
}

BOOST_AUTO_TEST_CASE(the_total_timeout_ends_the_call_and_cancels_its_transfer) {
  deps.timeouts.total_ms = 5000;
  start();
  auto started_at = now_us();
  auto outcome = query();
  auto transfer = last_transfer();
  BOOST_TEST(transfer.deadline == started_at + 5'000'000);
  advance(4999ms);
  BOOST_TEST(!outcome->has_value());
  advance(1ms);
  BOOST_REQUIRE(outcome->has_value());
  BOOST_TEST((*outcome)->error.kind == failure_kind::timeout_total);
  BOOST_TEST((*outcome)->error.attempts == 1);
  BOOST_TEST(net->cancelled == (std::vector<uint64_t>{transfer.id}),
             boost::test_tools::per_element());
  BOOST_TEST(snapshot().consecutive_failures == 1);
  BOOST_TEST(limiter_snapshot().in_flight == 0);
}

BOOST_AUTO_TEST_CASE(an_idle_stream_times_out_after_its_last_chunk) {
  deps.timeouts.idle_ms = 1000;
  start();
  auto outcome = query();
  auto transfer = last_transfer().id;
  head(transfer, 200);
  chunk(transfer, "{");
  advance(600ms);
  chunk(transfer, "\"choices\"");
  advance(900ms);
  BOOST_TEST(!outcome->has_value());
  advance(100ms);
  BOOST_REQUIRE(outcome->has_value());
  BOOST_TEST((*outcome)->error.kind == failure_kind::timeout_idle);
  BOOST_TEST(net->cancelled == (std::vector<uint64_t>{transfer}),
             boost::test_tools::per_element());
  BOOST_TEST(snapshot().consecutive_failures == 1);
}

// -- retries ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_server_error_is_retried_after_the_backoff) {
  deps.retry.attempts = 2;
  start();
  auto outcome = query();
  reply(500, server_error_body);
  BOOST_TEST(!outcome->has_value());
  BOOST_TEST(net->started.size() == 1u);
  // Between attempts the permit is back with the limiter.
  BOOST_TEST(limiter_snapshot().in_flight == 0);
  advance(10ms); // the backoff is at most 10 ms
  BOOST_REQUIRE(net->started.size() == 2u);
  BOOST_TEST(net->started[1].request.body == net->started[0].request.body);
  reply(200, ok_body);
  BOOST_REQUIRE(outcome->has_value());
  BOOST_TEST((*outcome)->ok);
  BOOST_TEST((*outcome)->reply.attempts == 2);
  // The call succeeded: the failed attempt does not count.
  BOOST_TEST(snapshot().consecutive_failures == 0);
  BOOST_TEST(limiter_snapshot().in_flight == 0);
}

BOOST_AUTO_TEST_CASE(a_query_that_asks_hears_queued_sent_and_retrying) {
  deps.retry.attempts = 2;
  report_progress = true;
  start();
  auto outcome = query();
  auto states = [&] {
    std::vector<std::string> names;
    for (auto& p : *progress)
      names.push_back(std::string{to_string(p.state)});
    return names;
  };
  BOOST_TEST((states() == std::vector<std::string>{"queued", "sent"}));
  BOOST_TEST(progress->back().attempt == 1);
  BOOST_TEST(progress->back().member == "m");
  reply(500, server_error_body);
  BOOST_REQUIRE_EQUAL(progress->size(), 3u);
  auto& retrying = (*progress)[2];
  BOOST_TEST(to_string(retrying.state) == "retrying");
  BOOST_TEST(retrying.attempt == 1);
  BOOST_TEST(retrying.reason == failure_kind::server);
  BOOST_TEST(retrying.wait_ms >= 0);
  BOOST_TEST(retrying.wait_ms <= 10);
  BOOST_TEST(!retrying.message.empty());
  advance(10ms);
  BOOST_TEST((states() == std::vector<std::string>{"queued", "sent", "retrying",
                                                   "queued", "sent"}));
  BOOST_TEST(progress->back().attempt == 2);
  reply(200, ok_body);
  BOOST_REQUIRE(outcome->has_value());
  BOOST_TEST((*outcome)->ok);
  BOOST_TEST(progress->size() == 5u); // the outcome is the reply, not progress
}

BOOST_AUTO_TEST_CASE(a_query_that_does_not_ask_hears_no_progress) {
  streaming = true;
  listen = true;
  start();
  auto outcome = query();
  reply(200, ok_body);
  BOOST_REQUIRE(outcome->has_value());
  BOOST_TEST(progress->empty());
}

BOOST_AUTO_TEST_CASE(the_last_attempts_failure_is_the_outcome) {
  deps.retry.attempts = 2;
  start();
  auto outcome = query();
  reply(500, server_error_body);
  advance(10ms);
  reply(502, R"({"error":{"message":"Bad gateway"}})");
  BOOST_REQUIRE(outcome->has_value());
  BOOST_TEST((*outcome)->error.kind == failure_kind::server);
  BOOST_TEST((*outcome)->error.http_status == 502);
  BOOST_TEST((*outcome)->error.attempts == 2);
  BOOST_TEST(net->started.size() == 2u);
  // One call, one breaker failure, however many attempts it made.
  BOOST_TEST(snapshot().consecutive_failures == 1);
}

BOOST_AUTO_TEST_CASE(failures_of_the_request_itself_are_not_retried) {
  deps.retry.attempts = 3;
  start();
  auto outcome = query();
  reply(400, bad_request_body);
  BOOST_REQUIRE(outcome->has_value());
  BOOST_TEST((*outcome)->error.attempts == 1);
  advance(1s);
  BOOST_TEST(net->started.size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_429_waits_for_retry_after_and_pauses_the_limit_group) {
  deps.retry.attempts = 2;
  start();
  auto outcome = query();
  auto limited_at = now_us();
  reply(429, rate_limited_body, {{"Retry-After", "2"}});
  BOOST_TEST(!outcome->has_value());
  auto limits_now = limiter_snapshot();
  BOOST_TEST(limits_now.cooldown_until == limited_at + 2'000'000);
  BOOST_TEST(limits_now.in_flight == 0);
  advance(1999ms);
  BOOST_TEST(net->started.size() == 1u);
  advance(1ms);
  BOOST_REQUIRE(net->started.size() == 2u);
  reply(200, ok_body);
  BOOST_REQUIRE(outcome->has_value());
  BOOST_TEST((*outcome)->ok);
  BOOST_TEST((*outcome)->reply.attempts == 2);
  BOOST_TEST(limiter_snapshot().cooldown_until == 0);
}

BOOST_AUTO_TEST_CASE(a_429_cooldown_holds_back_other_calls_of_the_group) {
  start();
  auto first = query();
  reply(429, rate_limited_body, {{"Retry-After", "2"}});
  BOOST_REQUIRE(first->has_value());
  BOOST_TEST((*first)->error.kind == failure_kind::rate_limited);
  BOOST_TEST((*first)->error.http_status == 429);
  // A 429 is the key's limit, not the provider being unwell.
  BOOST_TEST(snapshot().consecutive_failures == 0);
  auto second = query();
  BOOST_TEST(net->started.size() == 1u);
  BOOST_TEST(limiter_snapshot().queued == 1);
  advance(2s);
  BOOST_TEST(net->started.size() == 2u);
}

BOOST_AUTO_TEST_CASE(no_retry_when_waiting_would_pass_the_deadline) {
  deps.retry.attempts = 3;
  deps.timeouts.total_ms = 1000;
  start();
  auto outcome = query();
  reply(429, rate_limited_body, {{"Retry-After", "5"}});
  BOOST_REQUIRE(outcome->has_value());
  BOOST_TEST((*outcome)->error.kind == failure_kind::rate_limited);
  BOOST_TEST((*outcome)->error.attempts == 1);
  BOOST_TEST((*outcome)->error.message.find("not retried: waiting 5000 ms") !=
             std::string::npos);
  advance(10s);
  BOOST_TEST(net->started.size() == 1u);
}

// -- cancellation and permits -------------------------------------------------

BOOST_AUTO_TEST_CASE(a_retry_that_never_runs_keeps_the_failure_that_caused_it) {
  limits.concurrency = 1;
  deps.retry.attempts = 2;
  deps.timeouts.total_ms = 1000;
  start();
  auto first = query();
  auto second = query(); // waits for the one permit
  reply(500, server_error_body);
  // The permit went to the second call; the retry waits behind it until
  // the deadline.
  BOOST_TEST(net->started.size() == 2u);
  advance(1000ms);
  BOOST_REQUIRE(first->has_value());
  auto& outcome = **first;
  BOOST_TEST(!outcome.ok);
  BOOST_TEST(outcome.error.kind == failure_kind::server);
  BOOST_TEST(outcome.error.http_status == 500);
  BOOST_TEST(outcome.error.message.find("not retried") != std::string::npos,
             outcome.error.message);
  (void)second;
}

BOOST_AUTO_TEST_CASE(a_reused_request_id_gets_its_own_deadline) {
  deps.timeouts.total_ms = 10'000;
  start();
  auto first = query("same");
  reply(200, ok_body);
  BOOST_REQUIRE(first->has_value());
  advance(2'000ms);
  auto second = query("same");
  // The first call's deadline timer fires at 10 s; the second's is at 12 s.
  advance(8'000ms);
  BOOST_TEST(!second->has_value());
  advance(2'000ms);
  BOOST_REQUIRE(second->has_value());
  BOOST_TEST((*second)->error.kind == failure_kind::timeout_total);
}

BOOST_AUTO_TEST_CASE(cancel_ends_a_call_and_cancels_its_transfer) {
  start();
  auto outcome = query("to-cancel");
  auto transfer = last_transfer().id;
  caf::anon_send(prov, cancel_atom::value, std::string{"to-cancel"});
  run();
  BOOST_REQUIRE(outcome->has_value());
  BOOST_TEST((*outcome)->error.kind == failure_kind::cancelled);
  BOOST_TEST((*outcome)->error.attempts == 1);
  BOOST_TEST(net->cancelled == (std::vector<uint64_t>{transfer}),
             boost::test_tools::per_element());
  BOOST_TEST(limiter_snapshot().in_flight == 0);
  // Cancelling is the caller's choice: the breaker does not count it.
  BOOST_TEST(snapshot().consecutive_failures == 0);
  BOOST_TEST(snapshot().calls == 0);
  // A reply that was already on its way is dropped.
  reply(200, ok_body);
  BOOST_TEST(snapshot().calls == 0);
}

BOOST_AUTO_TEST_CASE(cancel_while_queued_withdraws_the_permit_request) {
  limits.concurrency = 1;
  start();
  auto first = query();
  auto queued = query("queued");
  BOOST_TEST(net->started.size() == 1u);
  BOOST_TEST(limiter_snapshot().queued == 1);
  caf::anon_send(prov, cancel_atom::value, std::string{"queued"});
  run();
  BOOST_REQUIRE(queued->has_value());
  BOOST_TEST((*queued)->error.kind == failure_kind::cancelled);
  BOOST_TEST((*queued)->error.attempts == 0);
  BOOST_TEST(limiter_snapshot().queued == 0);
  reply(200, ok_body);
  BOOST_TEST((*first)->ok);
  BOOST_TEST(net->started.size() == 1u);
  BOOST_TEST(limiter_snapshot().in_flight == 0);
}

BOOST_AUTO_TEST_CASE(a_permit_goes_back_to_the_limiter_when_a_call_ends) {
  limits.concurrency = 1;
  start();
  auto first = query();
  auto second = query();
  BOOST_TEST(limiter_snapshot().in_flight == 1);
  BOOST_TEST(net->started.size() == 1u);
  reply(200, ok_body);
  BOOST_TEST((*first)->ok);
  // The freed slot went to the waiting call.
  BOOST_TEST(net->started.size() == 2u);
  reply(500, server_error_body);
  BOOST_TEST(!(*second)->ok);
  BOOST_TEST(limiter_snapshot().in_flight == 0);
}

BOOST_AUTO_TEST_CASE(interactive_calls_go_before_batch_calls_queued_earlier) {
  limits.concurrency = 1;
  start();
  auto held = hold_permit();
  auto batch = query("b1", priority::batch, "a batch row");
  auto chat = query("c1", priority::interactive, "a person waiting");
  BOOST_TEST(net->started.empty());
  BOOST_TEST(limiter_snapshot().queued == 2);
  caf::anon_send(limiter, release_atom::value, held, usage{});
  run();
  BOOST_REQUIRE(net->started.size() == 1u);
  BOOST_TEST(last_transfer().request.body.find("a person waiting") !=
             std::string::npos);
  reply(200, ok_body);
  BOOST_TEST(chat->has_value());
  BOOST_REQUIRE(net->started.size() == 2u);
  BOOST_TEST(last_transfer().request.body.find("a batch row") !=
             std::string::npos);
  reply(200, ok_body);
  BOOST_REQUIRE(batch->has_value());
  BOOST_TEST((*batch)->ok);
}

BOOST_AUTO_TEST_CASE(a_duplicate_request_id_is_refused_without_sending) {
  start();
  query("same");
  auto duplicate = query("same");
  BOOST_REQUIRE(duplicate->has_value());
  BOOST_TEST((*duplicate)->error.kind == failure_kind::bad_request);
  BOOST_TEST(net->started.size() == 1u);
}

BOOST_AUTO_TEST_CASE(the_request_goes_out_encoded_by_the_codec) {
  start();
  query();
  auto& sent = last_transfer();
  BOOST_TEST(sent.request.url == "http://upstream.test/v1/chat/completions");
  BOOST_TEST(sent.request.body.find("\"model\":\"gpt-test\"") !=
             std::string::npos);
  BOOST_TEST((sent.receiver == prov));
  BOOST_TEST(sent.deadline == 0);
}

// -- known gaps ---------------------------------------------------------------

// A half-open probe that ends before it sent anything (cancelled while
// queued for a permit, denied by the limiter, or past its deadline while
// queued) must give the probe slot back; otherwise every later query is
// refused as circuit_open for good.
BOOST_AUTO_TEST_CASE(a_probe_that_never_sent_frees_the_probe_slot) {
  limits.concurrency = 1;
  start();
  open_breaker();
  advance(30s);
  auto held = hold_permit();
  auto probe = query("probe");
  BOOST_TEST(limiter_snapshot().queued == 1);
  cancel("probe");
  BOOST_REQUIRE(probe->has_value());
  BOOST_TEST((*probe)->error.kind == failure_kind::cancelled);
  BOOST_TEST((*probe)->error.attempts == 0);
  caf::anon_send(limiter, release_atom::value, held, usage{});
  run();
  auto next = query();
  BOOST_TEST(!next->has_value());
  BOOST_TEST(net->started.size() == 4u);
}

// -- a reply in one message
// ----------------------------------------------------

BOOST_AUTO_TEST_CASE(a_reply_that_arrives_whole_in_one_message_completes) {
  start();
  auto outcome = query();
  reply_whole(200, ok_body);
  BOOST_REQUIRE(outcome->has_value());
  BOOST_TEST((*outcome)->ok);
  BOOST_TEST((*outcome)->reply.text == "4");
  BOOST_TEST((*outcome)->reply.usage.output_tokens == 1);
  BOOST_TEST(limiter_snapshot().in_flight == 0);
}

BOOST_AUTO_TEST_CASE(an_error_that_arrives_whole_keeps_its_status_and_kind) {
  start();
  auto outcome = query();
  reply_whole(400, bad_request_body);
  BOOST_REQUIRE(outcome->has_value());
  BOOST_TEST(!(*outcome)->ok);
  BOOST_TEST((*outcome)->error.kind == failure_kind::bad_request);
  BOOST_TEST((*outcome)->error.http_status == 400);
  BOOST_TEST(limiter_snapshot().in_flight == 0);
}

// -- replies as the vendors send them -----------------------------------------

const std::string refusal_body =
    R"({"choices":[{"index":0,"message":{"role":"assistant","content":null,)"
    R"("refusal":"I'm very sorry, but I can't assist with that."},)"
    R"("finish_reason":"stop"}],"usage":{"prompt_tokens":81,)"
    R"("completion_tokens":11}})";

BOOST_AUTO_TEST_CASE(a_refusal_is_neither_retried_nor_a_fault_of_the_upstream) {
  deps.retry.attempts = 3;
  start();
  for (int i = 0; i < 4; ++i) {
    auto started = net->started.size();
    auto outcome = query();
    reply(200, refusal_body);
    BOOST_REQUIRE(outcome->has_value());
    BOOST_TEST(!(*outcome)->ok);
    BOOST_TEST((*outcome)->error.kind == failure_kind::refused);
    BOOST_TEST((*outcome)->error.message ==
               "I'm very sorry, but I can't assist with that.");
    BOOST_TEST((*outcome)->error.usage.output_tokens == 11);
    BOOST_TEST((*outcome)->error.attempts == 1);
    BOOST_TEST(net->started.size() == started + 1);
  }
  auto st = snapshot();
  BOOST_TEST(st.breaker == "closed");
  BOOST_TEST(st.consecutive_failures == 0);
  BOOST_TEST(limiter_snapshot().in_flight == 0);
}

BOOST_AUTO_TEST_CASE(a_streamed_refusal_is_refused_as_the_whole_one_is) {
  streaming = true;
  start();
  auto outcome = query();
  auto id = last_transfer().id;
  head(id, 200);
  chunk(id, "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":"
            "\"assistant\",\"content\":null,\"refusal\":\"I'm very "
            "sorry\"},\"finish_reason\":null}]}\n\n");
  chunk(id, "data: {\"choices\":[{\"index\":0,\"delta\":{\"refusal\":"
            "\", but I can't assist with that.\"},\"finish_reason\":"
            "\"stop\"}]}\n\ndata: [DONE]\n\n");
  done(id, 200);
  BOOST_REQUIRE(outcome->has_value());
  BOOST_TEST((*outcome)->error.kind == failure_kind::refused);
  BOOST_TEST((*outcome)->error.message ==
             "I'm very sorry, but I can't assist with that.");
  BOOST_TEST((*outcome)->error.partial_text == "");
}

BOOST_AUTO_TEST_CASE(streamed_usage_is_combined_as_the_codec_says) {
  // Gemini's running totals: the prompt count goes 15, 15, 13 and the last
  // chunk is the vendor's final word, lower or not.
  deps.settings.kind = "gemini";
  deps.wire = registry::builtin().make_codec("gemini");
  streaming = true;
  start();
  auto outcome = query();
  auto id = last_transfer().id;
  head(id, 200);
  for (auto [text, input, output, last] :
       {std::tuple{"The capital", 15, 0, false},
        std::tuple{" of France", 15, 4, false},
        std::tuple{" is Paris.", 13, 8, true}}) {
    chunk(id, std::string{"data: {\"candidates\":[{\"content\":{\"parts\":"
                          "[{\"text\":\""} +
                  text + "\"}]}" + (last ? ",\"finishReason\":\"STOP\"" : "") +
                  "}],\"usageMetadata\":{\"promptTokenCount\":" +
                  std::to_string(input) + ",\"candidatesTokenCount\":" +
                  std::to_string(output) + "}}\r\n\r\n");
  }
  done(id, 200);
  BOOST_REQUIRE(outcome->has_value());
  BOOST_REQUIRE((*outcome)->ok);
  BOOST_TEST((*outcome)->reply.text == "The capital of France is Paris.");
  BOOST_TEST((*outcome)->reply.usage.input_tokens == 13);
  BOOST_TEST((*outcome)->reply.usage.output_tokens == 8);
}

// -- streams in other framings ----------------------------------------------

/// OpenAI's codec, declaring another framing: its events are OpenAI chunks
/// however they are framed.
class framed_openai final : public codec {
public:
  explicit framed_openai(stream_framing framing) : framing_(framing) {}
  std::string default_base_url() const override {
    return inner_->default_base_url();
  }
  http_request encode(const chat_request& req,
                      const provider_settings& provider) const override {
    return inner_->encode(req, provider);
  }
  body_result decode_body(std::string_view body) const override {
    return inner_->decode_body(body);
  }
  stream_framing framing() const override { return framing_; }
  stream_update decode_event(const stream_event& event) const override {
    return inner_->decode_event(event);
  }
  failure classify_error(int status, std::string_view body,
                         const header_list& headers) const override {
    return inner_->classify_error(status, body, headers);
  }

private:
  stream_framing framing_;
  std::unique_ptr<codec> inner_ = registry::builtin().make_codec("openai");
};

const std::string ndjson_reply =
    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Par\"}}]}\n"
    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"is\"},"
    "\"finish_reason\":\"stop\"}]}\r\n"
    "[DONE]\n";

BOOST_AUTO_TEST_CASE(a_stream_is_cut_into_events_by_the_codecs_framing) {
  deps.wire = std::make_unique<framed_openai>(stream_framing::ndjson);
  streaming = true;
  start();
  auto outcome = query();
  auto id = last_transfer().id;
  head(id, 200);
  for (char byte : ndjson_reply)
    chunk(id, std::string(1, byte));
  done(id, 200);
  BOOST_REQUIRE(outcome->has_value());
  BOOST_REQUIRE((*outcome)->ok);
  BOOST_TEST((*outcome)->reply.text == "Paris");
  BOOST_TEST((*outcome)->reply.finish_reason == "stop");
}

BOOST_AUTO_TEST_CASE(a_stream_that_breaks_its_framing_is_a_protocol_failure) {
  deps.wire = std::make_unique<framed_openai>(stream_framing::aws_event_stream);
  streaming = true;
  start();
  auto outcome = query();
  auto id = last_transfer().id;
  head(id, 200);
  // A prelude whose checksum does not match: refused, whatever follows.
  chunk(id,
        std::string("\x00\x00\x00\x20\x00\x00\x00\x00\xde\xad\xbe\xef", 12));
  BOOST_REQUIRE(outcome->has_value());
  BOOST_TEST((*outcome)->error.kind == failure_kind::protocol);
  BOOST_TEST((*outcome)->error.message ==
             "the stream broke its aws-event-stream framing: prelude "
             "checksum mismatch in the message at byte 0");
  BOOST_TEST(net->cancelled.size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_stream_over_the_body_limit_fails_once) {
  deps.max_body_bytes = 1000;
  streaming = true;
  start();
  auto outcome = query();
  auto id = last_transfer().id;
  head(id, 200);
  std::string event = "data: {\"choices\":[{\"index\":0,\"delta\":"
                      "{\"content\":\"word \"}}]}\n\n";
  for (int i = 0; i < 40 && !outcome->has_value(); ++i)
    chunk(id, event);
  BOOST_REQUIRE(outcome->has_value());
  BOOST_TEST((*outcome)->error.kind == failure_kind::protocol);
  BOOST_TEST((*outcome)->error.message.find(
                 "streamed reply larger than 1000 bytes") == 0u);
  BOOST_TEST(!(*outcome)->error.partial_text.empty());
}

BOOST_AUTO_TEST_CASE(a_whole_body_over_the_limit_fails_once) {
  deps.max_body_bytes = 8;
  start();
  auto outcome = query();
  reply_whole(200, ok_body);
  BOOST_REQUIRE(outcome->has_value());
  BOOST_TEST((*outcome)->error.kind == failure_kind::protocol);
  BOOST_TEST(snapshot().calls == 0);
  BOOST_TEST(limiter_snapshot().in_flight == 0);
}

// -- deadlines share one timer
// --------------------------------------------------

BOOST_AUTO_TEST_CASE(each_call_times_out_at_its_own_deadline) {
  deps.timeouts.total_ms = 10'000;
  start();
  auto first = query();
  advance(1'000ms);
  auto second = query();
  auto third = query();
  reply(200, ok_body); // the third call answers
  BOOST_REQUIRE(third->has_value());
  advance(8'999ms);
  BOOST_TEST(!first->has_value());
  advance(1ms);
  BOOST_REQUIRE(first->has_value());
  BOOST_TEST((*first)->error.kind == failure_kind::timeout_total);
  BOOST_TEST(!second->has_value());
  advance(1'000ms);
  BOOST_REQUIRE(second->has_value());
  BOOST_TEST((*second)->error.kind == failure_kind::timeout_total);
  BOOST_TEST(snapshot().calls == 0);
}

BOOST_AUTO_TEST_CASE(an_earlier_deadline_after_a_later_one_still_fires_first) {
  deps.timeouts.total_ms = 10'000;
  start();
  auto late = query();
  auto early = std::make_shared<std::optional<member_outcome>>();
  {
    member_query q;
    q.member = "m";
    q.request.id = "early";
    q.request.deadline = now_us() + 2'000'000;
    q.request.messages.push_back(chat_message{"user", "2+2?"});
    sys.spawn([early, q, prov = prov](caf::event_based_actor* self) {
      self->request(prov, caf::infinite, query_atom::value, q)
          .then([=](member_outcome& outcome) { *early = std::move(outcome); });
    });
    run();
  }
  advance(2'000ms);
  BOOST_REQUIRE(early->has_value());
  BOOST_TEST((*early)->error.kind == failure_kind::timeout_total);
  BOOST_TEST(!late->has_value());
}

// -- spend budgets -----------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_call_past_its_budget_fails_before_it_takes_a_permit) {
  // $1 a token: "2+2?" (1 token) and at most 10 out is estimated at $11.
  deps.price = price_table{1'000'000, 1'000'000, 0};
  deps.ledger = std::make_shared<spend_ledger>();
  deps.ledger->set_limit("provider", "gpt", spend_limit{20, 0});
  start();
  auto first = query({}, priority::interactive, "2+2?", 10);
  BOOST_REQUIRE_EQUAL(net->started.size(), 1u);
  // In flight together, the second would pass $20: refused unsent.
  for (int i = 0; i < 3; ++i) {
    auto refused = query({}, priority::interactive, "2+2?", 10);
    BOOST_REQUIRE(refused->has_value());
    BOOST_TEST((*refused)->error.kind == failure_kind::budget_exceeded);
    BOOST_TEST((*refused)->error.attempts == 0);
    BOOST_TEST((*refused)->error.message.find(
                   "provider 'gpt' ($20.00 a day) has $9.00 left") !=
               std::string::npos);
  }
  BOOST_TEST(net->started.size() == 1u);
  BOOST_TEST(limiter_snapshot().in_flight == 1);
  // Not a fault of the upstream: the breaker stays closed.
  BOOST_TEST(snapshot().breaker == "closed");
  BOOST_TEST(snapshot().consecutive_failures == 0);
  // The first costs $6 (5 in, 1 out): $14 is left, and $11 fits again.
  reply(200, ok_body);
  BOOST_REQUIRE(first->has_value());
  BOOST_TEST((*first)->reply.cost_usd == 6.0);
  auto third = query({}, priority::interactive, "2+2?", 10);
  BOOST_TEST(!third->has_value());
  BOOST_TEST(net->started.size() == 2u);
}

// -- the response cache -------------------------------------------------------

BOOST_AUTO_TEST_CASE(an_identical_request_is_answered_from_the_cache) {
  deps.price = price_table{1'000'000, 1'000'000, 0};
  deps.settings.defaults.temperature = 0.0;
  deps.cache_rule.ttl_ms = 60'000;
  response_cache_deps cache_deps;
  deps.cache = spawn_owned(response_cache, cache_deps);
  start();
  auto made = query();
  reply(200, ok_body);
  BOOST_REQUIRE(made->has_value());
  BOOST_TEST(!(*made)->reply.cached);
  BOOST_TEST(net->started.size() == 1u);
  auto hit = query();
  BOOST_REQUIRE(hit->has_value());
  BOOST_TEST((*hit)->ok);
  BOOST_TEST((*hit)->reply.cached);
  BOOST_TEST((*hit)->reply.text == "4");
  BOOST_TEST((*hit)->reply.cost_usd == 0.0);
  BOOST_TEST((*hit)->reply.usage.input_tokens == 5);
  BOOST_TEST(net->started.size() == 1u);
  BOOST_TEST(limiter_snapshot().in_flight == 0);
  // Another prompt, or another max_tokens, is another request.
  auto other = query({}, priority::interactive, "3+3?");
  BOOST_TEST(!other->has_value());
  BOOST_TEST(net->started.size() == 2u);
  reply(500, server_error_body);
  // A failure is never cached: the same question goes out again.
  auto again = query({}, priority::interactive, "3+3?");
  BOOST_TEST(!again->has_value());
  BOOST_TEST(net->started.size() == 3u);
}

BOOST_AUTO_TEST_CASE(a_cancelled_call_waiting_for_the_cache_ends_once) {
  deps.settings.defaults.temperature = 0.0;
  deps.cache_rule.ttl_ms = 60'000;
  deps.cache = spawn_owned(response_cache, response_cache_deps{});
  start();
  member_query q;
  q.member = "m";
  q.request.id = "c1";
  q.request.messages.push_back(chat_message{"user", "2+2?"});
  auto slot = std::make_shared<std::optional<member_outcome>>();
  auto answers = std::make_shared<int>(0);
  sys.spawn([slot, answers, q, prov = prov](caf::event_based_actor* self) {
    self->request(prov, caf::infinite, query_atom::value, q)
        .then([=](member_outcome& outcome) {
          ++*answers;
          *slot = std::move(outcome);
        });
  });
  // The query and the cancel arrive before the cache has answered.
  sched.run_once();
  caf::anon_send(prov, cancel_atom::value, std::string{"c1"});
  run();
  BOOST_REQUIRE(slot->has_value());
  BOOST_TEST(*answers == 1);
  BOOST_TEST((*slot)->error.kind == failure_kind::cancelled);
  BOOST_TEST(net->started.empty());
}

BOOST_AUTO_TEST_SUITE_END()

// -- embeddings ---------------------------------------------------------------

namespace {

/// An embeddings query of `inputs`; the outcome lands in the slot.
outcome_slot embed_query(provider_fixture& f, std::vector<std::string> inputs,
                         int64_t dimensions = 0) {
  member_query q;
  q.member = "m";
  q.request.id = "e" + std::to_string(f.next_query++);
  q.request.embedding.inputs = std::move(inputs);
  q.request.embedding.dimensions = dimensions;
  auto slot = std::make_shared<std::optional<member_outcome>>();
  f.sys.spawn([slot, q, prov = f.prov](caf::event_based_actor* self) {
    self->request(prov, caf::infinite, query_atom::value, q)
        .then([=](member_outcome& outcome) { *slot = std::move(outcome); });
  });
  f.run();
  return slot;
}

const std::string vectors_body =
    R"({"object":"list","data":[{"index":0,"embedding":[0.6,0.8]},)"
    R"({"index":1,"embedding":[1,0]}],"usage":{"prompt_tokens":3,)"
    R"("total_tokens":3}})";

} // namespace

BOOST_FIXTURE_TEST_SUITE(provider_embeddings, provider_fixture)

BOOST_AUTO_TEST_CASE(an_embeddings_query_takes_a_permit_and_reads_vectors) {
  deps.settings.embedding_model = "text-embedding-3-small";
  start();
  auto outcome = embed_query(*this, {"a b", "c"}, 2);
  auto& sent = last_transfer().request;
  BOOST_TEST(sent.url == "http://upstream.test/v1/embeddings");
  BOOST_TEST(
      sent.body ==
      R"({"model":"text-embedding-3-small","input":["a b","c"],"dimensions":2})");
  BOOST_TEST(limiter_snapshot().in_flight == 1);
  reply(200, vectors_body);
  BOOST_REQUIRE(outcome->has_value());
  auto& o = **outcome;
  BOOST_REQUIRE(o.ok);
  BOOST_TEST(o.model == "text-embedding-3-small");
  BOOST_REQUIRE(o.reply.embeddings.size() == 2u);
  BOOST_TEST(o.reply.embeddings[0] == (std::vector<float>{0.6f, 0.8f}));
  BOOST_TEST(o.reply.usage.input_tokens == 3);
  BOOST_TEST(o.reply.attempts == 1);
  BOOST_TEST(limiter_snapshot().in_flight == 0);
}

BOOST_AUTO_TEST_CASE(an_embeddings_call_is_retried_as_a_chat_call_is) {
  deps.retry.attempts = 2;
  start();
  auto outcome = embed_query(*this, {"a", "b"});
  reply(429, rate_limited_body);
  BOOST_TEST(!outcome->has_value());
  advance(10ms);
  BOOST_REQUIRE(net->started.size() == 2u);
  BOOST_TEST(net->started[1].request.body == net->started[0].request.body);
  reply(200, vectors_body);
  BOOST_REQUIRE(outcome->has_value());
  BOOST_TEST((*outcome)->ok);
  BOOST_TEST((*outcome)->reply.attempts == 2);
}

BOOST_AUTO_TEST_CASE(a_broken_embeddings_reply_is_a_protocol_failure) {
  start();
  auto outcome = embed_query(*this, {"a", "b", "c"});
  reply(200, vectors_body);
  BOOST_REQUIRE(outcome->has_value());
  BOOST_TEST((*outcome)->error.kind == failure_kind::protocol);
  BOOST_TEST((*outcome)->error.message.find("2 vectors for 3 inputs") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(
    a_kind_without_embeddings_answers_at_once_sending_nothing) {
  deps.wire = registry::builtin().make_codec("anthropic");
  start();
  auto outcome = embed_query(*this, {"a"});
  BOOST_REQUIRE(outcome->has_value());
  BOOST_TEST((*outcome)->error.kind == failure_kind::bad_request);
  BOOST_TEST((*outcome)->error.attempts == 0);
  BOOST_TEST(net->started.empty());
  // Nothing was asked of the upstream: the breaker heard nothing.
  BOOST_TEST(snapshot().consecutive_failures == 0);
}

BOOST_AUTO_TEST_CASE(dimensions_a_kind_cannot_choose_are_refused) {
  deps.wire = registry::builtin().make_codec("ollama");
  start();
  auto outcome = embed_query(*this, {"a"}, 8);
  BOOST_REQUIRE(outcome->has_value());
  BOOST_TEST((*outcome)->error.kind == failure_kind::bad_request);
  BOOST_TEST(net->started.empty());
}

BOOST_AUTO_TEST_CASE(the_total_timeout_ends_an_embeddings_call) {
  deps.timeouts.total_ms = 2000;
  start();
  auto outcome = embed_query(*this, {"a"});
  auto transfer = last_transfer().id;
  advance(2000ms);
  BOOST_REQUIRE(outcome->has_value());
  BOOST_TEST((*outcome)->error.kind == failure_kind::timeout_total);
  BOOST_TEST(net->cancelled == (std::vector<uint64_t>{transfer}),
             boost::test_tools::per_element());
  BOOST_TEST(limiter_snapshot().in_flight == 0);
}

BOOST_AUTO_TEST_SUITE_END()
