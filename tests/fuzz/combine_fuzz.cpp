// Every built-in combine strategy on replies made of fuzz data: members
// that succeeded with any text, failed or were cancelled, any weights, and
// judges, rankers and synthesizers whose own replies are fuzz data too
// (model output is untrusted). Each strategy returns an answer or one more
// call, a bounded number of times; a winner is one of the members; the
// agreement is a fraction; a ranking lists members.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include "tests/fuzz/fuzz_check.hpp"
#include "tutti/combine.hpp"
#include "tutti/registry.hpp"

using namespace tutti;
using tutti::fuzz::require;

namespace {

member_outcome outcome_of(FuzzedDataProvider& in, std::string label) {
  member_outcome o;
  o.member = std::move(label);
  o.provider = "p";
  o.model = "m";
  o.ok = in.ConsumeIntegralInRange<int>(0, 3) != 0;
  if (o.ok) {
    o.reply.text = in.ConsumeRandomLengthString(1024);
    o.reply.finish_reason = in.ConsumeBool() ? "stop" : "length";
    o.reply.timing.total_us = in.ConsumeIntegralInRange<int64_t>(0, 1 << 30);
  } else {
    o.error.kind =
        in.ConsumeBool() ? failure_kind::cancelled : failure_kind::server;
    o.error.message = in.ConsumeRandomLengthString(32);
    o.error.timing.total_us = in.ConsumeIntegralInRange<int64_t>(0, 1 << 30);
  }
  return o;
}

bool is_member(const combine_input& input, const std::string& label) {
  for (const auto& o : input.outcomes) {
    if (o.member == label) {
      return true;
    }
  }
  return false;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in{data, size};
  const auto& plugins = registry::builtin();
  auto names = plugins.combine_names();
  auto name = names[in.ConsumeIntegralInRange<size_t>(0, names.size() - 1)];
  combine_options options{{"judge", "judge-provider"},
                          {"synthesizer", "synth-provider"}};
  options.set("chairman", in.ConsumeBool() ? "chair-provider" : "none");
  options.set("rounds", in.PickValueInArray({"1", "2", "3", "4"}));
  if (in.ConsumeBool()) {
    options.set("extract",
                in.PickValueInArray({R"((?i)answer\s*[:=]\s*([A-E]))",
                                     R"(-?\d+)", R"((a)|(b))"}));
  }
  if (in.ConsumeBool()) {
    options.set("prompt", in.ConsumeRandomLengthString(128));
  }
  std::unique_ptr<combine_strategy> strategy;
  try {
    strategy = plugins.make_combine(name, options);
  } catch (const std::invalid_argument&) {
    return 0;
  }
  require(strategy != nullptr, "a registered strategy that is not made");
  combine_input input;
  input.question = in.ConsumeRandomLengthString(64);
  auto members = in.ConsumeIntegralInRange<size_t>(0, 6);
  for (size_t i = 0; i < members; ++i) {
    input.outcomes.push_back(outcome_of(in, "m" + std::to_string(i)));
    input.weights.push_back(
        in.ConsumeBool() ? 1.0 : in.ConsumeFloatingPointInRange(0.001, 10.0));
  }
  if (in.ConsumeBool()) {
    for (size_t i = members; i > 0; --i) {
      input.arrival.push_back(i - 1);
    }
  }
  // A debate of 4 rounds asks 3 rounds and a judge; a council a round of
  // reviews and a chairman.
  for (int round = 0; round < 8; ++round) {
    auto result = strategy->combine(input);
    if (!result.calls.empty()) {
      require(!result.call, "a lone call and a round at once");
      for (const auto& asked : result.calls) {
        require(is_member(input, asked.member), "a turn of a non-member");
        auto turn = outcome_of(in, asked.label);
        if (turn.ok && in.ConsumeBool()) {
          turn.reply.text = in.PickValueInArray(
              {"FINAL RANKING: B > A", "Ranking: A",
               "1. Response C\n2. Response A", "#### 42", "Z > Y"});
        }
        input.calls.push_back(std::move(turn));
      }
      continue;
    }
    if (!result.call) {
      if (!result.winner.empty()) {
        require(is_member(input, result.winner), "a winner who is no member");
      }
      require(std::isfinite(result.agreement) && result.agreement >= 0 &&
                  result.agreement <= 1 + 1e-9,
              "an agreement that is no fraction");
      for (const auto& label : result.ranking) {
        require(is_member(input, label), "a ranking of non-members");
      }
      require(result.mean_ranks.empty() ||
                  result.mean_ranks.size() == result.ranking.size(),
              "mean ranks beside no ranking");
      for (auto rank : result.mean_ranks) {
        require(std::isfinite(rank) && rank >= 0, "a mean rank that is none");
      }
      for (const auto& review : result.reviews) {
        require(is_member(input, review.reviewer), "a review by a non-member");
        for (const auto& label : review.letters) {
          require(is_member(input, label) && label != review.reviewer,
                  "a letter for a non-member or for the reviewer");
        }
      }
      return 0;
    }
    auto call = outcome_of(in, result.call->label);
    if (call.ok && in.ConsumeBool()) {
      call.reply.text = in.PickValueInArray({"Best: 2", "Ranking: 3 > 1 > 2",
                                             "[2, 1]", "1. Candidate 2\n2. 1",
                                             "best 99999999999999999999", "0"});
    }
    input.calls.push_back(std::move(call));
  }
  require(false, "a strategy kept asking for calls");
  return 0;
}
