// The judgement every reply meets, whole or streamed (engine/src/reply.cpp):
// how stream usage combines, and what makes a reply a success.

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <variant>

#include "tutti/codec.hpp"

using namespace tutti;

namespace {

failure failure_in(const body_result& result) {
  BOOST_REQUIRE(std::holds_alternative<failure>(result));
  return std::get<failure>(result);
}

completion completion_in(const body_result& result) {
  BOOST_REQUIRE(std::holds_alternative<completion>(result));
  return std::get<completion>(result);
}

reply_parts with_text(std::string text) {
  reply_parts parts;
  parts.text = std::move(text);
  parts.finish_reason = "stop";
  return parts;
}

} // namespace

BOOST_AUTO_TEST_CASE(totals_replace_only_the_counts_reported_even_lower) {
  usage used{1200, 1, 0};
  usage_report report;
  report.input_tokens = 1000;
  report.cached_input_tokens = 900;
  apply_usage(used, report);
  BOOST_TEST(used.input_tokens == 1000);
  BOOST_TEST(used.cached_input_tokens == 900);
  BOOST_TEST(used.output_tokens == 1); // not reported: kept
}

BOOST_AUTO_TEST_CASE(deltas_add_up_and_saturate) {
  usage used;
  usage_report report;
  report.counting = usage_counting::deltas;
  report.output_tokens = 5;
  apply_usage(used, report);
  apply_usage(used, report);
  BOOST_TEST(used.output_tokens == 10);
  report.output_tokens = std::numeric_limits<int64_t>::max();
  apply_usage(used, report);
  BOOST_TEST(used.output_tokens == std::numeric_limits<int64_t>::max());
}

BOOST_AUTO_TEST_CASE(a_negative_count_counts_as_zero) {
  usage used{7, 7, 7};
  usage_report report;
  report.input_tokens = -3;
  apply_usage(used, report);
  BOOST_TEST(used.input_tokens == 0);
  report.counting = usage_counting::deltas;
  report.output_tokens = -3;
  apply_usage(used, report);
  BOOST_TEST(used.output_tokens == 7);
}

BOOST_AUTO_TEST_CASE(text_is_a_completion_whatever_the_finish) {
  for (std::string reason : {"stop", "length", "content_filter", ""}) {
    auto parts = with_text("Paris.");
    parts.finish_reason = reason;
    parts.usage = usage{3, 2, 0};
    auto reply = completion_in(reply_outcome(parts));
    BOOST_TEST(reply.text == "Paris.");
    BOOST_TEST(reply.finish_reason == reason);
    BOOST_TEST(reply.usage.output_tokens == 2);
  }
}

BOOST_AUTO_TEST_CASE(a_refusal_is_refused_even_after_text) {
  auto parts = with_text("Partly: ");
  parts.refusal = "I can't help with that.";
  parts.usage = usage{10, 4, 0};
  auto error = failure_in(reply_outcome(parts));
  BOOST_TEST(error.kind == failure_kind::refused);
  BOOST_TEST(error.message == "I can't help with that.");
  BOOST_TEST(error.partial_text == "Partly: ");
  BOOST_TEST(error.usage.output_tokens == 4); // billed all the same

  reply_parts wordless;
  wordless.refused = true;
  wordless.finish_detail = "stop_reason refusal";
  BOOST_TEST(failure_in(reply_outcome(wordless)).message ==
             "the model declined to answer (stop_reason refusal)");
}

BOOST_AUTO_TEST_CASE(no_text_after_a_filter_is_content_filter) {
  reply_parts parts;
  parts.finish_reason = "content_filter";
  parts.finish_detail = "finishReason SAFETY";
  auto error = failure_in(reply_outcome(parts));
  BOOST_TEST(error.kind == failure_kind::content_filter);
  BOOST_TEST(error.message == "the reply was blocked by the vendor's content "
                              "filter before any text (finishReason SAFETY)");
}

