#include "tools/fake_llm/reply_plan.hpp"

#include "tools/fake_llm/quiz.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace tutti::fake {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}

} // namespace

reply_plan plan_reply(const wire_format& format, const model_script& ms,
                      const chat_request& req) {
  reply_plan plan;
  plan.refusal = !ms.refusal.empty() && format.has_refusals();
  plan.blocked = ms.safety_block && format.blocks_prompts();
  for (const auto& call : ms.tool_calls)
    plan.tool_calls.emplace_back(call.name, call.arguments);
  auto text = !ms.refusal.empty() ? ms.refusal
              : ms.quiz ? ms.quiz->reply_to(req.last_user, req.first_user)
              : ms.reply.empty() && !ms.tool_calls.empty() ? std::string{}
              : ms.reply.empty() ? "echo: " + req.last_user
                                 : ms.reply;
  plan.tokens = split_tokens(text);
  plan.finish_reason = ms.tool_calls.empty() ? ms.finish_reason : "tool_calls";
  if (req.max_tokens &&
      static_cast<size_t>(*req.max_tokens) < plan.tokens.size()) {
    plan.tokens.resize(static_cast<size_t>(*req.max_tokens));
    auto& last = plan.tokens.back();
    while (!last.empty() && is_space(last.back())) {
      last.pop_back();
    }
    plan.finish_reason = "length";
  }
  for (const auto& t : plan.tokens) {
    plan.content += t;
  }
  plan.completion_tokens = count_tokens(plan.content);
  for (const auto& call : plan.tool_calls)
    plan.completion_tokens += count_tokens(call.second) + 1;
  return plan;
}

std::vector<std::string> split_tokens(std::string_view text) {
  std::vector<std::string> tokens;
  size_t i = 0;
  size_t start = 0;
  while (i < text.size() && is_space(text[i])) {
    ++i;
  }
  while (i < text.size()) {
    while (i < text.size() && !is_space(text[i])) {
      ++i;
    }
    while (i < text.size() && is_space(text[i])) {
      ++i;
    }
    tokens.emplace_back(text.substr(start, i - start));
    start = i;
  }
  if (tokens.empty() && !text.empty()) {
    tokens.emplace_back(text);
  }
  return tokens;
}

int count_tokens(std::string_view text) {
  int n = 0;
  bool in_word = false;
  for (char c : text) {
    if (is_space(c)) {
      in_word = false;
    } else if (!in_word) {
      in_word = true;
      ++n;
    }
  }
  return n;
}

} // namespace tutti::fake
