// Every message type serializes and reads back unchanged, so any actor can
// move to another node through CAF's middleman later.

#include <boost/test/unit_test.hpp>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/deep_to_string.hpp>

#include "tests/actors/actor_fixture.hpp"

using namespace tutti;

namespace {

struct protocol_fixture : testing::actor_fixture {
  template <class T>
  T round_trip(T value) {
    std::vector<char> buffer;
    caf::binary_serializer sink{sys, buffer};
    BOOST_REQUIRE(!sink(value));
    T result;
    caf::binary_deserializer source{sys, buffer};
    BOOST_REQUIRE(!source(result));
    return result;
  }
};

ensemble_answer sample_answer() {
  ensemble_answer a;
  a.ensemble = "trio";
  a.status = answer_status::partial;
  a.text = "Paris";
  a.combine = "collect";
  a.total_us = 1234;
  member_outcome ok;
  ok.member = "gpt";
  ok.provider = "gpt";
  ok.model = "gpt-4o-mini";
  ok.ok = true;
  ok.reply = completion{
      "Paris", "stop", usage{12, 3}, timing{5, 100, 300, 7000}, 0, 1, false,
      {},      {}};
  ok.reply.cached = true;
  member_outcome bad;
  bad.member = "broken";
  bad.ok = false;
  bad.error.kind = failure_kind::overloaded;
  bad.error.message = "The server is overloaded";
  bad.error.http_status = 503;
  bad.error.attempts = 2;
  bad.error.partial_text = "Par";
  a.members = {ok, bad};
  return a;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(protocol_tests, protocol_fixture)

BOOST_AUTO_TEST_CASE(ensemble_answer_survives_serialization) {
  auto in = sample_answer();
  auto out = round_trip(in);
  BOOST_TEST(caf::deep_to_string(out) == caf::deep_to_string(in));
  BOOST_TEST(out.members[1].error.kind == failure_kind::overloaded);
  BOOST_TEST(out.members[1].error.http_status == 503);
  BOOST_TEST(out.members[0].reply.timing.first_token_us == 100);
  BOOST_TEST(out.members[0].reply.timing.started_us == 7000);
  BOOST_TEST(out.members[0].reply.cached);
}

BOOST_AUTO_TEST_CASE(chat_request_keeps_set_and_unset_params) {
  chat_request in;
  in.id = "q1/gpt";
  in.messages = {{"system", "be brief"}, {"user", "hi \"there\"\n"}};
  in.params.temperature = 0.25;
  in.params.max_tokens = 64;
  in.params.stop = {"END"};
  in.stream = true;
  in.deadline = 987654321;
  in.scope.ensemble = "trio";
  in.scope.key = "team-a";
  in.scope.key_budget = spend_limit{10, 200};
  in.scope.cache = cache_policy{60'000, true};
  in.scope.no_cache = true;
  auto out = round_trip(in);
  BOOST_TEST(out.scope.ensemble == "trio");
  BOOST_TEST(out.scope.key == "team-a");
  BOOST_TEST(out.scope.key_budget.month_usd == 200.0);
  BOOST_TEST(out.scope.cache.ttl_ms == 60'000);
  BOOST_TEST(out.scope.cache.sampled);
  BOOST_TEST(out.scope.no_cache);
  BOOST_TEST(out.id == in.id);
  BOOST_TEST(out.messages.size() == 2u);
  BOOST_TEST(out.messages[1].content == in.messages[1].content);
  BOOST_REQUIRE(out.params.temperature.has_value());
  BOOST_TEST(*out.params.temperature == 0.25);
  BOOST_TEST(!out.params.top_p.has_value());
  BOOST_TEST(!out.params.seed.has_value());
  BOOST_TEST(out.params.max_tokens.value_or(0) == 64);
  BOOST_TEST(out.params.stop == in.params.stop,
             boost::test_tools::per_element());
  BOOST_TEST(out.stream);
  BOOST_TEST(out.deadline == in.deadline);
}

BOOST_AUTO_TEST_CASE(internal_messages_survive_serialization) {
  auto hit = round_trip(cache_entry{std::string(64, 'a'), 99, "gpt", "gpt-4o",
                                    "Paris.", "stop", usage{5, 1, 2}});
  BOOST_TEST(hit.key == std::string(64, 'a'));
  BOOST_TEST(hit.expires_ms == 99);
  BOOST_TEST(hit.text == "Paris.");
  BOOST_TEST(hit.usage.cached_input_tokens == 2);
  BOOST_TEST(hit.model == "gpt-4o");
  auto grant = round_trip(
      permit_grant{false, 7, failure_kind::queue_timeout, "no permit"});
  BOOST_TEST(!grant.granted);
  BOOST_TEST(grant.permit_id == 7u);
  BOOST_TEST(grant.reason == "no permit");
  auto head =
      round_trip(transfer_head{3, 429, header_list{{"Retry-After", "2"}}});
  BOOST_TEST(head.status == 429);
  BOOST_REQUIRE(head.headers.size() == 1u);
  BOOST_TEST(head.headers[0].second == "2");
  auto done = round_trip(transfer_done{
      3, false, failure_kind::network, "reset", 0, false, {}, {}});
  BOOST_TEST(done.kind == failure_kind::network);
  auto whole = round_trip(
      transfer_done{4, true, failure_kind::network, "", 200, true,
                    header_list{{"x-request-id", "a"}}, "{\"ok\":true}"});
  BOOST_TEST(whole.has_head);
  BOOST_REQUIRE(whole.headers.size() == 1u);
  BOOST_TEST(whole.bytes == "{\"ok\":true}");
  auto req = round_trip(permit_request{"r", "p", priority::batch, 5, 100});
  BOOST_TEST((req.priority == priority::batch));
  BOOST_TEST(req.estimated_tokens == 100);
}

BOOST_AUTO_TEST_CASE(an_embeddings_request_and_its_vectors_survive) {
  chat_request in;
  in.id = "e1.0";
  in.embedding.inputs = {"the cat", "the mat"};
  in.embedding.dimensions = 256;
  auto out = round_trip(in);
  BOOST_TEST(out.embedding.inputs == in.embedding.inputs);
  BOOST_TEST(out.embedding.dimensions == 256);
  completion done;
  done.embeddings = {{0.5f, -0.25f}, {1.0f, 0.0f}};
  auto back = round_trip(done);
  BOOST_TEST(back.embeddings == done.embeddings);
}

BOOST_AUTO_TEST_SUITE_END()
