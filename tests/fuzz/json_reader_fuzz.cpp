// engine/src/json_reader.hpp on any bytes, in both UTF-8 modes: no crash
// and no stack overflow, however deep the nesting; a document it accepts is
// nested at most `max_depth` levels and writes back as JSON that reads
// again; one it accepts with UTF-8 validation it accepts without too.

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "engine/src/json_reader.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace tutti;
using tutti::fuzz::require;

namespace {

/// The nesting depth of `root`, walked without recursion.
unsigned depth_of(const rapidjson::Value& root) {
  unsigned deepest = 0;
  std::vector<std::pair<const rapidjson::Value*, unsigned>> todo{{&root, 0}};
  while (!todo.empty()) {
    auto [v, depth] = todo.back();
    todo.pop_back();
    if (v->IsArray()) {
      deepest = std::max(deepest, depth + 1);
      for (const auto& item : v->GetArray()) {
        todo.emplace_back(&item, depth + 1);
      }
    } else if (v->IsObject()) {
      deepest = std::max(deepest, depth + 1);
      for (const auto& m : v->GetObject()) {
        todo.emplace_back(&m.value, depth + 1);
      }
    }
  }
  return deepest;
}

std::string written(const rapidjson::Value& v) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w{buffer};
  require(v.Accept(w), "a document it read cannot be written");
  return {buffer.GetString(), buffer.GetSize()};
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto text = tutti::fuzz::text_of(data, size);
  // A small limit too, so that the fuzzer reaches it with short inputs.
  unsigned max_depth =
      size > 0 && data[0] == ' ' ? 3 : json_reader::default_max_depth;
  rapidjson::Document accepted;
  auto loose = json_reader::parse(accepted, text,
                                  json_reader::utf8_check::accept, max_depth);
  rapidjson::Document validated;
  auto strict = json_reader::parse(
      validated, text, json_reader::utf8_check::validate, max_depth);
  require(!strict || loose, "valid UTF-8 JSON refused without validation");
  if (!loose) {
    require(accepted.IsNull(), "a refused document is not null");
    require(loose.offset <= size, "an error offset beyond the text");
    require(!loose.what.empty(), "an error without a reason");
    return 0;
  }
  require(depth_of(accepted) <= max_depth, "nested deeper than the limit");
  if (strict) {
    auto once = written(validated);
    rapidjson::Document again;
    require(static_cast<bool>(json_reader::parse(
                again, once, json_reader::utf8_check::validate, max_depth)),
            "written JSON does not read again");
  }
  return 0;
}
