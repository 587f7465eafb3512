#pragma once

/// The values that flow between tutti's actors and out to its users: a
/// question (`chat_request`), a member's reply (`completion`) or its failure
/// (`failure`), one member's result (`member_outcome`) and the combined
/// `ensemble_answer`. Plain structs with no CAF include; their `inspect`
/// overloads and CAF type IDs live in `actors/protocol.hpp`.

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tutti {

/// Microseconds since the epoch of the steady clock; absolute deadlines and
/// timestamps are carried in this form so that every message serializes.
using steady_us = int64_t;

/// Now, in microseconds of the steady clock.
steady_us steady_now_us();

/// Now, in milliseconds since the Unix epoch (the wall clock: for what is
/// shown, stored or sent, never for measuring time).
int64_t unix_now_ms();

/// A call of one of the request's tools that a model made.
struct tool_call {
  std::string id;   ///< the vendor's id for it ("call_..."); may be made up
  std::string name; ///< the function's name
  std::string arguments; ///< JSON text, as the model wrote it
};

/// An image given with a message: its bytes inline (from a `data:` URL or a
/// base64 block) or an http(s) URL the vendor fetches itself. tutti never
/// fetches a URL: that would let any client make the gateway reach any host.
struct image_ref {
  /// Inline: "image/png", "image/jpeg", "image/gif" or "image/webp".
  std::string media_type;
  std::string data;   ///< inline: the bytes in base64, as given; "" for a URL
  std::string url;    ///< an http(s) URL; "" when inline
  std::string detail; ///< OpenAI's "low", "high" or "auto"; "" its default

  bool inline_bytes() const { return url.empty(); }
};

/// The most images one request may carry.
constexpr std::size_t max_images_per_request = 64;

/// The longest image URL accepted.
constexpr std::size_t max_image_url_bytes = 8192;

/// What an image adds to the limiter's estimate of a request's input
/// tokens (vendors bill a large image at about this many).
constexpr int64_t image_token_estimate = 1600;

/// A part of a message's content, in order: text or an image.
struct content_part {
  std::string text; ///< a text part: its text
  image_ref image;  ///< an image part: `is_image()`

  bool is_image() const { return !image.data.empty() || !image.url.empty(); }
};

/// One turn of a conversation.
struct chat_message {
  chat_message() = default;
  chat_message(std::string role, std::string content)
      : role(std::move(role)), content(std::move(content)) {}

  std::string role; ///< "system", "user", "assistant" or "tool"
  std::string content;
  /// An assistant turn's calls of the request's tools.
  std::vector<tool_call> tool_calls;
  /// A tool turn: the call whose result `content` is.
  std::string tool_call_id;
  /// Set only when the content holds images: its text and image parts in
  /// order. `content` is then its text parts joined with '\n', so whatever
  /// reads only text (prompts of a judge, the store, vote) still can.
  std::vector<content_part> parts;

  /// How many images the content holds.
  std::size_t images() const {
    std::size_t n = 0;
    for (auto& part : parts)
      n += part.is_image() ? 1 : 0;
    return n;
  }
};

/// A function the model may call: OpenAI's `tools[].function`.
struct tool_spec {
  std::string name;
  std::string description;
  std::string parameters; ///< a JSON Schema as compact JSON text; "" none
  bool strict = false;
};

/// Whether and which tool the model must call; an empty `mode`: the
/// vendor's default.
struct tool_choice {
  std::string mode; ///< "", "auto", "none", "required" or "function"
  std::string name; ///< the function, when `mode` is "function"
};

/// The form the reply must take; an empty `type`: free text.
struct response_format {
  std::string type;   ///< "", "text", "json_object" or "json_schema"
  std::string name;   ///< json_schema: the schema's name
  std::string schema; ///< json_schema: compact JSON text
  bool strict = false;

  /// The reply must be a JSON document.
  bool is_json() const {
    return type == "json_object" || type == "json_schema";
  }
};

/// The most choices one request may ask for (`chat_params::n`), and one
/// reply may hold.
constexpr int64_t max_choices = 128;

/// A choice of a reply asked for several (`n`) beside its first, which is
/// the reply itself: its text or refusal, its tool calls, why it stopped
/// and its log probabilities, as for the first.
struct reply_choice {
  std::string text;
  std::string refusal;
  std::vector<tool_call> tool_calls;
  std::string finish_reason;
  std::string logprobs;
};

/// The largest `max_tokens` accepted from a config or a request: beyond any
/// model's output, and small enough that token arithmetic cannot overflow.
constexpr int64_t max_tokens_limit = 2'147'483'647;

/// What a request asks of the model beside its messages: sampling
/// parameters (an unset value means "the provider's default"), the tools it
/// may call and the form of its reply.
struct chat_params {
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int64_t> max_tokens;
  std::optional<int64_t> seed;
  std::vector<std::string> stop;
  std::optional<double> frequency_penalty; ///< -2 to 2
  std::optional<double> presence_penalty;  ///< -2 to 2
  /// How hard a reasoning model thinks ("minimal", "low", "medium",
  /// "high"); "" the vendor's default.
  std::string reasoning_effort;
  std::vector<tool_spec> tools;
  tutti::tool_choice tool_choice;
  std::optional<bool> parallel_tool_calls;
  tutti::response_format response_format;
  /// Return the log probabilities of the reply's tokens (OpenAI's
  /// `logprobs`), with this many most likely alternatives for each
  /// (`top_logprobs`, 0 to 20) when set.
  bool logprobs = false;
  std::optional<int64_t> top_logprobs;
  /// How many choices to generate (OpenAI's `n`, 2 to `max_choices`);
  /// unset: one.
  std::optional<int64_t> n;
  /// Another of the vendor's models than the provider's own (a `models:`
  /// wildcard passes the rest of the name asked); "": the provider's.
  std::string model;

  /// The reply may be something other than free text: tool calls, or a
  /// JSON document.
  bool structured() const {
    return !tools.empty() || response_format.is_json();
  }
};

/// How urgent a request is. When a limit group is short of budget, its
/// queued interactive requests are served before any batch one.
enum class priority : uint8_t { interactive = 0, batch = 1 };

/// Spending caps in US dollars; 0: none. Days and months are UTC.
struct spend_limit {
  double day_usd = 0;
  double month_usd = 0;
  bool any() const { return day_usd > 0 || month_usd > 0; }
};

/// The response cache's rule for a provider's or an ensemble's calls.
struct cache_policy {
  int64_t ttl_ms = 0; ///< how long a reply is reused; 0: not cached
  /// Also cache sampled replies (temperature > 0 without a seed): a hit then
  /// repeats one earlier draw rather than making a new one.
  bool sampled = false;
};

/// Whom a request is for, beside what is sent upstream: budgets and the
/// response cache read it; it never leaves the engine.
struct request_scope {
  std::string ensemble;   ///< the ensemble asked; "" for a provider alone
  std::string key;        ///< the name of the API key that asked; "" none
  spend_limit key_budget; ///< that key's own budget
  cache_policy cache;     ///< the ensemble's; ttl 0: the provider's own
  bool no_cache = false;  ///< neither read nor fill the cache
};

/// The most texts one embeddings request may hold (OpenAI's own limit).
constexpr std::size_t max_embedding_inputs = 2048;

/// The most bytes one text of an embeddings request may hold.
constexpr std::size_t max_embedding_input_bytes = 256 * 1024;

/// The longest vector an embeddings reply may hold, and the most
/// `dimensions` a request may ask for.
constexpr int64_t max_embedding_dimensions = 65536;

/// What an embeddings request asks: vectors for these texts.
struct embedding_request {
  /// The texts, in order; empty: the request is not one for embeddings.
  std::vector<std::string> inputs;
  /// The vectors' length, where the vendor lets it be chosen; 0: the
  /// model's own.
  int64_t dimensions = 0;

  bool any() const { return !inputs.empty(); }
};

/// One question to one model.
struct chat_request {
  std::string id; ///< unique per request; used to cancel it
  std::vector<chat_message> messages;
  chat_params params;
  bool stream = false;    ///< ask the upstream for a token stream
  steady_us deadline = 0; ///< absolute; 0 means none was set
  tutti::priority priority = priority::interactive;
  request_scope scope;
  /// Set: the request asks for embeddings of these texts, not a reply
  /// (`messages` and `params` are then unused, and it is never streamed).
  embedding_request embedding;
};

/// Tokens counted by the upstream (or 0 where it did not say).
struct usage {
  int64_t input_tokens = 0; ///< all input tokens, cached ones included
  int64_t output_tokens = 0;
  int64_t cached_input_tokens = 0; ///< the part of the input read from cache
};

/// Where a request's time went, in microseconds; -1 when it did not happen.
struct timing {
  int64_t queued_us = 0;       ///< waiting for a permit from the rate limiter
  int64_t first_token_us = -1; ///< from sending to the first content byte
  int64_t total_us = 0;        ///< from the query to the outcome
  /// When the provider took the query, on the steady clock
  /// (`steady_now_us()`); 0: the query never reached a provider. Lets a
  /// caller in the same process tell when each member started without
  /// listening to member events. Not in the JSON: it means nothing outside
  /// the process.
  int64_t started_us = 0;
};

/// A successful reply.
struct completion {
  std::string text;
  std::string finish_reason; ///< "stop", "length", "content_filter", ...
  tutti::usage usage;
  tutti::timing timing;
  double cost_usd = 0; ///< from the provider's price table; 0 if unpriced
  int attempts = 1;    ///< tries it took, retries included
  /// Served from the response cache: nothing was sent, `cost_usd` is 0 and
  /// `usage` is what the reply took when it was first made (tokens saved).
  bool cached = false;
  /// The calls of the request's tools the model made (finish_reason
  /// "tool_calls"), in its order.
  std::vector<tool_call> tool_calls;
  /// An embeddings request's vectors: one per input, in its order, all of
  /// one length.
  std::vector<std::vector<float>> embeddings;
  /// The reply's token log probabilities as the vendor wrote them
  /// (OpenAI's `{"content": [...]}`, compact JSON) when the request asked
  /// for them; "" otherwise.
  std::string logprobs;
  /// The reply's other choices when the request asked for several (`n`),
  /// in order: the second is `more_choices[0]`.
  std::vector<reply_choice> more_choices;
};

/// What went wrong; users switch on this.
enum class failure_kind : uint8_t {
  auth,           ///< 401/403: key missing or refused
  bad_request,    ///< 400/404/422: the request itself is wrong
  context_length, ///< the prompt does not fit the model's context
  content_filter, ///< the vendor refused or cut the content
  rate_limited,   ///< 429
  overloaded,     ///< 503/529 or a full local queue
  server,         ///< other 5xx
  network,        ///< connection refused, reset, DNS, TLS
  protocol,       ///< the reply is not what the wire format promises
  timeout_connect,
  timeout_first_token,
  timeout_idle,
  timeout_total,
  queue_timeout, ///< no permit could arrive before the deadline
  cancelled,
  config,       ///< the provider is misconfigured (unknown codec, missing key)
  circuit_open, ///< skipped: the provider's circuit breaker is open
  refused,      ///< the model declined to answer; `message` is its own words
  empty_reply,  ///< the reply holds no text (only a tool call, say)
  /// Not sent: it could cost more than a spend budget has left; the
  /// message names the budget.
  budget_exceeded,
};

/// The stable lowercase name of a kind ("rate_limited", "timeout_total"...).
std::string_view to_string(failure_kind kind);

/// Parses a name produced by `to_string`; false if unknown.
bool from_string(std::string_view name, failure_kind& kind);

std::ostream& operator<<(std::ostream& out, failure_kind kind);

/// A failed reply. Partial text and usage are kept when some arrived.
struct failure {
  failure_kind kind = failure_kind::protocol;
  std::string message; ///< plain words, vendor's own message kept
  int http_status = 0; ///< 0 when no HTTP status was received
  int attempts = 1;
  std::string partial_text;
  tutti::usage usage;
  tutti::timing timing;
  double cost_usd = 0; ///< of the tokens used before the failure
  /// How long the upstream asked to wait (its Retry-After), in ms; -1 when
  /// it did not say.
  int64_t retry_after_ms = -1;
};

/// One ensemble member's result: either a completion or a failure.
struct member_outcome {
  std::string member;   ///< the member's label in the ensemble
  std::string provider; ///< the provider it ran on
  std::string model;
  bool ok = false;
  completion reply; ///< meaningful when `ok`
  failure error;    ///< meaningful when `!ok`

  /// Time from query to outcome, whichever it was.
  int64_t total_us() const {
    return ok ? reply.timing.total_us : error.timing.total_us;
  }
};

/// A token (or a few) of one member's streamed reply, or of the answer
/// itself (`answer` set; `member` then names where it comes from, e.g.
/// "synthesizer").
struct member_delta {
  std::string member;
  std::string text;
  bool answer = false;
};

/// Where one member's call stands before its outcome (`member_progress`).
enum class member_state : uint8_t {
  queued,   ///< waiting for a permit from its limit group
  sent,     ///< the request is on its way; no reply yet
  retrying, ///< an attempt failed; the next one starts after `wait_ms`
};

/// The stable lowercase name of a state ("queued", "sent", "retrying").
std::string_view to_string(member_state state);

/// A member's call changed state (`ask_options::on_member_progress`): what
/// the dashboard's Live view shows before the first token. Its tokens and
/// its outcome come as `member_delta` and `member_outcome`.
struct member_progress {
  std::string member;
  member_state state = member_state::queued;
  /// sent: this attempt's number (1: the first); retrying: the one that
  /// failed.
  int attempt = 0;
  /// retrying: the wait before the next attempt, in milliseconds.
  int64_t wait_ms = 0;
  /// retrying: why the attempt failed, and the vendor's words (at most
  /// 512 bytes).
  failure_kind reason = failure_kind::server;
  std::string message;
};

/// Whether the ensemble produced an answer.
enum class answer_status : uint8_t {
  ok,      ///< every member succeeded
  partial, ///< some members failed; the answer uses the others
  failed,  ///< no usable answer; `members` says why
};

std::string_view to_string(answer_status status);

std::ostream& operator<<(std::ostream& out, answer_status status);

/// One row of a vote table: one normalized answer and who gave it.
struct vote_row {
  std::string answer;               ///< the normalized form that was compared
  std::string text;                 ///< the first voter's own reply text
  double weight = 0;                ///< the voters' weights, summed
  std::vector<std::string> members; ///< voters' labels, in member order
};

/// One member's review of the others' answers (council): whom each letter
/// stood for in its prompt, and its ranking.
struct peer_review {
  std::string reviewer; ///< the member that reviewed
  /// letters[i] is the member shown to it as "Response A" + i.
  std::vector<std::string> letters;
  /// The members it ranked, best first; empty when its review failed or
  /// named no letter.
  std::vector<std::string> ranking;
};

/// The combined answer to one ensemble question. Lists every member's
/// outcome, in member order, failures included.
struct ensemble_answer {
  std::string ensemble;
  answer_status status = answer_status::failed;
  std::string text;    ///< the combined answer
  std::string combine; ///< the strategy that produced `text`
  std::string until;   ///< "all", "first", "quorum:K" or "deadline"
  std::string mode;    ///< "parallel", "fallback" or "hedged"
  std::vector<member_outcome> members;
  /// The member whose reply became the answer (first, vote, judge, rank);
  /// empty when the answer is none of them (collect, synthesize, failed).
  std::string winner;
  std::vector<vote_row> votes; ///< vote (and a judge's fallback to it)
  double agreement = 0;        ///< vote: winning weight over all voting weight
  /// rank, council: member labels, best first
  std::vector<std::string> ranking;
  /// council: each of `ranking`'s members' mean rank over the reviews
  std::vector<double> mean_ranks;
  /// council: every reviewer's review, in member order
  std::vector<peer_review> reviews;
  /// debate: the rounds of answers held, the members' first answers
  /// included (the later rounds are `combiner_calls`, labelled
  /// `member@roundN`); 0 for other strategies
  int rounds = 0;
  /// The extra model calls a strategy made (the judge's, the
  /// synthesizer's), in order, failures included.
  std::vector<member_outcome> combiner_calls;
  /// Plain words on how the answer came about when it is not the plain
  /// path, e.g. "the judge failed (timeout_total); fell back to vote".
  std::string note;
  tutti::usage usage; ///< summed over members and combiner calls
  double cost_usd = 0;
  int64_t total_us = 0;
  /// The winner's calls of the request's tools: the answer is to call them.
  std::vector<tool_call> tool_calls;
  /// The winning member's token log probabilities (`completion::logprobs`)
  /// when the request asked for them.
  std::string logprobs;
  /// The winning member's other choices (`completion::more_choices`).
  std::vector<reply_choice> more_choices;
};

/// What became of a pipeline step.
enum class step_status : uint8_t {
  ok,      ///< its answer, every member succeeded
  partial, ///< its answer, some members failed
  failed,  ///< it ran and has no answer
  skipped, ///< a step it needs failed, so it never ran
};

std::string_view to_string(step_status status);

std::ostream& operator<<(std::ostream& out, step_status status);

/// A step's status for its ensemble's answer status.
step_status step_status_of(answer_status status);

/// What became of one pipeline step.
struct step_outcome {
  std::string id;
  /// ok or partial: it has an answer; failed: it ran and has none; skipped:
  /// a step it needs failed, so it never ran (`reason` says which).
  step_status status = step_status::skipped;
  ensemble_answer answer; ///< when it ran
  std::string reason;     ///< why it failed or was skipped
  int64_t started_us = 0; ///< since the run began; -1: never started
  int64_t total_us = 0;
};

/// The result of one pipeline run: the output step's answer, and every
/// step's outcome in YAML order, the failed and skipped ones included.
struct pipeline_result {
  std::string pipeline;
  answer_status status = answer_status::failed;
  std::string output; ///< the output step's answer text
  std::vector<step_outcome> steps;
  tutti::usage usage; ///< summed over every step
  double cost_usd = 0;
  int64_t total_us = 0;
};

} // namespace tutti
