// The embedded engine as a host program uses it: built from YAML text or a
// builder, asked through futures and callbacks from many threads,
// cancelled by handle, counted by its metrics, and destroyed with
// questions still in flight.

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <dirent.h>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "tests/integration/fake_upstream_fixture.hpp"
#include "tools/fake_llm/fake_llm.hpp"
#include "tutti/config_builder.hpp"
#include "tutti/engine.hpp"
#include "tutti/metrics.hpp"

using namespace tutti;
using fake_upstream::member_named;
using namespace std::chrono_literals;

namespace {

const char* upstream_script = R"(
models:
  alpha: {reply: "Paris.", latency: 20ms}
  bravo: {reply: "Paris.", latency: 40ms}
  oops:  {fail: {status: 500, message: "Internal failure in the model"}}
  echo:  {}
  drag:  {reply: "a b c d e f g h i j k l m n o", tokens_per_second: 5}
)";

/// Threads of this process right now.
int thread_count() {
  int n = 0;
  if (auto* dir = opendir("/proc/self/task")) {
    while (auto* entry = readdir(dir))
      n += entry->d_name[0] != '.';
    closedir(dir);
  }
  return n;
}

struct api_fixture {
  fake::server upstream{fake::parse_script(upstream_script)};

  api_fixture() { upstream.start(); }

  std::string yaml(const std::string& ensembles) {
    return "providers:\n" +
           fake_upstream::providers_yaml(
               {"alpha", "bravo", "oops", "echo", "drag"}, upstream.base_url(),
               ", api_key: sk-test") +
           "ensembles:\n" + ensembles;
  }

