#include "tools/fake_llm/fake_llm.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <yaml-cpp/yaml.h>

namespace tutti::fake {

namespace {

using std::chrono::steady_clock;
using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;

// Longest a scripted stall holds a connection before giving up on its own.
constexpr auto max_stall = std::chrono::seconds(60);
// How often a stall looks for a gone client or a stopping server.
constexpr auto stall_poll = std::chrono::milliseconds(20);

int64_t steady_now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(steady_clock::now().time_since_epoch())
      .count();
}

int64_t unix_now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch())
      .count();
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}

// --- script parsing --------------------------------------------------------

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

void parse_fail(const std::string& file, const YAML::Node& node,
                model_script& out) {
  if (node.IsScalar()) {
    out.fail_status = int_of(file, node, "fail", 400);
    if (out.fail_status > 599) {
      fail_at(file, node, "'fail' status must be between 400 and 599");
    }
    return;
  }
  if (!node.IsMap()) {
    fail_at(file, node,
            "'fail' must be a status or a map with status, message, type, "
            "code, retry_after, times");
  }
  bool has_status = false;
  for (const auto& entry : node) {
    auto key = entry.first.as<std::string>();
    const auto& value = entry.second;
    if (key == "status") {
      out.fail_status = int_of(file, value, key, 400);
      if (out.fail_status > 599) {
        fail_at(file, value, "'status' must be between 400 and 599");
      }
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
    } else if (key == "times") {
      out.fail_times = int_of(file, value, key, 0);
    } else {
      fail_at(file, entry.first,
              "unknown key '" + key +
                  "' in 'fail' (expected status, message, type, code, "
                  "retry_after, times)");
    }
  }
  if (!has_status) {
    fail_at(file, node, "'fail' needs a 'status'");
  }
}

model_script parse_model(const std::string& file, const YAML::Node& node,
                         const std::string& name) {
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
    } else if (key == "finish_reason") {
      out.finish_reason = scalar_of(file, value, key);
      if (out.finish_reason.empty()) {
        fail_at(file, value, "'finish_reason' must not be empty");
      }
    } else {
      fail_at(file, entry.first,
              "unknown key '" + key + "' in model '" + name +
                  "' (expected reply, latency, tokens_per_second, fail, "
                  "stall_after_tokens, truncate_after_tokens, malformed, "
                  "finish_reason)");
    }
  }
  return out;
}

script parse_script_named(const std::string& text, const std::string& file) {
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
        out.models[name] = parse_model(file, model.second, name);
      }
    } else if (key == "default") {
      out.fallback = parse_model(file, value, "default");
    } else {
      fail_at(file, entry.first,
              "unknown key '" + key + "' (expected models, default)");
    }
  }
  return out;
}

// --- OpenAI wire format ------------------------------------------------------

