// Reading a fake_llm script: YAML, every key checked, errors naming
// file:line:column.

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include <yaml-cpp/yaml.h>

#include "tools/fake_llm/fake_llm.hpp"
#include "tools/fake_llm/quiz.hpp"

namespace tutti::fake {

namespace {

std::string position(const std::string& file, const YAML::Mark& mark) {
  if (mark.is_null()) {
    return file;
  }
  return file + ":" + std::to_string(mark.line + 1) + ":" +
         std::to_string(mark.column + 1);
}

[[noreturn]] void fail_at(const std::string& file, const YAML::Node& node,
                          const std::string& what) {
  throw std::runtime_error(position(file, node.Mark()) + ": " + what);
}

std::string scalar_of(const std::string& file, const YAML::Node& node,
                      const std::string& key) {
  if (!node.IsScalar()) {
    fail_at(file, node, "'" + key + "' must be a single value");
  }
  return node.Scalar();
}

int int_of(const std::string& file, const YAML::Node& node,
           const std::string& key, int min_value) {
  auto text = scalar_of(file, node, key);
  char* end = nullptr;
  errno = 0;
  long value = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || value < min_value ||
      value > 1'000'000'000) {
    fail_at(file, node,
            "'" + key + "' must be an integer >= " + std::to_string(min_value) +
                ", got '" + text + "'");
  }
  return static_cast<int>(value);
}

double double_of(const std::string& file, const YAML::Node& node,
                 const std::string& key) {
  auto text = scalar_of(file, node, key);
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(value) || value < 0) {
    fail_at(file, node,
            "'" + key + "' must be a number >= 0, got '" + text + "'");
  }
  return value;
}

bool bool_of(const std::string& file, const YAML::Node& node,
             const std::string& key) {
  auto text = scalar_of(file, node, key);
  if (text == "true" || text == "yes" || text == "on") {
    return true;
  }
  if (text == "false" || text == "no" || text == "off") {
    return false;
  }
  fail_at(file, node,
          "'" + key + "' must be true or false, got '" + text + "'");
}

// "250ms", "1.5s", "2s" or a bare number of milliseconds. Returns ms.
double duration_ms_of(const std::string& file, const YAML::Node& node,
                      const std::string& key) {
  auto text = scalar_of(file, node, key);
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  std::string unit = end != nullptr ? std::string(end) : std::string();
  double scale = 0;
  if (unit.empty() || unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = 1000;
  }
  if (text.empty() || end == text.c_str() || scale == 0 ||
      !std::isfinite(value) || value < 0 || value * scale > 1e9) {
    fail_at(file, node,
            "'" + key +
                "' must be a duration like 250ms, 1.5s, 2s or a number of "
                "milliseconds, got '" +
                text + "'");
  }
  return value * scale;
}

int status_of(const std::string& file, const YAML::Node& node,
              const std::string& key) {
  int status = int_of(file, node, key, 400);
  if (status > 599) {
    fail_at(file, node, "'" + key + "' must be between 400 and 599");
  }
  return status;
}

void parse_fail(const std::string& file, const YAML::Node& node,
                model_script& out) {
  if (node.IsScalar()) {
    out.fail_status = status_of(file, node, "fail");
    return;
  }
  if (!node.IsMap()) {
    fail_at(file, node,
            "'fail' must be a status or a map with status, message, type, "
            "code, retry_after, retry_after_ms, times");
  }
  bool has_status = false;
  for (const auto& entry : node) {
    auto key = entry.first.as<std::string>();
    const auto& value = entry.second;
    if (key == "status") {
      out.fail_status = status_of(file, value, key);
      has_status = true;
    } else if (key == "message") {
      out.fail_message = scalar_of(file, value, key);
    } else if (key == "type") {
      out.fail_type = scalar_of(file, value, key);
    } else if (key == "code") {
      out.fail_code = scalar_of(file, value, key);
    } else if (key == "retry_after") {
      auto text = scalar_of(file, value, key);
      bool bare = !text.empty() &&
                  std::all_of(text.begin(), text.end(),
                              [](char c) { return c >= '0' && c <= '9'; });
      out.retry_after_s =
          bare ? int_of(file, value, key, 0)
               : static_cast<int>(
                     std::ceil(duration_ms_of(file, value, key) / 1000.0));
    } else if (key == "retry_after_ms") {
      out.retry_after_ms =
          static_cast<int>(std::lround(duration_ms_of(file, value, key)));
    } else if (key == "times") {
      out.fail_times = int_of(file, value, key, 0);
    } else {
      fail_at(file, entry.first,
              "unknown key '" + key +
                  "' in 'fail' (expected status, message, type, code, "
                  "retry_after, retry_after_ms, times)");
    }
  }
  if (!has_status) {
    fail_at(file, node, "'fail' needs a 'status'");
  }
}

