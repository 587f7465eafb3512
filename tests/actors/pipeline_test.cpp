// The pipeline actor on CAF's deterministic scheduler, with timed provider
// actors: which step starts when, what its prompt says, what a failed step
// does to the steps after it, and the run's status.

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/send.hpp>

#include "actors/clock.hpp"
#include "actors/pipeline.hpp"
#include "tests/actors/timed_provider.hpp"
#include "tutti/registry.hpp"

using namespace tutti;
using namespace std::chrono_literals;

namespace {

using script = testing::provider_script;

/// A member that answers `text` (or fails) after `ms`, with a streamed token
/// after `token_ms` when that is not -1.
script answer_after(int64_t ms, bool ok, std::string text,
                    int64_t token_ms = -1) {
  script s;
  s.answer_after_ms = ms;
  s.ok = ok;
  s.text = std::move(text);
  s.token_after_ms = token_ms;
  return s;
}

/// What the providers saw and the listener heard, in test-clock time.
struct run_log : testing::provider_log {
  /// The listener's events: "started a", "done a ok", "delta a x tok",
  /// "result ok", each with its time.
  std::vector<std::pair<steady_us, std::string>> events;
};

/// The run's listener: writes down every event with its time.
caf::behavior recording_listener(caf::event_based_actor* self,
                                 std::shared_ptr<run_log> log) {
  auto note = [=](std::string event) {
    log->events.emplace_back(actor_now_us(self), std::move(event));
  };
  return {
      [=](step_atom, const std::string& step) { note("started " + step); },
      [=](const std::string& step, const member_delta& delta) {
        note("delta " + step + " " + delta.member + " " + delta.text);
      },
      [=](const step_outcome& outcome) {
        note("done " + outcome.id + " " +
             std::string{to_string(outcome.status)});
      },
      [=](const pipeline_result& result) {
        note("result " + std::string{to_string(result.status)});
      },
  };
}

/// A member label and what its provider does.
using member_script = std::pair<std::string, script>;

struct pipeline_fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  std::vector<caf::actor> owned;
  std::shared_ptr<run_log> log = std::make_shared<run_log>();
  steady_us t0 = 0;

  static caf::actor_system_config& init(caf::actor_system_config& cfg) {
    cfg.add_message_types<caf::id_block::tutti>();
    cfg.add_message_types<caf::id_block::tutti_pipeline>();
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.set("logger.verbosity", caf::atom("quiet"));
    return cfg;
  }

  pipeline_fixture()
      : sys(init(cfg)), sched(dynamic_cast<caf::scheduler::test_coordinator&>(
                            sys.scheduler())) {
    sched.clock().current_time += std::chrono::hours(1);
  }

  ~pipeline_fixture() {
    // A test that failed early may leave the run going: it takes its steps.
    if (pipe)
      caf::anon_send_exit(pipe, caf::exit_reason::user_shutdown);
    for (auto& actor : owned)
      caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
    sched.run();
  }

  steady_us now_us() const { return to_steady_us(sched.clock().now()); }

  /// Milliseconds since the run began.
  int64_t ms_since_start(steady_us at) const { return (at - t0) / 1000; }

  /// Moves the clock 1 ms at a time, so every actor reads the time its
  /// message fell due.
  void step(int64_t ms) {
    for (int64_t i = 0; i < ms; ++i) {
      sched.clock().advance_time(1ms);
      sched.run();
    }
  }

  /// An ensemble of `members`, combined by `combine`, with a 2 s deadline.
  ensemble_plan ensemble(const std::string& name,
                         const std::vector<member_script>& members,
                         const std::string& combine = "collect") {
    ensemble_plan plan;
    plan.name = name;
    plan.combine_name = combine;
    plan.strategy = registry::builtin().make_combine(combine, {});
    BOOST_REQUIRE_MESSAGE(plan.strategy, "no strategy " << combine);
    plan.streams_first_success =
        registry::builtin().traits_of(combine)->streams_first_success;
    plan.deadline_us = 2'000'000;
    plan.grace_us = 500'000;
    for (auto& [label, s] : members) {
      auto actor =
          sys.spawn(testing::timed_provider, s,
                    std::static_pointer_cast<testing::provider_log>(log));
      owned.push_back(actor);
      plan.members.push_back(ensemble_member{
          label, label + "-provider", label + "-model", actor, {}, 1.0});
    }
    return plan;
  }

