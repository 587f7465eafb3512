#include "engine/src/json_canonical.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "engine/src/json_reader.hpp"

namespace tutti {

namespace {

using json_value = rapidjson::Value;
using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;

/// Doubles hold every whole number up to here exactly.
constexpr double exact_whole_limit = 9007199254740992.0; // 2^53

void write_number(json_writer& w, const json_value& v) {
  if (v.IsInt64()) {
    w.Int64(v.GetInt64());
    return;
  }
  if (v.IsUint64()) {
    w.Uint64(v.GetUint64());
    return;
  }
  auto x = v.GetDouble();
  if (std::isfinite(x) && std::trunc(x) == x &&
      std::fabs(x) < exact_whole_limit)
    w.Int64(static_cast<int64_t>(x)); // -0.0 is 0 too
  else
    w.Double(x);
}

bool key_before(const json_value::Member* a, const json_value::Member* b) {
  auto an = a->name.GetStringLength();
  auto bn = b->name.GetStringLength();
  auto order =
      std::memcmp(a->name.GetString(), b->name.GetString(), std::min(an, bn));
  return order != 0 ? order < 0 : an < bn;
}

/// An object or array being written: its members in key order, or its
/// elements, and how many are written.
struct open_value {
  const json_value* value = nullptr;
  std::vector<const json_value::Member*> members;
  size_t next = 0;
};

} // namespace

std::optional<std::string> canonical_json(std::string_view text) {
  rapidjson::Document doc;
  if (!json_reader::parse(doc, text, json_reader::utf8_check::accept))
    return std::nullopt;
  rapidjson::StringBuffer buffer;
  json_writer w{buffer};
  // Written with a stack of its own, not by recursion: the text may be a
  // model's.
  std::vector<open_value> stack;
  auto start = [&](const json_value& v) {
    if (v.IsObject()) {
      open_value frame;
      frame.value = &v;
      for (auto& m : v.GetObject())
        frame.members.push_back(&m);
      std::stable_sort(frame.members.begin(), frame.members.end(), key_before);
      w.StartObject();
      stack.push_back(std::move(frame));
    } else if (v.IsArray()) {
      w.StartArray();
      stack.push_back(open_value{&v, {}, 0});
    } else if (v.IsNumber()) {
      write_number(w, v);
    } else if (v.IsString()) {
      w.String(v.GetString(), v.GetStringLength());
    } else if (v.IsBool()) {
      w.Bool(v.GetBool());
    } else {
      w.Null();
    }
  };
  start(doc);
  while (!stack.empty()) {
    auto& top = stack.back();
    if (top.value->IsObject()) {
      if (top.next == top.members.size()) {
        w.EndObject();
        stack.pop_back();
        continue;
      }
      auto* m = top.members[top.next++];
      w.Key(m->name.GetString(), m->name.GetStringLength());
      start(m->value); // may grow the stack: `top` is not used after
    } else {
      if (top.next == top.value->Size()) {
        w.EndArray();
        stack.pop_back();
        continue;
      }
      auto& element =
          (*top.value)[static_cast<rapidjson::SizeType>(top.next++)];
      start(element);
    }
  }
  return std::string{buffer.GetString(), buffer.GetSize()};
}

} // namespace tutti
