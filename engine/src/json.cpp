#include "tutti/json.hpp"

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "engine/src/json_writers.hpp"

namespace tutti {

namespace {

using namespace json_detail;

template <class Value, class Fn>
std::string render(const Value& value, bool pretty, Fn fn) {
  rapidjson::StringBuffer buffer;
  if (pretty) {
    rapidjson::PrettyWriter<rapidjson::StringBuffer> w{buffer};
    w.SetIndent(' ', 2);
    fn(w, value);
  } else {
    rapidjson::Writer<rapidjson::StringBuffer> w{buffer};
    fn(w, value);
  }
  return {buffer.GetString(), buffer.GetSize()};
}

} // namespace

std::string to_json(const member_outcome& outcome, bool pretty) {
  return render(outcome, pretty,
                [](auto& w, const auto& v) { write_outcome(w, v); });
}

std::string to_json(const ensemble_answer& answer, bool pretty) {
  return render(answer, pretty,
                [](auto& w, const auto& v) { write_answer(w, v); });
}

std::string to_json(const pipeline_result& result, bool pretty) {
  return render(result, pretty,
                [](auto& w, const auto& v) { write_result(w, v); });
}

} // namespace tutti
