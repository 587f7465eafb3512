// Formatting and lookup helpers shared by the `tutti` subcommands.

#include "cli/format.hpp"

#include "engine/src/utf8.hpp"
#include "tutti/config.hpp"

#include <cstdio>
#include <cstdlib>

#include <CLI/CLI.hpp>

namespace tutti::cli {

std::string config_path(const std::string& flag) {
  if (!flag.empty())
    return flag;
  if (auto* env = std::getenv("TUTTI_CONFIG"); env != nullptr && *env != 0)
    return env;
  return "tutti.yaml";
}

namespace {

config_source& current_source() {
  static config_source source;
  return source;
}

} // namespace

void set_config_source(config_source source) {
  current_source() = std::move(source);
}

tutti::config load_cli_config(const std::string& flag) {
  auto path = config_path(flag);
  auto& source = current_source();
  return source ? source(path) : tutti::load_config(path);
}

std::string with_demo_field(const std::string& json_object,
                            const std::string& notice) {
  auto open = json_object.find('{');
  if (notice.empty() || open == std::string::npos)
    return json_object;
  std::string quoted = "\"";
  for (char c : notice) {
    if (c == '"' || c == '\\')
      quoted += '\\';
    if (static_cast<unsigned char>(c) >= 0x20)
      quoted += c;
  }
  quoted += '"';
  auto rest = json_object.substr(open + 1);
  bool empty = rest.find_first_not_of(" \n\t\r") == rest.find('}');
  return json_object.substr(0, open + 1) + "\"demo\": " + quoted +
         (empty ? "" : ", ") + rest;
}

CLI::Option* add_config_option(CLI::App& cmd, std::string& config) {
  return cmd.add_option(
      "--config,-c", config,
      "Config file (default: $TUTTI_CONFIG, then ./tutti.yaml)");
}

std::string preview(const std::string& text, size_t width) {
  // Model output and vendors' messages are untrusted: no control character
  // reaches the terminal.
  std::string line = utf8::printable(text.substr(0, text.find('\n')));
  size_t chars = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    if ((static_cast<unsigned char>(line[i]) & 0xC0) != 0x80 && ++chars > width)
      return line.substr(0, i) + "…";
  }
  return line;
}

size_t width_of(const std::string& text) {
  size_t chars = 0;
  for (unsigned char c : text)
    if ((c & 0xC0) != 0x80)
      ++chars;
  return chars;
}

std::string pad(std::string text, size_t width) {
  auto chars = width_of(text);
  if (chars < width)
    text.append(width - chars, ' ');
  return text;
}

std::string format_ms(int64_t us) {
  return std::to_string((us + 500) / 1000) + " ms";
}

std::string format_cost(double usd) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6f", usd);
  std::string text = buf;
  text.erase(text.find_last_not_of('0') + 1);
  if (text.back() == '.')
    text.pop_back();
  return "$" + text;
}

std::string format_totals(const tutti::usage& used, double cost_usd) {
  auto line = pad("totals:", key_width) + std::to_string(used.input_tokens) +
              "/" + std::to_string(used.output_tokens) + " tokens in/out";
  if (used.cached_input_tokens > 0)
    line += " (" + std::to_string(used.cached_input_tokens) + " cached)";
  return line + ", " + format_cost(cost_usd);
}

} // namespace tutti::cli
