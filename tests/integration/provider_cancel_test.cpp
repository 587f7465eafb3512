// Cancelling a call in flight, with the real transport against the fake
// upstream: the outcome is `cancelled` with the text so far, the permit goes
// back to the limiter, and the upstream sees its connection closed.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/after.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/protocol.hpp"
#include "actors/provider.hpp"
#include "actors/rate_limiter.hpp"
#include "actors/transport.hpp"
#include "plugins/codecs/openai/openai_codec.hpp"
#include "tools/fake_llm/fake_llm.hpp"

using namespace tutti;
using namespace std::chrono_literals;

namespace {

struct cancel_fixture {
  fake::server upstream{fake::parse_script(R"(
models:
  stuck: {reply: "one two three four five", stall_after_tokens: 2}
)")};
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::shared_ptr<transport> net = std::make_shared<transport>();
  caf::actor limiter;
  caf::actor prov;

  cancel_fixture() {
    upstream.start();
    cfg.add_message_types<caf::id_block::tutti>();
    sys = std::make_unique<caf::actor_system>(cfg);
    limiter_settings limits;
    limits.group = "stuck";
    limits.concurrency = 1;
    limiter = sys->spawn(rate_limiter, limits);
    provider_deps deps;
    deps.settings.name = "stuck";
    deps.settings.kind = "openai";
    deps.settings.model = "stuck";
    deps.settings.base_url = upstream.base_url();
    deps.wire = make_openai_codec();
    deps.limiter = limiter;
    deps.net = net;
    prov = sys->spawn(provider, deps);
  }

  ~cancel_fixture() {
    caf::anon_send_exit(prov, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(limiter, caf::exit_reason::user_shutdown);
    sys.reset();
    upstream.stop();
  }

  limiter_state limiter_now() {
    caf::scoped_actor self{*sys};
    limiter_state result;
    self->request(limiter, 5s, state_atom::value)
        .receive([&](const limiter_state& st) { result = st; },
                 [&](const caf::error&) { BOOST_FAIL("no limiter state"); });
    return result;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(provider_cancel_tests, cancel_fixture)

BOOST_AUTO_TEST_CASE(cancel_ends_the_call_keeps_text_and_frees_the_permit) {
  caf::scoped_actor self{*sys};
  member_query query;
  query.member = "stuck";
  query.request.id = "c1";
  query.request.messages.push_back(chat_message{"user", "count"});
  query.request.stream = true;
  query.request.deadline = steady_now_us() + 20'000'000;
  query.listener = caf::actor_cast<caf::actor>(self);
  auto handle = self->request(prov, 30s, query_atom::value, query);
  // Wait until both tokens before the stall have arrived.
  std::string seen;
  while (seen != "one two ") {
    self->receive([&](member_delta& d) { seen += d.text; },
                  caf::after(10s) >> [&] { BOOST_FAIL("no tokens arrived"); });
  }
  BOOST_TEST(limiter_now().in_flight == 1);
  auto cancelled_at = steady_now_us();
  self->send(prov, cancel_atom::value, std::string{"c1"});
  member_outcome outcome;
  handle.receive([&](member_outcome& o) { outcome = std::move(o); },
                 [&](const caf::error&) { BOOST_FAIL("no outcome"); });
  BOOST_TEST(steady_now_us() - cancelled_at < 1'000'000);
  BOOST_TEST(!outcome.ok);
  BOOST_TEST(outcome.error.kind == failure_kind::cancelled);
  BOOST_TEST(outcome.error.partial_text == "one two ");
  BOOST_TEST(limiter_now().in_flight == 0);
  // The transport dropped the connection: the upstream's stalled handler
  // notices the client went away (well before its 60 s stall limit) and
  // only then records the request.
  bool upstream_saw_close = false;
  for (int i = 0; i < 100 && !upstream_saw_close; ++i) {
    for (auto& a : upstream.arrivals())
      upstream_saw_close |= a.model == "stuck" && a.outcome == "stalled";
    if (!upstream_saw_close)
      std::this_thread::sleep_for(50ms);
  }
  BOOST_TEST(upstream_saw_close);
  BOOST_TEST(net->active() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
