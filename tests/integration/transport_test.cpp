// The transport against the fake upstream: what a transfer that ends badly
// is called.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <memory>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/protocol.hpp"
#include "actors/transport.hpp"
#include "plugins/codecs/openai/openai_codec.hpp"
#include "tools/fake_llm/fake_llm.hpp"

using namespace tutti;
using namespace std::chrono_literals;

namespace {

struct transport_fixture {
  fake::server upstream{fake::parse_script(R"(
models:
  quick:  {reply: "at once"}
  sleepy: {reply: "late", latency: 5s}
)")};
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  transport net;

  transport_fixture() {
    upstream.start();
    cfg.add_message_types<caf::id_block::tutti>();
    sys = std::make_unique<caf::actor_system>(cfg);
  }

  ~transport_fixture() { upstream.stop(); }

  /// One whole request for `model`, to its end (or the test's limit).
  transfer_done ask(const std::string& model, int64_t deadline_ms) {
    provider_settings settings;
    settings.name = model;
    settings.model = model;
    settings.base_url = upstream.base_url();
    chat_request req;
    req.id = model;
    req.messages.push_back(chat_message{"user", "hello"});
    auto http = make_openai_codec()->encode(req, settings);
    caf::scoped_actor self{*sys};
    auto id = net.start(std::move(http), caf::actor{self},
                        steady_now_us() + deadline_ms * 1000);
    transfer_done done;
    bool ended = false;
    while (!ended) {
      self->receive([&](transfer_head&) {}, [&](transfer_chunk&) {},
                    [&](transfer_done& d) {
                      if (d.transfer_id == id) {
                        done = std::move(d);
                        ended = true;
                      }
                    },
                    caf::after(10s) >>
                        [&] { BOOST_FAIL("no transfer_done within 10 s"); });
    }
    return done;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(transport_tests, transport_fixture)

// Regression: on a reused connection libcurl reports no connect time, so a
// reply that did not come by the deadline was called a connect timeout
// (the soak's `timeout_connect` for members that never answer).
BOOST_AUTO_TEST_CASE(a_timeout_on_a_reused_connection_is_not_a_connect_one) {
  for (int i = 0; i < 3; ++i) {
    auto quick = ask("quick", 5'000);
    BOOST_REQUIRE(quick.ok);
    auto late = ask("sleepy", 300); // reuses quick's keep-alive connection
    BOOST_TEST(!late.ok);
    BOOST_TEST(late.kind == failure_kind::timeout_total,
               "kind " << to_string(late.kind) << ": " << late.message);
  }
}

BOOST_AUTO_TEST_SUITE_END()