void write_string(json_writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void write_string_or_null(json_writer& w, std::string_view s) {
  if (s.empty()) {
    w.Null();
  } else {
    write_string(w, s);
  }
}

std::string error_body(std::string_view message, std::string_view type,
                       std::string_view param, std::string_view code) {
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  w.StartObject();
  w.Key("error");
  w.StartObject();
  w.Key("message");
  write_string(w, message);
  w.Key("type");
  write_string(w, type);
  w.Key("param");
  write_string_or_null(w, param);
  w.Key("code");
  write_string_or_null(w, code);
  w.EndObject();
  w.EndObject();
  return buf.GetString();
}

struct error_shape {
  std::string message;
  std::string type;
  std::string code;
};

error_shape default_error(int status) {
  switch (status) {
  case 400:
    return {"The request was invalid.", "invalid_request_error", ""};
  case 401:
    return {"Incorrect API key provided.", "invalid_request_error",
            "invalid_api_key"};
  case 403:
    return {"You are not allowed to access this model.", "permission_error",
            ""};
  case 404:
    return {"The model does not exist or you do not have access to it.",
            "invalid_request_error", "model_not_found"};
  case 408:
  case 504:
    return {"Request timed out.", "server_error", "timeout"};
  case 429:
    return {"Rate limit reached for requests. Please try again later.",
            "rate_limit_exceeded", "rate_limit_exceeded"};
  case 500:
    return {"The server had an error while processing your request. Sorry "
            "about that!",
            "server_error", ""};
  case 502:
    return {"Bad gateway.", "server_error", ""};
  case 503:
    return {"The engine is currently overloaded, please try again later.",
            "server_error", ""};
  default:
    if (status >= 500) {
      return {"The server had an error while processing your request.",
              "server_error", ""};
    }
    return {"The request was rejected.", "invalid_request_error", ""};
  }
}

// Text of a message's content: a string, or the text parts of an array.
std::string content_text(const rapidjson::Value& message) {
  if (!message.IsObject()) {
    return {};
  }
  auto it = message.FindMember("content");
  if (it == message.MemberEnd()) {
    return {};
  }
  const auto& content = it->value;
  if (content.IsString()) {
    return {content.GetString(), content.GetStringLength()};
  }
  std::string text;
  if (content.IsArray()) {
    for (const auto& part : content.GetArray()) {
      if (!part.IsObject()) {
        continue;
      }
      auto t = part.FindMember("text");
      if (t != part.MemberEnd() && t->value.IsString()) {
        if (!text.empty()) {
          text += ' ';
        }
        text.append(t->value.GetString(), t->value.GetStringLength());
      }
    }
  }
  return text;
}

struct chat_request {
  std::string model;
  bool stream = false;
  bool include_usage = false;
  std::optional<int> max_tokens;
  std::string last_user;
  int prompt_tokens = 0;
  // Non-empty when the request is invalid.
  std::string error;
  std::string error_param;
  std::string error_code;
};

chat_request parse_chat_request(const std::string& body) {
  chat_request out;
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    out.error = "We could not parse the JSON body of your request. The "
                "request body must be a JSON object.";
    return out;
  }
  auto model = doc.FindMember("model");
  if (model == doc.MemberEnd() || !model->value.IsString() ||
      model->value.GetStringLength() == 0) {
    out.error = "you must provide a model parameter";
    out.error_param = "model";
    return out;
  }
  out.model.assign(model->value.GetString(), model->value.GetStringLength());
  auto messages = doc.FindMember("messages");
  if (messages == doc.MemberEnd()) {
    out.error = "Missing required parameter: 'messages'.";
    out.error_param = "messages";
    out.error_code = "missing_required_parameter";
    return out;
  }
  if (!messages->value.IsArray() || messages->value.Empty()) {
    out.error = "'messages' must be a non-empty array of messages.";
    out.error_param = "messages";
    return out;
  }
  for (const auto& message : messages->value.GetArray()) {
    if (!message.IsObject() || !message.HasMember("role") ||
        !message["role"].IsString()) {
      out.error = "Each message must be an object with a string 'role'.";
      out.error_param = "messages";
      return out;
    }
    auto text = content_text(message);
    out.prompt_tokens += count_tokens(text);
    if (std::string_view(message["role"].GetString()) == "user") {
      out.last_user = std::move(text);
    }
  }
  auto stream = doc.FindMember("stream");
  if (stream != doc.MemberEnd() && !stream->value.IsNull()) {
    if (!stream->value.IsBool()) {
      out.error = "'stream' must be a boolean.";
      out.error_param = "stream";
      return out;
    }
    out.stream = stream->value.GetBool();
  }
  auto options = doc.FindMember("stream_options");
  if (options != doc.MemberEnd() && options->value.IsObject()) {
    auto usage = options->value.FindMember("include_usage");
    out.include_usage = usage != options->value.MemberEnd() &&
                        usage->value.IsBool() && usage->value.GetBool();
  }
  for (const char* key : {"max_completion_tokens", "max_tokens"}) {
    auto it = doc.FindMember(key);
    if (it == doc.MemberEnd() || it->value.IsNull()) {
      continue;
    }
    if (!it->value.IsInt() || it->value.GetInt() < 1) {
      out.error = std::string("'") + key + "' must be an integer >= 1.";
      out.error_param = key;
      return out;
    }
    out.max_tokens = it->value.GetInt();
    break;
  }
  return out;
}

