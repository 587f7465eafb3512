#include "plugins/combine/collect/collect.hpp"

namespace tutti {

namespace {

class collect final : public combine_strategy {
public:
  combined combine(const combine_input& input) const override {
    combined result;
    size_t successes = 0;
    for (auto& outcome : input.outcomes) {
      if (!outcome.ok)
        continue;
      if (successes++ > 0)
        result.text += "\n\n";
      result.text += "[" + outcome.member + "]\n" + outcome.reply.text;
    }
    result.status = successes > 0 ? answer_status::ok : answer_status::failed;
    return result;
  }
};

} // namespace

std::unique_ptr<combine_strategy> make_collect(const combine_options&) {
  return std::make_unique<collect>();
}

} // namespace tutti
