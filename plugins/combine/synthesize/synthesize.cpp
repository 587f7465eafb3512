#include "plugins/combine/synthesize/synthesize.hpp"

#include <stdexcept>
#include <utility>

#include "plugins/combine/combine_support.hpp"
#include "plugins/combine/vote/vote.hpp"

namespace tutti {

namespace {

using namespace combine_support;

// After the aggregate-and-synthesize prompt of Mixture-of-Agents (Wang et
// al., 2024), in our own words.
const char* const synthesize_system =
    "You are given a question and the answers several AI models wrote to "
    "it. Write one answer to the question that is better than each of "
    "them. Read the answers critically: some of what they say may be wrong, "
    "biased or out of date. Do not copy one answer or list them side by "
    "side; keep what is right, correct what is wrong, fill in what is "
    "missing. Reply with the answer alone, accurate, complete and well "
    "organised.";

const char* const default_synthesize_prompt =
    "Question:\n"
    "{{question}}\n"
    "\n"
    "Answers from the models:\n"
    "\n"
    "{{candidates}}"
    "Write the best possible answer to the question.";

const char* const missing_provider =
    "combine: synthesize needs `synthesizer:` "
    "naming the provider that writes the answer";

class synthesize final : public combine_strategy {
public:
  explicit synthesize(const combine_options& options)
      : reader_(options.text("extract")),
        settings_(settings_for(options.text("synthesizer"), options,
                               default_synthesize_prompt, synthesize_system,
                               missing_provider)) {}

  combined combine(const combine_input& input) const override {
    auto candidates = candidates_of(input);
    if (candidates.empty()) {
      combined none;
      none.note = "no member succeeded; the synthesizer was not asked";
      return none;
    }
    if (input.calls.empty()) {
      combined ask;
      ask.call = make_call(settings_, "synthesizer", input, candidates);
      ask.call->streams_answer = true;
      return ask;
    }
    auto& written = input.calls.back();
    if (auto why = unusable(written, "synthesizer"); !why.empty())
      return fall_back(input, reader_, why);
    combined result;
    result.status = answer_status::ok;
    result.text = written.reply.text;
    if (written.reply.finish_reason == "length")
      result.note = "the synthesizer's reply was cut at its length limit";
    return result;
  }

  std::vector<std::string> providers_called() const override {
    return {settings_.provider};
  }

private:
  answer_reader reader_;
  prompt_settings settings_;
};

} // namespace

std::unique_ptr<combine_strategy>
make_synthesize(const combine_options& options) {
  return std::make_unique<synthesize>(options);
}

combine_traits synthesize_traits() {
  combine_traits traits;
  traits.settings.push_back({"synthesizer", setting_type::provider, true,
                             "the provider that writes the final answer"});
  // The prompt first: it is what a synthesizer's user changes most.
  auto rest = prompt_setting_traits();
  std::swap(rest[0], rest[1]);
  for (auto& setting : rest)
    traits.settings.push_back(std::move(setting));
  return traits;
}

} // namespace tutti