// The reply as it will be sent: tokens, their concatenation, finish reason.
struct reply_plan {
  std::vector<std::string> tokens;
  std::string content;
  int completion_tokens = 0;
  std::string finish_reason;
};

reply_plan plan_reply(const model_script& ms, const chat_request& req) {
  reply_plan plan;
  auto text = ms.reply.empty() ? "echo: " + req.last_user : ms.reply;
  plan.tokens = split_tokens(text);
  plan.finish_reason = ms.finish_reason;
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
  return plan;
}

struct response_ids {
  std::string id;
  int64_t created = 0;
  std::string model;
};

void write_header_fields(json_writer& w, const response_ids& ids,
                         const char* object) {
  w.Key("id");
  write_string(w, ids.id);
  w.Key("object");
  w.String(object);
  w.Key("created");
  w.Int64(ids.created);
  w.Key("model");
  write_string(w, ids.model);
  w.Key("system_fingerprint");
  w.String("fp_tutti_fake");
}

void write_usage(json_writer& w, int prompt, int completion) {
  w.Key("usage");
  w.StartObject();
  w.Key("prompt_tokens");
  w.Int(prompt);
  w.Key("completion_tokens");
  w.Int(completion);
  w.Key("total_tokens");
  w.Int(prompt + completion);
  w.EndObject();
}

std::string whole_body(const response_ids& ids, const reply_plan& plan,
                       int prompt_tokens) {
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  w.StartObject();
  write_header_fields(w, ids, "chat.completion");
  w.Key("choices");
  w.StartArray();
  w.StartObject();
  w.Key("index");
  w.Int(0);
  w.Key("message");
  w.StartObject();
  w.Key("role");
  w.String("assistant");
  w.Key("content");
  write_string(w, plan.content);
  w.Key("refusal");
  w.Null();
  w.EndObject();
  w.Key("logprobs");
  w.Null();
  w.Key("finish_reason");
  write_string(w, plan.finish_reason);
  w.EndObject();
  w.EndArray();
  write_usage(w, prompt_tokens, plan.completion_tokens);
  w.EndObject();
  return buf.GetString();
}

enum class delta_kind { role, content, finish };

// One `data: {...}\n\n` event carrying a choice chunk.
std::string choice_event(const response_ids& ids, delta_kind kind,
                         std::string_view text, bool usage_null) {
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  w.StartObject();
  write_header_fields(w, ids, "chat.completion.chunk");
  w.Key("choices");
  w.StartArray();
  w.StartObject();
  w.Key("index");
  w.Int(0);
  w.Key("delta");
  w.StartObject();
  if (kind == delta_kind::role) {
    w.Key("role");
    w.String("assistant");
    w.Key("content");
    w.String("");
  } else if (kind == delta_kind::content) {
    w.Key("content");
    write_string(w, text);
  }
  w.EndObject();
  w.Key("logprobs");
  w.Null();
  w.Key("finish_reason");
  if (kind == delta_kind::finish) {
    write_string(w, text);
  } else {
    w.Null();
  }
  w.EndObject();
  w.EndArray();
  if (usage_null) {
    w.Key("usage");
    w.Null();
  }
  w.EndObject();
  return "data: " + std::string(buf.GetString()) + "\n\n";
}

std::string usage_event(const response_ids& ids, int prompt, int completion) {
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  w.StartObject();
  write_header_fields(w, ids, "chat.completion.chunk");
  w.Key("choices");
  w.StartArray();
  w.EndArray();
  write_usage(w, prompt, completion);
  w.EndObject();
  return "data: " + std::string(buf.GetString()) + "\n\n";
}