BOOST_AUTO_TEST_CASE(no_text_at_all_is_an_empty_reply_naming_what_came) {
  reply_parts parts;
  parts.finish_reason = "tool_calls";
  note_other_content(parts, "tool call get_weather");
  auto error = failure_in(reply_outcome(parts));
  BOOST_TEST(error.kind == failure_kind::empty_reply);
  BOOST_TEST(error.message == "the reply holds no text, only tool call "
                              "get_weather (finish reason \"tool_calls\")");
  BOOST_TEST(failure_in(reply_outcome(reply_parts{})).message ==
             "the reply holds no text and no finish reason");
}

BOOST_AUTO_TEST_CASE(other_content_is_bounded_in_count_and_length) {
  reply_parts parts;
  for (int i = 0; i < 100; ++i)
    note_other_content(parts, std::string(1000, 'x'));
  BOOST_TEST(parts.other_content.size() == max_other_content);
  BOOST_TEST(parts.other_content.front().size() == 103u); // 100 and "..."
}

BOOST_AUTO_TEST_CASE(add_update_gathers_what_events_say) {
  reply_parts parts;
  stream_update first;
  first.text = "Par";
  first.usage = usage_totals(usage{15, 2, 0});
  stream_update last;
  last.text = "is.";
  last.finish_reason = "stop";
  last.usage = usage_totals(usage{13, 8, 0});
  add_update(parts, first);
  add_update(parts, last);
  BOOST_TEST(parts.text == "Paris.");
  BOOST_TEST(parts.finish_reason == "stop");
  BOOST_TEST(parts.usage.input_tokens == 13);
  BOOST_TEST(parts.usage.output_tokens == 8);
}

BOOST_AUTO_TEST_CASE(a_stream_without_its_end_marker_is_incomplete) {
  auto parts = with_text("Paris");
  parts.finish_reason.clear();
  auto error = failure_in(stream_outcome(parts, false, true));
  BOOST_TEST(error.kind == failure_kind::protocol);
  BOOST_TEST(error.partial_text == "Paris");
  // A finish reason completes it where the format allows that.
  parts.finish_reason = "stop";
  BOOST_TEST(completion_in(stream_outcome(parts, false, true)).text == "Paris");
  BOOST_TEST(failure_in(stream_outcome(parts, false, false)).kind ==
             failure_kind::protocol);
  BOOST_TEST(completion_in(stream_outcome(parts, true, false)).text == "Paris");
}

BOOST_AUTO_TEST_CASE(a_piece_past_the_limits_fails_the_reply_not_dropped) {
  // A tool call or a choice whose index is past the limits is not quietly
  // left out: the reply is a protocol failure that says so.
  for (size_t index : {size_t{128}, size_t{129}, size_t{500}}) {
    reply_parts parts;
    stream_update update;
    update.text = "Paris";
    tool_call_delta call;
    call.index = index;
    call.name = "f";
    update.tool_calls.push_back(call);
    add_update(parts, update);
    auto outcome = reply_outcome(parts);
    BOOST_REQUIRE(std::holds_alternative<failure>(outcome));
    BOOST_TEST(std::get<failure>(outcome).kind == failure_kind::protocol);
    BOOST_TEST(std::get<failure>(outcome).message.find(
                   "a tool call's index is past 127") != std::string::npos);

    reply_parts more;
    stream_update other;
    other.text = "Paris";
    choice_update choice;
    choice.index = index;
    choice.text = "Lyon";
    other.other_choices.push_back(choice);
    add_update(more, other);
    auto refused = reply_outcome(more);
    BOOST_REQUIRE(std::holds_alternative<failure>(refused));
    BOOST_TEST(std::get<failure>(refused).message.find(
                   "a choice's index is past 127") != std::string::npos);
  }
  // The last place of each is still a reply.
  reply_parts parts;
  stream_update update;
  update.text = "Paris";
  tool_call_delta call;
  call.index = 127;
  call.name = "f";
  update.tool_calls.push_back(call);
  choice_update choice;
  choice.index = 127;
  choice.text = "Lyon";
  update.other_choices.push_back(choice);
  add_update(parts, update);
  auto outcome = reply_outcome(parts);
  BOOST_REQUIRE(std::holds_alternative<completion>(outcome));
  BOOST_TEST(std::get<completion>(outcome).tool_calls.size() == 1u);
  BOOST_TEST(std::get<completion>(outcome).more_choices.size() == 127u);
}
