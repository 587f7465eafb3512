// POST /v1/embeddings: OpenAI's embeddings, asked of one provider through
// the engine's `start_embed` (its permits, retries, deadline and breaker).

#include "server/embeddings_api.hpp"
#include "server/server_impl.hpp"

namespace tutti {

using http::api_error;
using http::error_response;
using http::exchange_ptr;

struct server::impl::embeddings_state {
  exchange_ptr ex;
  uint64_t handle = 0;   ///< guarded by in_flight_mutex until tracked
  bool answered = false; ///< guarded by in_flight_mutex
  http::embeddings_call call;
};

void server::impl::embeddings(const exchange_ptr& ex) {
  auto parsed = valid_call(
      http::parse_embeddings_request(ex->body(), engine.loaded_config()), *ex);
  if (!parsed || !may_ask(*ex, parsed->provider) || !admit_key(*ex))
    return;
  auto st = std::make_shared<embeddings_state>();
  st->ex = ex;
  st->call = std::move(*parsed);
  ex->target = st->call.model;
  embed_options options;
  options.record = record_of(*ex, new_run_id());
  options.record.kind = "embedding";
  // Embeddings are no turn of a conversation.
  options.record.session.clear();
  options.key_budget = ex->key_budget;
  options.dimensions = st->call.dimensions;
  uint64_t handle = 0;
  begin_question();
  try {
    handle = engine.start_embed(
        st->call.provider, st->call.inputs, std::move(options),
        [this, st, key = ex->key_name,
         budgets = key_budgets](member_outcome outcome) {
          budgets->charge(key, outcome.ok ? outcome.reply.usage
                                          : outcome.error.usage);
          auto done = std::make_shared<member_outcome>(std::move(outcome));
          st->ex->post([this, st, done] { embeddings_answer(*st, *done); });
          end_question(*st);
        });
  } catch (const unsupported_request& e) {
    end_question(*st);
    ex->respond(error_response(api_error{400, e.what(), "invalid_request_error",
                                         e.param(), "unsupported_parameter"}));
    return;
  } catch (const config_error& e) {
    end_question(*st);
    ex->respond(error_response(
        api_error{500, e.message(), "server_error", "model", "config_error"}));
    return;
  }
  track(*st, handle);
  // A client that leaves cancels its request (and the upstream calls).
  ex->on_gone([this, st] { engine.cancel(st->handle); });
}

void server::impl::embeddings_answer(embeddings_state& st,
                                     const member_outcome& outcome) {
  auto& ex = *st.ex;
  if (!outcome.ok && stopping) {
    ex.respond(error_response(api_error{503, "tutti serve is shutting down",
                                        "server_error", "", "shutting_down"}));
    return;
  }
  if (!outcome.ok) {
    // As the vendor answered: its SDK's own retry rules then apply.
    ex.respond(provider_failed_response(outcome));
    return;
  }
  ex.respond(
      http::json_response(200, http::embeddings_json(st.call, outcome.reply)));
}

} // namespace tutti
