// cache_bench: what the response cache saves and what spend budgets cost,
// side by side in one run (tests never assert speed).
//
//   1. A question answered by the upstream (a fake with 20 ms replies),
//      from the cache's memory, and from the store alone (a fresh engine
//      on the same SQLite file: its memory is empty), rounds interleaved:
//      p50 and p95 of each.
//   2. Spend budgets on every call: the ledger's reserve and settle, one
//      thread and two threads racing on one budget, in ns per call; and
//      pass-through asks of a provider with a budget against one without
//      (0 ms upstream), rounds interleaved.
// Prints a plain table on stdout. See docs/benchmarks.md.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_support.hpp"
#include "engine/src/spend_ledger.hpp"
#include "tools/fake_llm/fake_llm.hpp"
#include "tutti/config.hpp"
#include "tutti/engine.hpp"

using namespace tutti::bench;
using steady = std::chrono::steady_clock;

namespace {

struct bench_options {
  int asks = 200;          ///< per round and side
  int rounds = 6;          ///< of each side
  int ledger_calls = 1'000'000;
};

void usage(std::ostream& out) {
  out << "usage: cache_bench [--asks N] [--rounds N] [--ledger-calls N]\n";
}

bench_options parse(int argc, char** argv) {
  bench_options o;
  parse_flags(argc, argv, usage, [&](const std::string& arg, auto value) {
    if (arg == "--asks")
      o.asks = int_flag(arg, value(), 1, 100'000);
    else if (arg == "--rounds")
      o.rounds = int_flag(arg, value(), 1, 100);
    else if (arg == "--ledger-calls")
      o.ledger_calls = int_flag(arg, value(), 1, 100'000'000);
    else
      return false;
    return true;
  });
  return o;
}

const char* upstream_script = R"(
models:
  slow: {reply: "The capital of France is Paris.", latency: 20ms}
  fast: {reply: "Paris.", latency: 0ms}
)";

std::string config_yaml(const std::string& base_url, const std::string& store) {
  auto provider = [&](const char* name, const char* model,
                      const std::string& extra) {
    return std::string{"  "} + name + ": {kind: openai, model: " + model +
           ", base_url: \"" + base_url +
           "\", api_key: sk-bench, temperature: 0, max_tokens: 50, "
           "concurrency: 64, retry: {attempts: 1}, price: {input_per_mtok: "
           "1, output_per_mtok: 2}" +
           extra + "}\n";
  };
  return "store: \"" + store + "\"\nproviders:\n" +
         provider("cached", "slow", ", cache: {ttl: 1h}") +
         provider("uncached", "slow", "") +
         provider("budgeted", "fast", ", budget: {day: 1000000000}") +
         provider("free", "fast", "");
}

/// Times `n` sequential asks of provider `name`, in microseconds each.
std::vector<double> time_asks(tutti::engine& eng, const std::string& name,
                              int n, int& failures, bool no_cache = false) {
  std::vector<double> us;
  us.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    tutti::ask_options options;
    options.no_cache = no_cache;
    auto start = steady::now();
    auto answer = eng.ask(tutti::target::provider(name),
                          "What is the capital of France?", options)
                      .get();
    us.push_back(std::chrono::duration<double, std::micro>(steady::now() -
                                                           start)
                     .count());
    failures += answer.status != tutti::answer_status::ok;
  }
  return us;
}

void row(const std::string& name, const std::vector<double>& us) {
  auto sorted = us;
  std::sort(sorted.begin(), sorted.end());
  std::printf("  %-36s %9.0f %9.0f %9.0f\n", name.c_str(),
              percentile(sorted, 50), percentile(sorted, 95),
              percentile(sorted, 99));
}

double ledger_ns(int calls, int threads) {
  tutti::spend_ledger ledger;
  ledger.set_limit("provider", "p", tutti::spend_limit{1e9, 0});
  auto now = tutti::unix_now_ms();
  auto start = steady::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (int i = 0; i < calls / threads; ++i) {
        auto hold = ledger.reserve(
            tutti::spend_parties{"p", "trio", "team-a", {1e9, 0}}, 0.01, now);
        ledger.settle(hold.id, 0.005, now);
      }
    });
  for (auto& t : pool)
    t.join();
  return std::chrono::duration<double, std::nano>(steady::now() - start)
             .count() /
         calls;
}

