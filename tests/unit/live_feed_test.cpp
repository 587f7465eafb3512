// The live feed behind GET /v1/live: who sees which question, tokens merged
// while a reader has not taken them, and a reader that falls behind reset
// to a snapshot instead of holding unbounded memory.

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "server/live_feed.hpp"

using namespace tutti;
using tutti::http::live_feed;
using tutti::http::live_limits;
using tutti::http::live_question_info;
using tutti::http::live_viewer;

namespace {

live_question_info info(const std::string& run, const std::string& key = "") {
  live_question_info i;
  i.run_id = run;
  i.api = "chat_completions";
  i.kind = "ensemble";
  i.target = "duo";
  i.members = {"a", "b"};
  i.key = key;
  return i;
}

/// The names of the events in event-stream text, in order.
std::vector<std::string> names_in(const std::string& text) {
  std::vector<std::string> names;
  size_t at = 0;
  while ((at = text.find("event: ", at)) != std::string::npos) {
    auto end = text.find('\n', at);
    names.push_back(text.substr(at + 7, end - at - 7));
    at = end;
  }
  return names;
}

/// The data of the first event named `name`.
rapidjson::Document data_of(const std::string& text, const std::string& name) {
  rapidjson::Document doc;
  auto at = text.find("event: " + name + "\ndata: ");
  BOOST_REQUIRE_MESSAGE(at != std::string::npos, "no " << name);
  at += name.size() + 14;
  auto end = text.find("\n\n", at);
  doc.Parse(text.substr(at, end - at).c_str());
  BOOST_REQUIRE(!doc.HasParseError());
  return doc;
}

member_delta token(const std::string& member, const std::string& text) {
  return member_delta{member, text, false};
}

} // namespace

BOOST_AUTO_TEST_CASE(a_reader_starts_with_a_snapshot_then_gets_events) {
  live_feed feed;
  auto early = feed.start(info("run_1"));
  feed.delta(early, "", token("a", "Par"));
  int wakes = 0;
  auto r = feed.subscribe(live_viewer{true, ""}, [&] { ++wakes; });
  auto first = feed.take(r);
  BOOST_TEST((names_in(first) == std::vector<std::string>{"snapshot"}));
  auto snap = data_of(first, "snapshot");
  BOOST_REQUIRE_EQUAL(snap["questions"].Size(), 1u);
  BOOST_TEST(snap["questions"][0]["members"][0]["text"].GetString() ==
             std::string{"Par"});
  BOOST_TEST(snap["questions"][0]["members"][0]["state"].GetString() ==
             std::string{"streaming"});

  feed.delta(early, "", token("a", "is"));
  BOOST_TEST(wakes == 1);
  feed.delta(early, "", token("a", " is"));
  BOOST_TEST(wakes == 1); // woken once until it takes
  auto next = feed.take(r);
  BOOST_TEST((names_in(next) == std::vector<std::string>{"member.delta"}));
  BOOST_TEST(data_of(next, "member.delta")["text"].GetString() ==
             std::string{"is is"});
  BOOST_TEST(feed.take(r).empty());
}

BOOST_AUTO_TEST_CASE(
    tokens_merge_per_member_and_keep_their_order_with_outcomes) {
  live_feed feed;
  auto r = feed.subscribe(live_viewer{true, ""}, [] {});
  feed.take(r);
  auto q = feed.start(info("run_1"));
  feed.delta(q, "", token("a", "1"));
  feed.delta(q, "", token("b", "x"));
  feed.delta(q, "", token("a", "2"));
  member_outcome done;
  done.member = "a";
  done.ok = true;
  done.reply.text = "12";
  feed.member_done(q, "", done);
  feed.delta(q, "", token("b", "y"));
  feed.finish(q, "ok", [] { return std::string{"{\"text\":\"12\"}"}; });
  auto text = feed.take(r);
  // b's tokens still join its open event after a is done; a's done comes
  // after every token of a.
  BOOST_TEST((names_in(text) ==
              std::vector<std::string>{"question.started", "member.delta",
                                       "member.delta", "member.done",
                                       "question.done"}));
  BOOST_TEST(text.find("\"text\":\"12\",\"answer\"") != std::string::npos);
  BOOST_TEST(text.find("\"text\":\"xy\",\"answer\"") != std::string::npos);
  // After a member is done, its own later tokens (a strategy's call of
  // the same label) start a new event.
  auto q2 = feed.start(info("run_2"));
  feed.delta(q2, "", token("a", "1"));
  member_outcome a_done;
  a_done.member = "a";
  a_done.ok = true;
  feed.member_done(q2, "", a_done);
  feed.delta(q2, "", token("a", "2"));
  BOOST_TEST((names_in(feed.take(r)) ==
              std::vector<std::string>{"question.started", "member.delta",
                                       "member.done", "member.delta"}));
  feed.finish(q2, "ok", [] { return std::string{}; });
  BOOST_TEST(feed.questions() == 0u);
}

