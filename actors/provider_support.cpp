#include "actors/provider_support.hpp"

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "engine/src/saturating.hpp"
#include "engine/src/secrets.hpp"
#include "tutti/codec.hpp"
#include "tutti/store.hpp"

// The provider actor's pure helpers (declared, with what each promises, in
// provider_support.hpp): token estimates and bounds, redaction, the
// embeddings check, the settings and cache key for a request, and which
// failures count for the breaker.

namespace tutti::provider_support {

usage estimate_usage(const chat_request& req, const provider_deps& deps) {
  // Sizes and max_tokens can come from a client: each count is clamped,
  // never overflowed.
  int64_t bytes = 0;
  if (req.embedding.any()) {
    // Embeddings read their inputs and write no tokens.
    for (auto& text : req.embedding.inputs)
      bytes = saturating_add(bytes, static_cast<int64_t>(text.size()));
    usage estimate;
    estimate.input_tokens = std::min(bytes / 4, max_counted_tokens);
    return estimate;
  }
  int64_t images = 0;
  for (auto& msg : req.messages) {
    bytes = saturating_add(bytes, static_cast<int64_t>(msg.content.size()));
    images += static_cast<int64_t>(msg.images());
  }
  auto output =
      req.params.max_tokens.value_or(deps.settings.defaults.max_tokens.value_or(
          deps.wire->implied_max_tokens()));
  usage estimate;
  // An image's bytes say little about its tokens (vendors scale it down
  // first): each counts a large image's worth.
  estimate.input_tokens =
      std::min(saturating_add(bytes / 4, images * image_token_estimate),
               max_counted_tokens);
  // Several choices (`n`) are each written in full.
  estimate.output_tokens = std::clamp<int64_t>(
      saturating_mul(std::max<int64_t>(output, 0), req.params.n.value_or(1)), 0,
      max_counted_tokens);
  return estimate;
}

int64_t estimate_tokens(const chat_request& req, const provider_deps& deps) {
  // Never below 1: a negative estimate would stall the limit group's queue.
  auto estimate = estimate_usage(req, deps);
  return std::clamp<int64_t>(
      saturating_add(estimate.input_tokens, estimate.output_tokens), 1,
      max_counted_tokens);
}

usage bounded(usage used) {
  for (auto* count :
       {&used.input_tokens, &used.output_tokens, &used.cached_input_tokens})
    *count = std::clamp<int64_t>(*count, 0, max_counted_tokens);
  return used;
}

std::string redacted(std::string text, const provider_deps& deps) {
  auto& base_url = deps.settings.base_url.empty()
                       ? deps.wire->default_base_url_for(deps.settings.options)
                       : deps.settings.base_url;
  std::vector<std::string_view> secrets{deps.settings.api_key};
  for (const auto& key : deps.wire->keys())
    if (auto value = deps.settings.options.find(key.name);
        key.secret && value != deps.settings.options.end())
      secrets.push_back(value->second);
  for (auto& [name, value] : deps.settings.extra_headers)
    if (is_credential_header(name))
      secrets.push_back(value);
  return redact_host(redact_secrets(std::move(text), secrets),
                     host_of_url(base_url));
}

bool any_tokens(const usage& used) {
  return used.input_tokens != 0 || used.output_tokens != 0 ||
         used.cached_input_tokens != 0;
}

failure make_failure(failure_kind kind, std::string message, int status) {
  failure f;
  f.kind = kind;
  f.message = std::move(message);
  f.http_status = status;
  return f;
}

std::string embedding_problem(const provider_deps& deps,
                              const chat_request& req) {
  auto& e = req.embedding;
  if (!e.any())
    return {};
  auto& wire = *deps.wire;
  auto kind = " (kind " + deps.settings.kind + ")";
  if (!wire.takes_embeddings())
    return "provider '" + deps.settings.name + "'" + kind +
           " has no embeddings endpoint";
  if (e.dimensions != 0 && !wire.takes_embedding_dimensions())
    return "provider '" + deps.settings.name + "'" + kind +
           " cannot choose the embeddings' dimensions";
  if (e.inputs.size() > wire.max_embedding_batch())
    return std::to_string(e.inputs.size()) +
           " inputs in one embeddings call; provider '" + deps.settings.name +
           "' takes at most " + std::to_string(wire.max_embedding_batch());
  if (req.stream)
    return "embeddings are not streamed";
  return {};
}

bool counts_for_breaker(failure_kind kind) {
  switch (kind) {
  case failure_kind::server:
  case failure_kind::overloaded:
  case failure_kind::network:
  case failure_kind::timeout_connect:
  case failure_kind::timeout_first_token:
  case failure_kind::timeout_idle:
  case failure_kind::timeout_total:
    return true;
  default:
    return false;
  }
}

const provider_settings& settings_for(const provider_deps& deps,
                                      const chat_request& req,
                                      provider_settings& scratch) {
  auto& model = req.params.model;
  if (model.empty() || model == deps.settings.model)
    return deps.settings;
  scratch = deps.settings;
  scratch.model = model;
  return scratch;
}

failure give_up_retry(provider_call& call, failure why) {
  if (!call.retrying_after)
    return why;
  auto cause = std::move(*call.retrying_after);
  call.retrying_after.reset();
  cause.message += " (not retried: " + why.message + ")";
  return cause;
}

void choose_cache_key(const provider_deps& deps, provider_call& call) {
  auto& req = call.query.request;
  auto rule = req.scope.cache.ttl_ms > 0 ? req.scope.cache : deps.cache_rule;
  // The cache keeps text replies; embeddings are not cached.
  if (!deps.cache || rule.ttl_ms <= 0 || req.scope.no_cache ||
      req.embedding.any())
    return;
  auto& defaults = deps.settings.defaults;
  auto temperature =
      req.params.temperature ? req.params.temperature : defaults.temperature;
  auto seeded = req.params.seed.has_value() || defaults.seed.has_value();
  if (!seeded && !(temperature && *temperature == 0) && !rule.sampled)
    return;
  chat_request whole;
  whole.messages = req.messages;
  whole.params = req.params;
  provider_settings scratch;
  auto http = deps.wire->encode(whole, settings_for(deps, req, scratch));
  call.cache_key = sha256_hex(deps.settings.kind + '\n' + http.method + ' ' +
                              http.url + '\n' + http.body);
  call.cache_ttl_ms = rule.ttl_ms;
}

bool is_success(int status) {
  return status >= 200 && status < 300;
}

std::string text_kept(const provider_call& call) {
  if (call.reply.text.empty())
    return {};
  return " (incomplete reply, " + std::to_string(call.reply.text.size()) +
         " bytes of text kept)";
}

} // namespace tutti::provider_support
