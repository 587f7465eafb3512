// limiter_bench: the rate limiter's own cost per acquire/release pair, with a
// real CAF actor system (default scheduler), in-process only.
//
//   1. baseline: the same acquire -> grant -> release message shapes against
//      a trivial echo actor, the cost of CAF messaging alone;
//   2. unpaced: --pairs pairs from --clients client actors as fast as they
//      go, against the echo actor and two limiters (requests budget only;
//      requests + tokens budget), interleaved round by round;
//   3. paced: the clients offer 10,000 acquires per second for 3 s to a
//      limiter whose budget is 12,000/s (and to the echo actor): latency from
//      acquire sent to grant received, and the process's CPU time;
//   4. window check: a budget of 1,000 per 100 ms, offered 2x that; no
//      100 ms sliding window of grant times may hold more than 1,000 grants.
// Prints a plain table on stdout; exits 1 on FAILED. See docs/benchmarks.md.

#include <sched.h>
#include <sys/resource.h>
#include <sys/utsname.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/clock.hpp"
#include "actors/protocol.hpp"
#include "actors/rate_limiter.hpp"
#include "bench/bench_support.hpp"

using namespace tutti::bench;

namespace {

using namespace tutti;
using done_atom = caf::atom_constant<caf::atom("done")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using clock_type = std::chrono::steady_clock;

// --- command line -----------------------------------------------------------

struct bench_options {
  int pairs = 100'000; ///< unpaced pairs per case and round
  int clients = 8;     ///< client actors
  int rounds = 2;      ///< unpaced rounds, cases interleaved
};

void print_usage(std::ostream& out) {
  out << "usage: limiter_bench [--pairs N] [--clients K] [--rounds R]\n"
         "  --pairs N    unpaced acquire/release pairs per case and round "
         "(default 100000)\n"
         "  --clients K  client actors (default 8)\n"
         "  --rounds R   unpaced rounds; the median is shown (default 2)\n";
}

bench_options parse_args(int argc, char** argv) {
  bench_options opts;
  parse_flags(argc, argv, print_usage,
              [&](const std::string& arg, auto& value) {
                if (arg == "--pairs")
                  opts.pairs = int_flag(arg, value(), 1, 2'000'000);
                else if (arg == "--clients")
                  opts.clients = int_flag(arg, value(), 1, 64);
                else if (arg == "--rounds")
                  opts.rounds = int_flag(arg, value(), 1, 20);
                else
                  return false;
                return true;
              });
  return opts;
}

// --- statistics and output --------------------------------------------------

double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  if (xs.empty())
    return 0;
  auto n = xs.size();
  return n % 2 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2;
}

// --- machine facts ----------------------------------------------------------

void print_machine_facts(const bench_options& opts) {
  print_machine_head("limiter_bench");
  std::cout << "  loadavg   " << read_first_line("/proc/loadavg") << '\n'
            << "  build     " << TUTTI_BUILD_TYPE << ", CAF "
            << CAF_MAJOR_VERSION << '.' << CAF_MINOR_VERSION << '.'
            << CAF_PATCH_VERSION << ", default scheduler\n"
            << "  settings  --pairs " << opts.pairs << " --clients "
            << opts.clients << " --rounds " << opts.rounds << '\n';
}

// --- the actors
// ---------------------------------------------------------------

/// The baseline: answers the limiter's message shapes at once, no budgets.
caf::behavior echo_limiter(caf::event_based_actor*) {
  auto next_id = std::make_shared<uint64_t>(1);
  return {
      [=](acquire_atom, const permit_request&) {
        return permit_grant{
            true, (*next_id)++, failure_kind::queue_timeout, {}};
      },
      [](release_atom, uint64_t, const tutti::usage&) {},
  };
}

/// What one client measured; owned by main, read after the client's `done`.
struct client_result {
  std::vector<double> latency_us;         ///< acquire sent -> grant received
  std::vector<clock_type::time_point> at; ///< when each grant arrived
  int granted = 0;
  int denied = 0;
};

