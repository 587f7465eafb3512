// `combine: first`: the reply that arrived first.

#include <boost/test/unit_test.hpp>

#include "plugins/combine/first/first.hpp"
#include "tests/unit/combine_test_support.hpp"

using namespace tutti;
using namespace tutti::test;

BOOST_AUTO_TEST_CASE(picks_the_success_that_finished_earliest) {
  auto first = strategy("first");
  auto result = first->combine(
      input_of({success("slow", "slow answer", 900),
                failed("broken", failure_kind::server, "HTTP 500", 10),
                success("quick", "quick answer", 120),
                success("middle", "middle answer", 400)}));
  BOOST_TEST(result.status == answer_status::ok);
  BOOST_TEST(result.winner == "quick");
  BOOST_TEST(result.text == "quick answer");
  BOOST_TEST(!result.call.has_value());
}

BOOST_AUTO_TEST_CASE(a_tie_goes_to_the_earlier_member) {
  auto result = strategy("first")->combine(
      input_of({success("a", "from a", 300), success("b", "from b", 300)}));
  BOOST_TEST(result.winner == "a");
}

BOOST_AUTO_TEST_CASE(fails_when_no_member_succeeded) {
  auto result = strategy("first")->combine(
      input_of({failed("a", failure_kind::timeout_total),
                failed("b", failure_kind::rate_limited)}));
  BOOST_TEST(result.status == answer_status::failed);
  BOOST_TEST(result.winner.empty());
  BOOST_TEST(result.note == "no member succeeded");
}

BOOST_AUTO_TEST_CASE(the_arrival_order_decides_when_it_is_known) {
  auto input = input_of({success("alpha", "from alpha", 100),
                         failed("broken", failure_kind::server, "HTTP 500", 5),
                         success("beta", "from beta", 300)});
  input.arrival = {1, 2, 0}; // broken, then beta, then alpha
  auto result = strategy("first")->combine(input);
  BOOST_TEST(result.winner == "beta");
  BOOST_TEST(result.text == "from beta");
}
