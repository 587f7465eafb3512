#pragma once

/// Everything the fake upstream knows about one vendor's wire format, behind
/// one interface: which paths it serves, how it reads a request, and the
/// bytes of its replies, errors and stream events. The server core
/// (fake_llm.cpp) owns the HTTP side and the whole fault menu and asks a
/// wire_format for every byte that differs between vendors; it never names a
/// vendor. One file per format implements it (wire_openai.cpp, ...), and
/// wire_formats.cpp lists them. See docs/fake_llm.md, "Adding a wire format".

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tutti::fake {

/// What a format reads of an HTTP request.
struct request_view {
  std::string_view body;
  /// The groups its route pattern captured; [0] is the whole path.
  std::vector<std::string> captures;
  /// Query parameters.
  std::multimap<std::string, std::string> query;

  /// The first value of the query parameter `key`, "" when absent.
  std::string query_value(const std::string& key) const {
    auto it = query.lower_bound(key);
    return it != query.end() && it->first == key ? it->second : std::string();
  }
};

/// A chat request in vendor-neutral terms.
struct chat_request {
  std::string model;
  bool stream = false;
  /// OpenAI's `stream_options.include_usage`.
  bool include_usage = false;
  std::optional<int> max_tokens;
  /// OpenAI's `seed`.
  std::optional<int64_t> seed;
  /// OpenAI's `logprobs` and `top_logprobs`: the reply carries each
  /// token's log probability (made up, the same every time).
  bool logprobs = false;
  int top_logprobs = 0;
  /// OpenAI's `n`: how many choices the reply holds. Choice i > 0 is the
  /// scripted reply with " [i]" after it.
  int n = 1;
  std::string last_user;
  /// The conversation's first user message (a quiz-taker's question when a
  /// later turn, a debate's, does not hold it).
  std::string first_user;
  int prompt_tokens = 0;
  /// Non-empty when the request is invalid (answered 400 with this message).
  std::string error;
  std::string error_param;
  std::string error_code;
  /// An embeddings request (`wire_format::parse_embedding_request`): the
  /// texts to embed, and the vectors' length asked for (0: the default).
  bool embedding = false;
  std::vector<std::string> inputs;
  int dimensions = 0;
};

/// An error in vendor-neutral terms; wire_format::error_json renders it.
struct error_shape {
  std::string message;
  /// error.type (OpenAI, Anthropic) or error.status (Gemini).
  std::string type;
  /// error.code (OpenAI only).
  std::string code;
  /// error.param (OpenAI only).
  std::string param;
  /// >= 0: the client may retry after this many seconds (Gemini says so in
  /// a RetryInfo detail).
  int retry_after_s = -1;
};

/// Identity of one reply.
struct response_ids {
  std::string id;
  /// Unix seconds.
  int64_t created = 0;
  std::string model;
};

/// The reply as it will be sent: its tokens, their concatenation and its
/// finish reason in OpenAI's terms (stop, length, content_filter or as
/// scripted; a format maps them to its own).
struct reply_plan {
  std::vector<std::string> tokens;
  std::string content;
  int completion_tokens = 0;
  std::string finish_reason;
  /// The tokens are the model's refusal, not its answer (only in a format
  /// that has refusals).
  bool refusal = false;
  /// The prompt is blocked: the reply has no candidates (only in a format
  /// that blocks prompts).
  bool blocked = false;
  /// The tool calls the reply makes (`model_script::tool_calls`): each
  /// one's name and arguments.
  std::vector<std::pair<std::string, std::string>> tool_calls;
};

/// Usage as a reply reports it: input and output tokens.
struct usage {
  int input = 0;
  int output = 0;
};

/// A streamed reply as SSE events with LF line ends, in the order they are
/// sent: head, one event per content token, finish, terminator. The core
/// sends `malformed` right after the head when scripted, and cuts the stream
/// short after any content event as the fault menu says.
struct stream_events {
  std::vector<std::string> head;
  std::vector<std::string> tokens;
  std::vector<std::string> finish;
  /// Empty when the format has no end marker.
  std::vector<std::string> terminator;
  /// An event whose data is not JSON.
  std::string malformed;
  /// The usage reported once the head, the last content event or the
  /// finish events are sent; absent where they report none.
  std::optional<usage> head_usage;
  std::optional<usage> last_token_usage;
  std::optional<usage> finish_usage;
};

/// Why a server_limit refused a request, in numbers a format words.
struct limit_refusal {
  std::string model;
  /// The budget that refused it: "requests" or "tokens".
  std::string budget_name;
  int64_t budget = 0;
  /// The budget less what is left.
  int64_t used = 0;
  /// What the request would take of that budget.
  int64_t requested = 0;
  int64_t window_ms = 0;
  /// When to retry, milliseconds from now.
  int64_t retry_ms = 0;
};

/// One budget of a server_limit as a reply reports it.
struct budget_report {
  /// "requests" or "tokens".
  std::string name;
  int64_t limit = 0;
  /// Whole units left after the request.
  int64_t remaining = 0;
  /// When the budget is whole again: milliseconds from the request, and as
  /// a Unix time in milliseconds, both rounded up.
  int64_t reset_ms = 0;
  int64_t reset_unix_ms = 0;
};

/// An HTTP header: name and value.
using header = std::pair<std::string, std::string>;

/// One vendor's wire format. Implementations are stateless and pure: they
/// turn neutral values into bytes and request bytes into neutral values.
class wire_format {
public:
  virtual ~wire_format() = default;

  /// The format's name in the request log, e.g. "openai".
  virtual std::string name() const = 0;

  /// The patterns (httplib's regular expressions) of the POST paths it
  /// serves.
  virtual std::vector<std::string> paths() const = 0;

  /// Reads a request that came in on one of its paths. Sets
  /// chat_request::error (and, as the format has them, param and code) when
  /// the request is invalid.
  virtual chat_request parse_request(const request_view& req) const = 0;

  /// The headers a request of this format carries its API key in. Keys are
  /// never checked: the request log says whether a request carried one in
  /// any format's place.
  virtual std::vector<std::string> key_headers() const = 0;

  /// The query parameters a request may carry its API key in instead.
  virtual std::vector<std::string> key_params() const { return {}; }

  /// The header that names the API version the client speaks (Anthropic's
  /// `anthropic-version`), recorded in the request log; empty for none.
  virtual std::string version_header() const { return {}; }

  /// The id of the reply numbered `n`, e.g. "chatcmpl-fake7".
  virtual std::string response_id(uint64_t n) const = 0;

  /// The header that carries a request id on every reply (Anthropic's
  /// `request-id`); empty when the format sends none.
  virtual std::string request_id_header() const { return {}; }

  /// The error the format answers with for an HTTP status.
  virtual error_shape default_error(int status) const = 0;

  /// The error body (or a stream's error event data) for an error.
  /// `request_id` is what request_id_header() sent; empty in a stream event.
  virtual std::string error_json(int status, const error_shape& e,
                                 std::string_view request_id) const = 0;

  /// The message of a 404 for a model the script does not know.
  virtual std::string unknown_model_message(const std::string& model) const = 0;

  /// The 429 of a request a server_limit refused. By default the format's
  /// default 429.
  virtual error_shape limit_error(const limit_refusal& /*r*/) const {
    return default_error(429);
  }

  /// The rate-limit headers every reply of a limited model carries, for the
  /// budgets that are set. By default none.
  virtual std::vector<header>
  limit_headers(const std::vector<budget_report>& /*budgets*/) const {
    return {};
  }

  /// Whether the format has refusals of its own; one without sends a
  /// scripted refusal's words as the reply's text.
  virtual bool has_refusals() const { return true; }

  /// Whether the format answers a scripted `safety_block` with a blocked
  /// prompt; the others ignore it.
  virtual bool blocks_prompts() const { return false; }

  /// The body of a whole (not streamed) reply.
  virtual std::string whole_body(const response_ids& ids,
                                 const reply_plan& plan,
                                 const chat_request& chat) const = 0;

  /// A whole reply's body that is not JSON.
  virtual std::string malformed_body(const response_ids& ids) const = 0;

  /// The events of a streamed reply.
  virtual stream_events stream(const response_ids& ids, const reply_plan& plan,
                               const chat_request& chat) const = 0;

  /// The status a mid-stream error event describes when none is scripted.
  virtual int error_event_status() const = 0;

  /// A mid-stream error event carrying error_json's text.
  virtual std::string error_event(std::string_view error_json) const = 0;

  /// Whether its SSE lines end in CRLF (else LF) unless scripted otherwise.
  virtual bool crlf() const { return false; }

  /// Whether its streamed events are SSE events, which the emitter writes
  /// with the scripted line ends and `: ping` comments. Other framings
  /// (NDJSON lines, AWS event-stream messages) are written as they are.
  virtual bool sse_framed() const { return true; }

  /// The Content-Type of a streamed reply.
  virtual std::string stream_content_type() const {
    return "text/event-stream";
  }

  /// The patterns of the POST paths of its embeddings endpoint; none by
  /// default.
  virtual std::vector<std::string> embedding_paths() const { return {}; }

  /// Reads a request on one of `embedding_paths()`: sets `embedding`,
  /// `model`, `inputs`, `dimensions` and `prompt_tokens`, or the error as
  /// parse_request does.
  virtual chat_request
  parse_embedding_request(const request_view& /*req*/) const {
    chat_request out;
    out.embedding = true;
    out.error = "This format has no embeddings.";
    return out;
  }

  /// The body of an embeddings reply: `vectors`, one per input in order.
  virtual std::string
  embedding_body(const response_ids& /*ids*/,
                 const std::vector<std::vector<float>>& /*vectors*/,
                 const chat_request& /*req*/) const {
    return {};
  }

  /// A stream event whose payload is the script's `raw_body` as it is.
  virtual std::string raw_event(std::string_view text) const {
    return "data: " + std::string(text) + "\n\n";
  }
};

/// Every wire format the fake serves, in the order their routes are tried.
const std::vector<std::unique_ptr<wire_format>>& wire_formats();

/// The registered format called `name`; throws std::logic_error when none.
const wire_format& wire_format_named(std::string_view name);

} // namespace tutti::fake
