// GET / from a browser and GET /ui/{file}: the dashboard's built files
// (dashboard/dist), compiled into the binary (server/dashboard_assets.hpp).
// The page reads the same API every client does; docs/dashboard.md.

#include "server/dashboard_assets.hpp"
#include "server/server_impl.hpp"

namespace tutti {

using http::api_error;
using http::error_response;
using http::exchange_ptr;

namespace http {

bool wants_html(const request_head& head) {
  auto* accept = head.header("Accept");
  return accept != nullptr && accept->size() <= 4096 &&
         accept->find("text/html") != std::string::npos;
}

bool is_dashboard_file(const route_match& route, const request_head& head) {
  using id = route_match::route_id;
  return route.id == id::dashboard_asset ||
         (route.id == id::root && wants_html(head));
}

} // namespace http

void server::impl::get_dashboard_asset(const std::string& file,
                                       const exchange_ptr& ex) {
  auto* asset = http::find_dashboard_asset(file);
  if (asset == nullptr) {
    ex->respond(error_response(
        api_error{404, "No such file of the dashboard; see docs/dashboard.md",
                  "invalid_request_error", "", "not_found"}));
    return;
  }
  http::response r;
  r.content_type = std::string{asset->content_type};
  r.body = std::string{asset->bytes};
  // Not named by their content, so a browser asks again each time; the
  // page runs only this server's own script and reaches only this server.
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'self'; frame-ancestors 'none'; "
                         "base-uri 'none'; form-action 'none'");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  if (file == "index.html")
    r.headers.emplace_back("Vary", "Accept");
  ex->respond(std::move(r));
}

} // namespace tutti
