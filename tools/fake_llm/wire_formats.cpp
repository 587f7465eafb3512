// Every wire format the fake serves, one line each. Its routes are tried in
// this order; its name is the `format` of the request log.

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tools/fake_llm/wire_format.hpp"

namespace tutti::fake {

std::unique_ptr<wire_format> make_openai_wire();
std::unique_ptr<wire_format> make_anthropic_wire();
std::unique_ptr<wire_format> make_gemini_wire();
std::unique_ptr<wire_format> make_bedrock_wire();
std::unique_ptr<wire_format> make_ollama_wire();

const std::vector<std::unique_ptr<wire_format>>& wire_formats() {
  static const auto all = [] {
    std::vector<std::unique_ptr<wire_format>> out;
    out.push_back(make_openai_wire());
    out.push_back(make_anthropic_wire());
    out.push_back(make_gemini_wire());
    out.push_back(make_bedrock_wire());
    out.push_back(make_ollama_wire());
    return out;
  }();
  return all;
}

const wire_format& wire_format_named(std::string_view name) {
  for (const auto& format : wire_formats()) {
    if (format->name() == name) {
      return *format;
    }
  }
  throw std::logic_error("tutti-fake-llm: no wire format named '" +
                         std::string(name) + "'");
}

} // namespace tutti::fake
