#pragma once

/// The framing the Responses and Messages streams share: each event is
/// `event: TYPE` and a `data:` object whose first member is `"type": TYPE`;
/// and tutti's own member events in them (`tutti.members`).

#include <string>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "engine/src/json_writers.hpp"

namespace tutti::http {

using event_writer = rapidjson::Writer<rapidjson::StringBuffer>;

/// One event; `write_fields` writes the members after `type`.
template <class WriteFields>
std::string named_event(const char* type, WriteFields&& write_fields) {
  auto data = json_detail::json_text([&](event_writer& w) {
    w.StartObject();
    w.Key("type");
    w.String(type);
    write_fields(w);
    w.EndObject();
  });
  return std::string{"event: "} + type + "\ndata: " + data + "\n\n";
}

/// `tutti.member.delta`'s fields: the member and its tokens.
inline void write_member_delta(event_writer& w, const member_delta& delta) {
  w.Key("member");
  json_detail::write_string(w, delta.member);
  w.Key("delta");
  json_detail::write_string(w, delta.text);
}

/// `tutti.member.done`'s: the member's outcome, as the answer lists it.
inline void write_member_done(event_writer& w, const member_outcome& outcome) {
  w.Key("member_done");
  json_detail::write_outcome(w, outcome);
}

} // namespace tutti::http