server_limit parse_server_limit(const std::string& file,
                                const YAML::Node& node) {
  if (!node.IsMap()) {
    fail_at(file, node,
            "'server_limit' must be a map with requests, tokens, window, "
            "refill");
  }
  server_limit out;
  for (const auto& entry : node) {
    auto key = entry.first.as<std::string>();
    const auto& value = entry.second;
    if (key == "requests") {
      out.requests = int_of(file, value, key, 1);
    } else if (key == "tokens") {
      out.tokens = int_of(file, value, key, 1);
    } else if (key == "window") {
      out.window_ms = std::llround(duration_ms_of(file, value, key));
      if (out.window_ms < 1) {
        fail_at(file, value, "'window' must be at least 1ms");
      }
    } else if (key == "refill") {
      const auto how = scalar_of(file, value, key);
      if (how == "continuous") {
        out.refill = limit_refill::continuous;
      } else if (how == "window") {
        out.refill = limit_refill::window;
      } else {
        fail_at(file, value,
                "'refill' must be continuous or window, got '" + how + "'");
      }
    } else {
      fail_at(file, entry.first,
              "unknown key '" + key +
                  "' in 'server_limit' (expected requests, tokens, window, "
                  "refill)");
    }
  }
  if (out.requests == 0 && out.tokens == 0) {
    fail_at(file, node, "'server_limit' needs 'requests' or 'tokens'");
  }
  return out;
}

/// `quiz: {key: FILE, question: FIELD, answer: FIELD, right: P, seed: S}`;
/// a relative key path is taken from `base_dir` (the script's folder).
std::shared_ptr<const quiz_script> parse_quiz(const std::string& file,
                                              const YAML::Node& node,
                                              const std::string& base_dir) {
  if (!node.IsMap())
    fail_at(file, node,
            "'quiz' must be a map with key, question, answer, right, seed");
  quiz_script out;
  for (const auto& entry : node) {
    auto key = entry.first.as<std::string>();
    const auto& value = entry.second;
    if (key == "key") {
      std::filesystem::path path = scalar_of(file, value, key);
      if (path.is_relative() && !base_dir.empty())
        path = std::filesystem::path{base_dir} / path;
      out.key_path = path.string();
    } else if (key == "question") {
      out.question_field = scalar_of(file, value, key);
    } else if (key == "answer") {
      out.answer_field = scalar_of(file, value, key);
    } else if (key == "right") {
      out.right = double_of(file, value, key);
      if (out.right > 1)
        fail_at(file, value, "'right' must be a probability, 0 to 1");
    } else if (key == "seed") {
      out.seed = static_cast<uint64_t>(int_of(file, value, key, 0));
    } else {
      fail_at(file, entry.first,
              "unknown key '" + key +
                  "' in 'quiz' (expected key, question, answer, right, seed)");
    }
  }
  if (out.key_path.empty())
    fail_at(file, node, "'quiz' needs a 'key' (a JSONL file of rows)");
  try {
    load_quiz_key(out);
  } catch (const std::runtime_error& e) {
    fail_at(file, node["key"], e.what());
  }
  return std::make_shared<const quiz_script>(std::move(out));
}

