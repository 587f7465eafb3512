// The HTTP side of `tutti serve` (server/listener.cpp, connection.cpp) on
// its own: a listener with a service the test plays, and a raw client.

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "server/connection.hpp"
#include "tests/integration/raw_http.hpp"

namespace http = tutti::http;
using namespace std::chrono_literals;

namespace {

/// Never answers: keeps every exchange, as the engine's callbacks keep the
/// exchange of a question still running.
class keeping_service : public http::service {
public:
  std::optional<http::response> check(http::exchange&) override {
    return std::nullopt;
  }

  void handle(const http::exchange_ptr& ex) override {
    std::lock_guard<std::mutex> guard{mutex_};
    kept_ = ex;
    kept_changed_.notify_all();
  }

  void finished(const http::exchange_summary&) override {}

  /// The exchange kept, once one is (at most 5 s).
  http::exchange_ptr wait_for_exchange() {
    std::unique_lock<std::mutex> lock{mutex_};
    kept_changed_.wait_for(lock, 5s, [this] { return kept_ != nullptr; });
    return kept_;
  }

  void drop_exchange() {
    std::lock_guard<std::mutex> guard{mutex_};
    kept_.reset();
  }

private:
  std::mutex mutex_;
  std::condition_variable kept_changed_;
  http::exchange_ptr kept_;
};

} // namespace

BOOST_AUTO_TEST_CASE(an_exchange_kept_past_its_listener_is_released_safely) {
  keeping_service routes;
  auto listener =
      std::make_unique<http::listener>(http::listener_options{}, routes);
  std::thread serving{[&] { listener->run(); }};
  tutti::testing::raw_connection client{listener->port()};
  BOOST_REQUIRE(
      client.send("GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  BOOST_REQUIRE(routes.wait_for_exchange() != nullptr);
  // The server goes (its threads, its io_context's owner) while a question
  // still holds the exchange, hence its connection and socket.
  listener->stop();
  serving.join();
  listener.reset();
  BOOST_TEST(client.read_until_closed(1s));
  // The late callback lets go: the socket must go before the io_context it
  // was opened on (a heap-use-after-free under AddressSanitizer otherwise).
  routes.drop_exchange();
}