struct client_plan {
  caf::actor target;
  caf::actor report_to;
  client_result* out = nullptr;
  int index = 0;       ///< this client's number, 0-based
  int clients = 1;     ///< how many clients share the offered rate
  int requests = 0;    ///< this client's acquires
  double rate = 0;     ///< acquires per second over all clients; 0: unpaced
  bool record = false; ///< keep latencies and grant times
  caf::actor_clock::time_point start;
};

struct client_state {
  client_plan plan;
  int sent = 0;
  int answered = 0;
  static inline const char* name = "limiter_bench_client";
};

using client_ptr = caf::stateful_actor<client_state>*;

caf::actor_clock::time_point due(const client_plan& plan, int i) {
  auto period = std::chrono::duration<double>(1.0 / plan.rate);
  auto slot = static_cast<double>(i) * plan.clients + plan.index;
  return plan.start +
         std::chrono::duration_cast<caf::actor_clock::duration_type>(period *
                                                                     slot);
}

void send_acquire(client_ptr self);

void on_grant(client_ptr self, const permit_grant& grant,
              clock_type::time_point sent) {
  auto& st = self->state;
  auto now = clock_type::now();
  ++st.answered;
  if (grant.granted) {
    ++st.plan.out->granted;
    if (st.plan.record) {
      st.plan.out->latency_us.push_back(
          std::chrono::duration<double, std::micro>(now - sent).count());
      st.plan.out->at.push_back(now);
    }
    self->send(st.plan.target, release_atom::value, grant.permit_id,
               tutti::usage{60, 40});
  } else {
    ++st.plan.out->denied;
  }
  if (st.answered == st.plan.requests) {
    self->send(st.plan.report_to, done_atom::value);
    self->quit();
  } else if (st.plan.rate <= 0) {
    send_acquire(self);
  }
}

void send_acquire(client_ptr self) {
  auto& st = self->state;
  permit_request req;
  req.request_id =
      "c" + std::to_string(st.plan.index) + "-" + std::to_string(st.sent++);
  req.provider = "bench";
  req.estimated_tokens = 100;
  auto sent = clock_type::now();
  self->request(st.plan.target, caf::infinite, acquire_atom::value,
                std::move(req))
      .then([=](const permit_grant& grant) { on_grant(self, grant, sent); },
            [=](const caf::error&) { on_grant(self, permit_grant{}, sent); });
}

/// Sends every acquire that is due, then sleeps (in CAF's clock, not on a
/// worker) until the next one.
void paced_tick(client_ptr self) {
  auto& st = self->state;
  auto now = self->clock().now();
  while (st.sent < st.plan.requests && due(st.plan, st.sent) <= now)
    send_acquire(self);
  if (st.sent < st.plan.requests)
    self->scheduled_send(self, due(st.plan, st.sent), tick_atom::value);
}

caf::behavior client(client_ptr self, client_plan plan) {
  self->state.plan = std::move(plan);
  if (self->state.plan.rate <= 0)
    send_acquire(self);
  else
    paced_tick(self);
  return {
      [=](tick_atom) { paced_tick(self); },
  };
}

/// Runs `clients` clients against `target`, `total` acquires in all; returns
/// the wall time in seconds. Results land in `results`.
double run_clients(caf::actor_system& sys, const caf::actor& target,
                   int clients, int total, double rate, bool record,
                   std::vector<client_result>& results) {
  caf::scoped_actor self{sys};
  results.assign(clients, client_result{});
  auto begin = clock_type::now();
  auto start = sys.clock().now() + std::chrono::milliseconds{5};
  for (int i = 0; i < clients; ++i) {
    client_plan plan;
    plan.target = target;
    plan.report_to = self;
    plan.out = &results[i];
    plan.index = i;
    plan.clients = clients;
    plan.requests = total / clients + (i < total % clients ? 1 : 0);
    plan.rate = rate;
    plan.record = record;
    plan.start = start;
    if (record) {
      results[i].latency_us.reserve(plan.requests);
      results[i].at.reserve(plan.requests);
    }
    if (plan.requests > 0)
      sys.spawn(client, plan);
    else
      caf::anon_send(self, done_atom::value);
  }
  for (int i = 0; i < clients; ++i)
    self->receive([](done_atom) {});
  return std::chrono::duration<double>(clock_type::now() - begin).count();
}

