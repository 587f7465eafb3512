#pragma once

/// The interface of a provider codec plugin: pure functions that turn a
/// `chat_request` into an HTTP request and the upstream's bytes back into
/// values. A codec does no I/O, reads no clock and knows nothing of CAF; the
/// provider actor owns everything else (permits, retries, timeouts).

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "tutti/messages.hpp"

namespace tutti {

/// HTTP header fields in arrival order; names as sent.
using header_list = std::vector<std::pair<std::string, std::string>>;

/// Case-insensitive header lookup; nullptr when absent.
const std::string* find_header(const header_list& headers,
                               std::string_view name);

/// An HTTP request ready for the transport.
struct http_request {
  std::string method = "POST";
  std::string url;
  header_list headers;
  std::string body;
};

/// What a codec needs to know about the provider it speaks for.
struct provider_settings {
  std::string name; ///< the provider's name in the config
  std::string kind; ///< the codec's registered name
  std::string model;
  /// The model embeddings requests name; empty: `model`
  /// (`embedding_model_of`).
  std::string embedding_model;
  std::string base_url;      ///< without a trailing slash
  std::string api_key;       ///< already resolved from the environment
  chat_params defaults;      ///< used where the request leaves a value unset
  header_list extra_headers; ///< sent with every request (custom headers)
  /// The codec's own YAML keys under the provider (`codec::keys()`, such
  /// as azure-openai's `api_version`), by name, as the config gave them.
  std::map<std::string, std::string> options;
};

/// The model an embeddings request names: the provider's
/// `embedding_model`, else its `model`.
const std::string& embedding_model_of(const provider_settings& provider);

/// The judgement of an embeddings reply a codec has read: `vectors` must be
/// one per input of `req`, none empty, all of one length (the asked
/// `dimensions` when it set some), every number finite; else a `protocol`
/// failure that says what is wrong. `usage` is the reply's.
std::variant<completion, failure>
embedding_outcome(std::vector<std::vector<float>> vectors,
                  const tutti::usage& used, const embedding_request& req);

/// A YAML key a codec adds under its providers, such as azure-openai's
/// `api_version`: a string, checked when the config is read.
struct codec_key {
  std::string name;
  /// Why `value` will not do, as the end of an error message ("expected an
  /// API version such as 2024-10-21"); empty when it will. Null: any
  /// string. A value that names `${VAR}` is checked once it is expanded.
  std::string (*check)(std::string_view value) = nullptr;
  /// A provider of the kind must set it.
  bool required = false;
  /// A credential (Bedrock's `secret_access_key`): blanked out of every
  /// failure message, as `api_key` is. Give it as `${VAR}`.
  bool secret = false;
};

/// How a vendor frames the events of a streamed reply; the decoder for each
/// is in tutti/stream_decoder.hpp.
enum class stream_framing : uint8_t {
  /// Server-sent events (`text/event-stream`): OpenAI, Anthropic, Gemini.
  sse,
  /// One JSON document per line (`application/x-ndjson`): Ollama's API.
  ndjson,
  /// AWS's binary `application/vnd.amazon.eventstream`: length-prefixed
  /// messages with typed headers and CRC32 checksums (Amazon Bedrock).
  aws_event_stream,
};

/// One event of a streamed reply, cut from the bytes by the stream decoder
/// of the codec's framing (tutti/stream_decoder.hpp).
struct stream_event {
  /// Server-sent events: the event type, empty for the default ("message").
  /// AWS event-stream: the `:event-type` header (`:exception-type` for an
  /// exception, `:error-code` for an error). Newline-delimited JSON: empty.
  std::string event;
  /// Server-sent events: the data lines joined with '\n'. Newline-delimited
  /// JSON: one line. AWS event-stream: the payload (for an error, the
  /// `:error-message` header).
  std::string data;
  std::string id; ///< server-sent events: the last event ID
  /// AWS event-stream's `:message-type`: "event", "exception" or "error";
  /// empty for the other framings.
  std::string message_type;
};

/// How the token counts of a stream event combine with those before it.
/// Each vendor documents its own way; its codec says which its events use.
enum class usage_counting : uint8_t {
  /// Counts so far: a count reported replaces the one before, even when it
  /// is lower (Gemini's running totals can go down; the last is the
  /// vendor's final word).
  totals,
  /// Counts since the previous report: added to the ones before.
  deltas,
};

/// The token counts one stream event reports: only those it names, so a
/// count an event leaves out keeps its earlier value (Anthropic reports
/// input in `message_start`, output in `message_delta`). Sums a vendor
/// reports in parts (Anthropic's per-iteration usage) are the codec's to add
/// up before it reports them.
struct usage_report {
  std::optional<int64_t> input_tokens; ///< all input, cached included
  std::optional<int64_t> output_tokens;
  std::optional<int64_t> cached_input_tokens;
  usage_counting counting = usage_counting::totals;
};

/// All three counts of `used`, as totals.
usage_report usage_totals(const usage& used);

/// `into` with `report` applied as its `counting` says; sums saturate.
void apply_usage(usage& into, const usage_report& report);

/// A piece of a streamed tool call: the call at `index` of the reply, its
/// id and name when this piece says them (the first usually does), and more
/// of its arguments' JSON text.
struct tool_call_delta {
  size_t index = 0;
  std::string id;
  std::string name;
  std::string arguments;
  /// A whole call, not a piece: it is the reply's next call whatever its
  /// `index` (Gemini sends each call whole, and a stateless decoder cannot
  /// number the calls of earlier events).
  bool whole = false;
};

/// What one stream event adds to a choice other than the reply's first
/// (`n` > 1): the choice at `index`.
struct choice_update {
  std::size_t index = 1;
  std::string text;
  std::string refusal;
  std::vector<tool_call_delta> tool_calls;
  std::string logprobs;
  std::string finish_reason;
};

/// What one stream event adds to a streamed reply.
struct stream_update {
  std::string text;    ///< new content, possibly empty
  std::string refusal; ///< new words of the model's refusal (`delta.refusal`)
  /// The vendor says the model declined to answer, with or without words
  /// (Anthropic's `stop_reason: "refusal"`).
  bool refused = false;
  /// Content that is neither text nor a refusal, one short description each
  /// ("tool call get_weather"): named when a reply holds nothing else.
  std::vector<std::string> other_content;
  /// Pieces of the reply's tool calls (`add_update` assembles them).
  std::vector<tool_call_delta> tool_calls;
  /// The entries of the vendor's `logprobs.content` this event adds, as
  /// compact JSON objects joined with commas (no brackets).
  std::string logprobs;
  /// What it adds to the reply's other choices, when it has several.
  std::vector<choice_update> other_choices;
  std::optional<usage_report> usage;
  std::string finish_reason; ///< set once the upstream says why it stopped
  /// The vendor's own words on why it stopped, for a failure message
  /// ("finishReason SAFETY: ...").
  std::string finish_detail;
  bool terminal = false;        ///< the upstream's end-of-stream marker
  std::optional<failure> error; ///< an error reported inside the stream
};

/// What a server says is left of one of its budgets (requests or tokens).
struct server_allowance {
  int64_t limit = -1;       ///< the whole budget; -1: not said
  int64_t remaining = -1;   ///< -1: not said
  int64_t reset_in_ms = -1; ///< until the budget is whole again; -1: not said