  /// A step on `plan` asked `prompt`; its needs are the steps the prompt
  /// and `system` reference, in order of first use, as the loader finds
  /// them.
  pipeline_step_plan make_step(const std::string& id, ensemble_plan plan,
                               const std::string& prompt,
                               const std::string& system = "") {
    pipeline_step_plan step;
    step.id = id;
    step.ensemble = std::move(plan);
    step.prompt = parse_template(prompt);
    if (!system.empty())
      step.system = parse_template(system);
    for (auto* t : {&step.prompt, &step.system})
      for (auto& ref : t->refs)
        if (ref.from != template_ref::source::input &&
            std::find(step.needs.begin(), step.needs.end(), ref.name) ==
                step.needs.end())
          step.needs.push_back(ref.name);
    return step;
  }

  /// Starts a run of `plan`; the result appears once the pipeline answers.
  std::shared_ptr<std::optional<pipeline_result>> run(pipeline_plan plan) {
    auto result = std::make_shared<std::optional<pipeline_result>>();
    if (plan.run_id.empty())
      plan.run_id = "r1";
    auto listener = sys.spawn(recording_listener, log);
    owned.push_back(listener);
    pipe = sys.spawn(pipeline, std::move(plan));
    t0 = now_us();
    auto target = pipe;
    sys.spawn([=](caf::event_based_actor* self) {
      self->request(target, caf::infinite, run_atom::value, listener)
          .then([=](pipeline_result& r) { *result = std::move(r); });
    });
    sched.run();
    return result;
  }

  caf::actor pipe;

  /// The events the listener heard, "ms: event", one per line.
  std::string events() const {
    std::string text;
    for (auto& [at, event] : log->events)
      text += std::to_string(ms_since_start(at)) + ": " + event + "\n";
    return text;
  }

  /// The text of the last message of `member`'s request: its user prompt.
  std::string user_prompt(const std::string& member) {
    BOOST_REQUIRE_MESSAGE(log->requests.count(member) == 1,
                          member << " was never asked");
    return log->requests[member].messages.back().content;
  }
};

const step_outcome& step_of(const pipeline_result& r, const std::string& id) {
  for (auto& s : r.steps)
    if (s.id == id)
      return s;
  BOOST_FAIL("no step " + id);
  throw std::logic_error("unreachable");
}

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(pipeline_tests, pipeline_fixture)

