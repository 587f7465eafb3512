#pragma once

/// `tutti serve` in a test's own process: the fake upstream on a free
/// loopback port playing `script`, an engine whose config `config_for`
/// writes for that upstream's URL, and the endpoint on a free port; torn
/// down in the order that lets every question end. Plus the JSON reading
/// the endpoint tests share.

#include <functional>
#include <memory>
#include <string>

#include <boost/test/unit_test.hpp>
#include <rapidjson/document.h>

#include "tools/fake_llm/fake_llm.hpp"
#include "tutti/engine.hpp"
#include "tutti/server.hpp"

namespace tutti::testing {

struct endpoint_fixture {
  fake::server upstream;
  std::unique_ptr<tutti::engine> engine;
  std::unique_ptr<tutti::server> endpoint;

  endpoint_fixture(
      const char* script,
      const std::function<std::string(const std::string&)>& config_for,
      const std::string& name)
      : upstream(fake::parse_script(script), "", 64) {
    upstream.start();
    engine = std::make_unique<tutti::engine>(
        tutti::engine::from_yaml(config_for(upstream.base_url()), {}, name));
    server_options options;
    options.port = 0;
    endpoint = std::make_unique<tutti::server>(*engine, options);
    endpoint->start();
  }

  ~endpoint_fixture() {
    endpoint.reset();
    engine.reset();
    upstream.stop();
  }

  endpoint_fixture(const endpoint_fixture&) = delete;
  endpoint_fixture& operator=(const endpoint_fixture&) = delete;
};

inline rapidjson::Document parse_json(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  BOOST_REQUIRE_MESSAGE(!doc.HasParseError(), "not JSON: " << json);
  return doc;
}

/// A JSON string's text; "" for anything else.
inline std::string text_of(const rapidjson::Value& v) {
  return v.IsString() ? std::string{v.GetString(), v.GetStringLength()} : "";
}

} // namespace tutti::testing