int count(const std::vector<client_result>& results, int client_result::*f) {
  int n = 0;
  for (auto& r : results)
    n += r.*f;
  return n;
}

// --- the cases
// -----------------------------------------------------------------

limiter_settings unpaced_settings(bool tokens) {
  limiter_settings s;
  s.group = "bench";
  s.concurrency = 64;
  s.requests = window_budget{1'000'000, 1'000'000};
  if (tokens)
    s.tokens = window_budget{1'000'000'000, 1'000'000};
  return s;
}

struct unpaced_case {
  std::string label;
  bool limiter = false;
  bool tokens = false;
  std::vector<double> seconds;
};

void stop(const caf::actor& a) {
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

caf::actor spawn_target(caf::actor_system& sys, const unpaced_case& c) {
  if (!c.limiter)
    return sys.spawn(echo_limiter);
  return sys.spawn(rate_limiter, unpaced_settings(c.tokens));
}

bool run_unpaced(caf::actor_system& sys, const bench_options& opts) {
  std::vector<unpaced_case> cases = {
      {"echo actor (CAF messaging only)", false, false, {}},
      {"limiter, requests budget", true, false, {}},
      {"limiter, requests + tokens budget", true, true, {}},
  };
  std::vector<client_result> results;
  bool ok = true;
  // Warm-up: a tenth of the pairs per case, thrown away.
  for (auto& c : cases) {
    auto target = spawn_target(sys, c);
    run_clients(sys, target, opts.clients, std::max(1, opts.pairs / 10), 0,
                false, results);
    stop(target);
  }
  for (int round = 0; round < opts.rounds; ++round)
    for (auto& c : cases) {
      auto target = spawn_target(sys, c);
      c.seconds.push_back(run_clients(sys, target, opts.clients, opts.pairs, 0,
                                      false, results));
      stop(target);
      if (count(results, &client_result::granted) != opts.pairs) {
        std::cout << "  FAILED: " << c.label << ": "
                  << count(results, &client_result::denied)
                  << " acquires denied\n";
        ok = false;
      }
    }
  std::cout << "\n1-2. Unpaced: " << opts.pairs << " acquire/grant/release "
            << "pairs from " << opts.clients
            << " clients, concurrency 64,\n"
               "     requests 1,000,000/s, tokens 1e9/s (100 per request); "
               "median of "
            << opts.rounds << " interleaved rounds\n";
  row("", {"pairs/s", "us/pair", "overhead"});
  double base = median(cases[0].seconds) / opts.pairs * 1e6;
  for (auto& c : cases) {
    double secs = median(c.seconds);
    double per = secs / opts.pairs * 1e6;
    row(c.label, {fixed(opts.pairs / secs, 0), fixed(per, 2),
                  c.limiter ? signed_fixed(per - base, 2) : "-"});
  }
  std::cout << "  (us/pair = wall time / pairs with " << opts.clients
            << " clients in parallel; overhead = minus the echo actor)\n";
  return ok;
}

bool run_paced(caf::actor_system& sys, const bench_options& opts) {
  constexpr double rate = 10'000;
  constexpr int seconds = 3;
  constexpr int total = static_cast<int>(rate) * seconds;
  std::cout << "\n3. Paced: " << opts.clients << " clients offer "
            << "10,000 acquires/s for " << seconds
            << " s; limiter budget 12,000/s,\n"
               "   tokens 12,000,000/s (100 per request), concurrency 64\n";
  row("", {"p50 us", "p99 us", "max us", "CPU s/10k"});
  bool ok = true;
  for (int limited = 0; limited < 2; ++limited) {
    caf::actor target;
    if (limited) {
      limiter_settings s;
      s.group = "paced";
      s.concurrency = 64;
      s.requests = window_budget{12'000, 1'000'000};
      s.tokens = window_budget{12'000'000, 1'000'000};
      target = sys.spawn(rate_limiter, s);
    } else {
      target = sys.spawn(echo_limiter);
    }
    std::vector<client_result> results;
    auto cpu0 = process_cpu_s();
    run_clients(sys, target, opts.clients, total, rate, true, results);
    auto cpu = process_cpu_s() - cpu0;
    stop(target);
    std::vector<double> lat;
    for (auto& r : results)
      lat.insert(lat.end(), r.latency_us.begin(), r.latency_us.end());
    std::sort(lat.begin(), lat.end());
    int granted = count(results, &client_result::granted);
    row(limited ? "limiter, acquire -> grant" : "echo actor, acquire -> grant",
        {fixed(percentile(lat, 50), 1), fixed(percentile(lat, 99), 1),
         fixed(lat.empty() ? 0 : lat.back(), 1),
         fixed(cpu / granted * 10'000, 3)});
    if (granted != total) {
      std::cout << "  FAILED: " << total - granted << " of " << total
                << " acquires not granted\n";
      ok = false;
    }
  }
  std::cout << "  (CPU s/10k = user + system seconds of the whole process "
               "(getrusage) per 10,000 pairs,\n"
               "   idle scheduler threads and the clients included)\n";
  return ok;
}

bool run_window_check(caf::actor_system& sys, const bench_options& opts) {
  constexpr int64_t budget = 1'000;
  constexpr int64_t window_us = 100'000;
  constexpr double rate = 20'000; // 2x the budget
  constexpr int total = 10'000;   // 0.5 s of offers, about 1 s of grants
  limiter_settings s;
  s.group = "window";
  s.concurrency = 64;
  s.requests = window_budget{budget, window_us};
  auto target = sys.spawn(rate_limiter, s);
  std::vector<client_result> results;
  auto secs =
      run_clients(sys, target, opts.clients, total, rate, true, results);
  stop(target);
  std::vector<clock_type::time_point> at;
  for (auto& r : results)
    at.insert(at.end(), r.at.begin(), r.at.end());
  std::sort(at.begin(), at.end());
  // Most grant times in any half-open window [t, t + 100 ms).
  size_t most = 0;
  for (size_t i = 0, j = 0; i < at.size(); ++i) {
    j = std::max(j, i);
    while (j < at.size() &&
           at[j] - at[i] < std::chrono::microseconds{window_us})
      ++j;
    most = std::max(most, j - i);
  }
  int granted = count(results, &client_result::granted);
  bool ok = static_cast<int64_t>(most) <= budget && granted == total;
  std::cout << "\n4. Window check: budget 1,000 per 100 ms, " << total
            << " acquires offered at 20,000/s (2x)\n";
  row("grants", {std::to_string(granted)});
  row("time to grant them all, s", {fixed(secs, 2)});
  row("grants/s while draining", {fixed(granted / secs, 0)});
  row("most grants in any 100 ms window", {std::to_string(most)});
  std::cout << "  " << (ok ? "OK" : "FAILED") << ": the most grants in any "
            << "100 ms window (grant receipt times) "
            << (static_cast<int64_t>(most) <= budget ? "is within" : "EXCEEDS")
            << " the budget of 1,000";
  if (granted != total)
    std::cout << "; " << total - granted << " acquires not granted";
  std::cout << '\n';
  return ok;
}

int run(const bench_options& opts) {
  print_machine_facts(opts);
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::tutti>();
  cfg.set("logger.verbosity", caf::atom("quiet"));
  caf::actor_system sys{cfg};
  bool ok = run_unpaced(sys, opts);
  ok = run_paced(sys, opts) && ok;
  ok = run_window_check(sys, opts) && ok;
  if (!ok)
    std::cout << "\nFAILED\n";
  return ok ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  return tutti::bench::bench_main("limiter_bench", argc, argv, parse_args, run,
                                  print_usage);
}
