// Limits that hold, proven by the fake upstream's arrival log: several
// ensembles at once on providers sharing one limit group; in no window do
// more requests arrive than the budget, concurrency is never exceeded, and the
// budget is used fully while work is queued.

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "tools/fake_llm/fake_llm.hpp"
#include "tutti/config.hpp"
#include "tutti/engine.hpp"

using namespace tutti;

namespace {

constexpr int64_t window_us = 500'000;
constexpr int64_t budget = 50;
constexpr int64_t concurrency = 4;

struct rate_limit_fixture {
  fake::server upstream{fake::parse_script(R"(
models:
  quick: {reply: "ok", latency: 2ms}
  limited: {reply: "after the pause", fail: {status: 429, retry_after: 1, times: 1}}
)")};

  rate_limit_fixture() { upstream.start(); }

  config make_config() {
    std::string yaml = "providers:\n";
    for (auto name : {"a", "b", "c"})
      yaml += std::string{"  "} + name +
              ": {kind: openai, model: quick, base_url: \"" +
              upstream.base_url() + "\", limit_group: shared, concurrency: " +
              std::to_string(concurrency) +
              ", requests: {count: " + std::to_string(budget) +
              ", per: 500ms}}\n";
    yaml += "ensembles:\n"
            "  ab: {members: [a, b], deadline: 60s}\n"
            "  bc: {members: [b, c], deadline: 60s}\n"
            "  ca: {members: [c, a], deadline: 60s}\n";
    return parse_config(yaml, "limits.yaml");
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(rate_limit_tests, rate_limit_fixture)

BOOST_AUTO_TEST_CASE(a_shared_request_budget_holds_and_is_used_fully) {
  engine eng{make_config()};
  constexpr int askers = 60;
  constexpr int asks_each = 3;
  std::vector<std::thread> threads;
  std::vector<int> failures(askers, 0);
  const char* ensembles[] = {"ab", "bc", "ca"};
  for (int i = 0; i < askers; ++i)
    threads.emplace_back([&, i] {
      for (int k = 0; k < asks_each; ++k) {
        auto answer = eng.ask(ensembles[i % 3], "go");
        if (answer.status != answer_status::ok)
          ++failures[i];
      }
    });
  for (auto& t : threads)
    t.join();
  for (int i = 0; i < askers; ++i)
    BOOST_TEST(failures[i] == 0);

  auto arrivals = upstream.arrivals();
  BOOST_REQUIRE(arrivals.size() == size_t{askers * asks_each * 2});
  std::vector<int64_t> times;
  for (auto& a : arrivals)
    times.push_back(a.steady_us);
  std::sort(times.begin(), times.end());

  // No window of the configured length holds more arrivals than the budget.
  int64_t most_in_a_window = 0;
  for (size_t i = 0, j = 0; i < times.size(); ++i) {
    while (j < times.size() && times[j] < times[i] + window_us)
      ++j;
    most_in_a_window = std::max<int64_t>(most_in_a_window, j - i);
  }
  BOOST_TEST(most_in_a_window <= budget);

  // Concurrency: never more requests at the upstream at once than permits.
  std::vector<std::pair<int64_t, int>> edges;
  for (auto& a : arrivals) {
    edges.emplace_back(a.steady_us, +1);
    edges.emplace_back(a.finished_steady_us, -1);
  }
  std::sort(edges.begin(), edges.end());
  int open = 0;
  int most_open = 0;
  for (auto& [at, delta] : edges) {
    open += delta;
    most_open = std::max(most_open, open);
  }
  BOOST_TEST(most_open <= concurrency);

  // Utilisation: with work always queued, the run is as short as the budget
  // allows: the first `budget` requests at once, then `budget` per window.
  auto span = times.back() - times.front();
  auto windows_needed =
      (static_cast<int64_t>(times.size()) + budget - 1) / budget - 1;
  auto utilisation = static_cast<double>(windows_needed * window_us) / span;
  BOOST_TEST_MESSAGE("most in a window: " << most_in_a_window
                                          << ", most open: " << most_open
                                          << ", utilisation: " << utilisation);
  BOOST_TEST(utilisation >= 0.9);
}

// A 429 with Retry-After pauses the whole limit group, not only the request
// that got it; afterwards the group recovers.
BOOST_AUTO_TEST_CASE(a_429_pauses_every_provider_of_the_group_then_recovers) {
  auto yaml = "providers:\n"
              "  x: {kind: openai, model: limited, base_url: \"" +
              upstream.base_url() +
              "\", limit_group: key1}\n"
              "  y: {kind: openai, model: quick, base_url: \"" +
              upstream.base_url() +
              "\", limit_group: key1}\n"
              "ensembles:\n"
              "  ex: {members: [x], deadline: 20s}\n"
              "  ey: {members: [y], deadline: 20s}\n";
  engine eng{parse_config(yaml, "cooldown.yaml")};
  ensemble_answer from_x;
  std::thread asker{[&] { from_x = eng.ask("ex", "go"); }};
  // Wait for the 429 to be answered, then ask through the other provider.
  auto rejected_at = int64_t{0};
  for (int i = 0; i < 200 && rejected_at == 0; ++i) {
    for (auto& a : upstream.arrivals())
      if (a.model == "limited" && a.status == 429)
        rejected_at = a.finished_steady_us;
    if (rejected_at == 0)
      std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  BOOST_REQUIRE(rejected_at != 0);
  auto from_y = eng.ask("ey", "go");
  asker.join();
  BOOST_TEST(from_x.status == answer_status::ok);
  BOOST_TEST(from_x.members[0].reply.attempts == 2);
  BOOST_TEST(from_y.status == answer_status::ok);
  int64_t y_arrival = 0;
  for (auto& a : upstream.arrivals())
    if (a.model == "quick")
      y_arrival = a.steady_us;
  // Retry-After: 1 — nothing of the group reached the upstream sooner.
  BOOST_TEST(y_arrival - rejected_at >= 950'000);
}

BOOST_AUTO_TEST_SUITE_END()
