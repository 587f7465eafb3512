#pragma once

/// A fake upstream LLM: a real HTTP server on loopback that speaks the OpenAI
/// chat completions, Anthropic Messages and Gemini generateContent wire
/// formats (whole and streamed) with behaviour and faults scripted per model
/// name. Tests, benchmarks and the demo use it in place of a real provider.
///
/// This header is the fake's whole public face. Behind it the server core
/// (fake_llm.cpp) owns routes, the script, the fault menu, server-side limits
/// and the request log, and knows no vendor: each wire format is one file
/// (wire_openai.cpp, ...) implementing wire_format.hpp, listed in
/// wire_formats.cpp. See docs/fake_llm.md, "Adding a wire format".

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tutti::fake {

/// How the budgets of a server_limit come back.
enum class limit_refill {
  /// A token bucket per budget, as OpenAI and Anthropic describe theirs: it
  /// holds at most the budget, starts full and refills continuously at the
  /// budget per window.
  continuous,
  /// Fixed windows of `window_ms`, the first starting at the model's first
  /// request; each window starts with the whole budget.
  window,
};

/// A rate limit the fake enforces for one model, as a vendor's server does.
/// A request that finds too little left of a budget is answered 429; every
/// reply of the model carries the vendor's rate-limit headers.
struct server_limit {
  /// Requests per window; 0 means no request budget.
  int requests = 0;
  /// Tokens per window; 0 means no token budget. A request is charged its
  /// prompt tokens plus its `max_tokens` (when it gives none: the tokens of
  /// the reply it would get) when it is admitted.
  int64_t tokens = 0;
  /// Length of a window, milliseconds (at least 1): a bucket refills its
  /// whole budget in this long.
  int64_t window_ms = 60'000;
  limit_refill refill = limit_refill::continuous;
};

struct quiz_script; // tools/fake_llm/quiz.hpp

/// A tool call a scripted model makes.
struct fake_tool_call {
  std::string name;
  std::string arguments; ///< JSON text, sent as it is
};

/// Behaviour of one model name.
struct model_script {
  /// Fixed reply text; empty means "echo: <last user message content>".
  std::string reply;
  /// When set, the model takes a quiz instead (`quiz:`, quiz.hpp): it
  /// answers the question in the last user message from a key file, right
  /// with a fixed probability. Loaded with the script.
  std::shared_ptr<const quiz_script> quiz;
  /// When set, the reply calls these tools (finish_reason tool_calls), with
  /// `reply` as its text (none when `reply` is empty). OpenAI's format only:
  /// whole, or streamed with each call's arguments in pieces of 4 bytes.
  std::vector<fake_tool_call> tool_calls;
  /// When set, the model declines in these words instead of replying, as
  /// each vendor sends a refusal: OpenAI's format has `content: null` and
  /// `message.refusal` (streamed: `delta.refusal` chunks) with finish_reason
  /// stop; Anthropic's has no content and `stop_reason: "refusal"` with the
  /// words as `stop_details.explanation`; Gemini, which has no refusal,
  /// sends the words as the reply's text.
  std::string refusal;
  /// Delay before the response headers (and so before the first byte).
  int latency_ms = 0;
  /// Token pacing; 0 sends as fast as possible. Streamed replies send one
  /// content chunk every 1/tps seconds; whole replies wait tokens/tps before
  /// the body.
  double tokens_per_second = 0;
  /// Non-zero: answer with this HTTP status and an error body in the
  /// request's wire format.
  int fail_status = 0;
  /// Message in that error body; empty means a default per status.
  std::string fail_message;
  /// `error.type` (OpenAI, Anthropic) or `error.status` (Gemini) in that
  /// error body; empty means a default per status and format.
  std::string fail_type;
  /// `error.code` in an OpenAI error body; empty means a default per status.
  std::string fail_code;
  /// Only the first N requests for this model fail; -1 means all of them.
  /// Lets a test script "fails twice, then succeeds".
  int fail_times = -1;
  /// >= 0 with a fail status: send `Retry-After: N` (seconds); Gemini errors
  /// also carry it as a RetryInfo detail.
  int retry_after_s = -1;
  /// >= 0 with a fail status: send `retry-after-ms: N`.
  int retry_after_ms = -1;
  /// >= 0: a streamed reply sends N content chunks and then no more bytes
  /// until the client goes away, the server stops or 60 s pass; a whole reply
  /// stalls before any byte.
  int stall_after_tokens = -1;
  /// >= 0: a streamed reply sends N content chunks and then closes the
  /// connection without the final chunks or `[DONE]`; a whole reply sends half
  /// of its body and closes the connection.
  int truncate_after_tokens = -1;
  /// A streamed reply carries one `data:` line that is not JSON (before the
  /// first content chunk, the stream otherwise completes); a whole reply's
  /// body is not JSON.
  bool malformed = false;
  /// When set, a whole reply's body is exactly this text, and a streamed
  /// reply carries it as one `data:` event where `malformed` puts its line:
  /// how tests send hostile bodies (deep nesting, huge numbers) to tutti.
  std::optional<std::string> raw_body;
  /// finish_reason of a reply that was not cut by max_tokens (OpenAI terms;
  /// mapped for the other formats: stop, length, content_filter).
  std::string finish_reason = "stop";

  // --- the fault menu (see docs/fake_llm.md) ---

  /// Every write of a reply is split into pieces of 1-7 bytes, each its own
  /// HTTP chunk, at boundaries drawn from `split_seed` (so the same on every
  /// request), including inside multi-byte UTF-8 characters.
  bool split_chunks = false;
  uint32_t split_seed = 1;
  /// SSE line ends: absent means the vendor's own (LF for OpenAI and
  /// Anthropic, CRLF for Gemini); true forces CRLF, false LF.
  std::optional<bool> crlf;
  /// A `: ping` comment line (and blank line) between every two events.
  bool ping_comments = false;
  /// Streamed: after the finish events, end the HTTP body cleanly (chunked
  /// terminator) without `[DONE]` / `message_stop`. Gemini has no terminator.
  bool end_without_terminator = false;
  /// >= 0: a streamed reply sends N content chunks, then one error event in
  /// the vendor's format, then ends the body cleanly.
  int error_event_after_tokens = -1;
  /// Status the error event describes; 0 means the format's default (OpenAI
  /// 500, Anthropic 529 overloaded_error, Gemini 503 UNAVAILABLE).
  int error_event_status = 0;
  /// Message of the error event; empty means a default per status.
  std::string error_event_message;
  /// Delay before every write (HTTP chunk) of a reply but the first.
  int drip_ms = 0;
  /// >= 0: after N content chunks (a whole reply: before any byte) reset the
  /// connection (RST, so the client sees ECONNRESET). Linux only.
  int reset_after_tokens = -1;
  /// Gemini: answer with no candidates and promptFeedback.blockReason SAFETY.
  bool safety_block = false;

  // --- server-side rate limits ---

  /// When set, the fake enforces this limit per model name (see
  /// server_limit and docs/fake_llm.md).
  std::optional<server_limit> limit;
};

/// A whole script: behaviour per model name.
struct script {
  /// Scripted models by exact name.
  std::map<std::string, model_script> models;
  /// Behaviour of unlisted models; if absent, an unlisted model gets a 404
  /// OpenAI `model_not_found` error.
  std::optional<model_script> fallback;
};

/// Reads a YAML script file. Throws std::runtime_error naming
/// `file:line:column` on bad input.
/// A `quiz:` key file's relative path is taken from the script's folder.
script load_script(const std::string& yaml_path);

/// Parses YAML script text. Throws std::runtime_error naming
/// `<script>:line:column` on bad input.
/// A `quiz:` key file's relative path is taken from the working directory.
script parse_script(const std::string& yaml_text);

/// Splits text into stream tokens: each token is one whitespace-separated word
/// with the whitespace that follows it (leading whitespace joins the first
/// token), so concatenating the tokens gives the text back exactly.
std::vector<std::string> split_tokens(std::string_view text);

/// The fake's token count: the number of whitespace-separated words.
int count_tokens(std::string_view text);

/// How much of each request's body the log keeps.
constexpr size_t arrival_body_max = 16 * 1024;

/// One request the server received, recorded when it finished.
struct arrival {
  /// Arrival time, microseconds since the Unix epoch. For a model with a
  /// server_limit: when the limit counted the request (right after its body
  /// was read), so the log's times are in the order the limit saw them.
  int64_t unix_us = 0;
  /// Arrival time on std::chrono::steady_clock (same clock as
  /// tutti::steady_now_us()).
  int64_t steady_us = 0;
  /// Request path, e.g. "/v1/chat/completions".
  std::string path;
  /// Wire format of the request: its `wire_format::name()` ("openai",
  /// "anthropic", "gemini", "ollama", "bedrock").
  std::string format = "openai";
  /// Whether the request carried an API key (`Authorization`, `api-key`,
  /// `x-api-key`, `x-goog-api-key` or a `key` query parameter). Not checked.
  bool api_key = false;
  /// The `anthropic-version` header, "" when absent.
  std::string api_version;
  /// Requested model ("" when the body could not be parsed).
  std::string model;
  /// Whether the request asked for a streamed reply.
  bool stream = false;
  /// HTTP status answered.
  int status = 0;
  /// ok | failed | rate_limited | bad_request | not_found | stalled |
  /// truncated | malformed | client_gone | stopped | internal_error | reset |
  /// error_event | no_terminator | blocked
  std::string outcome;
  /// When the server finished with the request, on steady_clock.
  int64_t finished_steady_us = 0;
  /// The usage the reply reported, as the request's wire format carries it
  /// (OpenAI prompt/completion tokens, Anthropic input/output tokens, Gemini
  /// prompt/candidates token counts), counting only what was sent: 0 when no
  /// usage went out (an error, a stream without include_usage, a reply cut
  /// before its usage). An Anthropic stream cut after message_start reports
  /// output 1, as message_start says.
  int input_tokens = 0;
  int output_tokens = 0;
  /// The request's `seed` (OpenAI format); -1 when it sent none.
  int64_t seed = -1;
  /// The request's body, its first `arrival_body_max` bytes: what tests
  /// check tutti sent (tools, formats).
  std::string body;
  /// For a model with a server_limit with `refill: window`: the start of the
  /// fixed window the request was counted in (or refused in), on
  /// steady_clock; 0 otherwise.
  int64_t limit_window_steady_us = 0;
  /// For a model with a server_limit: what was left of each budget right
  /// after the limit counted this request (a refused request takes nothing):
  /// a bucket's level, with its fraction, or a window's budget less its use.
  /// -1 for a budget that is not set, and for a model without a limit.
  double limit_requests_left = -1;
  double limit_tokens_left = -1;
};

/// The most requests the log shows open at the server at once (from each
/// arrival to its finish; an end at the same instant as a start comes first).
int peak_concurrency(const std::vector<arrival>& log);

/// The fake upstream server. Serves on a background thread; every request is
/// handled on a thread of its own pool, so pacing sleeps never block others.
class server {
public:
  /// `log_path`: when non-empty, one JSON line per request is appended (and
  /// flushed) to this file. `threads`: size of the request thread pool, i.e.
  /// how many requests can be in progress at once.
  explicit server(script s, std::string log_path = "", int threads = 128);
  /// Stops the server.
  ~server();

  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds and starts serving on a background thread; port 0 picks a free
  /// port. Returns the bound port. Throws std::runtime_error when binding
  /// fails. Call at most once.
  int start(const std::string& host = "127.0.0.1", int port = 0);

  /// Stops serving and joins all threads. Returns promptly even with stalled
  /// streams or idle keep-alive connections open. Idempotent.
  void stop();

  /// A copy of the in-memory request log, in order of completion.
  std::vector<arrival> arrivals() const;

  /// Requests for `model` the server has read and not yet finished: a test
  /// waits for its request to be in hand before it makes the client leave.
  int open_requests(const std::string& model) const;

  /// "http://HOST:PORT/v1"; empty before start().
  std::string base_url() const;

  /// "http://HOST:PORT" (Gemini clients add "/v1beta"); empty before start().
  std::string root_url() const;

  /// The bound port; 0 before start().
  int port() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace tutti::fake
