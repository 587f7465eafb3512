// AWS Signature Version 4 (plugins/codecs/bedrock/sigv4.hpp) against the
// test suite AWS publishes for it: its credentials, region, service and
// time, and the signatures it lists for each request.

#include <boost/test/unit_test.hpp>

#include <string>

#include "plugins/codecs/bedrock/sigv4.hpp"

using namespace tutti;

namespace {

/// The suite's time, 2015-08-30T12:36:00Z.
constexpr int64_t suite_time = 1440938160;

const sigv4::credentials suite_key{
    "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
const sigv4::scope suite_scope{"us-east-1", "service"};

const std::string session_token =
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWH"
    "GBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4I"
    "C1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8"
    "YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc"
    "8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

http_request request(std::string method, std::string url,
                     header_list headers = {}, std::string body = {}) {
  http_request req;
  req.method = std::move(method);
  req.url = std::move(url);
  req.headers = std::move(headers);
  req.body = std::move(body);
  return req;
}

/// The Authorization header `req` gets, signed as the suite signs.
std::string authorization(http_request req,
                          const sigv4::credentials& who = suite_key) {
  sigv4::sign(req, who, suite_scope, suite_time);
  auto* value = find_header(req.headers, "Authorization");
  BOOST_REQUIRE(value != nullptr);
  return *value;
}

std::string expected(const std::string& signed_headers,
                     const std::string& signature) {
  return "AWS4-HMAC-SHA256 "
         "Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
         "SignedHeaders=" +
         signed_headers + ", Signature=" + signature;
}

} // namespace

BOOST_AUTO_TEST_CASE(get_vanilla) {
  BOOST_TEST(
      authorization(request("GET", "https://example.amazonaws.com/")) ==
      expected(
          "host;x-amz-date",
          "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"));
}

BOOST_AUTO_TEST_CASE(get_vanilla_canonical_request) {
  auto req = request("GET", "https://example.amazonaws.com/",
                     {{"X-Amz-Date", "20150830T123600Z"}});
  BOOST_TEST(
      sigv4::canonical_request(req) ==
      "GET\n/\n\nhost:example.amazonaws.com\n"
      "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

BOOST_AUTO_TEST_CASE(post_vanilla) {
  BOOST_TEST(
      authorization(request("POST", "https://example.amazonaws.com/")) ==
      expected(
          "host;x-amz-date",
          "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"));
}

BOOST_AUTO_TEST_CASE(get_vanilla_query_order_key_case) {
  BOOST_TEST(
      authorization(request(
          "GET",
          "https://example.amazonaws.com/?Param2=value2&Param1=value1")) ==
      expected(
          "host;x-amz-date",
          "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"));
}

BOOST_AUTO_TEST_CASE(get_space) {
  BOOST_TEST(
      authorization(
          request("GET", "https://example.amazonaws.com/example space/")) ==
      expected(
          "host;x-amz-date",
          "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"));
}

BOOST_AUTO_TEST_CASE(post_header_value_case) {
  BOOST_TEST(
      authorization(request("POST", "https://example.amazonaws.com/",
                            {{"My-Header1", "VALUE1"}})) ==
      expected(
          "host;my-header1;x-amz-date",
          "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"));
}

BOOST_AUTO_TEST_CASE(post_x_www_form_urlencoded) {
  BOOST_TEST(
      authorization(
          request("POST", "https://example.amazonaws.com/",
                  {{"Content-Type", "application/x-www-form-urlencoded"}},
                  "Param1=value1")) ==
      expected(
          "content-type;host;x-amz-date",
          "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"));
}

BOOST_AUTO_TEST_CASE(post_sts_header_before) {
  auto who = suite_key;
  who.session_token = session_token;
  auto req = request("POST", "https://example.amazonaws.com/");
  BOOST_TEST(authorization(req, who) ==
             expected("host;x-amz-date;x-amz-security-token",
                      "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a"
                      "82be05ead"));
  sigv4::sign(req, who, suite_scope, suite_time);
  BOOST_TEST(*find_header(req.headers, "X-Amz-Security-Token") ==
             session_token);
  BOOST_TEST(*find_header(req.headers, "X-Amz-Date") == "20150830T123600Z");
}

BOOST_AUTO_TEST_CASE(a_bedrock_model_path_is_signed_encoded_twice) {
  // The model id's ':' is sent as %3A and signed as %253A, as AWS's SDKs do
  // for every service but S3.
  auto req = request("POST",
                     "https://bedrock-runtime.us-east-1.amazonaws.com/model/"
                     "anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse",
                     {{"X-Amz-Date", "20150830T123600Z"}});
  auto canonical = sigv4::canonical_request(req);
  BOOST_TEST(canonical.find("\n/model/anthropic.claude-3-5-sonnet-20240620-v1"
                            "%253A0/converse\n") != std::string::npos);
  BOOST_TEST(canonical.find("host:bedrock-runtime.us-east-1.amazonaws.com\n") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_same_request_and_time_sign_the_same) {
  auto req = request("POST", "https://example.amazonaws.com/",
                     {{"Content-Type", "application/json"}}, "{}");
  BOOST_TEST(authorization(req) == authorization(req));
  auto later = req;
  sigv4::sign(later, suite_key, suite_scope, suite_time + 1);
  BOOST_TEST(*find_header(later.headers, "Authorization") !=
             authorization(req));
}
