// tutti-make-arithmetic: writes a labelled dataset of short arithmetic word
// problems with integer answers, one JSON object a line
// ({"id", "question", "answer"}), the same for the same seed on every
// machine. examples/eval/arithmetic.jsonl is its output for
// `--rows 200 --seed 1` (docs/eval.md).

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <set>
#include <string>

#include "engine/src/splitmix.hpp"

namespace {

/// splitmix64: a small generator whose sequence is fixed by its seed (the
/// standard library's distributions are not the same everywhere).
struct generator {
  uint64_t state;
  uint64_t next() { return tutti::splitmix64(state); }
  /// Uniform in [low, high].
  int64_t between(int64_t low, int64_t high) {
    return low + static_cast<int64_t>(next() % uint64_t(high - low + 1));
  }
};

const char* const names[] = {"Ana",   "Ben",   "Chloe", "Dev",  "Emma",
                             "Farid", "Grace", "Hugo",  "Iris", "Jonas",
                             "Kemi",  "Luca",  "Mei",   "Nora", "Omar"};

struct problem {
  std::string question;
  int64_t answer = 0;
};

problem make_problem(generator& g) {
  auto name = names[g.next() % (sizeof names / sizeof names[0])];
  auto a = g.between(2, 99);
  auto b = g.between(2, 99);
  auto c = g.between(2, 30);
  std::string n = name;
  switch (g.next() % 6) {
  case 0:
    return {n + " has " + std::to_string(a) + " apples and buys " +
                std::to_string(b) + " more. How many apples does " + n +
                " have now?",
            a + b};
  case 1: {
    auto total = a + b;
    return {"A box holds " + std::to_string(total) + " pencils. " + n +
                " takes " + std::to_string(b) +
                " of them. How many pencils are left in the box?",
            a};
  }
  case 2: {
    auto rows = g.between(2, 25);
    auto seats = g.between(2, 30);
    return {"A hall has " + std::to_string(rows) + " rows of " +
                std::to_string(seats) +
                " chairs. How many chairs are there in all?",
            rows * seats};
  }
  case 3: {
    auto children = g.between(2, 12);
    auto each = g.between(2, 20);
    return {n + " shares " + std::to_string(children * each) +
                " cookies equally among " + std::to_string(children) +
                " children. How many cookies does each child get?",
            each};
  }
  case 4: {
    auto speed = g.between(20, 120);
    auto hours = g.between(2, 9);
    return {"A train runs at " + std::to_string(speed) + " km an hour for " +
                std::to_string(hours) + " hours. How many km does it travel?",
            speed * hours};
  }
  default: {
    auto start = a + b;
    return {n + " had " + std::to_string(start) + " marbles, gave " +
                std::to_string(b) + " away and then found " +
                std::to_string(c) + ". How many marbles does " + n +
                " have now?",
            a + c};
  }
  }
}

/// `text` as a JSON string (the questions hold no quotes or controls).
std::string quoted(const std::string& text) {
  return "\"" + text + "\"";
}

} // namespace

int main(int argc, char** argv) {
  long rows = 200;
  long seed = 1;
  for (int i = 1; i < argc; ++i) {
    bool has_value = i + 1 < argc;
    if (std::strcmp(argv[i], "--rows") == 0 && has_value) {
      rows = std::strtol(argv[++i], nullptr, 10);
    } else if (std::strcmp(argv[i], "--seed") == 0 && has_value) {
      seed = std::strtol(argv[++i], nullptr, 10);
    } else {
      std::cerr << "usage: tutti-make-arithmetic [--rows N] [--seed S]\n";
      return 2;
    }
  }
  if (rows < 1 || rows > 100000) {
    std::cerr << "tutti-make-arithmetic: --rows must be 1 to 100000\n";
    return 2;
  }
  generator g{static_cast<uint64_t>(seed)};
  std::set<std::string> seen;
  for (long id = 1; id <= rows;) {
    auto p = make_problem(g);
    if (!seen.insert(p.question).second)
      continue; // every question once: the fake's quiz keys need that
    std::cout << "{\"id\": " << id << ", \"question\": " << quoted(p.question)
              << ", \"answer\": " << quoted(std::to_string(p.answer)) << "}\n";
    ++id;
  }
  return 0;
}
