// A host program with plugins of its own: a codec (`kind: loud-openai`, the
// OpenAI wire format with every reply in capitals, built on the built-in
// codec) and a combine strategy (`combine: longest`, the longest reply
// wins). It registers them beside the built-ins, hands the registry to the
// engine, and asks an ensemble that uses both.
//
//   own_plugins BASE_URL "question"     (BASE_URL: an OpenAI-style /v1)

#include <algorithm>
#include <cctype>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>

#include <tutti/config_builder.hpp>
#include <tutti/engine.hpp>
#include <tutti/registry.hpp>

namespace {

/// The built-in OpenAI codec, with the replies' text in capitals: whole and
/// streamed alike.
class loud_openai final : public tutti::codec {
public:
  std::string default_base_url() const override {
    return inner_->default_base_url();
  }
  std::vector<std::string> key_headers() const override {
    return inner_->key_headers();
  }
  tutti::http_request encode(const tutti::chat_request& req,
                             const tutti::provider_settings& p) const override {
    return inner_->encode(req, p);
  }
  tutti::body_result decode_body(std::string_view body) const override {
    auto result = inner_->decode_body(body);
    if (auto* reply = std::get_if<tutti::completion>(&result))
      shout(reply->text);
    return result;
  }
  tutti::stream_update
  decode_event(const tutti::stream_event& event) const override {
    auto update = inner_->decode_event(event);
    shout(update.text);
    return update;
  }
  tutti::failure classify_error(int status, std::string_view body,
                                const tutti::header_list& h) const override {
    return inner_->classify_error(status, body, h);
  }

private:
  static void shout(std::string& text) {
    std::transform(text.begin(), text.end(), text.begin(), [](char c) {
      return static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    });
  }

  std::unique_ptr<tutti::codec> inner_ =
      tutti::registry::builtin().make_codec("openai");
};

/// The longest successful reply is the answer; `at_least: N` (a setting it
/// declares) leaves out replies shorter than N characters.
class longest final : public tutti::combine_strategy {
public:
  explicit longest(const tutti::combine_options& options) {
    auto text = options.text("at_least");
    if (text.empty())
      return;
    if (text.find_first_not_of("0123456789") != std::string::npos ||
        text.size() > 6)
      throw std::invalid_argument("'at_least' must be a number of characters "
                                  "up to 999999, got '" +
                                  text + "'");
    at_least_ = std::stoul(text);
  }

  tutti::combined combine(const tutti::combine_input& input) const override {
    tutti::combined result;
    for (auto& outcome : input.outcomes) {
      if (outcome.ok && outcome.reply.text.size() >= result.text.size() &&
          outcome.reply.text.size() >= at_least_ &&
          !outcome.reply.text.empty()) {
        result.status = tutti::answer_status::ok;
        result.text = outcome.reply.text;
        result.winner = outcome.member;
      }
    }
    return result;
  }

private:
  size_t at_least_ = 0;
};

} // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: own_plugins BASE_URL QUESTION\n";
    return 2;
  }
  try {
    auto plugins = std::make_shared<tutti::registry>();
    tutti::register_builtin_plugins(*plugins);
    plugins->add_codec("loud-openai",
                       [] { return std::make_unique<loud_openai>(); });
    // What the strategy reads is declared with it: the config reader
    // refuses any other setting and checks these.
    tutti::combine_traits traits;
    traits.settings.push_back({"at_least", tutti::setting_type::text, false,
                               "the fewest characters an answer may have"});
    plugins->add_combine(
        "longest",
        [](const tutti::combine_options& options) {
          return std::make_unique<longest>(options);
        },
        traits);

    tutti::config_builder b;
    b.provider("loud", "loud-openai", "slow-model")
        .set("base_url", argv[1])
        .set("api_key", "not-a-secret");
    b.provider("plain", "openai", "terse-model")
        .set("base_url", argv[1])
        .set("api_key", "not-a-secret");
    b.ensemble("pair", {"loud", "plain"})
        .set("combine", "longest")
        .set("at_least", "2");

    tutti::engine_options options;
    options.plugins = plugins;
    tutti::engine engine{b.build(*plugins), options};
    auto answer = engine.ask("pair", argv[2]).get();
    std::cout << "answer (" << answer.status << ", " << answer.combine
              << ", winner " << answer.winner << "): " << answer.text << '\n';
    for (auto& m : answer.members)
      std::cout << "  " << m.member << ": "
                << (m.ok ? m.reply.text : "failed: " + m.error.message) << '\n';
    return answer.status == tutti::answer_status::failed ? 1 : 0;
  } catch (const tutti::config_error& e) {
    std::cerr << "own_plugins: " << e.what() << '\n';
    return 2;
  }
}