std::string arrival_json(const arrival& a) {
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  w.StartObject();
  w.Key("arrival_unix_us");
  w.Int64(a.unix_us);
  w.Key("arrival_steady_us");
  w.Int64(a.steady_us);
  w.Key("finished_steady_us");
  w.Int64(a.finished_steady_us);
  w.Key("path");
  write_string(w, a.path);
  w.Key("model");
  write_string(w, a.model);
  w.Key("stream");
  w.Bool(a.stream);
  w.Key("status");
  w.Int(a.status);
  w.Key("outcome");
  write_string(w, a.outcome);
  w.EndObject();
  return buf.GetString();
}

// --- sockets
// -------------------------------------------------------------------

int port_of(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in&>(addr).sin_port);
  }
  if (addr.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6&>(addr).sin6_port);
  }
  return -1;
}

// Calls fn(fd, peer_port) for every connected TCP socket of this process whose
// local port is `local_port`. httplib does not hand its connection sockets to
// handlers, so they are found through /proc/self/fd.
template <class F>
void for_each_connection(int local_port, F&& fn) {
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/self/fd", ec);
  if (ec) {
    return;
  }
  for (const auto& entry : it) {
    const auto name = entry.path().filename().string();
    char* end = nullptr;
    long fd = std::strtol(name.c_str(), &end, 10);
    if (name.empty() || *end != '\0') {
      continue;
    }
    sockaddr_storage local{};
    socklen_t len = sizeof(local);
    if (::getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&local),
                      &len) != 0 ||
        port_of(local) != local_port) {
      continue;
    }
    sockaddr_storage peer{};
    len = sizeof(peer);
    if (::getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer),
                      &len) != 0) {
      continue;
    }
    if (fn(static_cast<int>(fd), port_of(peer))) {
      return;
    }
  }
}

int find_connection_socket(int local_port, int remote_port) {
  int found = -1;
  for_each_connection(local_port, [&](int fd, int peer_port) {
    if (peer_port == remote_port) {
      found = fd;
      return true;
    }
    return false;
  });
  return found;
}

bool peer_closed(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  if (::poll(&p, 1, 0) < 0) {
    return false;
  }
  return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

void ignore_sigpipe_once() {
  // The system's cpp-httplib sends without MSG_NOSIGNAL: a write to a client
  // that went away would kill the process. Leave a host's own handler alone.
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction current {};
    if (::sigaction(SIGPIPE, nullptr, &current) == 0 &&
        current.sa_handler == SIG_DFL) {
      std::signal(SIGPIPE, SIG_IGN);
    }
  });
}

// Gives access to the listening socket, to raise httplib's fixed backlog of 5.
class http_server : public httplib::Server {
public:
  int listen_socket() const { return svr_sock_; }
};

} // namespace

// --- public helpers
// --------------------------------------------------------------

script parse_script(const std::string& yaml_text) {
  return parse_script_named(yaml_text, "<script>");
}

