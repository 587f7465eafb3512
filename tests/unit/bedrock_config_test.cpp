// A `kind: bedrock` provider in YAML, read with the built-in plugins: its
// own keys (region and credentials), which are required, how they are
// checked, and the base URL its region names.

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <string>

#include "tutti/config.hpp"
#include "tutti/registry.hpp"

using namespace tutti;

namespace {

const std::string head =
    "providers:\n"
    "  claude:\n"
    "    kind: bedrock\n"
    "    model: anthropic.claude-3-5-sonnet-20240620-v1:0\n";
const std::string region = "    region: us-west-2\n";
const std::string key_id = "    access_key_id: ${TUTTI_TEST_AWS_KEY_ID}\n";
const std::string secret = "    secret_access_key: ${TUTTI_TEST_AWS_SECRET}\n";

config parse(const std::string& yaml) {
  return parse_config(yaml, "bedrock.yaml", registry::builtin());
}

std::string error_of(const std::string& yaml) {
  try {
    parse(yaml);
  } catch (const config_error& e) {
    return e.what();
  }
  return "no error";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_bedrock_provider_takes_its_region_and_credentials) {
  auto cfg = parse(head + region + key_id + secret +
                   "    session_token: ${TUTTI_TEST_AWS_TOKEN}\n");
  auto& p = cfg.providers.at("claude");
  BOOST_TEST(p.kind == "bedrock");
  BOOST_TEST(p.options.at("region") == "us-west-2");
  BOOST_TEST(p.options.at("access_key_id") == "${TUTTI_TEST_AWS_KEY_ID}");
  BOOST_TEST(p.options.at("session_token") == "${TUTTI_TEST_AWS_TOKEN}");
  // No base_url: the region names the host.
  BOOST_TEST(p.base_url == "https://bedrock-runtime.us-west-2.amazonaws.com");
  ::setenv("TUTTI_TEST_AWS_KEY_ID", "AKIAIOSFODNN7EXAMPLE", 1);
  ::setenv("TUTTI_TEST_AWS_SECRET", "wJalrXUtnFEMI/K7MDENG", 1);
  ::setenv("TUTTI_TEST_AWS_TOKEN", "FwoGZXIvYXdz", 1);
  resolve_env(cfg, {"claude"});
  BOOST_TEST(p.options.at("access_key_id") == "AKIAIOSFODNN7EXAMPLE");
  BOOST_TEST(p.options.at("secret_access_key") == "wJalrXUtnFEMI/K7MDENG");
  BOOST_TEST(p.options.at("session_token") == "FwoGZXIvYXdz");
  ::unsetenv("TUTTI_TEST_AWS_KEY_ID");
  ::unsetenv("TUTTI_TEST_AWS_SECRET");
  ::unsetenv("TUTTI_TEST_AWS_TOKEN");
}

BOOST_AUTO_TEST_CASE(a_region_from_the_environment_names_the_host_once_set) {
  auto cfg =
      parse(head + "    region: ${TUTTI_TEST_AWS_REGION}\n" + key_id + secret);
  auto& p = cfg.providers.at("claude");
  ::setenv("TUTTI_TEST_AWS_REGION", "eu-central-1", 1);
  ::setenv("TUTTI_TEST_AWS_KEY_ID", "AKIAIOSFODNN7EXAMPLE", 1);
  ::setenv("TUTTI_TEST_AWS_SECRET", "wJalrXUtnFEMI/K7MDENG", 1);
  resolve_env(cfg, {"claude"});
  BOOST_TEST(p.options.at("region") == "eu-central-1");
  BOOST_TEST(p.base_url ==
             "https://bedrock-runtime.eu-central-1.amazonaws.com");
  ::unsetenv("TUTTI_TEST_AWS_REGION");
  ::unsetenv("TUTTI_TEST_AWS_KEY_ID");
  ::unsetenv("TUTTI_TEST_AWS_SECRET");
}

BOOST_AUTO_TEST_CASE(a_given_base_url_wins_over_the_region) {
  auto cfg = parse(head + region + key_id + secret +
                   "    base_url: http://127.0.0.1:9000/\n");
  BOOST_TEST(cfg.providers.at("claude").base_url == "http://127.0.0.1:9000");
}

BOOST_AUTO_TEST_CASE(region_and_credentials_are_required) {
  auto no_region = error_of(head + key_id + secret);
  BOOST_TEST(contains(no_region, "providers.claude: missing required key "
                                 "'region' (a bedrock provider needs it)"),
             no_region);
  auto no_id = error_of(head + region + secret);
  BOOST_TEST(contains(no_id, "missing required key 'access_key_id' (a "
                             "bedrock provider needs it)"),
             no_id);
  auto no_secret = error_of(head + region + key_id);
  BOOST_TEST(contains(no_secret, "missing required key 'secret_access_key' "
                                 "(a bedrock provider needs it)"),
             no_secret);
}

BOOST_AUTO_TEST_CASE(a_region_is_checked_where_it_is_written) {
  auto e = error_of(head + "    region: us-east-1.evil.example/x\n" + key_id +
                    secret);
  BOOST_TEST(contains(e, "bedrock.yaml:5:"), e);
  BOOST_TEST(contains(e, "providers.claude.region: expected an AWS region "
                         "such as us-east-1"),
             e);
}

BOOST_AUTO_TEST_CASE(a_literal_secret_is_never_quoted) {
  auto e = error_of(head + region + key_id +
                    "    secret_access_key: [wJalrXUtnFEMI]\n");
  BOOST_TEST(contains(e, "providers.claude.secret_access_key"), e);
  BOOST_TEST(!contains(e, "wJalrXUtnFEMI"), e);
}

BOOST_AUTO_TEST_CASE(bedrock_keys_are_unknown_on_other_kinds) {
  auto e = error_of("providers:\n"
                    "  gpt:\n"
                    "    kind: openai\n"
                    "    model: gpt-4o\n"
                    "    region: us-east-1\n");
  BOOST_TEST(contains(e, "providers.gpt: unknown key 'region'"), e);
}

BOOST_AUTO_TEST_CASE(signature_headers_may_not_be_custom_headers) {
  auto e = error_of(head + region + key_id + secret +
                    "    headers:\n"
                    "      X-Amz-Date: 20240620T120000Z\n");
  BOOST_TEST(contains(e, "providers.claude.headers.X-Amz-Date"), e);
}

BOOST_AUTO_TEST_CASE(an_unset_region_variable_is_reported_at_the_region) {
  auto cfg = parse(head + "    region: ${TUTTI_TEST_AWS_NO_REGION}\n" + key_id +
                   secret);
  ::unsetenv("TUTTI_TEST_AWS_NO_REGION");
  ::setenv("TUTTI_TEST_AWS_KEY_ID", "AKIAIOSFODNN7EXAMPLE", 1);
  ::setenv("TUTTI_TEST_AWS_SECRET", "wJalrXUtnFEMI/K7MDENG", 1);
  std::string message = "no error";
  try {
    resolve_env(cfg, {"claude"});
  } catch (const config_error& e) {
    message = e.what();
  }
  BOOST_TEST(contains(message, "bedrock.yaml:5:"), message);
  BOOST_TEST(contains(message, "providers.claude.region: environment "
                               "variable TUTTI_TEST_AWS_NO_REGION is not set"),
             message);
  ::unsetenv("TUTTI_TEST_AWS_KEY_ID");
  ::unsetenv("TUTTI_TEST_AWS_SECRET");
}
