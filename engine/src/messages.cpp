#include "tutti/messages.hpp"

#include <array>
#include <chrono>
#include <ostream>

#include "tutti/codec.hpp"

namespace tutti {

steady_us steady_now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(steady_clock::now().time_since_epoch())
      .count();
}

int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

constexpr std::array<std::string_view, 20> failure_kind_names = {
    "auth",
    "bad_request",
    "context_length",
    "content_filter",
    "rate_limited",
    "overloaded",
    "server",
    "network",
    "protocol",
    "timeout_connect",
    "timeout_first_token",
    "timeout_idle",
    "timeout_total",
    "queue_timeout",
    "cancelled",
    "config",
    "circuit_open",
    "refused",
    "empty_reply",
    "budget_exceeded",
};

static_assert(failure_kind_names.size() ==
              static_cast<size_t>(failure_kind::budget_exceeded) + 1);

} // namespace

std::string_view to_string(failure_kind kind) {
  return failure_kind_names.at(static_cast<size_t>(kind));
}

bool from_string(std::string_view name, failure_kind& kind) {
  for (size_t i = 0; i < failure_kind_names.size(); ++i) {
    if (failure_kind_names[i] == name) {
      kind = static_cast<failure_kind>(i);
      return true;
    }
  }
  return false;
}

std::string_view to_string(member_state state) {
  switch (state) {
  case member_state::queued:
    return "queued";
  case member_state::sent:
    return "sent";
  case member_state::retrying:
    break;
  }
  return "retrying";
}

std::string_view to_string(answer_status status) {
  switch (status) {
  case answer_status::ok:
    return "ok";
  case answer_status::partial:
    return "partial";
  case answer_status::failed:
    break;
  }
  return "failed";
}

std::ostream& operator<<(std::ostream& out, failure_kind kind) {
  return out << to_string(kind);
}

std::ostream& operator<<(std::ostream& out, answer_status status) {
  return out << to_string(status);
}

std::string_view to_string(step_status status) {
  switch (status) {
  case step_status::ok:
    return "ok";
  case step_status::partial:
    return "partial";
  case step_status::failed:
    return "failed";
  case step_status::skipped:
    break;
  }
  return "skipped";
}

std::ostream& operator<<(std::ostream& out, step_status status) {
  return out << to_string(status);
}

step_status step_status_of(answer_status status) {
  switch (status) {
  case answer_status::ok:
    return step_status::ok;
  case answer_status::partial:
    return step_status::partial;
  case answer_status::failed:
    break;
  }
  return step_status::failed;
}

const std::string* find_header(const header_list& headers,
                               std::string_view name) {
  auto equal_ci = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size())
      return false;
    for (size_t i = 0; i < a.size(); ++i) {
      auto lower = [](char c) {
        return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
      };
      if (lower(a[i]) != lower(b[i]))
        return false;
    }
    return true;
  };
  for (auto& [key, value] : headers)
    if (equal_ci(key, name))
      return &value;
  return nullptr;
}

} // namespace tutti