model_script parse_model(const std::string& file, const YAML::Node& node,
                         const std::string& name, const std::string& base_dir) {
  model_script out;
  if (node.IsNull()) {
    return out;
  }
  if (!node.IsMap()) {
    fail_at(file, node, "model '" + name + "' must be a map");
  }
  for (const auto& entry : node) {
    auto key = entry.first.as<std::string>();
    const auto& value = entry.second;
    if (key == "reply") {
      out.reply = scalar_of(file, value, key);
    } else if (key == "quiz") {
      out.quiz = parse_quiz(file, value, base_dir);
    } else if (key == "refusal") {
      out.refusal = scalar_of(file, value, key);
    } else if (key == "tool_calls") {
      if (!value.IsSequence())
        fail_at(file, value,
                "'tool_calls' must be a list of {name, arguments}");
      for (const auto& call : value) {
        if (!call.IsMap() || !call["name"])
          fail_at(file, call, "a tool call needs a 'name'");
        fake_tool_call one;
        one.name = scalar_of(file, call["name"], "name");
        if (call["arguments"])
          one.arguments = scalar_of(file, call["arguments"], "arguments");
        out.tool_calls.push_back(std::move(one));
      }
    } else if (key == "latency") {
      out.latency_ms =
          static_cast<int>(std::lround(duration_ms_of(file, value, key)));
    } else if (key == "tokens_per_second") {
      out.tokens_per_second = double_of(file, value, key);
    } else if (key == "fail") {
      parse_fail(file, value, out);
    } else if (key == "stall_after_tokens") {
      out.stall_after_tokens = int_of(file, value, key, 0);
    } else if (key == "truncate_after_tokens") {
      out.truncate_after_tokens = int_of(file, value, key, 0);
    } else if (key == "malformed") {
      out.malformed = bool_of(file, value, key);
    } else if (key == "raw_body") {
      out.raw_body = scalar_of(file, value, key);
    } else if (key == "finish_reason") {
      out.finish_reason = scalar_of(file, value, key);
      if (out.finish_reason.empty()) {
        fail_at(file, value, "'finish_reason' must not be empty");
      }
    } else if (key == "split_chunks") {
      out.split_chunks = bool_of(file, value, key);
    } else if (key == "split_seed") {
      out.split_seed = static_cast<uint32_t>(int_of(file, value, key, 0));
    } else if (key == "crlf") {
      out.crlf = bool_of(file, value, key);
    } else if (key == "ping_comments") {
      out.ping_comments = bool_of(file, value, key);
    } else if (key == "end_without_terminator") {
      out.end_without_terminator = bool_of(file, value, key);
    } else if (key == "error_event_after_tokens") {
      out.error_event_after_tokens = int_of(file, value, key, 0);
    } else if (key == "error_event_status") {
      out.error_event_status = status_of(file, value, key);
    } else if (key == "error_event_message") {
      out.error_event_message = scalar_of(file, value, key);
    } else if (key == "drip_ms") {
      out.drip_ms =
          static_cast<int>(std::lround(duration_ms_of(file, value, key)));
    } else if (key == "reset_after_tokens") {
      out.reset_after_tokens = int_of(file, value, key, 0);
    } else if (key == "safety_block") {
      out.safety_block = bool_of(file, value, key);
    } else if (key == "server_limit") {
      out.limit = parse_server_limit(file, value);
    } else {
      fail_at(file, entry.first,
              "unknown key '" + key + "' in model '" + name +
                  "' (expected reply, quiz, refusal, tool_calls, latency, "
                  "tokens_per_second, fail, "
                  "stall_after_tokens, truncate_after_tokens, malformed, "
                  "raw_body, "
                  "finish_reason, split_chunks, split_seed, crlf, "
                  "ping_comments, end_without_terminator, "
                  "error_event_after_tokens, error_event_status, "
                  "error_event_message, drip_ms, reset_after_tokens, "
                  "safety_block, server_limit)");
    }
  }
  return out;
}

script parse_script_named(const std::string& text, const std::string& file,
                          const std::string& base_dir) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw std::runtime_error(position(file, e.mark) + ": " + e.msg);
  }
  script out;
  if (!root || root.IsNull()) {
    return out;
  }
  if (!root.IsMap()) {
    fail_at(file, root, "a script must be a map with 'models' and 'default'");
  }
  for (const auto& entry : root) {
    auto key = entry.first.as<std::string>();
    const auto& value = entry.second;
    if (key == "models") {
      if (value.IsNull()) {
        continue;
      }
      if (!value.IsMap()) {
        fail_at(file, value,
                "'models' must be a map from model name to "
                "behaviour");
      }
      for (const auto& model : value) {
        auto name = model.first.as<std::string>();
        out.models[name] = parse_model(file, model.second, name, base_dir);
      }
    } else if (key == "default") {
      out.fallback = parse_model(file, value, "default", base_dir);
    } else {
      fail_at(file, entry.first,
              "unknown key '" + key + "' (expected models, default)");
    }
  }
  return out;
}

} // namespace

script parse_script(const std::string& yaml_text) {
  return parse_script_named(yaml_text, "<script>", "");
}

script load_script(const std::string& yaml_path) {
  std::ifstream in(yaml_path, std::ios::binary);
  if (!in) {
    throw std::runtime_error(yaml_path + ": cannot open the script file");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_script_named(text.str(), yaml_path,
                            std::filesystem::path{yaml_path}.parent_path());
}

} // namespace tutti::fake