script load_script(const std::string& yaml_path) {
  std::ifstream in(yaml_path, std::ios::binary);
  if (!in) {
    throw std::runtime_error(yaml_path + ": cannot open the script file");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_script_named(text.str(), yaml_path);
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

// --- server
// --------------------------------------------------------------------

struct server::impl {
  impl(script s, std::string log_path, int threads)
      : script_(std::move(s)), threads_(std::max(1, threads)) {
    if (!log_path.empty()) {
      log_.open(log_path, std::ios::app);
      if (!log_) {
        throw std::runtime_error(log_path + ": cannot open the log file");
      }
    }
    configure();
  }

  void configure();
  void handle_chat(const httplib::Request& req, httplib::Response& res);
  void serve_chat(const httplib::Request& req, httplib::Response& res,
                  arrival& rec);
  void serve_whole(const httplib::Request& req, httplib::Response& res,
                   arrival& rec, const model_script& ms,
                   const chat_request& chat, const response_ids& ids);
  void serve_stream(const httplib::Request& req, httplib::Response& res,
                    arrival& rec, const model_script& ms,
                    const chat_request& chat, const response_ids& ids);
  void respond_error(httplib::Response& res, arrival& rec, int status,
                     const error_shape& shape, std::string_view param,
                     const char* outcome);
  void record(arrival rec);
  int next_attempt(const std::string& model);
  const model_script* find_model(const std::string& name) const;

  // Sleeps until `t`; false when the server began stopping instead.
  bool sleep_until(steady_clock::time_point t) {
    std::unique_lock<std::mutex> lock(stop_mutex_);
    return !stop_cv_.wait_until(lock, t, [this] { return stopping_; });
  }

  bool stopping() {
    std::lock_guard<std::mutex> lock(stop_mutex_);
    return stopping_;
  }

  enum class stall_end { client_gone, stopped, timed_out };

  // Holds the connection without sending a byte.
  stall_end stall(int local_port, int remote_port,
                  const std::function<bool()>& writable) {
    int fd = find_connection_socket(local_port, remote_port);
    auto deadline = steady_clock::now() + max_stall;
    for (;;) {
      auto wake = std::min(steady_clock::now() + stall_poll, deadline);
      if (!sleep_until(wake)) {
        return stall_end::stopped;
      }
      if (steady_clock::now() >= deadline) {
        return stall_end::timed_out;
      }
      if ((fd >= 0 && peer_closed(fd)) || (writable && !writable())) {
        return stall_end::client_gone;
      }
    }
  }

  script script_;
  int threads_;
  http_server http_;
  std::thread listener_;
  std::string host_;
  int port_ = 0;
  bool started_ = false;
  bool stopped_ = false;
  std::atomic<uint64_t> next_id_{0};

  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;

  std::mutex attempts_mutex_;
  std::map<std::string, int> attempts_;

  mutable std::mutex log_mutex_;
  std::vector<arrival> arrivals_;
  std::ofstream log_;
};

void server::impl::configure() {
  http_.set_tcp_nodelay(true);
  const auto threads = static_cast<size_t>(threads_);
  http_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http_.set_read_timeout(30);
  http_.set_write_timeout(30);
  http_.set_keep_alive_max_count(1'000'000);
  http_.set_keep_alive_timeout(5);
  http_.set_payload_max_length(64u << 20);

  // Never compress: httplib would brotli-encode JSON bodies for any client
  // that accepts it (libcurl does), at ~1 ms a reply. The request object is
  // not const inside httplib, so dropping the header here is sound.
  http_.set_pre_routing_handler(
      [](const httplib::Request& req, httplib::Response&) {
        auto& headers = const_cast<httplib::Request&>(req).headers;
        headers.erase("Accept-Encoding");
        return httplib::Server::HandlerResponse::Unhandled;
      });

  const auto chat = [this](const httplib::Request& req,
                           httplib::Response& res) { handle_chat(req, res); };
  http_.Post("/v1/chat/completions", chat);
  http_.Post("/chat/completions", chat);
  http_.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok", "text/plain");
  });
  http_.Get(R"(/(v1/)?models)",
            [this](const httplib::Request&, httplib::Response& res) {
              rapidjson::StringBuffer buf;
              json_writer w(buf);
              w.StartObject();
              w.Key("object");
              w.String("list");
              w.Key("data");
              w.StartArray();
              for (const auto& [name, ms] : script_.models) {
                w.StartObject();
                w.Key("id");
                write_string(w, name);
                w.Key("object");
                w.String("model");
                w.Key("created");
                w.Int(0);
                w.Key("owned_by");
                w.String("tutti-fake-llm");
                w.EndObject();
              }
              w.EndArray();
              w.EndObject();
              res.set_content(buf.GetString(), "application/json");
            });
  const auto unknown = [](const httplib::Request& req, httplib::Response& res) {
    res.status = 404;
    res.set_content(
        error_body("Unknown request URL: " + req.method + " " + req.path + ".",
                   "invalid_request_error", "", "unknown_url"),
        "application/json");
  };
  http_.Get(".*", unknown);
  http_.Post(".*", unknown);
}

