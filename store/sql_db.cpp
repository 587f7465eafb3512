// What both databases share: rows read as text, and texts made storable.

#include "store/sql_db.hpp"

#include <cstdlib>

#include "engine/src/utf8.hpp"

namespace tutti::store_detail {

const std::string& sql_row::text(size_t i) const {
  static const std::string empty;
  auto& c = columns_.at(i);
  return c ? *c : empty;
}

int64_t sql_row::integer(size_t i) const {
  auto& c = columns_.at(i);
  return c ? std::strtoll(c->c_str(), nullptr, 10) : 0;
}

double sql_row::real(size_t i) const {
  auto& c = columns_.at(i);
  return c ? std::strtod(c->c_str(), nullptr) : 0;
}

bool is_storable(std::string_view text) {
  return utf8::is_valid(text) && text.find('\0') == std::string_view::npos;
}

std::string storable_copy(std::string_view text) {
  auto repaired = utf8::repaired(text);
  std::string out;
  out.reserve(repaired.size());
  for (char c : repaired) {
    if (c == '\0')
      out += "\xef\xbf\xbd";
    else
      out += c;
  }
  return out;
}

void make_storable(std::vector<sql_value>& params) {
  for (auto& p : params) {
    if (auto* text = std::get_if<std::string>(&p)) {
      if (!is_storable(*text))
        *text = storable_copy(*text);
    } else if (auto* view = std::get_if<std::string_view>(&p)) {
      if (!is_storable(*view))
        p = storable_copy(*view);
    }
  }
}

std::vector<sql_value> storable(std::vector<sql_value> params) {
  make_storable(params);
  return params;
}

} // namespace tutti::store_detail
