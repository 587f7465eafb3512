// Pipelines end to end over real HTTP: YAML configs run by the engine
// against the fake upstream on loopback, a mixture of agents (two proposer
// layers and a synthesizer) and self-consistency (samples and a vote).

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "tests/integration/fake_upstream_fixture.hpp"
#include "tools/fake_llm/fake_llm.hpp"
#include "tutti/config.hpp"
#include "tutti/engine.hpp"

using namespace tutti;

namespace {

/// Models without a `reply` echo the last user message ("echo: ..."), so
/// a step's reply shows the prompt it was given.
const char* upstream_script = R"(
models:
  alpha:   {reply: "Alpha says the sky scatters blue light.", latency: 200ms}
  bravo:   {reply: "Bravo says Rayleigh scattering.", latency: 200ms}
  refine-a: {latency: 200ms}
  refine-b: {latency: 200ms}
  synth:   {latency: 100ms, tokens_per_second: 2000}
  sure:    {reply: "6 x 7 is 42.\n#### 42", latency: 50ms}
  unsure:  {reply: "Maybe 41?\n#### 41", latency: 50ms}
  oops:    {fail: {status: 500, message: "Internal failure in the model"}}
)";

const std::vector<std::string> models = {"alpha",    "bravo", "refine-a",
                                         "refine-b", "synth", "sure",
                                         "unsure",   "oops"};

/// The mixture of agents: two proposers answer; two refiners each read both
/// replies and answer again; a synthesizer writes the final answer from
/// the refined ones. Beside it, a branch that fails and one that needs it.
const char* moa_yaml = R"(
ensembles:
  proposers: {members: [alpha, bravo], deadline: 10s}
  refiners: {members: [refine-a, refine-b], deadline: 10s}
pipelines:
  moa:
    inputs: [question]
    steps:
      propose:
        ensemble: proposers
        prompt: "{{input.question}}"
      refine:
        ensemble: refiners
        system: "You improve answers to: {{input.question}}"
        prompt: "Improve on these answers:\n{{steps.propose.answers}}"
      final:
        call: synth
        prompt: "Write one answer from:\n{{steps.refine.answers}}"
    output: final
  branches:
    inputs: [question]
    steps:
      broken:
        call: oops
        prompt: "{{input.question}}"
      after-broken:
        call: synth
        prompt: "{{steps.broken.answer}}"
      fine:
        call: alpha
        prompt: "{{input.question}}"
    output: fine
)";

/// Self-consistency: five draws (three of one model, two of another), a
/// vote over the number after "####", then a step that states the result.
const char* self_consistency_yaml = R"(
ensembles:
  math:
    members:
      - {provider: sure, samples: 3}
      - {provider: unsure, samples: 2}
    deadline: 10s
    combine: vote
    extract: '####\s*(-?[\d.,]+)'
pipelines:
  solve:
    inputs: [problem]
    steps:
      samples:
        ensemble: math
        prompt: "{{input.problem}}"
      report:
        call: synth
        prompt: "The answer most draws agree on: {{steps.samples.answer}}"
    output: report
)";

struct http_fixture {
  fake::server upstream{fake::parse_script(upstream_script)};

  http_fixture() { upstream.start(); }

  config make_config(const std::string& rest) {
    auto yaml = "providers:\n" +
                fake_upstream::providers_yaml(models, upstream.base_url(),
                                              ", api_key: sk-test") +
                rest;
    return parse_config(yaml, "pipeline.yaml");
  }

  /// When `model`'s first request reached the upstream.
  steady_us arrival_of(const std::string& model) {
    auto seen = fake_upstream::arrivals_of(upstream, model);
    BOOST_REQUIRE_MESSAGE(!seen.empty(), model << " was never asked");
    return seen.front().steady_us;
  }

  /// When `model`'s first request was answered.
  steady_us finish_of(const std::string& model) {
    auto seen = fake_upstream::arrivals_of(upstream, model);
    BOOST_REQUIRE_MESSAGE(!seen.empty(), model << " was never asked");
    return seen.front().finished_steady_us;
  }
};