  bool known() const { return remaining >= 0 && reset_in_ms >= 0; }
};

/// The rate-limit headers of one response.
struct server_limits {
  server_allowance requests;
  server_allowance tokens;

  bool any() const { return requests.known() || tokens.known(); }
};

/// A decoded whole body: the reply or why it is not one.
using body_result = std::variant<completion, failure>;

/// A reply as the upstream sent it, before it is judged: built from a whole
/// body by a codec, or from stream events by `add_update`, so that both
/// forms of the same reply meet the same judgement (`reply_outcome`).
struct reply_parts {
  std::string text;
  std::string refusal;
  bool refused = false;
  /// Descriptions of content that is not text, at most
  /// `max_other_content` of them (`note_other_content`).
  std::vector<std::string> other_content;
  /// The calls of the request's tools, at most `max_tool_calls`.
  std::vector<tool_call> tool_calls;
  /// Token log probabilities: `logprobs.content` entries joined with
  /// commas, as `stream_update::logprobs`.
  std::string logprobs;
  /// The reply's other choices, the second first, as they came (tool
  /// calls assembled, log probabilities as `logprobs`); past
  /// `max_choices` the reply is a `protocol` failure.
  std::vector<reply_choice> other_choices;
  /// A piece named a tool call or a choice past `max_tool_calls` or
  /// `max_choices`: the reply is a `protocol` failure, not one with that
  /// piece silently left out.
  std::string past_limits;
  std::string finish_reason;
  std::string finish_detail;
  tutti::usage usage;
};

/// How many descriptions of other content a reply keeps.
constexpr std::size_t max_other_content = 8;

/// How many tool calls one reply may make; a reply with more is a
/// `protocol` failure rather than calls silently dropped.
constexpr std::size_t max_tool_calls = 128;

/// Adds a description of content that is not text; beyond
/// `max_other_content` of them, or past 100 bytes each, the rest is cut.
void note_other_content(reply_parts& parts, std::string_view description);

/// Adds one stream event to `parts`: text, refusal, other content, usage and
/// finish reason. Its error and end marker are the caller's to act on.
void add_update(reply_parts& parts, const stream_update& update);

/// The one judgement of a finished reply, whole or streamed:
/// - a refusal is a `refused` failure whose message is the model's own words
///   (or says it declined when the vendor gives none), partial text kept;
/// - no text and a `content_filter` finish is a `content_filter` failure;
/// - no text at all is an `empty_reply` failure naming what came instead;
/// - anything else is the completion.
/// Failures keep the reply's usage: the tokens were billed.
body_result reply_outcome(reply_parts parts);

/// The judgement of a stream that ended cleanly: `reply_outcome`, unless it
/// ended without its end marker (`terminal`) where the format needs one
/// (`accepts_unterminated`: a finish reason suffices), which is a
/// `protocol` failure keeping the text that came.
body_result stream_outcome(reply_parts parts, bool terminal,
                           bool accepts_unterminated);

/// One vendor's wire format.
class codec {
public:
  virtual ~codec() = default;

