// GET /, /metrics, /v1/providers, /v1/ensembles, /v1/pipelines, /v1/models,
// /v1/models/{id}:
// the engine's state and its configuration, as docs/http.md shows them.

#include "engine/src/json_writers.hpp"
#include "engine/src/utf8.hpp"
#include "server/server_impl.hpp"
#include "tutti/metrics.hpp"

namespace tutti {

using http::api_error;
using http::error_response;
using http::exchange_ptr;
using http::json_response;

void server::impl::get_metrics(const exchange_ptr& ex) {
  answer_waiting(ex, [this] {
    http::response r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = to_prometheus(engine.metrics()) + metrics.to_prometheus();
    return r;
  });
}

void server::impl::get_providers(const exchange_ptr& ex) {
  answer_waiting(ex, [this] {
    return json_response(200, http::providers_json(engine.provider_states(),
                                                   engine.loaded_config()));
  });
}

void server::impl::reload_config(const exchange_ptr& ex) {
  // An API key from `tutti keys` is a client's; only the admin token (or
  // loopback without a token) may change what the server serves.
  if (!ex->key_name.empty()) {
    ex->respond(error_response(
        api_error{403, "Only the admin token may reload the config",
                  "invalid_request_error", "", "admin_only"}));
    return;
  }
  if (!options.reload_source) {
    ex->respond(error_response(
        api_error{501,
                  "This server was given its config in code; there is "
                  "no file to reload",
                  "server_error", "", "no_config_file"}));
    return;
  }
  answer_waiting(ex, [this] {
    try {
      auto line = reload_now();
      return json_response(200, json_detail::json_text([&](auto& w) {
                             w.StartObject();
                             w.Key("object");
                             w.String("tutti.reload");
                             w.Key("reloaded");
                             w.Bool(true);
                             w.Key("message");
                             json_detail::write_string(w, line);
                             w.EndObject();
                           }));
    } catch (const config_error& e) {
      // Every problem, one a line, as `tutti validate` prints them.
      return error_response(api_error{400, e.what(), "invalid_request_error",
                                      "", "config_error"});
    }
  });
}

void server::impl::get_ensembles(const exchange_ptr& ex) {
  ex->respond(json_response(
      200, http::ensembles_json(engine.loaded_config(), engine.plugins())));
}

void server::impl::get_pipelines(const exchange_ptr& ex) {
  ex->respond(json_response(200, http::pipelines_json(engine.loaded_config())));
}

void server::impl::get_models(const exchange_ptr& ex) {
  ex->respond(json_response(
      200, http::models_json(engine.loaded_config(), http::unix_now())));
}

void server::impl::get_model(const std::string& id, const exchange_ptr& ex) {
  auto& cfg = engine.loaded_config();
  constexpr std::string_view prefix = "ensemble/";
  std::string rest;
  bool known =
      id.rfind(prefix, 0) == 0
          ? cfg.ensembles.count(id.substr(prefix.size())) > 0
          : cfg.providers.count(id) > 0 || find_route(cfg, id, rest) != nullptr;
  if (!known) {
    ex->respond(error_response(
        api_error{404,
                  "The model '" + utf8::printable(id.substr(0, 200)) +
                      "' does not exist here",
                  "invalid_request_error", "model", "model_not_found"}));
    return;
  }
  ex->respond(json_response(200, http::model_json(id, http::unix_now())));
}

void server::impl::get_root(const exchange_ptr& ex) {
  if (http::wants_html(ex->head())) {
    get_dashboard_asset("index.html", ex);
    return;
  }
  auto r = json_response(
      200, http::server_json(engine.loaded_config(), TUTTI_VERSION,
                             tokenless() ? "none" : "bearer"));
  r.headers.emplace_back("Vary", "Accept");
  ex->respond(std::move(r));
}

void server::impl::answer_waiting(const exchange_ptr& ex,
                                  std::function<http::response()> make) {
  bool queued = waiting.submit([ex, make = std::move(make)] {
    auto r = std::make_shared<http::response>(make());
    ex->post([ex, r] { ex->respond(std::move(*r)); });
  });
  if (!queued)
    ex->respond(error_response(api_error{503, "Too busy; try again shortly",
                                         "server_error", "", "busy"}));
}

} // namespace tutti
