// Secrets in failure messages: an upstream can echo the key it was sent,
// whole or in part or URL-encoded, and libcurl names hosts.

#include <boost/test/unit_test.hpp>

#include <string>

#include "engine/src/secrets.hpp"

using namespace tutti;

namespace {

const std::string key = "sk-proj-Ab3+Xy9/Zq7=Lm2Kp8Rt";

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_CASE(the_whole_key_is_redacted) {
  BOOST_TEST(redact_secret("bad key " + key + ".", key) ==
             "bad key [redacted].");
  BOOST_TEST(redact_secret(key + key, key) == "[redacted]");
}

// Regression: only the exact key was caught; a vendor echoing a prefix of
// the key, or its URL-encoded form, reached the 502 body and `ask --json`.
BOOST_AUTO_TEST_CASE(a_prefix_a_suffix_or_the_encoded_key_is_redacted) {
  auto prefix =
      redact_secret("Incorrect API key provided: sk-proj-Ab3+****", key);
  BOOST_TEST(prefix == "Incorrect API key provided: [redacted]****");
  auto suffix = redact_secret("key ending in Zq7=Lm2Kp8Rt", key);
  BOOST_TEST(!contains(suffix, "Lm2Kp8Rt"));
  auto encoded = redact_secret(
      "GET /v1?key=sk-proj-Ab3%2BXy9%2FZq7%3DLm2Kp8Rt failed", key);
  BOOST_TEST(encoded == "GET /v1?key=[redacted] failed");
}

// Regression (found by secrets_fuzz): a secret holding part of the marker
// ("ab[redac") was spelt again by the text before a marker and the marker
// itself ("ab" + "[redacted]").
BOOST_AUTO_TEST_CASE(a_key_that_holds_part_of_the_marker_is_not_spelt_again) {
  auto out = redact_secret("abab[redac", "ab[redac");
  BOOST_TEST(!contains(out, "ab[redac"));
  BOOST_TEST(out == "ab!!!"); // a marker of a character the key lacks
  BOOST_TEST(redact_secret("it was redacted", "redacted") == "it was !!!");
  // An ordinary key still gets the plain marker.
  BOOST_TEST(redact_secret("key " + key, key) == "key [redacted]");
}

BOOST_AUTO_TEST_CASE(text_that_shares_little_with_the_key_is_kept) {
  auto text = std::string{"The model sk-7 is overloaded; try again."};
  BOOST_TEST(redact_secret(text, key) == text);
  BOOST_TEST(redact_secret("abc", "abc") == "abc"); // too short to look for
  BOOST_TEST(redact_secret("", key).empty());
}

// Regression: redacting one secret and then another left the tail of the
// second ("7788") when the first had cut its run ("-secret-" in both).
BOOST_AUTO_TEST_CASE(secrets_that_share_a_piece_are_redacted_whole) {
  auto out = redact_secrets("key gw-header-secret-7788 refused",
                            {"sk-cli-secret-0042", "gw-header-secret-7788"});
  BOOST_TEST(out == "key [redacted] refused");
  BOOST_TEST(redact_secrets("text", {}) == "text");
  BOOST_TEST(redact_secrets("abab[redac", {"ab[redac", "zzzz"}) == "ab!!!");
}

BOOST_AUTO_TEST_CASE(credential_headers_are_known_by_their_names) {
  for (auto* name : {"Authorization", "x-api-key", "X-Portkey-Api-Key",
                     "cf-aig-authorization", "x-goog-api-key", "X-Auth-Token",
                     "x-client-secret", "Cookie", "x-session-id",
                     "x-amz-signature", "X-JWT", "x-bearer"})
    BOOST_TEST(is_credential_header(name), name);
  for (auto* name :
       {"x-team", "anthropic-beta", "OpenAI-Organization", "user-agent", ""})
    BOOST_TEST(!is_credential_header(name), name);
}

BOOST_AUTO_TEST_CASE(hosts_are_read_from_urls_and_redacted) {
  BOOST_TEST(host_of_url("https://api.example.com/v1") == "api.example.com");
  BOOST_TEST(host_of_url("http://user:pw@10.0.0.7:8080/v1?x=1") == "10.0.0.7");
  BOOST_TEST(host_of_url("http://[::1]:8700/v1") == "::1");
  BOOST_TEST(host_of_url("no url").empty());
  BOOST_TEST(
      redact_host("Failed to connect to 10.0.0.7 port 8080", "10.0.0.7") ==
      "Failed to connect to [host] port 8080");
}
