#pragma once

/// The provider actor's decisions that need no actor: how many tokens a
/// request is estimated at, how reported usage is bounded, what is blanked
/// out of a failure's message, whether an embeddings request can be sent,
/// which settings and cache key a request gets, and which failures open the
/// breaker. actors/provider.cpp uses them; they are kept apart so that it
/// holds the actor's flow of messages and little else.

#include <cstdint>
#include <string>

#include "actors/provider.hpp"
#include "tutti/config.hpp"
#include "tutti/messages.hpp"

namespace tutti::provider_support {

/// The most tokens one request is counted for: far beyond any model, and
/// small enough that a limit group can add up many of them.
constexpr int64_t max_counted_tokens = int64_t{1} << 40;

/// A rough token estimate for the limiter's token budget: 4 bytes a prompt
/// token, plus the most the reply may take (the request's max_tokens, else
/// the provider's default, else what the codec sends by itself).
usage estimate_usage(const chat_request& req, const provider_deps& deps);

/// The tokens the limiter counts `req` for: `estimate_usage`'s input and
/// output together, in [1, max_counted_tokens].
int64_t estimate_tokens(const chat_request& req, const provider_deps& deps);

/// Usage as an upstream reported it, each count in [0, max_counted_tokens]:
/// the numbers are the server's to choose, and the limiter adds them up.
usage bounded(usage used);

/// Secrets never leave the provider: the key and the values of custom
/// credential headers (whole or in part) and the base URL's host are blanked
/// out of a failure's message, whoever wrote it (the vendor's error body,
/// libcurl).
std::string redacted(std::string text, const provider_deps& deps);

/// Whether `used` counts any tokens at all.
bool any_tokens(const usage& used);

/// A failure of `kind` saying `message`, with the HTTP status if any.
failure make_failure(failure_kind kind, std::string message, int status = 0);

/// Why the provider cannot send embeddings request `req` as it is; empty
/// when it can (or `req` is no embeddings request). The engine checks the
/// same before it asks; this keeps the actor safe from any other asker.
std::string embedding_problem(const provider_deps& deps,
                              const chat_request& req);

/// Failures that say the provider itself is unwell; they open the breaker.
bool counts_for_breaker(failure_kind kind);

/// The provider's settings for `req`: another model when the request
/// names one (a routed wildcard name), else the provider's own, uncopied.
const provider_settings& settings_for(const provider_deps& deps,
                                      const chat_request& req,
                                      provider_settings& scratch);

/// A call ends for `why` while a retry waits: the failure that caused the
/// retry stays the outcome, saying why no retry followed.
failure give_up_retry(provider_call& call, failure why);

/// Sets `call`'s cache key, the SHA-256 of the request as the vendor would
/// get it whole (not streamed): kind, URL and body hold everything that
/// determines the reply (model, parameters, messages) and nothing else.
/// Left empty when no cache rule covers the call, the asker said no, or it
/// samples (temperature above 0 without a seed) and the rule does not say
/// to cache that too.
void choose_cache_key(const provider_deps& deps, provider_call& call);

/// Whether an HTTP status is a 2xx.
bool is_success(int status);

/// " (incomplete reply, N bytes of text kept)" when some text came.
std::string text_kept(const provider_call& call);

} // namespace tutti::provider_support