  /// The vendor's API root, used when the config gives no `base_url`;
  /// empty when the kind requires one.
  virtual std::string default_base_url() const = 0;

  /// The API root when it depends on the codec's own keys (Bedrock's host
  /// names its `region`): `options` are the provider's `keys()` values as
  /// the config gave them, so a `${VAR}` in one stays in the URL until it
  /// is expanded with the `base_url`. `default_base_url()` by default.
  virtual std::string default_base_url_for(
      const std::map<std::string, std::string>& options) const {
    (void)options;
    return default_base_url();
  }

  /// The headers (lower case) that carry the provider's `api_key` or what
  /// is made from it, as `encode` sends them ("authorization", "x-api-key").
  /// A provider's custom `headers:` may not set them: a key is given as
  /// `api_key`, where it is kept out of every message.
  virtual std::vector<std::string> key_headers() const { return {}; }

  /// The codec's own YAML keys under a provider (beside the ones every
  /// provider has); their values reach `encode` as `provider.options`.
  virtual std::vector<codec_key> keys() const { return {}; }

  /// The HTTP request for `req`; `req.stream` selects the streamed form.
  virtual http_request encode(const chat_request& req,
                              const provider_settings& provider) const = 0;

  /// Signs an encoded request just before it is sent, as vendors that
  /// authenticate with a signature of the request need (Bedrock's SigV4):
  /// the time it signs with is the caller's, `now_unix_ms`, so each retry
  /// is signed afresh and tests can pin the clock. Nothing by default: a
  /// key sent in a header is `encode`'s to add.
  virtual void sign(http_request& request, const provider_settings& provider,
                    int64_t now_unix_ms) const {
    (void)request;
    (void)provider;
    (void)now_unix_ms;
  }

  /// Decodes a whole 2xx response body.
  virtual body_result decode_body(std::string_view body) const = 0;

  /// How the vendor frames a streamed reply's events.
  virtual stream_framing framing() const { return stream_framing::sse; }