  /// The upstream's record of `model`'s first request once it has finished
  /// with it, waiting at most 3 s.
  fake::arrival finished(const std::string& model) {
    auto give_up = std::chrono::steady_clock::now() + 3s;
    for (;;) {
      auto seen = fake_upstream::arrivals_of(upstream, model);
      if (!seen.empty() && seen.front().finished_steady_us > 0)
        return seen.front();
      if (std::chrono::steady_clock::now() >= give_up)
        BOOST_FAIL(model + ": the upstream still serves it after 3 s");
      std::this_thread::sleep_for(10ms);
    }
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(engine_api, api_fixture)

BOOST_AUTO_TEST_CASE(from_yaml_answers_through_a_future) {
  auto eng = engine::from_yaml(
      yaml("  poll: {members: [alpha, bravo, oops], combine: vote}\n"));
  auto answer = eng.ask("poll", "Capital of France?").get();
  BOOST_TEST(answer.status == answer_status::partial);
  BOOST_TEST(answer.text == "Paris.");
  BOOST_REQUIRE(answer.members.size() == 3u);
  BOOST_TEST(!member_named(answer, "oops").ok);
  BOOST_TEST(member_named(answer, "oops").error.kind == failure_kind::server);
}

BOOST_AUTO_TEST_CASE(a_bad_yaml_string_names_the_place) {
  try {
    engine::from_yaml("providers:\n  x: {kind: openai}\n", {}, "host.yaml");
    BOOST_FAIL("expected a config_error");
  } catch (const config_error& e) {
    BOOST_TEST(e.where().file == "host.yaml");
    BOOST_TEST(e.where().line == 2);
    BOOST_TEST(std::string{e.what()}.find("model") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(a_builder_config_runs_like_a_file) {
  config_builder b;
  b.provider("alpha", "openai", "alpha")
      .set("base_url", upstream.base_url())
      .set("api_key", "sk-test")
      .set("rpm", 600);
  b.provider("bravo", "openai", "bravo")
      .set("base_url", upstream.base_url())
      .set("api_key", "sk-test");
  b.ensemble("pair", {"alpha", "bravo"})
      .set("combine", "first")
      .set_yaml("until", "{quorum: 2}")
      .set("deadline", "5s");
  auto cfg = b.build();
  BOOST_TEST(cfg.providers.at("alpha").requests.count == 600);
  engine eng{cfg};
  auto answer = eng.ask("pair", "Capital of France?").get();
  BOOST_TEST(answer.status == answer_status::ok);
  BOOST_TEST(answer.until == "quorum:2");
  BOOST_TEST(answer.text == "Paris.");
}

BOOST_AUTO_TEST_CASE(an_engine_refuses_a_config_changed_into_nonsense) {
  config_builder b;
  b.provider("alpha", "openai", "alpha")
      .set("base_url", upstream.base_url())
      .set("api_key", "sk-test");
  b.ensemble("pair", {"alpha"}).set("combine", "vote");
  auto cfg = b.build();
  cfg.ensembles.at("pair").min_success = 2; // one draw: never reached
  try {
    engine eng{cfg};
    BOOST_FAIL("expected a config_error");
  } catch (const config_error& e) {
    BOOST_TEST(e.message().find("ensembles.pair.min_success") !=
               std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(a_builder_error_names_the_setting) {
  config_builder b;
  b.provider("alpha", "openai", "alpha").set("base_url", upstream.base_url());
  b.ensemble("pair", {"alpha", "nobody"});
  try {
    b.build();
    BOOST_FAIL("expected a config_error");
  } catch (const config_error& e) {
    BOOST_TEST(e.where().file == "<builder>");
    BOOST_TEST_MESSAGE(e.what());
    BOOST_TEST(e.message().find("nobody") != std::string::npos);
    BOOST_TEST(e.message().find("ensembles.pair") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(a_conversation_and_a_provider_alone) {
  auto eng = engine::from_yaml(yaml("  poll: {members: [alpha]}\n"));
  std::vector<chat_message> turns{{"user", "Hi"},
                                  {"assistant", "Hello! How can I help?"},
                                  {"user", "Say it back"}};
  auto answer = eng.ask(target::provider("echo"), turns).get();
  BOOST_TEST(answer.status == answer_status::ok);
  BOOST_TEST(answer.text == "echo: Say it back");
  BOOST_REQUIRE(answer.members.size() == 1u);
  BOOST_TEST(answer.members[0].provider == "echo");
  BOOST_CHECK_THROW(eng.ask(target::provider("nobody"), "Hi"), config_error);
  BOOST_CHECK_THROW(eng.ask("nobody", "Hi"), config_error);
}

BOOST_AUTO_TEST_CASE(callbacks_stream_in_order_then_the_answer) {
  auto eng = engine::from_yaml(yaml("  poll: {members: [alpha, echo]}\n"));
  std::vector<std::string> events;
  std::promise<ensemble_answer> done;
  ask_options options;
  options.stream = true;
  // The callbacks run one at a time on an engine thread: no lock needed.
  options.on_delta = [&](const member_delta& d) {
    events.push_back("delta " + d.member);
  };
  options.on_member_done = [&](const member_outcome& m) {
    events.push_back("done " + m.member);
  };
  eng.start_ask("poll", {{"user", "Hi"}}, options, [&](ensemble_answer a) {
    events.push_back("answer");
    done.set_value(std::move(a));
  });
  auto answer = done.get_future().get();
  BOOST_TEST(answer.status == answer_status::ok);
  BOOST_REQUIRE(!events.empty());
  BOOST_TEST(events.back() == "answer");
  BOOST_TEST(std::count(events.begin(), events.end(), "done alpha") == 1);
  BOOST_TEST(std::count(events.begin(), events.end(), "done echo") == 1);
  auto first_done = std::find_if(events.begin(), events.end(), [](auto& e) {
    return e.rfind("done", 0) == 0;
  });
  BOOST_TEST(std::count(events.begin(), first_done, "delta alpha") +
                 std::count(events.begin(), first_done, "delta echo") >
             0);
}

BOOST_AUTO_TEST_CASE(cancel_by_handle_closes_the_upstream_transfer) {
  auto eng = engine::from_yaml(
      yaml("  slow: {members: [drag, alpha], deadline: 20s}\n"));
  std::promise<ensemble_answer> done;
  ask_options options;
  options.stream = true;
  std::promise<void> streaming;
  std::atomic<bool> told{false};
  options.on_delta = [&](const member_delta& d) {
    if (d.member == "drag" && !told.exchange(true))
      streaming.set_value();
  };
  auto handle =
      eng.start_ask("slow", {{"user", "count"}}, options,
                    [&](ensemble_answer a) { done.set_value(std::move(a)); });
  BOOST_REQUIRE(streaming.get_future().wait_for(5s) ==
                std::future_status::ready);
  auto cancelled_at = steady_now_us();
  BOOST_TEST(eng.cancel(handle));
  auto answered = done.get_future();
  BOOST_REQUIRE(answered.wait_for(2s) == std::future_status::ready);
  auto answer = answered.get();
  auto& drag = member_named(answer, "drag");
  BOOST_TEST(!drag.ok);
  BOOST_TEST(drag.error.kind == failure_kind::cancelled);
  BOOST_TEST(!drag.error.partial_text.empty());
  BOOST_TEST(member_named(answer, "alpha").ok);
  auto seen = finished("drag");
  BOOST_TEST(seen.outcome == "client_gone");
  BOOST_TEST(seen.finished_steady_us - cancelled_at < 1'000'000);
  // Finished: the handle is spent.
  BOOST_TEST(!eng.cancel(handle));
  BOOST_TEST(!eng.cancel(987654321));
}

BOOST_AUTO_TEST_CASE(many_threads_ask_at_once_and_from_callbacks) {
  auto eng = engine::from_yaml(yaml("  poll: {members: [alpha, bravo]}\n"));
  constexpr int threads = 8, per_thread = 5;
  std::vector<std::thread> askers;
  std::atomic<int> ok{0};
  for (int t = 0; t < threads; ++t)
    askers.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i)
        ok += eng.ask("poll", "Capital?").get().status == answer_status::ok;
    });
  for (auto& t : askers)
    t.join();
  BOOST_TEST(ok.load() == threads * per_thread);
  // A callback may ask again: `start_ask` never waits.
  std::promise<ensemble_answer> second;
  eng.start_ask("poll", {{"user", "first"}}, {}, [&](ensemble_answer) {
    eng.start_ask(target::provider("echo"), {{"user", "second"}}, {},
                  [&](ensemble_answer a) { second.set_value(std::move(a)); });
  });
  auto answered = second.get_future();
  BOOST_REQUIRE(answered.wait_for(5s) == std::future_status::ready);
  BOOST_TEST(answered.get().text == "echo: second");
}

BOOST_AUTO_TEST_CASE(metrics_count_calls_failures_and_tokens) {
  auto eng = engine::from_yaml(
      yaml("  poll: {members: [alpha, oops], combine: first}\n"));
  for (int i = 0; i < 3; ++i)
    eng.ask("poll", "Capital?").get();
  auto m = eng.metrics();
  auto of = [&](const std::string& name) -> const provider_metrics& {
    for (auto& p : m.providers)
      if (p.provider == name)
        return p;
    BOOST_FAIL("no provider " + name);
    throw std::logic_error("unreachable");
  };
  BOOST_TEST(of("alpha").calls == 3u);
  BOOST_TEST(of("alpha").ok == 3u);
  BOOST_TEST(of("alpha").latency.count == 3u);
  BOOST_TEST(of("alpha").usage.output_tokens > 0);
  BOOST_TEST(of("alpha").in_flight == 0);
  BOOST_TEST(of("oops").failures.at("server") == 3u);
  BOOST_TEST(of("drag").calls == 0u);
  BOOST_TEST(of("drag").in_flight == -1); // never started
  BOOST_REQUIRE(m.ensembles.size() == 1u);
  BOOST_TEST(m.ensembles[0].by_status.at("partial") == 3u);
  BOOST_TEST(m.questions_in_flight == 0);
  BOOST_TEST(m.scheduler_lag >= 0);
  BOOST_TEST(m.scheduler_lag < 1.0);
  auto text = to_prometheus(m);
  BOOST_TEST(text.find("tutti_provider_calls_total{provider=\"alpha\"} 3\n") !=
             std::string::npos);
  BOOST_TEST(text.find("tutti_provider_failures_total{provider=\"oops\",kind="
                       "\"server\"} 3\n") != std::string::npos);
  BOOST_TEST(text.find("tutti_ensemble_answers_total{ensemble=\"poll\","
                       "status=\"partial\"} 3\n") != std::string::npos);
  BOOST_TEST(text.find("tutti_provider_latency_seconds_bucket{provider="
                       "\"alpha\",le=\"+Inf\"} 3\n") != std::string::npos);
  BOOST_TEST(text.find("# TYPE tutti_scheduler_lag_seconds gauge\n") !=
             std::string::npos);
  // Whole bounds are written whole (not "1e+01"), as Prometheus users
  // match them.
  BOOST_TEST(text.find("tutti_provider_latency_seconds_bucket{provider="
                       "\"alpha\",le=\"10\"} 3\n") != std::string::npos);
  BOOST_TEST(text.find("e+") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_actor_system_is_reachable_for_caf_hosts) {
  auto eng = engine::from_yaml(yaml("  poll: {members: [alpha]}\n"));
  caf::actor_system& system = eng.actor_system();
  // A host's own actor on the engine's scheduler.
  auto doubler = system.spawn(
      []() -> caf::behavior { return {[](int x) { return 2 * x; }}; });
  caf::scoped_actor self{system};
  int got = 0;
  self->request(doubler, std::chrono::seconds{5}, 21)
      .receive([&](int x) { got = x; }, [](const caf::error&) {});
  BOOST_TEST(got == 42);
  self->send_exit(doubler, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(
    destroying_the_engine_answers_in_flight_and_leaves_no_thread) {
  // The fake upstream starts its thread pool in the background: count once
  // it has settled.
  auto before = thread_count();
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(100ms);
    auto now = thread_count();
    if (now == before)
      break;
    before = now;
  }
  std::vector<std::future<ensemble_answer>> pending;
  int64_t destroyed_in_us = 0;
  {
    auto eng =
        engine::from_yaml(yaml("  slow: {members: [drag], deadline: 30s}\n"));
    std::atomic<int> streaming{0};
    for (int i = 0; i < 4; ++i) {
      ask_options options;
      options.stream = true;
      options.on_delta = [&streaming,
                          first = true](const member_delta&) mutable {
        streaming += first;
        first = false;
      };
      pending.push_back(eng.ask("slow", "count", options));
    }
    auto give_up = std::chrono::steady_clock::now() + 5s;
    while (streaming.load() < 4 && std::chrono::steady_clock::now() < give_up)
      std::this_thread::sleep_for(10ms);
    BOOST_REQUIRE(streaming.load() == 4);
    auto start = steady_now_us();
    { auto gone = std::move(eng); }
    destroyed_in_us = steady_now_us() - start;
  }
  BOOST_TEST_MESSAGE("destructor took " << destroyed_in_us << " us");
  BOOST_TEST(destroyed_in_us < 1'000'000);
  for (auto& f : pending) {
    BOOST_REQUIRE(f.wait_for(0s) == std::future_status::ready);
    auto answer = f.get();
    BOOST_TEST(answer.status == answer_status::failed);
    BOOST_REQUIRE(answer.members.size() == 1u);
    BOOST_TEST(answer.members[0].error.kind == failure_kind::cancelled);
  }
  // Every thread is joined by now, but the kernel lists a joined thread
  // until it has reaped it, a moment later (seen under ThreadSanitizer).
  auto reaped_by = std::chrono::steady_clock::now() + 2s;
  while (thread_count() != before &&
         std::chrono::steady_clock::now() < reaped_by)
    std::this_thread::sleep_for(10ms);
  BOOST_TEST(thread_count() == before);
}

BOOST_AUTO_TEST_SUITE_END()