const model_script* server::impl::find_model(const std::string& name) const {
  auto it = script_.models.find(name);
  if (it != script_.models.end()) {
    return &it->second;
  }
  return script_.fallback ? &*script_.fallback : nullptr;
}

int server::impl::next_attempt(const std::string& model) {
  std::lock_guard<std::mutex> lock(attempts_mutex_);
  return attempts_[model]++;
}

void server::impl::record(arrival rec) {
  rec.finished_steady_us = steady_now_us();
  std::lock_guard<std::mutex> lock(log_mutex_);
  if (log_.is_open()) {
    log_ << arrival_json(rec) << '\n';
    log_.flush();
  }
  arrivals_.push_back(std::move(rec));
}

void server::impl::respond_error(httplib::Response& res, arrival& rec,
                                 int status, const error_shape& shape,
                                 std::string_view param, const char* outcome) {
  res.status = status;
  res.set_content(error_body(shape.message, shape.type, param, shape.code),
                  "application/json");
  rec.status = status;
  rec.outcome = outcome;
  record(rec);
}

void server::impl::handle_chat(const httplib::Request& req,
                               httplib::Response& res) {
  arrival rec;
  rec.unix_us = unix_now_us();
  rec.steady_us = steady_now_us();
  rec.path = req.path;
  try {
    serve_chat(req, res, rec);
  } catch (const std::exception& e) {
    respond_error(
        res, rec, 500,
        {std::string("fake server error: ") + e.what(), "server_error", ""}, "",
        "internal_error");
  }
}

void server::impl::serve_chat(const httplib::Request& req,
                              httplib::Response& res, arrival& rec) {
  auto chat = parse_chat_request(req.body);
  if (!chat.error.empty()) {
    respond_error(res, rec, 400,
                  {chat.error, "invalid_request_error", chat.error_code},
                  chat.error_param, "bad_request");
    return;
  }
  rec.model = chat.model;
  rec.stream = chat.stream;
  const model_script* ms = find_model(chat.model);
  if (ms == nullptr) {
    respond_error(res, rec, 404,
                  {"The model `" + chat.model +
                       "` does not exist or you do not have access to it.",
                   "invalid_request_error", "model_not_found"},
                  "", "not_found");
    return;
  }
  const int attempt = next_attempt(chat.model);
  if (ms->latency_ms > 0 &&
      !sleep_until(steady_clock::now() +
                   std::chrono::milliseconds(ms->latency_ms))) {
    respond_error(res, rec, 503,
                  {"The fake server is stopping.", "server_error", ""}, "",
                  "stopped");
    return;
  }
  if (ms->fail_status != 0 &&
      (ms->fail_times < 0 || attempt < ms->fail_times)) {
    auto shape = default_error(ms->fail_status);
    if (!ms->fail_message.empty()) {
      shape.message = ms->fail_message;
    }
    if (!ms->fail_type.empty()) {
      shape.type = ms->fail_type;
    }
    if (!ms->fail_code.empty()) {
      shape.code = ms->fail_code;
    }
    if (ms->retry_after_s >= 0) {
      res.set_header("Retry-After", std::to_string(ms->retry_after_s));
    }
    respond_error(res, rec, ms->fail_status, shape, "",
                  ms->fail_status == 429 ? "rate_limited" : "failed");
    return;
  }
  response_ids ids;
  ids.id = "chatcmpl-fake" + std::to_string(++next_id_);
  ids.created = rec.unix_us / 1'000'000;
  ids.model = chat.model;
  if (chat.stream) {
    serve_stream(req, res, rec, *ms, chat, ids);
  } else {
    serve_whole(req, res, rec, *ms, chat, ids);
  }
}