BOOST_AUTO_TEST_CASE(a_key_sees_only_the_questions_it_asked) {
  live_feed feed;
  auto admin = feed.subscribe(live_viewer{true, ""}, [] {});
  auto alice = feed.subscribe(live_viewer{false, "alice"}, [] {});
  auto bob = feed.subscribe(live_viewer{false, "bob"}, [] {});
  auto mine = feed.start(info("run_a", "alice"));
  auto theirs = feed.start(info("run_x", ""));
  feed.delta(mine, "", token("a", "secret of alice"));
  feed.delta(theirs, "", token("a", "secret of admin"));
  auto seen_by_alice = feed.take(alice);
  auto seen_by_bob = feed.take(bob);
  auto seen_by_admin = feed.take(admin);
  // Alice's first take is a snapshot that holds her question.
  BOOST_TEST(seen_by_alice.find("secret of alice") != std::string::npos);
  BOOST_TEST(seen_by_alice.find("secret of admin") == std::string::npos);
  BOOST_TEST(seen_by_bob.find("secret of") == std::string::npos);
  BOOST_TEST(seen_by_alice.find("run_a") != std::string::npos);
  BOOST_TEST(seen_by_alice.find("run_x") == std::string::npos);
  BOOST_TEST(seen_by_bob.find("run_a") == std::string::npos);
  BOOST_TEST(seen_by_bob.find("run_x") == std::string::npos);
  BOOST_TEST(seen_by_admin.find("run_a") != std::string::npos);
  BOOST_TEST(seen_by_admin.find("run_x") != std::string::npos);
  feed.delta(mine, "", token("a", " more"));
  BOOST_TEST(feed.take(alice).find(" more") != std::string::npos);
  BOOST_TEST(feed.take(bob).empty());
}

BOOST_AUTO_TEST_CASE(a_reader_that_falls_behind_is_reset_to_a_snapshot) {
  live_limits limits;
  limits.reader_queue_bytes = 4096;
  live_feed feed{limits};
  auto r = feed.subscribe(live_viewer{true, ""}, [] {});
  feed.take(r);
  std::vector<live_feed::question_ptr> questions;
  for (int i = 0; i < 100; ++i)
    questions.push_back(feed.start(info("run_" + std::to_string(i))));
  BOOST_TEST(feed.resets() == 1u);
  auto text = feed.take(r);
  BOOST_TEST((names_in(text) == std::vector<std::string>{"reset", "snapshot"}));
  BOOST_TEST(data_of(text, "reset")["lost"].GetUint64() > 0u);
  BOOST_TEST(data_of(text, "snapshot")["questions"].Size() == 100u);
  // After the snapshot it reads events again.
  feed.delta(questions[0], "", token("a", "hi"));
  BOOST_TEST(
      (names_in(feed.take(r)) == std::vector<std::string>{"member.delta"}));
}

BOOST_AUTO_TEST_CASE(texts_questions_and_readers_are_bounded) {
  live_limits limits;
  limits.max_questions = 2;
  limits.max_readers = 1;
  limits.text_per_member = 8;
  live_feed feed{limits};
  auto q = feed.start(info("run_1"));
  BOOST_TEST(feed.start(info("run_1")) == nullptr); // the same id twice
  BOOST_TEST(feed.start(info("run_2")) != nullptr);
  BOOST_TEST(feed.start(info("run_3")) == nullptr);
  feed.delta(nullptr, "", token("a", "ignored")); // untracked: no-op
  // Cut at a character boundary: "é" is two bytes.
  feed.delta(q, "", token("a", "abcdefgé"));
  auto r = feed.subscribe(live_viewer{true, ""}, [] {});
  BOOST_REQUIRE(r);
  BOOST_TEST(feed.subscribe(live_viewer{true, ""}, [] {}) == nullptr);
  auto snap = data_of(feed.take(r), "snapshot");
  for (auto& question : snap["questions"].GetArray()) {
    if (question["run"].GetString() != std::string{"run_1"})
      continue;
    BOOST_TEST(question["members"][0]["text"].GetString() ==
               std::string{"abcdefg"});
    BOOST_TEST(question["members"][0]["text_cut"].GetBool());
  }
  feed.unsubscribe(r);
  BOOST_TEST(feed.readers() == 0u);
}

BOOST_AUTO_TEST_CASE(progress_sets_a_members_state_and_times) {
  live_feed feed;
  auto q = feed.start(info("run_1"));
  member_progress p;
  p.member = "b";
  p.state = member_state::retrying;
  p.attempt = 1;
  p.wait_ms = 250;
  p.reason = failure_kind::rate_limited;
  p.message = "slow down";
  feed.progress(q, "", p);
  auto r = feed.subscribe(live_viewer{true, ""}, [] {});
  auto snap = data_of(feed.take(r), "snapshot");
  auto& b = snap["questions"][0]["members"][1];
  BOOST_TEST(b["state"].GetString() == std::string{"retrying"});
  BOOST_TEST(b["wait_ms"].GetInt64() == 250);
  BOOST_TEST(b["reason"].GetString() == std::string{"rate_limited"});
  BOOST_TEST(b["message"].GetString() == std::string{"slow down"});
  // A member only a strategy calls is added when it reports.
  p.member = "judge";
  p.state = member_state::sent;
  feed.progress(q, "", p);
  auto text = feed.take(r);
  BOOST_TEST(data_of(text, "member.state")["member"].GetString() ==
             std::string{"judge"});
  feed.unsubscribe(r);
  r = feed.subscribe(live_viewer{true, ""}, [] {});
  snap = data_of(feed.take(r), "snapshot");
  BOOST_TEST(snap["questions"][0]["members"].Size() == 3u);
  BOOST_TEST(snap["questions"][0]["members"][2]["sent_ms"].IsInt64());
}