int run(const bench_options& o) {
  print_machine_head("cache_bench");
  std::cout << "  build     " << TUTTI_BUILD_TYPE << "\n  load      "
            << first_line_with("/proc/loadavg", "") << "\n  settings  --asks "
            << o.asks << " --rounds " << o.rounds << " --ledger-calls "
            << o.ledger_calls << "\n\n";
  name_this_thread("fake");
  tutti::fake::server upstream{tutti::fake::parse_script(upstream_script), "",
                               64};
  upstream.start();
  name_this_thread("main");
  auto dir = make_work_dir("cache_bench");
  auto db = (dir / "cache.db").string();
  auto yaml = config_yaml(upstream.base_url(), db);
  int failures = 0;

  std::vector<double> upstream_us, memory_us, store_us, budgeted_us, free_us;
  {
    auto eng = tutti::engine::from_yaml(yaml, {}, "cache_bench.yaml");
    time_asks(eng, "cached", 1, failures); // fills the cache
    eng.flush_store(std::chrono::seconds{10});
    for (int r = 0; r < o.rounds; ++r) {
      bool first = r % 2 == 0;
      for (int side = 0; side < 2; ++side) {
        if ((side == 0) == first) {
          auto us = time_asks(eng, "cached", o.asks, failures);
          memory_us.insert(memory_us.end(), us.begin(), us.end());
        } else {
          auto us = time_asks(eng, "cached", o.asks, failures, true);
          upstream_us.insert(upstream_us.end(), us.begin(), us.end());
        }
      }
      for (int side = 0; side < 2; ++side) {
        auto us = time_asks(eng, (side == 0) == first ? "budgeted" : "free",
                            o.asks, failures);
        auto& into = (side == 0) == first ? budgeted_us : free_us;
        into.insert(into.end(), us.begin(), us.end());
      }
    }
  }
  // The store alone: each fresh engine's memory is empty, so its first hit
  // reads the SQLite file.
  for (int r = 0; r < o.rounds * 10; ++r) {
    auto eng = tutti::engine::from_yaml(yaml, {}, "cache_bench.yaml");
    auto us = time_asks(eng, "cached", 1, failures);
    store_us.insert(store_us.end(), us.begin(), us.end());
  }

  std::cout << "1. One provider alone, a 20 ms upstream, sequential asks\n"
            << "                                          p50 us    p95 us"
               "    p99 us\n";
  row("sent upstream (--no-cache)", upstream_us);
  row("from the cache's memory", memory_us);
  row("from the store (fresh engine, SQLite)", store_us);
  auto p50 = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return percentile(v, 50);
  };
  std::printf("  memory hit / upstream p50: %.3fx; store hit / upstream "
              "p50: %.3fx\n\n",
              p50(memory_us) / p50(upstream_us),
              p50(store_us) / p50(upstream_us));

  std::cout << "2. Spend budgets\n";
  std::printf("  ledger reserve + settle, 1 thread      %7.0f ns a call\n",
              ledger_ns(o.ledger_calls, 1));
  std::printf("  ledger reserve + settle, 2 threads     %7.0f ns a call\n",
              ledger_ns(o.ledger_calls, 2));
  std::cout << "  pass-through asks, 0 ms upstream         p50 us    p95 us"
               "    p99 us\n";
  row("with a budget", budgeted_us);
  row("without", free_us);
  std::printf("  with / without p50: %.3fx\n", p50(budgeted_us) / p50(free_us));
  if (failures > 0) {
    std::cout << "FAILED: " << failures << " asks did not answer ok\n";
    return 1;
  }
  std::filesystem::remove_all(dir);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  return bench_main("cache_bench", argc, argv, parse, run, usage);
}
