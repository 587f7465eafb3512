// One ensemble question end to end over real HTTP: the engine's actors and
// libcurl transport against the fake upstream on loopback.

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/fake_upstream_fixture.hpp"
#include "tools/fake_llm/fake_llm.hpp"
#include "tutti/config.hpp"
#include "tutti/engine.hpp"

using namespace tutti;
using fake_upstream::member_named;
using namespace std::chrono_literals;

namespace {

const char* upstream_script = R"(
models:
  slow-a: {reply: "Alpha answers.", latency: 300ms}
  slow-b: {reply: "Bravo answers.", latency: 300ms}
  slow-c: {reply: "Charlie answers.", latency: 300ms}
  good:   {reply: "Paris is the capital of France.", latency: 20ms, tokens_per_second: 400}
  oops:   {fail: {status: 500, message: "Internal failure in the model"}}
  busy:   {fail: {status: 503, message: "The server is overloaded"}}
  stuck:  {reply: "one two three four five", stall_after_tokens: 2}
  cut:    {reply: "one two three four five", truncate_after_tokens: 2}
  echo:   {}
  quick:  {reply: "Quick answers.", latency: 20ms}
  second: {reply: "Second answers.", latency: 80ms}
  drag-a: {reply: "a b c d e f g h i j k l m n o", tokens_per_second: 5}
  drag-b: {reply: "a b c d e f g h i j k l m n o", tokens_per_second: 5}
  silent: {reply: "never sent", stall_after_tokens: 0}
)";

/// How long a `drag-*` stream lasts when nobody cancels it: 15 tokens at 5
/// per second.
constexpr int64_t drag_stream_us = 3'000'000;

/// A fake upstream on loopback and an engine configured against it.
struct http_fixture {
  fake::server upstream{fake::parse_script(upstream_script)};
  std::string base_url;

  http_fixture() {
    upstream.start();
    base_url = upstream.base_url();
  }

  /// A config whose providers are named after the fake models they use.
  /// `ensemble_lines` are appended to the ensemble's YAML, e.g.
  /// "    until: first\n".
  config make_config(const std::vector<std::string>& models,
                     const std::string& deadline = "10s",
                     const std::string& ensemble_lines = "") {
    auto yaml = "providers:\n" +
                fake_upstream::providers_yaml(models, base_url,
                                              ", api_key: sk-test-secret-key") +
                "  closed: {kind: openai, model: x, base_url: "
                "\"http://127.0.0.1:1/v1\"}\n" +
                fake_upstream::ensemble_yaml(models, deadline) + ensemble_lines;
    return parse_config(yaml, "test.yaml");
  }

  /// The upstream's record of `model`'s one request once the upstream has
  /// finished with it, waiting at most `limit` for that.
  std::optional<fake::arrival>
  finished_request(const std::string& model, std::chrono::milliseconds limit) {
    auto give_up = std::chrono::steady_clock::now() + limit;
    for (;;) {
      auto seen = fake_upstream::arrivals_of(upstream, model);
      if (!seen.empty())
        return seen.front();
      if (std::chrono::steady_clock::now() >= give_up)
        return std::nullopt;
      std::this_thread::sleep_for(10ms);
    }
  }

  /// Whether every provider's limiter has all its permits back, waiting at
  /// most `limit` for that (a cancelled call releases its permit just after
  /// the answer went out).
  static bool all_permits_back(engine& eng, std::chrono::milliseconds limit) {
    auto give_up = std::chrono::steady_clock::now() + limit;
    for (;;) {
      auto states = eng.provider_states();
      bool idle = std::all_of(states.begin(), states.end(),
                              [](auto& st) { return st.in_flight == 0; });
      if (idle || std::chrono::steady_clock::now() >= give_up) {
        for (auto& st : states)
          BOOST_TEST_MESSAGE(st.name << ": in_flight " << st.in_flight);
        return idle;
      }
      std::this_thread::sleep_for(20ms);
    }
  }