const step_outcome& step_of(const pipeline_result& r, const std::string& id) {
  for (auto& s : r.steps)
    if (s.id == id)
      return s;
  BOOST_FAIL("no step " + id);
  throw std::logic_error("unreachable");
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(pipeline_http_tests, http_fixture)

BOOST_AUTO_TEST_CASE(mixture_of_agents_runs_layer_after_layer) {
  engine eng{make_config(moa_yaml)};
  auto result = eng.run("moa", {{"question", "Why is the sky blue?"}}).get();
  BOOST_TEST(result.status == answer_status::ok);
  BOOST_REQUIRE(result.steps.size() == 3u);
  BOOST_TEST(result.steps[0].id == "propose");
  BOOST_TEST(result.steps[1].id == "refine");
  BOOST_TEST(result.steps[2].id == "final");
  for (auto& s : result.steps)
    BOOST_TEST(s.status == step_status::ok,
               s.id << ": " << s.status << " " << s.reason);
  // Each layer's members run at once; a layer starts after the one before
  // it has answered.
  BOOST_TEST(std::abs(arrival_of("alpha") - arrival_of("bravo")) < 150'000);
  BOOST_TEST(std::abs(arrival_of("refine-a") - arrival_of("refine-b")) <
             150'000);
  BOOST_TEST(arrival_of("refine-a") >= finish_of("alpha"));
  BOOST_TEST(arrival_of("refine-a") >= finish_of("bravo"));
  BOOST_TEST(arrival_of("synth") >= finish_of("refine-a"));
  BOOST_TEST(arrival_of("synth") >= finish_of("refine-b"));
  // The refiners echo their prompt: both proposals, numbered.
  auto& refined = step_of(result, "refine").answer;
  BOOST_REQUIRE(refined.members.size() == 2u);
  BOOST_TEST(refined.members[0].reply.text ==
             "echo: Improve on these answers:\n"
             "1. Alpha says the sky scatters blue light.\n\n"
             "2. Bravo says Rayleigh scattering.");
  // The synthesizer saw both refined answers; its reply is the output.
  BOOST_TEST(contains(result.output, "echo: Write one answer from:\n1. echo: "
                                     "Improve on these answers:"));
  BOOST_TEST(contains(result.output, "\n\n2. echo: Improve on these answers:"));
  BOOST_TEST(result.output == step_of(result, "final").answer.text);
  // Usage and cost are the steps' sums.
  int64_t input_tokens = 0;
  for (auto& s : result.steps)
    input_tokens += s.answer.usage.input_tokens;
  BOOST_TEST(input_tokens > 0);
  BOOST_TEST(result.usage.input_tokens == input_tokens);
}

BOOST_AUTO_TEST_CASE(a_failed_step_skips_what_needs_it_and_the_rest_runs) {
  engine eng{make_config(moa_yaml)};
  std::mutex mtx;
  std::vector<std::string> events;
  run_options options;
  options.on_step_started = [&](const std::string& step) {
    std::lock_guard<std::mutex> guard{mtx};
    events.push_back("started " + step);
  };
  options.on_step_done = [&](const step_outcome& step) {
    std::lock_guard<std::mutex> guard{mtx};
    events.push_back("done " + step.id + " " +
                     std::string{to_string(step.status)});
  };
  auto result = eng.run("branches", {{"question", "Hello?"}}, options).get();
  BOOST_TEST(result.status == answer_status::partial);
  BOOST_TEST(result.output == "Alpha says the sky scatters blue light.");
  auto& broken = step_of(result, "broken");
  BOOST_TEST(broken.status == step_status::failed);
  BOOST_TEST(contains(broken.reason, "oops: server 500"), broken.reason);
  auto& after = step_of(result, "after-broken");
  BOOST_TEST(after.status == step_status::skipped);
  BOOST_TEST(contains(after.reason, "needs step 'broken', which failed: "),
             after.reason);
  BOOST_TEST(step_of(result, "fine").status == step_status::ok);
  BOOST_TEST(fake_upstream::arrivals_of(upstream, "synth").empty());
  // The callbacks saw every step; the two that could run started at once.
  BOOST_REQUIRE(events.size() == 5u);
  BOOST_TEST(events[0] == "started broken");
  BOOST_TEST(events[1] == "started fine");
  BOOST_TEST(
      contains(events[2] + events[3] + events[4], "done after-broken skipped"));
}

BOOST_AUTO_TEST_CASE(self_consistency_votes_then_reports) {
  engine eng{make_config(self_consistency_yaml)};
  std::mutex mtx;
  std::map<std::string, std::string> streamed; ///< by step
  run_options options;
  options.stream = true;
  options.on_delta = [&](const std::string& step, const member_delta& delta) {
    std::lock_guard<std::mutex> guard{mtx};
    streamed[step] += delta.text;
  };
  auto result =
      eng.run("solve", {{"problem", "What is 6 x 7?"}}, options).get();
  BOOST_TEST(result.status == answer_status::ok);
  auto& samples = step_of(result, "samples").answer;
  BOOST_TEST(samples.members.size() == 5u);
  BOOST_TEST(samples.combine == "vote");
  BOOST_REQUIRE(!samples.votes.empty());
  BOOST_TEST(samples.votes[0].answer == "42");
  BOOST_TEST(samples.votes[0].members.size() == 3u);
  BOOST_TEST(samples.agreement == 0.6);
  BOOST_TEST(fake_upstream::arrivals_of(upstream, "sure").size() == 3u);
  BOOST_TEST(fake_upstream::arrivals_of(upstream, "unsure").size() == 2u);
  // The vote's answer is what it compared: the extracted number.
  BOOST_TEST(result.output == "echo: The answer most draws agree on: 42");
  // Streamed tokens come labelled with their step.
  BOOST_TEST(contains(streamed["report"], "The answer most draws agree on"));
  BOOST_TEST(contains(streamed["samples"], "#### 42"));
}

BOOST_AUTO_TEST_CASE(inputs_must_match_the_declared_ones) {
  engine eng{make_config(self_consistency_yaml)};
  try {
    eng.run("solve", {{"question", "6 x 7?"}}).get();
    BOOST_FAIL("expected a config_error");
  } catch (const config_error& e) {
    BOOST_TEST(e.message() == "pipeline 'solve': missing input 'problem'; "
                              "unknown input 'question' (its inputs: "
                              "problem)");
  }
  BOOST_CHECK_THROW(eng.run("nope", {}).get(), config_error);
  BOOST_TEST(upstream.arrivals().empty());
}

BOOST_AUTO_TEST_CASE(start_run_returns_at_once_and_many_runs_share_the_engine) {
  engine eng{make_config(moa_yaml)};
  constexpr int runs = 12;
  std::mutex mtx;
  std::condition_variable cv;
  std::map<std::string, pipeline_result> results;
  auto started = steady_now_us();
  for (int i = 0; i < runs; ++i) {
    auto question = "question " + std::to_string(i);
    eng.start_run("moa", {{"question", question}}, {},
                  [&, question](pipeline_result r) {
                    std::lock_guard<std::mutex> guard{mtx};
                    results.emplace(question, std::move(r));
                    cv.notify_one();
                  });
  }
  // Twelve runs of three 200 ms layers started without waiting.
  BOOST_CHECK_LT(steady_now_us() - started, 200'000);
  std::unique_lock<std::mutex> lock{mtx};
  BOOST_REQUIRE(cv.wait_for(lock, std::chrono::seconds{20},
                            [&] { return results.size() == runs; }));
  for (auto& [question, r] : results) {
    BOOST_TEST_CONTEXT(question) {
      BOOST_CHECK(r.status == answer_status::ok);
      // Each run's own question reached its refiners' system prompt.
      BOOST_CHECK(contains(step_of(r, "refine").answer.members[0].reply.text,
                           "echo: Improve on these answers"));
    }
  }
  BOOST_CHECK_EQUAL(fake_upstream::arrivals_of(upstream, "synth").size(),
                    size_t{runs});
}

BOOST_AUTO_TEST_CASE(cancel_ends_a_run_with_what_it_has) {
  engine eng{make_config(moa_yaml)};
  std::promise<pipeline_result> done;
  auto result = done.get_future();
  std::promise<void> proposing;
  run_options options;
  options.on_step_started = [&](const std::string& step) {
    if (step == "propose")
      proposing.set_value();
  };
  auto id =
      eng.start_run("moa", {{"question", "Why is the sky blue?"}}, options,
                    [&](pipeline_result r) { done.set_value(r); });
  // Cancel while the proposers (200 ms) are still thinking.
  BOOST_REQUIRE(proposing.get_future().wait_for(std::chrono::seconds{5}) ==
                std::future_status::ready);
  BOOST_CHECK(eng.cancel(id));
  BOOST_REQUIRE(result.wait_for(std::chrono::seconds{5}) ==
                std::future_status::ready);
  auto r = result.get();
  BOOST_CHECK(r.status == answer_status::failed);
  BOOST_CHECK_EQUAL(step_of(r, "propose").status, step_status::failed);
  for (auto& m : step_of(r, "propose").answer.members)
    BOOST_CHECK(!m.ok && m.error.kind == failure_kind::cancelled);
  BOOST_CHECK_EQUAL(step_of(r, "refine").status, step_status::skipped);
  BOOST_CHECK_EQUAL(step_of(r, "final").status, step_status::skipped);
  BOOST_CHECK(fake_upstream::arrivals_of(upstream, "refine-a").empty());
  // Finished: nothing left to cancel.
  BOOST_CHECK(!eng.cancel(id));
}

// The ready-to-run configs, as shipped, against the fake: every provider
// speaks its own vendor's wire format to it.

BOOST_AUTO_TEST_CASE(the_shipped_mixture_of_agents_config_runs) {
  fake::server vendors{fake::parse_script("default: {latency: 20ms}")};
  vendors.start();
  auto cfg = load_config(std::string{TUTTI_SOURCE_DIR} +
                         "/configs/mixture-of-agents.yaml");
  fake_upstream::point_at(cfg, vendors);
  engine eng{cfg};
  auto r = eng.run("moa", {{"question", "Why is the sky blue?"}}).get();
  BOOST_TEST(r.status == answer_status::ok);
  for (auto& step : r.steps)
    BOOST_TEST_CONTEXT(step.id) {
      BOOST_TEST(step.status == step_status::ok);
    }
  // Two layers of three vendors, then the synthesizer once.
  for (auto model :
       {"gpt-4o-mini", "claude-3-5-haiku-20241022", "gemini-2.0-flash"})
    BOOST_TEST_CONTEXT(model) {
      BOOST_TEST(fake_upstream::arrivals_of(vendors, model).size() == 2u);
    }
  BOOST_TEST(fake_upstream::arrivals_of(vendors, "gpt-4o").size() == 1u);
  BOOST_TEST(contains(r.output, "echo: Question: Why is the sky blue?"));
}

BOOST_AUTO_TEST_CASE(the_shipped_self_consistency_pipeline_votes) {
  fake::server vendors{fake::parse_script(R"(
models:
  gpt-4o-mini: {reply: "17 - 8 = 9, so 9 are left.\n#### 9", latency: 20ms}
)")};
  vendors.start();
  auto cfg = load_config(std::string{TUTTI_SOURCE_DIR} +
                         "/configs/self-consistency.yaml");
  fake_upstream::point_at(cfg, vendors);
  engine eng{cfg};
  auto r =
      eng.run("solve", {{"problem", "17 sheep, all but 9 run away."}}).get();
  BOOST_TEST(r.status == answer_status::ok);
  auto& draws = step_of(r, "draws").answer;
  BOOST_TEST(draws.members.size() == 5u);
  BOOST_TEST(draws.combine == "vote");
  BOOST_REQUIRE(!draws.votes.empty());
  BOOST_TEST(draws.votes.front().answer == "9");
  BOOST_TEST(draws.agreement == 1.0);
  // Five draws with seeds 0..4, then the explaining call.
  auto seen = fake_upstream::arrivals_of(vendors, "gpt-4o-mini");
  BOOST_TEST(seen.size() == 6u);
}

BOOST_AUTO_TEST_CASE(the_shipped_multi_provider_pipeline_runs) {
  fake::server vendors{fake::parse_script("default: {latency: 20ms}")};
  vendors.start();
  auto cfg = load_config(std::string{TUTTI_SOURCE_DIR} +
                         "/configs/multi-provider.yaml");
  fake_upstream::point_at(cfg, vendors);
  engine eng{cfg};
  auto r = eng.run("answer-then-check", {{"question", "Is a tomato a fruit?"}})
               .get();
  BOOST_TEST(r.status == answer_status::ok);
  BOOST_TEST(step_of(r, "drafts").answer.members.size() == 4u);
  for (auto& m : step_of(r, "drafts").answer.members)
    BOOST_TEST_CONTEXT(m.member) {
      BOOST_TEST(m.ok);
    }
  BOOST_TEST(contains(r.output, "echo: Question: Is a tomato a fruit?"));
}

BOOST_AUTO_TEST_SUITE_END()
