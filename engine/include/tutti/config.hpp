#pragma once

/// The YAML configuration: providers, ensembles and pipelines. Loading
/// validates everything it can without the environment; `${VAR}` references in
/// API keys, base URLs and header values are resolved later, only for the
/// providers a command actually uses. `docs/configuration.md` is the reference
/// for the format.

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tutti/combine.hpp"
#include "tutti/messages.hpp"
#include "tutti/prompt_template.hpp"
#include "tutti/store.hpp"

namespace tutti {

class registry;

/// A place in a config file, 1-based as editors show it (the column counts
/// characters). `line == 0` means the file as a whole.
struct source_location {
  std::string file;
  int line = 0;
  int column = 0;
};

/// "file:line:column", or just "file" when `line` is 0.
std::string to_string(const source_location& loc);

/// A configuration error; `what()` reads "file:line:column: message".
class config_error : public std::runtime_error {
public:
  config_error(const source_location& where, const std::string& message);
  /// Several problems found in one reading (each entry's first): `where`
  /// and `message` are the first's, `what()` lists them all, one a line.
  explicit config_error(std::vector<config_error> problems);

  /// Where the problem is.
  const source_location& where() const { return where_; }

  /// The message without the location prefix. Never contains a secret.
  const std::string& message() const { return message_; }

