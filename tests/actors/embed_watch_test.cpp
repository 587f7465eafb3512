// The engine's embed_watch actor on CAF's deterministic scheduler, with a
// scripted provider: the test answers each call itself. What is pinned down:
// the vectors come back in input order whatever order the calls answer in,
// usage and cost are summed, one failed call cancels the others and is the
// outcome, a cancel reaches every running call, and the answer comes once.

#include <boost/test/unit_test.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/send.hpp>

#include "engine/src/watchers.hpp"
#include "tests/actors/actor_fixture.hpp"

using namespace tutti;
using namespace std::chrono_literals;

namespace {

/// What the scripted provider saw; the test answers its calls.
struct script {
  std::map<std::string, caf::response_promise> open; ///< by request id
  std::vector<member_query> queries;
  std::vector<std::string> cancels;
  bool deaf = false; ///< a cancel is noted, not answered
};

caf::behavior scripted_provider(caf::event_based_actor* self,
                                std::shared_ptr<script> s) {
  return {
      [=](query_atom, member_query& q) -> caf::result<member_outcome> {
        s->queries.push_back(q);
        auto promise = self->make_response_promise();
        s->open[q.request.id] = promise;
        return promise;
      },
      // The test's answer to call `id`, delivered from inside the actor (a
      // promise is kept by its own actor).
      [=](const std::string& id, member_outcome& o) {
        auto i = s->open.find(id);
        if (i == s->open.end())
          return;
        i->second.deliver(std::move(o));
        s->open.erase(i);
      },
      [=](cancel_atom, const std::string& id) {
        s->cancels.push_back(id);
        auto i = s->open.find(id);
        if (i == s->open.end() || s->deaf)
          return;
        member_outcome o;
        o.member = id;
        o.error.kind = failure_kind::cancelled;
        o.error.message = "cancelled";
        i->second.deliver(o);
        s->open.erase(i);
      },
  };
}

struct done_slot {
  std::optional<member_outcome> outcome;
  std::vector<member_outcome> calls;
  int times = 0;
};

struct watch_fixture : testing::actor_fixture {
  std::shared_ptr<script> s = std::make_shared<script>();
  std::shared_ptr<done_slot> done = std::make_shared<done_slot>();
  caf::actor provider = spawn_owned(scripted_provider, s);
  caf::actor watcher;
  bool forgotten = false;

  /// Starts a watcher of one call per text.
  void start(std::vector<std::string> texts) {
    embed_watch_state st;
    st.provider = provider;
    st.provider_name = "titan";
    st.model = "amazon.titan-embed-text-v2:0";
    for (size_t i = 0; i < texts.size(); ++i) {
      chat_request call;
      call.id = "e1." + std::to_string(i);
      call.embedding.inputs = {texts[i]};
      st.calls.push_back(call);
    }
    st.on_done = [d = done](member_outcome o, std::vector<member_outcome> c) {
      d->outcome = std::move(o);
      d->calls = std::move(c);
      ++d->times;
    };
    st.forget = [this] { forgotten = true; };
    watcher = sys.spawn(embed_watch, std::move(st), int64_t{10'000'000});
    run();
  }

  void answer(const std::string& id, std::vector<float> vector,
              int64_t tokens = 1, double cost = 0.5) {
    member_outcome o;
    o.member = id;
    o.ok = true;
    o.reply.embeddings = {std::move(vector)};
    o.reply.usage.input_tokens = tokens;
    o.reply.cost_usd = cost;
    BOOST_REQUIRE(s->open.count(id) == 1u);
    caf::anon_send(provider, id, o);
    run();
  }

  void fail(const std::string& id, failure_kind kind) {
    member_outcome o;
    o.member = id;
    o.error.kind = kind;
    o.error.message = "it failed";
    o.error.usage.input_tokens = 2;
    BOOST_REQUIRE(s->open.count(id) == 1u);
    caf::anon_send(provider, id, o);
    run();
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(embed_watch_tests, watch_fixture)

BOOST_AUTO_TEST_CASE(vectors_come_back_in_input_order_usage_summed) {
  start({"a", "b", "c"});
  BOOST_REQUIRE(s->queries.size() == 3u);
  answer("e1.2", {3});
  answer("e1.0", {1});
  BOOST_TEST(!done->outcome);
  answer("e1.1", {2});
  BOOST_REQUIRE(done->outcome);
  auto& o = *done->outcome;
  BOOST_TEST(o.ok);
  BOOST_TEST(o.provider == "titan");
  BOOST_TEST(o.model == "amazon.titan-embed-text-v2:0");
  BOOST_REQUIRE(o.reply.embeddings.size() == 3u);
  BOOST_TEST(o.reply.embeddings[0] == std::vector<float>{1});
  BOOST_TEST(o.reply.embeddings[2] == std::vector<float>{3});
  BOOST_TEST(o.reply.usage.input_tokens == 3);
  BOOST_TEST(o.reply.cost_usd == 1.5);
  BOOST_TEST(done->calls.size() == 3u);
  BOOST_TEST(done->times == 1);
  BOOST_TEST(forgotten);
}

BOOST_AUTO_TEST_CASE(one_failed_call_cancels_the_others_and_is_the_outcome) {
  start({"a", "b", "c"});
  answer("e1.0", {1});
  fail("e1.1", failure_kind::rate_limited);
  // The third was cancelled, which answers it: the request is over.
  BOOST_TEST(s->cancels == std::vector<std::string>{"e1.2"});
  BOOST_REQUIRE(done->outcome);
  auto& o = *done->outcome;
  BOOST_TEST(!o.ok);
  // The failure that caused it, not the cancellation it caused.
  BOOST_TEST(o.error.kind == failure_kind::rate_limited);
  BOOST_TEST(o.error.usage.input_tokens == 3);
  BOOST_TEST(done->times == 1);
}

BOOST_AUTO_TEST_CASE(a_cancel_reaches_every_running_call) {
  start({"a", "b"});
  answer("e1.0", {1});
  caf::anon_send(watcher, cancel_atom::value);
  run();
  BOOST_TEST(s->cancels == std::vector<std::string>{"e1.1"});
  BOOST_REQUIRE(done->outcome);
  BOOST_TEST(done->outcome->error.kind == failure_kind::cancelled);
  BOOST_TEST(done->times == 1);
}

BOOST_AUTO_TEST_CASE(the_backstop_gives_up_on_a_provider_that_never_answers) {
  start({"a"});
  // The provider ignores its cancel: it keeps the promise open.
  s->deaf = true;
  advance(10s);
  BOOST_TEST(s->cancels == std::vector<std::string>{"e1.0"});
  BOOST_TEST(!done->outcome);
  advance(std::chrono::microseconds{ask_backstop_us});
  BOOST_REQUIRE(done->outcome);
  BOOST_TEST(done->outcome->error.kind == failure_kind::timeout_total);
  BOOST_TEST(done->times == 1);
}

BOOST_AUTO_TEST_SUITE_END()
