// The fake upstream's quiz-takers: models that answer a labelled question
// right with a fixed, seeded probability (tools/fake_llm/quiz.hpp).

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

#include <httplib.h>
#include <rapidjson/document.h>

#include "tools/fake_llm/fake_llm.hpp"
#include "tools/fake_llm/quiz.hpp"

namespace fake = tutti::fake;
namespace fs = std::filesystem;

namespace {

/// A key file of `rows` questions "What is I plus 1?" with answer I + 1.
std::string write_key(const std::string& name, int rows) {
  auto path = (fs::temp_directory_path() /
               (name + "-" + std::to_string(::getpid()) + ".jsonl"))
                  .string();
  std::ofstream out{path};
  for (int i = 0; i < rows; ++i)
    out << R"({"question": "What is )" << i << R"( plus 1?", "answer": )"
        << i + 1 << "}\n";
  return path;
}

std::string question(int i) {
  return "What is " + std::to_string(i) + " plus 1?";
}

std::string ask(httplib::Client& c, const std::string& model,
                const std::string& prompt) {
  std::string body = R"({"model":")" + model +
                     R"(","messages":[{"role":"user","content":")" + prompt +
                     R"("}]})";
  auto res = c.Post("/v1/chat/completions", body, "application/json");
  BOOST_REQUIRE(res);
  BOOST_REQUIRE_EQUAL(res->status, 200);
  rapidjson::Document doc;
  doc.Parse(res->body.c_str());
  return doc["choices"][0]["message"]["content"].GetString();
}

} // namespace

BOOST_AUTO_TEST_CASE(draws_are_uniform_and_depend_on_seed_and_question) {
  BOOST_CHECK_EQUAL(fake::quiz_draw(3, "q"), fake::quiz_draw(3, "q"));
  BOOST_CHECK_NE(fake::quiz_draw(3, "q"), fake::quiz_draw(4, "q"));
  BOOST_CHECK_NE(fake::quiz_draw(3, "q"), fake::quiz_draw(3, "r"));
  int below = 0;
  constexpr int n = 20000;
  for (int i = 0; i < n; ++i) {
    auto u = fake::quiz_draw(7, question(i));
    BOOST_REQUIRE(u >= 0 && u < 1);
    below += u < 0.3 ? 1 : 0;
  }
  // sd of the count is sqrt(n * 0.3 * 0.7) ~ 65: 6 sd is 390.
  BOOST_CHECK_LT(std::abs(below - 0.3 * n), 390);
}

BOOST_AUTO_TEST_CASE(wrong_answers_differ_per_seed_and_from_the_right_one) {
  std::set<std::string> seen{"42"};
  for (uint64_t seed = 0; seed < 50; ++seed)
    BOOST_CHECK(seen.insert(fake::quiz_wrong_answer("42", seed)).second);
  BOOST_CHECK_EQUAL(fake::quiz_wrong_answer("42", 0), "43");
  BOOST_CHECK_EQUAL(fake::quiz_wrong_answer("-3", 4), "2");
  BOOST_CHECK_EQUAL(fake::quiz_wrong_answer("Paris", 2), "Paris (wrong 2)");
}

BOOST_AUTO_TEST_CASE(a_quiz_model_is_right_as_often_as_scripted) {
  auto key = write_key("quiz-key", 400);
  fake::server srv{fake::parse_script("models:\n"
                                      "  good: {quiz: {key: \"" +
                                      key +
                                      "\", right: 0.8, seed: 1}}\n"
                                      "  never: {quiz: {key: \"" +
                                      key + "\", right: 0, seed: 2}}\n")};
  srv.start();
  httplib::Client c{"127.0.0.1", srv.port()};
  int right = 0;
  for (int i = 0; i < 400; ++i) {
    auto reply = ask(c, "good", question(i));
    auto expected = "The answer is " + std::to_string(i + 1) + ".";
    right += reply == expected ? 1 : 0;
    // The same question gets the same reply every time.
    BOOST_CHECK_EQUAL(ask(c, "good", question(i)), reply);
    // right: 0 is always wrong, with its own wrong answer.
    BOOST_CHECK_EQUAL(ask(c, "never", question(i)),
                      "The answer is " + std::to_string(i + 4) + ".");
  }
  // sd of the count is sqrt(400 * 0.8 * 0.2) = 8: 6 sd is 48.
  BOOST_CHECK_LT(std::abs(right - 320), 48);
  fs::remove(key);
}

BOOST_AUTO_TEST_CASE(a_question_inside_a_longer_message_is_found) {
  auto key = write_key("quiz-inside", 20);
  fake::server srv{fake::parse_script("models:\n  m: {quiz: {key: \"" + key +
                                      "\", right: 1}}\n")};
  srv.start();
  httplib::Client c{"127.0.0.1", srv.port()};
  BOOST_CHECK_EQUAL(ask(c, "m", "Answer this: " + question(11) + " Be brief."),
                    "The answer is 12.");
  BOOST_CHECK_EQUAL(ask(c, "m", "What is the capital of France?"),
                    "I don't know.");
  fs::remove(key);
}

BOOST_AUTO_TEST_CASE(a_later_turn_is_answered_from_the_conversations_question) {
  // A debate's second round: the question, the model's own answer, then the
  // others' answers, which hold no question of the key.
  auto key = write_key("quiz-turn", 20);
  fake::server srv{fake::parse_script("models:\n  m: {quiz: {key: \"" + key +
                                      "\", right: 1}}\n")};
  srv.start();
  httplib::Client c{"127.0.0.1", srv.port()};
  std::string body =
      R"({"model":"m","messages":[{"role":"user","content":")" + question(7) +
      R"("},{"role":"assistant","content":"The answer is 8."},)"
      R"({"role":"user","content":"Participant 1: The answer is 9. Update?"}]})";
  auto res = c.Post("/v1/chat/completions", body, "application/json");
  BOOST_REQUIRE(res);
  rapidjson::Document doc;
  doc.Parse(res->body.c_str());
  BOOST_CHECK_EQUAL(doc["choices"][0]["message"]["content"].GetString(),
                    std::string{"The answer is 8."});
  fs::remove(key);
}

BOOST_AUTO_TEST_CASE(a_bad_quiz_key_is_an_error_naming_its_line) {
  auto key = write_key("quiz-bad", 3);
  {
    std::ofstream out{key, std::ios::app};
    out << "{\"question\": \"no answer\"}\n";
  }
  try {
    fake::parse_script("models:\n  m: {quiz: {key: \"" + key + "\"}}\n");
    BOOST_FAIL("a row without an answer was accepted");
  } catch (const std::runtime_error& e) {
    BOOST_CHECK_NE(std::string{e.what()}.find(key + ":4: no string or "
                                                    "integer 'answer'"),
                   std::string::npos);
  }
  BOOST_CHECK_THROW(fake::parse_script("models:\n  m: {quiz: {right: 0.5}}\n"),
                    std::runtime_error);
  BOOST_CHECK_THROW(fake::parse_script("models:\n  m: {quiz: {key: \"" + key +
                                       "\", right: 1.5}}\n"),
                    std::runtime_error);
  fs::remove(key);
}