  /// Every problem when there were several; empty when there was one.
  const std::vector<config_error>& problems() const { return problems_; }

private:
  source_location where_;
  std::string message_;
  std::vector<config_error> problems_;
};

/// The four timeouts of one call, in milliseconds; 0 means "none of its
/// own" (the request's deadline still bounds everything).
struct provider_timeouts {
  int64_t connect_ms = 10000; ///< TCP and TLS connect
  int64_t first_token_ms = 0; ///< from sending to the first content
  int64_t idle_ms = 0;        ///< between two chunks of a stream
  int64_t total_ms = 0;       ///< one whole call, retries included
};

/// How a provider retries a retryable failure (429, 408, 5xx, 529,
/// network, connect timeout): exponential backoff with full jitter.
struct retry_policy {
  int attempts = 3;              ///< tries in all, the first included
  int64_t backoff_ms = 250;      ///< the first backoff's cap
  int64_t max_backoff_ms = 8000; ///< no backoff is longer
};

/// Prices in US dollars per million tokens; 0: unknown (no cost reported).
struct price_table {
  double input_per_mtok = 0;
  double output_per_mtok = 0;
  double cached_input_per_mtok = 0; ///< 0: cached input costs the input price
};

/// At most `count` per window of `per_ms` milliseconds; count 0: no limit.
struct rate_budget {
  int64_t count = 0;
  int64_t per_ms = 60000;
};

/// When a provider stops trying for a while: after `failures` consecutive
/// server, network or timeout failures it opens for `cooldown_ms`; 0
/// failures turns the breaker off.
struct breaker_policy {
  int failures = 5;
  int64_t cooldown_ms = 30000;
};

/// The largest spend budget accepted, in US dollars.
constexpr double max_budget_usd = 1e9;

/// Parses one budget period, "10/day" or "250/month" (US dollars, a
/// leading '$' allowed), into `into`; false with `why` when it is not one.
bool parse_spend_limit(std::string_view text, spend_limit& into,
                       std::string& why);

/// What a spend budget has left right now.
struct budget_left {
  bool limited = false;  ///< false: no budget applies
  double usd = 0;        ///< the smaller of the day's and the month's
  std::string budget;    ///< "key 'alice' ($10.00 a day)"
  int64_t resets_ms = 0; ///< when that period ends (Unix time)
};

/// One configured upstream.
struct provider_config {
  std::string name;
  /// Its entry as the YAML wrote it, normalised (`engine::reload` restarts
  /// a provider whose definition changed); empty for one built in code.
  std::string definition;
  std::string kind; ///< codec name: openai, ...
  std::string model;
  /// The model embeddings requests name (`embedding_model:`); empty: `model`.
  std::string embedding_model;
  std::string base_url; ///< without trailing slash; the codec's default if
                        ///< the YAML omits it. May hold `${VAR}` until
                        ///< `resolve_env` expands it.
  std::string api_key;  ///< raw YAML text, e.g. "${OPENAI_API_KEY}", until
                        ///< `resolve_env` expands it; empty if omitted
  int concurrency = 4;  ///< requests in flight at once
  /// Providers that share an API key share a limit group and its budgets;
  /// default: the provider's own name (filled in by the loader). After
  /// loading, every provider of a group carries the group's identical
  /// `concurrency`, `requests`, `tokens` and `max_queue`: the value any
  /// member wrote (members that write one must agree), else the default.
  /// `breaker` stays per provider.
  std::string limit_group;
  rate_budget requests;    ///< `rpm: N` or `requests: {count: N, per: 1s}`
  rate_budget tokens;      ///< `tpm: N` or `tokens: {count: N, per: 1s}`
  size_t max_queue = 1000; ///< `queue: {max: N}`: waiters beyond fail at once
  breaker_policy breaker;
  chat_params defaults; ///< temperature, top_p, max_tokens, seed, stop
  provider_timeouts timeouts;
  retry_policy retry;
  price_table price;
  /// `budget: {day: 5, month: 100}`: what its calls may cost in all.
  spend_limit budget;
  /// `cache: {ttl: 1h}`: reuse replies to identical requests.
  cache_policy cache;
  /// Extra HTTP headers sent with every request, in YAML order; values may
  /// hold `${VAR}` until `resolve_env` expands them.
  std::vector<std::pair<std::string, std::string>> headers;
  /// The kind's own keys (`codec::keys()`, such as azure-openai's
  /// `api_version`), by name.
  /// Values may hold `${VAR}` until `resolve_env` expands them.
  std::map<std::string, std::string> options;
  /// Where each option's value is.
  std::map<std::string, source_location> options_where;
  std::string ca_file;   ///< a custom CA bundle for TLS; empty: the system's
  source_location where; ///< the provider's name in the YAML
  source_location api_key_where;  ///< the api_key value (or `where`)
  source_location base_url_where; ///< the base_url value (or `where`)
  /// Where each header's value is, parallel to `headers`; a header without
  /// an entry here is reported at `where`.
  std::vector<source_location> headers_where;
  bool env_resolved = false; ///< `resolve_env` has expanded api_key, base_url
                             ///< and the header values; it will not expand
                             ///< them again
};

/// One member of an ensemble: a reference to a provider.
struct member_config {
  std::string provider;
  std::string label; ///< unique within the ensemble; the provider name
                     ///< unless the same provider appears twice, then
                     ///< "NAME#2", "NAME#3", ...
  /// Per-member overrides of the provider's sampling parameters
  /// (`temperature`, `top_p`, `max_tokens`, `seed`, `stop`).
  chat_params params;
  double weight = 1; ///< vote weight; > 0
  /// Draws from this provider (self-consistency). With more than one the
  /// engine runs LABEL:1 ... LABEL:N, each with its own seed (the member's
  /// or the provider's seed, else 0, plus the draw's index - 1).
  int samples = 1;
  source_location where;
};

/// When an ensemble is done (`until:`).
enum class until_rule : uint8_t {
  all,      ///< every member has an outcome
  first,    ///< the first success
  quorum,   ///< `quorum` successes
  deadline, ///< whatever arrived by the deadline
};

/// How an ensemble's members run (`mode:`).
enum class run_mode : uint8_t {
  parallel, ///< all at once
  fallback, ///< one after another, the next only when the previous failed
  hedged,   ///< the next also starts when the running one is slow
};

/// "all", "first", "quorum" or "deadline", as the YAML writes them.
std::string to_string(until_rule rule);

/// "all", "first", "quorum:K" or "deadline": `rule` with its quorum.
std::string until_name(until_rule rule, int quorum);

/// "parallel", "fallback" or "hedged".
std::string to_string(run_mode mode);

/// A named ensemble.
/// How a routed model (`models:`) orders its deployments
/// (`route_order`).
enum class route_strategy : uint8_t {
  weighted,       ///< at random, by weight
  least_busy,     ///< fewest calls in flight first
  lowest_latency, ///< fastest recent replies first
  most_remaining, ///< most requests left under the upstream's headers first
};

std::string to_string(route_strategy strategy);

struct ensemble_config {
  std::string name;
  std::vector<member_config> members; ///< at least one, in YAML order
  /// When the ensemble is done; `quorum` goes with until_rule::quorum.
  until_rule until = until_rule::all;
  int quorum = 0; ///< until: {quorum: K}; 1 <= K <= the number of draws
  /// How members run; hedged goes with `hedge_after_ms`.
  run_mode mode = run_mode::parallel;
  int64_t hedge_after_ms = 0;
  int64_t deadline_ms = 60000;
  /// Below this many successful members the answer is `failed`, though it
  /// still lists every member. 1 <= min_success <= the number of draws.
  int min_success = 1;
  std::string combine = "collect";
  /// The strategy's own settings, those its `combine_traits` declare
  /// (`extract`, `judge`, `rubric`, `synthesizer`, `prompt` for the
  /// built-in ones).
  combine_options combine_settings;
  /// What its calls (members' and the strategy's) may cost in all.
  spend_limit budget;
  /// Reuse its members' replies to identical requests; ttl 0: each
  /// provider's own `cache`.
  cache_policy cache;
  /// Set for a routed model's ensemble (`ensemble_of_route`): its members,
  /// run one after another, are first put in this strategy's order.
  std::optional<route_strategy> route;
  source_location where; ///< the ensemble's name in the YAML
};

/// One deployment of a routed model: a provider and its share of the
/// traffic.
struct deployment_config {
  std::string provider;
  double weight = 1;
  source_location where;
};

/// `models:`: a public model name clients ask for, served by one of its
/// deployments at a time; a failed one falls over to the next within the
/// deadline.
struct model_route {
  std::string name; ///< as written: "gpt-4o", or "openai/*"
  /// The name ends in "/*": it matches every name that starts with what
  /// comes before the '*', and the rest is the model each deployment is
  /// asked for.
  bool wildcard = false;
  std::vector<deployment_config> deployments; ///< at least one
  route_strategy strategy = route_strategy::weighted;
  int64_t deadline_ms = 60000;
  source_location where;
};

/// One step of a pipeline: an ensemble, or a single call to one provider,
/// asked a prompt rendered from the pipeline's inputs and earlier steps.
struct pipeline_step {
  std::string id;
  std::string ensemble; ///< the ensemble to ask; or
  std::string call;     ///< the provider to ask once
  prompt_template prompt;
  prompt_template system; ///< empty: no system prompt
  chat_params params;     ///< overrides, as a member's `params`
  /// The steps its templates reference, in order of first use: it starts
  /// once they have finished.
  std::vector<std::string> needs;
  source_location where; ///< the step's id in the YAML
};

/// A named pipeline: inputs, steps in YAML order, and the step whose answer
/// is the pipeline's output. Loading checks every template reference and
/// that the steps form no cycle.
struct pipeline_config {
  std::string name;
  std::vector<std::string> inputs;
  std::vector<pipeline_step> steps;
  std::string output; ///< a step id
  source_location where;
};

/// A whole validated config file.
struct config {
  std::string file;
  std::map<std::string, provider_config> providers;
  std::map<std::string, ensemble_config> ensembles;
  std::map<std::string, pipeline_config> pipelines;
  std::map<std::string, model_route> models; ///< by name as written
  /// `store:`: where runs are kept (docs/store.md); `${VAR}`s in its URL
  /// are expanded when the engine opens it.
  store_config store;
  source_location store_where;
};

/// Checks a config built or changed in code as the loader checks a file:
/// names refer to what exists, counts are in range, each strategy gets the
/// settings it declares, pipelines have no cycle. Throws `config_error`
/// naming the entry (`ensembles.e.min_success: ...`). `engine` runs it on
/// the config it is given.
void validate_config(const config& cfg, const registry& plugins);

/// Checks that strategy `combine` with `settings` may combine an ensemble of
/// `cfg`: it is registered, gets only the settings it declares (each of its
/// type: a provider must be one of `cfg`), its required ones, and its
/// factory accepts them. Throws `config_error` whose message starts with
/// `path` (`ensembles.e`, or `tutti` for a request's override); returns the
/// strategy it made.
std::unique_ptr<combine_strategy>
validate_combine_choice(const std::string& path, const source_location& where,
                        const std::string& combine,
                        const combine_options& settings, const config& cfg,
                        const registry& plugins);

/// An ensemble a request defines (`tutti.ensemble` over HTTP): `text` is
/// its definition as an ensemble's entry in the YAML is written (JSON is
/// YAML), read and checked exactly as the file's are, its members and
/// judges among `cfg`'s providers. `name` names it in answers and records.
/// Throws `config_error` whose message starts with `path` instead of
/// `ensembles.NAME` (`tutti.ensemble.members[1]: unknown provider ...`).
ensemble_config parse_inline_ensemble(const std::string& text,
                                      const std::string& name,
                                      const std::string& path,
                                      const config& cfg,
                                      const registry& plugins);

/// The route a model name asks: an exact `models:` name, else the wildcard
/// with the longest prefix it starts with (`rest` is then what follows the
/// prefix); nullptr when none.
const model_route* find_route(const config& cfg, const std::string& model,
                              std::string& rest);

/// The ensemble that serves one question of `route`: its deployments as
/// members run one after another (`fallback`) in the route's order, the
/// first success the answer; `rest` (a wildcard's) is the model asked of
/// each.
ensemble_config ensemble_of_route(const model_route& route,
                                  const std::string& rest);

/// Loads and validates a config file against the built-in plugins. Throws
/// `config_error`; an unreadable file gives "file: cannot read: reason".
config load_config(const std::string& path);

/// Same, checking `kind:` and `combine:` names against `plugins`.
config load_config(const std::string& path, const registry& plugins);

/// Same, from YAML text; `file` names it in error messages.
config parse_config(const std::string& yaml_text, const std::string& file);

/// Same, checking `kind:` and `combine:` names against `plugins`.
config parse_config(const std::string& yaml_text, const std::string& file,
                    const registry& plugins);

/// Replaces each `${VAR}` in `text` with the environment's value. Throws
/// `config_error` at `where` naming the first unset or empty variable, or a
/// malformed reference; `what` (e.g. "providers.gpt.api_key") prefixes the
/// message when not empty. Messages never contain the text or a value.
std::string expand_env(const std::string& text, const source_location& where,
                       const std::string& what = {});

/// Expands `${VAR}` in the api_key, base_url and header values of the
/// providers named in `used`, leaving the others untouched; already-resolved
/// providers are skipped. Throws `config_error`, also for a name that is not
/// a provider.
void resolve_env(config& cfg, const std::vector<std::string>& used);

} // namespace tutti
