// The dashboard's files as `tutti serve` answers them (docs/dashboard.md):
// the page at GET / for a browser and the JSON route list for everyone
// else, /ui/{file} with its type and a CSP, no token for the files and the
// token for every route the page reads. The page itself runs in a browser
// in tests/browser.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

#include <httplib.h>

#include "server/dashboard_assets.hpp"
#include "tutti/engine.hpp"
#include "tutti/server.hpp"

using namespace tutti;
using namespace std::chrono_literals;

namespace {

const char* config_yaml = R"(
providers:
  gpt: {kind: openai, model: gpt-test, base_url: "http://127.0.0.1:9/v1", api_key: not-used}
store: none
)";

const char* token = "t0ken-for-dashboard-tests";

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

/// An engine and a server on a free loopback port, with or without a token.
struct served {
  std::unique_ptr<tutti::engine> engine;
  std::unique_ptr<tutti::server> endpoint;
  std::unique_ptr<httplib::Client> client;

  explicit served(std::string with_token) {
    engine = std::make_unique<tutti::engine>(
        tutti::engine::from_yaml(config_yaml, {}, "dashboard.yaml"));
    server_options options;
    options.port = 0;
    options.token = std::move(with_token);
    endpoint = std::make_unique<tutti::server>(*engine, options);
    endpoint->start();
    client = std::make_unique<httplib::Client>("127.0.0.1", endpoint->port());
    client->set_read_timeout(10s);
  }

  ~served() {
    endpoint->stop();
    endpoint.reset();
    engine.reset();
  }
};

const httplib::Headers browser{
    {"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/"
               "*;q=0.8"}};

} // namespace

BOOST_AUTO_TEST_CASE(a_browser_gets_the_page_at_the_root_without_the_token) {
  served s{token};
  auto page = s.client->Get("/", browser);
  BOOST_REQUIRE(page);
  BOOST_TEST(page->status == 200);
  BOOST_TEST(page->get_header_value("Content-Type") ==
             "text/html; charset=utf-8");
  BOOST_TEST(contains(page->body, "/ui/app.js"));
  BOOST_TEST(page->body ==
             read_file(TUTTI_SOURCE_DIR "/dashboard/dist/index.html"));
  BOOST_TEST(contains(page->get_header_value("Content-Security-Policy"),
                      "default-src 'self'"));
  BOOST_TEST(page->get_header_value("Vary") == "Accept");
  BOOST_TEST(!contains(page->body, token));
}

BOOST_AUTO_TEST_CASE(an_api_client_still_gets_the_route_list_at_the_root) {
  served s{token};
  auto refused = s.client->Get("/");
  BOOST_REQUIRE(refused);
  BOOST_TEST(refused->status == 401);
  auto about =
      s.client->Get("/", {{"Authorization", std::string{"Bearer "} + token},
                          {"Accept", "application/json"}});
  BOOST_REQUIRE(about);
  BOOST_TEST(about->status == 200);
  BOOST_TEST(contains(about->body, R"("object":"tutti.server")"));
  BOOST_TEST(contains(about->body, "GET /ui/{file}"));
}

BOOST_AUTO_TEST_CASE(the_files_are_served_with_their_types_and_a_csp) {
  served s{token};
  struct expected {
    std::string file;
    std::string type;
  };
  for (auto& e : {expected{"app.js", "text/javascript; charset=utf-8"},
                  expected{"app.css", "text/css; charset=utf-8"},
                  expected{"index.html", "text/html; charset=utf-8"}}) {
    BOOST_TEST_CONTEXT(e.file) {
      auto res = s.client->Get("/ui/" + e.file);
      BOOST_REQUIRE(res);
      BOOST_TEST(res->status == 200);
      BOOST_TEST(res->get_header_value("Content-Type") == e.type);
      BOOST_TEST(res->get_header_value("Cache-Control") == "no-cache");
      BOOST_TEST(res->get_header_value("X-Content-Type-Options") == "nosniff");
      BOOST_TEST(contains(res->get_header_value("Content-Security-Policy"),
                          "default-src 'self'"));
      BOOST_TEST(res->body ==
                 read_file(TUTTI_SOURCE_DIR "/dashboard/dist/" + e.file));
    }
  }
}

BOOST_AUTO_TEST_CASE(a_file_the_dashboard_has_not_is_a_404) {
  served s{token};
  for (auto path :
       {"/ui/nope.js", "/ui/../server.cpp", "/ui/%2e%2e/x", "/ui/app.js/"}) {
    auto res = s.client->Get(path);
    BOOST_REQUIRE(res);
    BOOST_TEST(res->status == 404, path);
  }
  auto post = s.client->Post("/ui/app.js", "{}", "application/json");
  BOOST_REQUIRE(post);
  BOOST_TEST(post->status == 405);
}

BOOST_AUTO_TEST_CASE(the_routes_the_page_reads_still_need_the_token) {
  served s{token};
  for (auto path : {"/v1/runs", "/v1/runs/run_x", "/v1/providers"}) {
    auto res = s.client->Get(path, browser);
    BOOST_REQUIRE(res);
    BOOST_TEST(res->status == 401, path);
  }
}

BOOST_AUTO_TEST_CASE(without_a_token_the_page_needs_a_loopback_host) {
  served s{""};
  auto page = s.client->Get("/", browser);
  BOOST_REQUIRE(page);
  BOOST_TEST(page->status == 200);
  auto rebound =
      s.client->Get("/", {{"Accept", "text/html"}, {"Host", "evil.example"}});
  BOOST_REQUIRE(rebound);
  BOOST_TEST(rebound->status == 403);
}

BOOST_AUTO_TEST_CASE(content_types_come_from_the_extension) {
  BOOST_TEST(http::content_type_for("a.png") == "image/png");
  BOOST_TEST(http::content_type_for("a.svg") == "image/svg+xml");
  BOOST_TEST(http::content_type_for("README") == "application/octet-stream");
  BOOST_TEST(http::find_dashboard_asset("index.html") != nullptr);
  BOOST_TEST(http::find_dashboard_asset("nope") == nullptr);
}
