#include "plugins/combine/collect/collect.hpp"

namespace tutti {

namespace {

class collect final : public combine_strategy {
public:
  combined combine(const std::vector<member_outcome>& outcomes) const override {
    combined result;
    size_t successes = 0;
    for (auto& outcome : outcomes) {
      if (!outcome.ok)
        continue;
      if (successes++ > 0)
        result.text += "\n\n";
      result.text += "[" + outcome.member + "]\n" + outcome.reply.text;
    }
    if (successes == 0)
      result.status = answer_status::failed;
    else if (successes < outcomes.size())
      result.status = answer_status::partial;
    else
      result.status = answer_status::ok;
    return result;
  }
};

} // namespace

std::unique_ptr<combine_strategy> make_collect() {
  return std::make_unique<collect>();
}

} // namespace tutti