  /// Decodes one event of a 2xx streamed response.
  virtual stream_update decode_event(const stream_event& event) const = 0;

  /// The `max_tokens` the codec sends when neither the request nor the
  /// provider sets one (a vendor that requires it); 0: none is sent. The
  /// limiter's token estimate counts it.
  virtual int64_t implied_max_tokens() const { return 0; }

  /// True when a stream that ends cleanly after a finish reason is complete
  /// even without the format's end marker (servers that send no `[DONE]`).
  virtual bool accepts_unterminated_stream() const { return false; }

  /// It sends a request's tools (`chat_params::tools`, tool calls and tool
  /// results in the messages) and reads the model's tool calls back. A
  /// request with tools is refused for a provider whose codec does not.
  virtual bool takes_tools() const { return false; }

  /// It can make the model call a tool (`tool_choice` `required`, or one
  /// function by name). A request that asks it is refused for a provider
  /// whose codec cannot.
  virtual bool takes_forced_tool_choice() const { return takes_tools(); }

  /// It sends a JSON `response_format` (json_object, json_schema) as its
  /// vendor has it. A request with one is refused for a provider whose
  /// codec does not.
  virtual bool takes_response_format() const { return false; }

  /// It sends images in user messages (`chat_message::parts`) given inline
  /// as base64. A request with an image is refused for a provider whose
  /// codec does not.
  virtual bool takes_images() const { return false; }

  /// It can also send an image by http(s) URL, for the vendor to fetch. A
  /// request with one is refused for a provider whose codec cannot (tutti
  /// does not fetch it: any client could make the gateway reach any host).
  virtual bool takes_image_urls() const { return false; }

  /// It sends the optional parameter `name` (`frequency_penalty`,
  /// `presence_penalty`, `reasoning_effort`) as its vendor has it. A request
  /// that sets one is refused for a provider whose codec does not.
  virtual bool takes_param(std::string_view /*name*/) const { return false; }

  /// It has an embeddings endpoint: `encode_embedding` and
  /// `decode_embedding` work. An embeddings request for a provider whose
  /// codec has none is refused (an HTTP client gets a 400).
  virtual bool takes_embeddings() const { return false; }

  /// Its embeddings endpoint lets the vectors' length be chosen
  /// (`embedding_request::dimensions`); a request that sets one is refused
  /// for a provider whose codec cannot send it.
  virtual bool takes_embedding_dimensions() const { return false; }

  /// How many texts one embeddings call may carry; a request with more is
  /// split into calls of at most this many (Bedrock's Titan: one).
  virtual std::size_t max_embedding_batch() const {
    return max_embedding_inputs;
  }

  /// The HTTP request for the embeddings of `req.inputs` (at most
  /// `max_embedding_batch()` of them). Only called when `takes_embeddings()`;
  /// an empty request by default. `sign` signs it as it signs a chat call.
  virtual http_request
  encode_embedding(const embedding_request& req,
                   const provider_settings& provider) const {
    (void)req;
    (void)provider;
    return {};
  }

  /// Decodes a whole 2xx body of an embeddings call for `req`: a
  /// `completion` whose `embeddings` hold one vector per input, in order
  /// (`embedding_outcome` judges them), or why not.
  virtual body_result decode_embedding(std::string_view body,
                                       const embedding_request& req) const {
    (void)body;
    (void)req;
    failure why;
    why.kind = failure_kind::bad_request;
    why.message = "this provider kind has no embeddings";
    return why;
  }

  /// What the vendor's rate-limit headers on a reply say is left of its
  /// budgets, resets measured from `now_unix_ms`; nothing known by default.
  /// tutti/retry.hpp reads the formats vendors write them in. A budget
  /// without a readable reset stays unknown: the limiter could not tell
  /// when to stop holding back.
  virtual server_limits server_limits_of(const header_list& headers,
                                         int64_t now_unix_ms) const {
    (void)headers;
    (void)now_unix_ms;
    return {};
  }

  /// Describes a non-2xx response: kind, the vendor's own message, status.
  virtual failure classify_error(int status, std::string_view body,
                                 const header_list& headers) const = 0;
};

} // namespace tutti