BOOST_AUTO_TEST_CASE(independent_steps_start_together_and_a_dependent_waits) {
  pipeline_plan plan;
  plan.name = "p";
  plan.inputs = {{"q", "6 x 7?"}};
  // YAML order puts the dependent first; the result keeps that order.
  plan.steps.push_back(
      make_step("c", ensemble("c", {{"c1", answer_after(50, true, "final")}}),
                "{{steps.a.answer}} and {{steps.b.answer}}"));
  plan.steps.push_back(make_step(
      "a", ensemble("a", {{"a1", answer_after(100, true, "from a")}}, "first"),
      "{{input.q}}"));
  plan.steps.push_back(make_step(
      "b", ensemble("b", {{"b1", answer_after(300, true, "from b")}}, "first"),
      "{{input.q}}"));
  plan.output = "c";
  auto result = run(std::move(plan));
  BOOST_TEST(log->queried_at.size() == 2u);
  BOOST_TEST(ms_since_start(log->queried_at["a1"]) == 0);
  BOOST_TEST(ms_since_start(log->queried_at["b1"]) == 0);
  // c waits for the later of its needs, then starts at once.
  step(299);
  BOOST_TEST(log->queried_at.count("c1") == 0u);
  step(1);
  BOOST_REQUIRE(log->queried_at.count("c1") == 1u);
  BOOST_TEST(ms_since_start(log->queried_at["c1"]) == 300);
  BOOST_TEST(user_prompt("c1") == "from a and from b");
  step(49);
  BOOST_TEST(!result->has_value());
  step(1);
  BOOST_REQUIRE(result->has_value());
  auto& r = **result;
  BOOST_TEST(r.pipeline == "p");
  BOOST_TEST(r.status == answer_status::ok);
  BOOST_TEST(r.output == "[c1]\nfinal");
  BOOST_REQUIRE(r.steps.size() == 3u);
  BOOST_TEST(r.steps[0].id == "c");
  BOOST_TEST(r.steps[1].id == "a");
  BOOST_TEST(r.steps[2].id == "b");
  BOOST_TEST(step_of(r, "a").started_us == 0);
  BOOST_TEST(step_of(r, "a").total_us == 100'000);
  BOOST_TEST(step_of(r, "b").total_us == 300'000);
  BOOST_TEST(step_of(r, "c").started_us == 300'000);
  BOOST_TEST(step_of(r, "c").total_us == 50'000);
  BOOST_TEST(r.total_us == 350'000);
  for (auto& s : r.steps)
    BOOST_TEST(s.status == step_status::ok);
  // Usage and cost are summed over every step.
  BOOST_TEST(r.usage.input_tokens == 30);
  BOOST_TEST(r.usage.output_tokens == 15);
  BOOST_TEST(r.cost_usd == 0.75);
  BOOST_TEST(events() == "0: started a\n"
                         "0: started b\n"
                         "100: done a ok\n"
                         "300: done b ok\n"
                         "300: started c\n"
                         "350: done c ok\n"
                         "350: result ok\n");
}

BOOST_AUTO_TEST_CASE(a_dependent_prompt_gets_the_answer_and_each_reply) {
  pipeline_plan plan;
  plan.name = "moa";
  plan.inputs = {{"q", "Why is the sky blue?"}};
  plan.steps.push_back(make_step(
      "propose",
      ensemble("propose", {{"x", answer_after(100, true, "Rayleigh.")},
                           {"y", answer_after(120, false, "")},
                           {"z", answer_after(150, true, "Scattering.")}}),
      "{{input.q}}"));
  plan.steps.push_back(make_step(
      "synth",
      ensemble("synth", {{"s", answer_after(50, true, "Blue light.")}}),
      "Question: {{input.q}}\nReplies:\n{{steps.propose.answers}}\n"
      "Collected: {{steps.propose.answer}}",
      "You answer {{ input.q }} once."));
  plan.output = "synth";
  auto result = run(std::move(plan));
  step(200);
  BOOST_REQUIRE(result->has_value());
  auto& r = **result;
  // A failed member makes its step partial; its reply is not offered.
  BOOST_TEST(step_of(r, "propose").status == step_status::partial);
  BOOST_TEST(step_of(r, "propose").reason.empty());
  auto& request = log->requests["s"];
  BOOST_REQUIRE(request.messages.size() == 2u);
  BOOST_TEST(request.messages[0].role == "system");
  BOOST_TEST(request.messages[0].content ==
             "You answer Why is the sky blue? once.");
  BOOST_TEST(request.messages[1].role == "user");
  BOOST_TEST(request.messages[1].content ==
             "Question: Why is the sky blue?\nReplies:\n"
             "1. Rayleigh.\n\n2. Scattering.\n"
             "Collected: [x]\nRayleigh.\n\n[z]\nScattering.");
  BOOST_TEST(user_prompt("x") == "Why is the sky blue?");
  // Each step's requests carry the run's and the step's id.
  BOOST_TEST(log->requests["x"].id == "r1/propose/x");
  BOOST_TEST(request.id == "r1/synth/s");
  // The output step is fine, but a step along the way was partial.
  BOOST_TEST(r.status == answer_status::partial);
  BOOST_TEST(r.output == "[s]\nBlue light.");
}

BOOST_AUTO_TEST_CASE(a_failed_step_skips_its_dependents_and_keeps_the_rest) {
  pipeline_plan plan;
  plan.name = "p";
  plan.steps.push_back(make_step(
      "a", ensemble("a", {{"a1", answer_after(100, false, "")}}), "go"));
  plan.steps.push_back(
      make_step("b", ensemble("b", {{"b1", answer_after(10, true, "never")}}),
                "{{steps.a.answer}}"));
  plan.steps.push_back(
      make_step("c", ensemble("c", {{"c1", answer_after(10, true, "never")}}),
                "{{steps.b.answers}}"));
  plan.steps.push_back(make_step(
      "d",
      ensemble("d", {{"d1", answer_after(200, true, "independent")}}, "first"),
      "go"));
  plan.output = "d";
  auto result = run(std::move(plan));
  step(100);
  // b and c are settled as soon as a fails; d is still running.
  BOOST_TEST(!result->has_value());
  BOOST_TEST(events() == "0: started a\n"
                         "0: started d\n"
                         "100: done a failed\n"
                         "100: done b skipped\n"
                         "100: done c skipped\n");
  step(100);
  BOOST_REQUIRE(result->has_value());
  auto& r = **result;
  BOOST_TEST(log->queried_at.count("b1") == 0u);
  BOOST_TEST(log->queried_at.count("c1") == 0u);
  auto& a = step_of(r, "a");
  BOOST_TEST(a.status == step_status::failed);
  BOOST_TEST(a.reason.find("a1: server 500: boom") != std::string::npos,
             a.reason);
  BOOST_REQUIRE(a.answer.members.size() == 1u);
  auto& b = step_of(r, "b");
  BOOST_TEST(b.status == step_status::skipped);
  BOOST_TEST(starts_with(b.reason, "needs step 'a', which failed: "), b.reason);
  BOOST_TEST(b.reason.find("boom") != std::string::npos);
  BOOST_TEST(b.started_us == -1);
  auto& c = step_of(r, "c");
  BOOST_TEST(c.status == step_status::skipped);
  BOOST_TEST(starts_with(c.reason, "needs step 'b', which was skipped: "
                                   "needs step 'a', which failed"),
             c.reason);
  // The independent branch finished and is kept; it is the output, so
  // the run has an answer, partial because a step failed.
  auto& d = step_of(r, "d");
  BOOST_TEST(d.status == step_status::ok);
  BOOST_TEST(d.answer.text == "independent");
  BOOST_TEST(r.output == "independent");
  BOOST_TEST(r.status == answer_status::partial);
  BOOST_TEST(r.usage.input_tokens == 10);
}

BOOST_AUTO_TEST_CASE(a_run_whose_output_step_has_no_answer_failed) {
  pipeline_plan plan;
  plan.name = "p";
  plan.steps.push_back(make_step(
      "a", ensemble("a", {{"a1", answer_after(100, false, "")}}), "go"));
  plan.steps.push_back(make_step(
      "b", ensemble("b", {{"b1", answer_after(50, true, "kept")}}), "go"));
  plan.steps.push_back(make_step(
      "out", ensemble("out", {{"o1", answer_after(10, true, "never")}}),
      "{{steps.a.answer}} {{steps.b.answer}}"));
  plan.output = "out";
  auto result = run(std::move(plan));
  step(100);
  BOOST_REQUIRE(result->has_value());
  auto& r = **result;
  BOOST_TEST(r.status == answer_status::failed);
  BOOST_TEST(r.output.empty());
  BOOST_TEST(step_of(r, "b").status == step_status::ok);
  BOOST_TEST(step_of(r, "b").answer.text == "[b1]\nkept");
  BOOST_TEST(step_of(r, "out").status == step_status::skipped);
  BOOST_TEST(starts_with(step_of(r, "out").reason, "needs step 'a'"));
}

BOOST_AUTO_TEST_CASE(a_prompt_that_cannot_render_fails_its_step) {
  pipeline_plan plan;
  plan.name = "p";
  // A reference the step does not list among its needs (a hand-built plan;
  // the loader never makes one) has no value when the step starts.
  auto broken =
      make_step("a", ensemble("a", {{"a1", answer_after(10, true, "x")}}),
                "{{input.gone}}");
  plan.steps.push_back(std::move(broken));
  plan.output = "a";
  auto result = run(std::move(plan));
  BOOST_REQUIRE(result->has_value());
  auto& a = step_of(**result, "a");
  BOOST_TEST(a.status == step_status::failed);
  BOOST_TEST(starts_with(a.reason, "cannot render its prompt: "), a.reason);
  BOOST_TEST(log->queried_at.empty());
  BOOST_TEST((*result)->status == answer_status::failed);
}

BOOST_AUTO_TEST_CASE(a_step_that_never_answers_ends_at_its_deadline) {
  pipeline_plan plan;
  plan.name = "p";
  plan.steps.push_back(make_step(
      "a", ensemble("a", {{"a1", answer_after(-1, true, "")}}), "go"));
  plan.steps.push_back(
      make_step("b", ensemble("b", {{"b1", answer_after(10, true, "never")}}),
                "{{steps.a.answer}}"));
  plan.output = "b";
  auto result = run(std::move(plan));
  // The provider never answers; the aggregator gives up at deadline + grace.
  step(2499);
  BOOST_TEST(!result->has_value());
  step(200);
  BOOST_REQUIRE(result->has_value());
  auto& r = **result;
  BOOST_TEST(step_of(r, "a").status == step_status::failed);
  BOOST_TEST(step_of(r, "a").reason.find("timeout_total") != std::string::npos,
             step_of(r, "a").reason);
  BOOST_TEST(step_of(r, "b").status == step_status::skipped);
  BOOST_TEST(r.status == answer_status::failed);
}

BOOST_AUTO_TEST_CASE(cancel_stops_running_steps_and_skips_the_rest) {
  pipeline_plan plan;
  plan.name = "p";
  plan.steps.push_back(make_step(
      "a", ensemble("a", {{"a1", answer_after(-1, true, "")}}), "go"));
  plan.steps.push_back(
      make_step("b", ensemble("b", {{"b1", answer_after(10, true, "never")}}),
                "{{steps.a.answer}}"));
  plan.output = "b";
  auto result = run(std::move(plan));
  step(50);
  caf::anon_send(pipe, cancel_atom::value);
  sched.run();
  // a's aggregator cancels its member, which reports at once.
  BOOST_REQUIRE(result->has_value());
  auto& r = **result;
  BOOST_TEST(log->cancelled == std::vector<std::string>{"a1"},
             boost::test_tools::per_element());
  BOOST_TEST(step_of(r, "a").status == step_status::failed);
  BOOST_TEST(step_of(r, "a").total_us == 50'000);
  BOOST_TEST(step_of(r, "b").status == step_status::skipped);
  BOOST_TEST(step_of(r, "b").reason ==
             "the run was cancelled before it started");
  BOOST_TEST(r.status == answer_status::failed);
}

BOOST_AUTO_TEST_CASE(streamed_tokens_are_labelled_with_their_step) {
  pipeline_plan plan;
  plan.name = "p";
  plan.stream = true;
  plan.steps.push_back(make_step(
      "a", ensemble("a", {{"a1", answer_after(100, true, "x", 20)}}), "go"));
  plan.steps.push_back(make_step(
      "b", ensemble("b", {{"b1", answer_after(100, true, "y", 30)}}, "first"),
      "{{steps.a.answer}}"));
  plan.output = "b";
  auto result = run(std::move(plan));
  step(200);
  BOOST_REQUIRE(result->has_value());
  BOOST_TEST(log->requests["a1"].stream);
  // combine first also sends the winner's text as the answer's own token.
  BOOST_TEST(events() == "0: started a\n"
                         "20: delta a a1 tok\n"
                         "100: done a ok\n"
                         "100: started b\n"
                         "130: delta b b1 tok\n"
                         "200: delta b b1 y\n"
                         "200: done b ok\n"
                         "200: result ok\n");
}

BOOST_AUTO_TEST_CASE(a_pipeline_without_its_output_step_fails_at_once) {
  pipeline_plan plan;
  plan.name = "p";
  plan.output = "missing";
  auto result = run(std::move(plan));
  BOOST_REQUIRE(result->has_value());
  BOOST_TEST((*result)->status == answer_status::failed);
  BOOST_TEST((*result)->steps.empty());
}

BOOST_AUTO_TEST_CASE(a_pipeline_result_survives_serialization) {
  pipeline_result in;
  in.pipeline = "moa";
  in.status = answer_status::partial;
  in.output = "Blue.";
  step_outcome ran;
  ran.id = "propose";
  ran.status = step_status::ok;
  ran.answer.text = "Blue.";
  ran.answer.status = answer_status::ok;
  ran.started_us = 5;
  ran.total_us = 300;
  step_outcome skipped;
  skipped.id = "refine";
  skipped.reason = "needs step 'x', which failed: boom";
  skipped.started_us = -1;
  in.steps = {ran, skipped};
  in.usage = usage{12, 3, 1};
  in.cost_usd = 0.5;
  in.total_us = 400;
  std::vector<char> buffer;
  caf::binary_serializer sink{sys, buffer};
  BOOST_REQUIRE(!sink(in));
  pipeline_result out;
  caf::binary_deserializer source{sys, buffer};
  BOOST_REQUIRE(!source(out));
  BOOST_TEST(out.pipeline == "moa");
  BOOST_TEST(out.status == answer_status::partial);
  BOOST_TEST(out.output == "Blue.");
  BOOST_REQUIRE(out.steps.size() == 2u);
  BOOST_TEST(out.steps[0].answer.text == "Blue.");
  BOOST_TEST(out.steps[0].total_us == 300);
  BOOST_TEST(out.steps[1].status == step_status::skipped);
  BOOST_TEST(out.steps[1].reason == skipped.reason);
  BOOST_TEST(out.steps[1].started_us == -1);
  BOOST_TEST(out.usage.cached_input_tokens == 1);
  BOOST_TEST(out.cost_usd == 0.5);
  BOOST_TEST(out.total_us == 400);
}

BOOST_AUTO_TEST_SUITE_END()