void server::impl::serve_whole(const httplib::Request& req,
                               httplib::Response& res, arrival& rec,
                               const model_script& ms, const chat_request& chat,
                               const response_ids& ids) {
  rec.status = 200;
  if (ms.stall_after_tokens >= 0) {
    auto end = stall(req.local_port, req.remote_port, nullptr);
    rec.outcome = end == stall_end::stopped ? "stopped" : "stalled";
    record(rec);
    // Whoever is still listening gets headers and a body that never arrives.
    res.set_content_provider(
        1, "application/json",
        [](size_t, size_t, httplib::DataSink&) { return false; });
    return;
  }
  auto plan = plan_reply(ms, chat);
  if (ms.tokens_per_second > 0) {
    auto wait = std::chrono::duration<double>(plan.completion_tokens /
                                              ms.tokens_per_second);
    if (!sleep_until(
            steady_clock::now() +
            std::chrono::duration_cast<steady_clock::duration>(wait))) {
      respond_error(res, rec, 503,
                    {"The fake server is stopping.", "server_error", ""}, "",
                    "stopped");
      return;
    }
  }
  auto body = whole_body(ids, plan, chat.prompt_tokens);
  if (ms.truncate_after_tokens >= 0) {
    auto half = std::make_shared<std::string>(body.substr(0, body.size() / 2));
    rec.outcome = "truncated";
    res.set_content_provider(
        body.size(), "application/json",
        [half](size_t offset, size_t, httplib::DataSink& sink) {
          if (offset < half->size()) {
            sink.write(half->data() + offset, half->size() - offset);
          }
          return false;
        },
        [this, rec](bool) { record(rec); });
    return;
  }
  if (ms.malformed) {
    body = R"({"id":")" + ids.id +
           R"(","object":"chat.completion","choices":[{this is not json)";
    rec.outcome = "malformed";
  } else {
    rec.outcome = "ok";
  }
  res.set_content(body, "application/json");
  record(rec);
}

void server::impl::serve_stream(const httplib::Request& req,
                                httplib::Response& res, arrival& rec,
                                const model_script& ms,
                                const chat_request& chat,
                                const response_ids& ids) {
  struct stream_job {
    arrival rec;
    model_script ms;
    reply_plan plan;
    response_ids ids;
    int prompt_tokens = 0;
    bool include_usage = false;
    int local_port = -1;
    int remote_port = -1;
  };
  auto job = std::make_shared<stream_job>();
  job->rec = rec;
  job->rec.status = 200;
  job->rec.outcome = "client_gone";
  job->ms = ms;
  job->plan = plan_reply(ms, chat);
  job->ids = ids;
  job->prompt_tokens = chat.prompt_tokens;
  job->include_usage = chat.include_usage;
  job->local_port = req.local_port;
  job->remote_port = req.remote_port;

  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, job](size_t, httplib::DataSink& sink) {
        auto& j = *job;
        const bool usage = j.include_usage;
        const auto n = static_cast<int>(j.plan.tokens.size());
        auto send = [&](const std::string& event) {
          return sink.write(event.data(), event.size());
        };
        // A scripted stall or truncation after `sent` content chunks; one
        // scripted beyond the reply's length happens after its last chunk.
        auto reached = [&](int after, int sent) {
          return after >= 0 && (after == sent || (sent == n && after > n));
        };
        // Ends the response early: stalls, or closes without [DONE].
        auto cut_short = [&](int sent) {
          if (reached(j.ms.stall_after_tokens, sent)) {
            auto end = stall(j.local_port, j.remote_port,
                             [&] { return sink.is_writable(); });
            j.rec.outcome = end == stall_end::stopped ? "stopped" : "stalled";
            return true;
          }
          if (reached(j.ms.truncate_after_tokens, sent)) {
            j.rec.outcome = "truncated";
            return true;
          }
          return false;
        };
        if (!send(choice_event(j.ids, delta_kind::role, "", usage))) {
          return false;
        }
        if (j.ms.malformed &&
            !send("data: {\"id\":\"" + j.ids.id + "\",this is not json\n\n")) {
          return false;
        }
        const auto start = steady_clock::now();
        for (int i = 0; i < n; ++i) {
          if (cut_short(i)) {
            return false;
          }
          if (j.ms.tokens_per_second > 0) {
            auto due =
                start + std::chrono::duration_cast<steady_clock::duration>(
                            std::chrono::duration<double>(
                                (i + 1) / j.ms.tokens_per_second));
            if (!sleep_until(due)) {
              j.rec.outcome = "stopped";
              return false;
            }
          }
          if (!send(choice_event(j.ids, delta_kind::content,
                                 j.plan.tokens[static_cast<size_t>(i)],
                                 usage))) {
            return false;
          }
        }
        if (cut_short(n)) {
          return false;
        }
        if (!send(choice_event(j.ids, delta_kind::finish, j.plan.finish_reason,
                               usage))) {
          return false;
        }
        if (usage && !send(usage_event(j.ids, j.prompt_tokens,
                                       j.plan.completion_tokens))) {
          return false;
        }
        if (!send("data: [DONE]\n\n")) {
          return false;
        }
        j.rec.outcome = j.ms.malformed ? "malformed" : "ok";
        sink.done();
        return true;
      },
      [this, job](bool) { record(job->rec); });
}