  /// The slow member was stopped by the ensemble, and the upstream saw its
  /// connection close: the paced stream's next write found the client gone,
  /// within `limit` of the answer and long before the stream's end.
  void check_cancelled_and_closed(const ensemble_answer& answer,
                                  const std::string& label,
                                  steady_us answered_at,
                                  std::chrono::milliseconds limit) {
    auto& m = member_named(answer, label);
    BOOST_TEST(!m.ok);
    BOOST_TEST(m.error.kind == failure_kind::cancelled);
    auto seen = finished_request(label, limit);
    BOOST_REQUIRE_MESSAGE(seen, label + ": the upstream still serves it " +
                                    std::to_string(limit.count()) +
                                    " ms after the answer");
    BOOST_TEST_MESSAGE(label << ": upstream saw the client leave "
                             << seen->finished_steady_us - answered_at
                             << " us after the answer");
    BOOST_TEST(seen->outcome == "client_gone");
    BOOST_TEST(seen->finished_steady_us - answered_at <
               static_cast<int64_t>(limit.count()) * 1000);
    BOOST_TEST(seen->finished_steady_us - seen->steady_us < drag_stream_us);
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(ensemble_http_tests, http_fixture)

BOOST_AUTO_TEST_CASE(members_run_in_parallel) {
  engine eng{make_config({"slow-a", "slow-b", "slow-c"})};
  auto answer = eng.ask("e", "Who are you?").get();
  BOOST_TEST(answer.status == answer_status::ok);
  BOOST_REQUIRE(answer.members.size() == 3u);
  for (auto& m : answer.members)
    BOOST_TEST(m.ok);
  // Every request reached the upstream before any of them was answered: a
  // serial loop could not do that.
  auto arrivals = upstream.arrivals();
  BOOST_REQUIRE(arrivals.size() == 3u);
  int64_t last_arrival = 0;
  int64_t first_finish = INT64_MAX;
  for (auto& a : arrivals) {
    last_arrival = std::max(last_arrival, a.steady_us);
    first_finish = std::min(first_finish, a.finished_steady_us);
  }
  BOOST_TEST(last_arrival < first_finish);
}

// Actors never block on the network: with a single scheduler thread the
// members still reach the upstream at the same time.
BOOST_AUTO_TEST_CASE(members_run_in_parallel_on_one_scheduler_thread) {
  engine_options options;
  options.worker_threads = 1;
  engine eng{make_config({"slow-a", "slow-b", "slow-c"}), options};
  auto answer = eng.ask("e", "Who are you?").get();
  BOOST_TEST(answer.status == answer_status::ok);
  auto arrivals = upstream.arrivals();
  BOOST_REQUIRE(arrivals.size() == 3u);
  int64_t last_arrival = 0;
  int64_t first_finish = INT64_MAX;
  for (auto& a : arrivals) {
    last_arrival = std::max(last_arrival, a.steady_us);
    first_finish = std::min(first_finish, a.finished_steady_us);
  }
  BOOST_TEST(last_arrival < first_finish);
}

BOOST_AUTO_TEST_CASE(a_500_from_one_member_leaves_the_others_intact) {
  engine eng{make_config({"good", "oops", "slow-a"})};
  auto answer = eng.ask("e", "Capital of France?").get();
  BOOST_TEST(answer.status == answer_status::partial);
  BOOST_REQUIRE(answer.members.size() == 3u);
  auto& good = member_named(answer, "good");
  BOOST_TEST(good.ok);
  BOOST_TEST(good.reply.text == "Paris is the capital of France.");
  BOOST_TEST(good.reply.finish_reason == "stop");
  BOOST_TEST(good.reply.usage.output_tokens > 0);
  BOOST_TEST(good.reply.usage.input_tokens > 0);
  auto& oops = member_named(answer, "oops");
  BOOST_TEST(!oops.ok);
  BOOST_TEST(oops.error.kind == failure_kind::server);
  BOOST_TEST(oops.error.http_status == 500);
  BOOST_TEST(oops.error.message.find("Internal failure in the model") !=
             std::string::npos);
  BOOST_TEST(oops.model == "oops");
  BOOST_TEST(member_named(answer, "slow-a").reply.text == "Alpha answers.");
  BOOST_TEST(answer.text.find("Paris is the capital of France.") !=
             std::string::npos);
  BOOST_TEST(answer.text.find("Alpha answers.") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(streamed_tokens_arrive_in_order) {
  engine eng{make_config({"good", "slow-b"})};
  std::map<std::string, std::vector<std::string>> deltas;
  std::vector<std::string> done_order;
  ask_options options;
  options.stream = true;
  options.on_delta = [&](const member_delta& d) {
    deltas[d.member].push_back(d.text);
  };
  options.on_member_done = [&](const member_outcome& o) {
    done_order.push_back(o.member);
  };
  auto answer = eng.ask("e", "Capital of France?", options).get();
  BOOST_TEST(answer.status == answer_status::ok);
  auto expected = fake::split_tokens("Paris is the capital of France.");
  BOOST_TEST(deltas["good"] == expected, boost::test_tools::per_element());
  std::string joined;
  for (auto& t : deltas["slow-b"])
    joined += t;
  BOOST_TEST(joined == "Bravo answers.");
  BOOST_TEST(member_named(answer, "good").reply.text ==
             "Paris is the capital of France.");
  // Usage came with the stream (stream_options.include_usage).
  BOOST_TEST(member_named(answer, "good").reply.usage.output_tokens > 0);
  BOOST_TEST(member_named(answer, "good").reply.timing.first_token_us >= 0);
  BOOST_TEST(done_order.size() == 2u);
  for (auto& a : upstream.arrivals())
    BOOST_TEST(a.stream);
}

BOOST_AUTO_TEST_CASE(an_unreachable_upstream_is_a_network_failure) {
  auto cfg = make_config({"good"});
  member_config unreachable;
  unreachable.provider = "closed";
  unreachable.label = "closed";
  cfg.ensembles["e"].members.push_back(unreachable);
  engine eng{cfg};
  auto answer = eng.ask("e", "hello").get();
  BOOST_TEST(answer.status == answer_status::partial);
  auto& closed = member_named(answer, "closed");
  BOOST_TEST(!closed.ok);
  BOOST_TEST(closed.error.kind == failure_kind::network);
  BOOST_TEST(closed.error.http_status == 0);
}

BOOST_AUTO_TEST_CASE(a_stalled_stream_times_out_at_the_deadline_keeping_text) {
  engine eng{make_config({"stuck", "good"}, "1s")};
  ask_options options;
  options.stream = true;
  auto answer = eng.ask("e", "count", options).get();
  BOOST_TEST(answer.status == answer_status::partial);
  auto& stuck = member_named(answer, "stuck");
  BOOST_TEST(!stuck.ok);
  BOOST_TEST(stuck.error.kind == failure_kind::timeout_total);
  BOOST_TEST(stuck.error.partial_text == "one two ");
  // The deadline counts from the question; the member started a moment later.
  BOOST_TEST(stuck.error.timing.total_us >= 900'000);
  BOOST_TEST(stuck.error.timing.total_us < 3'000'000);
  BOOST_TEST(member_named(answer, "good").ok);
}

// The fake upstream drops the connection mid-stream: a network failure that
// says the reply is incomplete and keeps what arrived.
BOOST_AUTO_TEST_CASE(a_stream_cut_before_its_end_is_an_incomplete_failure) {
  engine eng{make_config({"cut"})};
  ask_options options;
  options.stream = true;
  auto answer = eng.ask("e", "count", options).get();
  BOOST_TEST(answer.status == answer_status::failed);
  auto& cut = member_named(answer, "cut");
  BOOST_TEST(!cut.ok);
  BOOST_TEST(cut.error.kind == failure_kind::network);
  BOOST_TEST(cut.error.message.find("incomplete") != std::string::npos);
  BOOST_TEST(cut.error.partial_text == "one two ");
}

BOOST_AUTO_TEST_CASE(the_api_key_is_sent_and_never_reported) {
  engine eng{make_config({"busy"})};
  auto answer = eng.ask("e", "hello").get();
  BOOST_TEST(answer.status == answer_status::failed);
  auto& busy = member_named(answer, "busy");
  BOOST_TEST(busy.error.kind == failure_kind::overloaded);
  BOOST_TEST(busy.error.http_status == 503);
  BOOST_TEST(busy.error.message.find("sk-test-secret-key") ==
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_same_engine_answers_many_questions_concurrently) {
  engine eng{make_config({"good", "echo"})};
  std::vector<std::thread> askers;
  std::vector<ensemble_answer> answers(8);
  for (size_t i = 0; i < answers.size(); ++i)
    askers.emplace_back([&, i] {
      answers[i] = eng.ask("e", "question " + std::to_string(i)).get();
    });
  for (auto& t : askers)
    t.join();
  for (size_t i = 0; i < answers.size(); ++i) {
    BOOST_TEST(answers[i].status == answer_status::ok);
    BOOST_TEST(member_named(answers[i], "echo").reply.text ==
               "echo: question " + std::to_string(i));
  }
  BOOST_TEST(upstream.arrivals().size() == 16u);
}

// Provider defaults from YAML apply to every call; a per-call value wins.
BOOST_AUTO_TEST_CASE(per_call_params_override_provider_defaults) {
  auto cfg = make_config({"good"});
  cfg.providers["good"].defaults.max_tokens = 3;
  engine eng{cfg};
  auto by_default = member_named(eng.ask("e", "Capital?").get(), "good");
  BOOST_TEST(by_default.reply.text == "Paris is the");
  BOOST_TEST(by_default.reply.finish_reason == "length");
  ask_options options;
  options.params.max_tokens = 2;
  auto overridden =
      member_named(eng.ask("e", "Capital?", options).get(), "good");
  BOOST_TEST(overridden.reply.text == "Paris is");
  BOOST_TEST(overridden.reply.finish_reason == "length");
}

// until: first stops at the first success; the slow members' transfers are
// cut (the upstream sees each client leave) and their permits come back.
BOOST_AUTO_TEST_CASE(until_first_answers_at_the_fastest_and_cancels_the_rest) {
  engine eng{
      make_config({"quick", "drag-a", "drag-b"}, "10s", "    until: first\n")};
  ask_options options;
  options.stream = true;
  auto asked_at = steady_now_us();
  auto answer = eng.ask("e", "Who is fastest?", options).get();
  auto answered_at = steady_now_us();
  BOOST_TEST(answer.status == answer_status::ok);
  BOOST_TEST(answer.until == "first");
  auto& quick = member_named(answer, "quick");
  BOOST_REQUIRE(quick.ok);
  BOOST_TEST(answer.text.find("Quick answers.") != std::string::npos);
  // About the fast member's own time, nowhere near the slow streams' 3 s.
  auto wall_us = answered_at - asked_at;
  BOOST_TEST_MESSAGE("answer after " << wall_us << " us, quick took "
                                     << quick.total_us() << " us");
  BOOST_TEST(wall_us < 1'000'000);
  BOOST_TEST(wall_us - quick.total_us() < 500'000);
  for (auto label : {"drag-a", "drag-b"})
    check_cancelled_and_closed(answer, label, answered_at, 1500ms);
  BOOST_TEST(all_permits_back(eng, 1s));
}

BOOST_AUTO_TEST_CASE(
    until_quorum_answers_at_the_kth_success_and_cancels_the_rest) {
  engine eng{make_config({"quick", "second", "drag-a", "drag-b"}, "10s",
                         "    until: {quorum: 2}\n")};
  ask_options options;
  options.stream = true;
  auto asked_at = steady_now_us();
  auto answer = eng.ask("e", "Who is fastest?", options).get();
  auto answered_at = steady_now_us();
  BOOST_TEST(answer.status == answer_status::ok);
  BOOST_TEST(answer.until == "quorum:2");
  BOOST_TEST(member_named(answer, "quick").ok);
  auto& second = member_named(answer, "second");
  BOOST_REQUIRE(second.ok);
  auto wall_us = answered_at - asked_at;
  BOOST_TEST_MESSAGE("answer after " << wall_us << " us, second took "
                                     << second.total_us() << " us");
  BOOST_TEST(wall_us < 1'000'000);
  BOOST_TEST(wall_us - second.total_us() < 500'000);
  for (auto label : {"drag-a", "drag-b"})
    check_cancelled_and_closed(answer, label, answered_at, 1500ms);
  BOOST_TEST(all_permits_back(eng, 1s));
}

// Hedged: the first member sends nothing, so the second starts hedge_after
// later and answers; the first one's connection is closed at the upstream.
BOOST_AUTO_TEST_CASE(hedged_races_a_silent_member_and_closes_its_connection) {
  engine eng{make_config({"silent", "quick"}, "10s",
                         "    mode: hedged\n    hedge_after: 200ms\n")};
  ask_options options;
  options.stream = true;
  auto asked_at = steady_now_us();
  auto answer = eng.ask("e", "Anyone there?", options).get();
  auto answered_at = steady_now_us();
  BOOST_TEST(answer.status == answer_status::ok);
  BOOST_TEST(answer.mode == "hedged");
  BOOST_TEST(member_named(answer, "quick").ok);
  BOOST_TEST(answer.text.find("Quick answers.") != std::string::npos);
  auto& silent = member_named(answer, "silent");
  BOOST_TEST(!silent.ok);
  BOOST_TEST(silent.error.kind == failure_kind::cancelled);
  // The second member started once the first had been silent 200 ms, and
  // the answer came long before the first one's stall (60 s) or the 10 s
  // deadline could end it.
  auto wall_us = answered_at - asked_at;
  BOOST_TEST_MESSAGE("answer after " << wall_us << " us");
  BOOST_TEST(wall_us >= 200'000);
  BOOST_TEST(wall_us < 1'200'000);
  auto quick_seen = finished_request("quick", 1s);
  BOOST_REQUIRE(quick_seen);
  // The upstream holds a stalled request until its client leaves (or 60 s
  // pass), and only then records it.
  auto silent_seen = finished_request("silent", 1500ms);
  BOOST_REQUIRE_MESSAGE(silent_seen, "the upstream still holds the silent "
                                     "member's connection 1.5 s after the "
                                     "answer");
  BOOST_TEST_MESSAGE("silent: upstream saw the client leave "
                     << silent_seen->finished_steady_us - answered_at
                     << " us after the answer");
  BOOST_TEST(silent_seen->outcome == "stalled");
  BOOST_TEST(silent_seen->finished_steady_us - answered_at < 1'500'000);
  // Hedged, not parallel: the second member's request could not leave
  // before the first one had been silent for 200 ms.
  BOOST_TEST(quick_seen->steady_us - asked_at >= 200'000);
  BOOST_TEST(all_permits_back(eng, 1s));
}

BOOST_AUTO_TEST_SUITE_END()
