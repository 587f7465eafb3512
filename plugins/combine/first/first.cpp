#include "plugins/combine/first/first.hpp"

namespace tutti {

namespace {

class first final : public combine_strategy {
public:
  combined combine(const combine_input& input) const override {
    return first_success(input);
  }
};

} // namespace

combined first_success(const combine_input& input) {
  combined result;
  const member_outcome* earliest = nullptr;
  for (auto index : input.arrival) {
    if (index < input.outcomes.size() && input.outcomes[index].ok) {
      earliest = &input.outcomes[index];
      break;
    }
  }
  if (input.arrival.empty())
    for (auto& outcome : input.outcomes)
      if (outcome.ok &&
          (!earliest || outcome.total_us() < earliest->total_us()))
        earliest = &outcome;
  if (!earliest) {
    result.note = "no member succeeded";
    return result;
  }
  result.status = answer_status::ok;
  result.text = earliest->reply.text;
  result.winner = earliest->member;
  return result;
}

std::unique_ptr<combine_strategy> make_first(const combine_options&) {
  return std::make_unique<first>();
}

combine_traits first_traits() {
  combine_traits traits;
  traits.streams_first_success = true;
  traits.answers_with_a_member = true;
  return traits;
}

} // namespace tutti