server::server(script s, std::string log_path, int threads)
    : impl_(
          std::make_unique<impl>(std::move(s), std::move(log_path), threads)) {}

server::~server() {
  stop();
}

int server::start(const std::string& host, int port) {
  auto& d = *impl_;
  if (d.started_ || d.stopped_) {
    throw std::logic_error("fake_llm::server::start called twice");
  }
  ignore_sigpipe_once();
  int bound = -1;
  if (port == 0) {
    bound = d.http_.bind_to_any_port(host);
  } else if (d.http_.bind_to_port(host, port)) {
    bound = port;
  }
  if (bound <= 0) {
    throw std::runtime_error("tutti-fake-llm: cannot listen on " + host + ":" +
                             std::to_string(port));
  }
  ::listen(d.http_.listen_socket(), SOMAXCONN);
  d.host_ = host;
  d.port_ = bound;
  d.listener_ = std::thread([&d] { d.http_.listen_after_bind(); });
  // stop() only works once the accept loop runs.
  auto give_up = steady_clock::now() + std::chrono::seconds(5);
  while (!d.http_.is_running() && steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  d.started_ = true;
  return bound;
}

void server::stop() {
  auto& d = *impl_;
  {
    std::lock_guard<std::mutex> lock(d.stop_mutex_);
    if (d.stopped_) {
      return;
    }
    d.stopped_ = true;
    d.stopping_ = true;
  }
  d.stop_cv_.notify_all();
  if (!d.started_) {
    return;
  }
  d.http_.stop();
  // Idle keep-alive connections would hold their worker (and so the join
  // below) for up to the keep-alive timeout; wake them.
  for_each_connection(d.port_, [](int fd, int) {
    ::shutdown(fd, SHUT_RDWR);
    return false;
  });
  if (d.listener_.joinable()) {
    d.listener_.join();
  }
}

std::vector<arrival> server::arrivals() const {
  std::lock_guard<std::mutex> lock(impl_->log_mutex_);
  return impl_->arrivals_;
}

std::string server::base_url() const {
  if (impl_->port_ == 0) {
    return {};
  }
  auto host = impl_->host_;
  if (host.find(':') != std::string::npos) {
    host = "[" + host + "]";
  }
  return "http://" + host + ":" + std::to_string(impl_->port_) + "/v1";
}

int server::port() const {
  return impl_->port_;
}

} // namespace tutti::fake
