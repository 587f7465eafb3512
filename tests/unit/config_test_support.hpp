#pragma once

// Shared by the config tests (config_test.cpp and config_<section>_test.cpp):
// a registry of test plugins independent of the built-in ones, the fixtures
// directory, the two providers most inline configs start with, and helpers
// that parse a config or catch its error and check where it points.

#include <boost/test/unit_test.hpp>

#include <cctype>

#include <memory>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

#include "tutti/codec.hpp"
#include "tutti/combine.hpp"
#include "tutti/config.hpp"
#include "tutti/registry.hpp"

namespace tutti::config_test {

inline const std::string fixtures =
    std::string{TUTTI_FIXTURES_DIR} + "/config/";

/// A codec that only knows what config validation asks of it: its default
/// URL, the headers its key travels in and its own YAML keys.
class url_only_codec : public codec {
public:
  explicit url_only_codec(std::string url,
                          std::vector<std::string> key_headers = {},
                          std::vector<codec_key> keys = {})
      : url_(std::move(url)), key_headers_(std::move(key_headers)),
        keys_(std::move(keys)) {}

  std::string default_base_url() const override { return url_; }
  std::vector<std::string> key_headers() const override { return key_headers_; }
  std::vector<codec_key> keys() const override { return keys_; }

  http_request encode(const chat_request&,
                      const provider_settings&) const override {
    return {};
  }

  body_result decode_body(std::string_view) const override {
    return completion{};
  }

  stream_update decode_event(const stream_event&) const override { return {}; }

  failure classify_error(int, std::string_view,
                         const header_list&) const override {
    return {};
  }

private:
  std::string url_;
  std::vector<std::string> key_headers_;
  std::vector<codec_key> keys_;
};

/// Like azure-openai's `api_version`: letters, digits, '-', '.' and '_'.
inline std::string check_version(std::string_view text) {
  for (char c : text)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' &&
        c != '_')
      return "expected an API version such as 2024-10-21 (letters, digits, "
             "'-', '.' and '_')";
  return {};
}

/// A strategy that answers nothing and says it calls `called`.
class no_combine : public combine_strategy {
public:
  explicit no_combine(std::vector<std::string> called = {})
      : called_(std::move(called)) {}

  combined combine(const combine_input&) const override { return {}; }

  std::vector<std::string> providers_called() const override { return called_; }

private:
  std::vector<std::string> called_;
};

/// `{name}`, or nothing for an empty name.
inline std::vector<std::string> calls(const std::string& name) {
  return name.empty() ? std::vector<std::string>{}
                      : std::vector<std::string>{name};
}

inline std::unique_ptr<combine_strategy> make_plain(const combine_options&) {
  return std::make_unique<no_combine>();
}

/// Like the real vote: an `extract` that is not a regex is
/// `std::invalid_argument`.
inline std::unique_ptr<combine_strategy>
make_vote(const combine_options& options) {
  try {
    std::regex{options.text("extract")};
  } catch (const std::regex_error&) {
    throw std::invalid_argument("'extract' is not a valid regular expression");
  }
  return std::make_unique<no_combine>();
}

/// A host program's own strategy, outside the built-in settings table: it
/// needs a prompt, calls its judge, and lets a bad regex's
/// `std::regex_error` escape.
inline std::unique_ptr<combine_strategy>
make_picky(const combine_options& options) {
  if (options.text("prompt").empty()) {
    throw std::invalid_argument("needs a prompt");
  }
  std::regex{options.text("extract")};
  return std::make_unique<no_combine>(calls(options.text("judge")));
}

/// Plugins independent of the built-in ones: kinds with a default URL and
/// without, each with the key header and own keys it declares, and
/// strategies named like the built-in ones.
inline const registry& test_plugins() {
  static const registry instance = [] {
    registry reg;
    reg.add_codec("openai", [] {
      return std::make_unique<url_only_codec>(
          "https://api.openai.com/v1/",
          std::vector<std::string>{"authorization"});
    });
    reg.add_codec("anthropic", [] {
      return std::make_unique<url_only_codec>(
          "https://api.anthropic.com/v1",
          std::vector<std::string>{"x-api-key"});
    });
    reg.add_codec("openai-compatible", [] {
      return std::make_unique<url_only_codec>(
          "", std::vector<std::string>{"authorization"});
    });
    reg.add_codec("azure-openai", [] {
      return std::make_unique<url_only_codec>(
          "", std::vector<std::string>{"api-key"},
          std::vector<codec_key>{{"api_version", check_version}});
    });
    reg.add_codec("gemini", [] {
      return std::make_unique<url_only_codec>(
          "https://generativelanguage.googleapis.com/v1beta",
          std::vector<std::string>{"x-goog-api-key"});
    });
    // The built-in strategies' names declare what the built-in ones do.
    auto traits = [](const std::string& name) {
      return *registry::builtin().traits_of(name);
    };
    reg.add_combine("collect", make_plain, combine_traits{});
    reg.add_combine("first", make_plain, traits("first"));
    reg.add_combine("vote", make_vote, traits("vote"));
    reg.add_combine(
        "judge",
        [](const combine_options& options) {
          return std::make_unique<no_combine>(calls(options.text("judge")));
        },
        traits("judge"));
    reg.add_combine(
        "rank",
        [](const combine_options& options) {
          return std::make_unique<no_combine>(calls(options.text("judge")));
        },
        traits("rank"));
    reg.add_combine(
        "synthesize",
        [](const combine_options& options) {
          return std::make_unique<no_combine>(
              calls(options.text("synthesizer")));
        },
        traits("synthesize"));
    reg.add_combine(
        "ghost",
        [](const combine_options&) {
          return std::make_unique<no_combine>(calls("oracle"));
        },
        combine_traits{});
    reg.add_combine("picky", make_picky);
    return reg;
  }();
  return instance;
}

inline config parse(const std::string& yaml) {
  return parse_config(yaml, "demo.yaml", test_plugins());
}

/// The error parsing `yaml` as `file` gives; fails the test when there is
/// none.
inline config_error error_of_file_text(const std::string& yaml,
                                       const std::string& file) {
  try {
    parse_config(yaml, file, test_plugins());
  } catch (const config_error& e) {
    return e;
  }
  BOOST_FAIL("expected a config_error");
  throw std::logic_error("unreachable");
}

/// The error parsing `yaml` gives; fails the test when there is none.
inline config_error error_of(const std::string& yaml) {
  return error_of_file_text(yaml, "demo.yaml");
}

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// Asserts the error's line, column and that its text contains each of
/// `parts`.
inline void check_error(const config_error& e, int line, int column,
                        const std::vector<std::string>& parts) {
  BOOST_TEST_INFO("what(): " << e.what());
  BOOST_TEST(e.where().file == "demo.yaml");
  BOOST_TEST(e.where().line == line);
  BOOST_TEST(e.where().column == column);
  for (const auto& part : parts) {
    BOOST_TEST_INFO("what(): " << e.what());
    BOOST_TEST(contains(e.what(), part), "missing: " << part);
  }
}

// Lines 1-9 of most inline configs below.
inline const std::string two_providers =          //
    "providers:\n"                                // 1
    "  gpt:\n"                                    // 2
    "    kind: openai\n"                          // 3
    "    model: gpt-4o-mini\n"                    // 4
    "    api_key: ${OPENAI_API_KEY}\n"            // 5
    "  llama:\n"                                  // 6
    "    kind: openai-compatible\n"               // 7
    "    model: llama3\n"                         // 8
    "    base_url: http://localhost:11434/v1/\n"; // 9

} // namespace tutti::config_test
