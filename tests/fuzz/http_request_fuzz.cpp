// The endpoint's HTTP/1.1 reading on any bytes from a client: Boost.Beast's
// request parser with the limits `tutti serve` sets (16 KiB of head, a
// body limit), fed in pieces as a socket would deliver them, several
// pipelined requests in a row; each head goes through the request guards
// and each body through the route's parser, as server/connection.cpp does.
// A parsed body is never over the limit; a field value holds no CR, LF or
// NUL.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "server/guard.hpp"
#include "server/openai.hpp"
#include "tests/fuzz/endpoint_config.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace bhttp = boost::beast::http;
using tutti::fuzz::require;

namespace {

constexpr std::uint32_t header_limit = 16 << 10;
// tutti serve's default is 1 MiB; a smaller one lets short inputs reach it.
constexpr std::uint64_t body_limit = 4 << 10;
constexpr int max_requests = 8;

std::string_view view(boost::beast::string_view text) {
  return {text.data(), text.size()};
}

void check_head(const bhttp::request<bhttp::string_body>& req) {
  for (const auto& field : req) {
    auto value = view(field.value());
    require(value.find_first_of(std::string_view{"\r\n\0", 3}) ==
                std::string_view::npos,
            "a header value holds CR, LF or NUL");
  }
  using namespace tutti::http;
  if (auto host = req.find(bhttp::field::host); host != req.end()) {
    is_loopback_authority(view(host->value()));
  }
  if (auto origin = req.find(bhttp::field::origin); origin != req.end()) {
    is_loopback_origin(view(origin->value()));
  }
  if (auto type = req.find(bhttp::field::content_type); type != req.end()) {
    is_json_content_type(view(type->value()));
  }
  if (auto auth = req.find(bhttp::field::authorization); auth != req.end()) {
    tokens_match(bearer_token(view(auth->value())), "sk-token");
  }
  if (auto id = req.find("Last-Event-ID"); id != req.end()) {
    parse_event_id(view(id->value()));
  }
  method_label(view(req.method_string()));
}

/// The client closed its side: as Beast's own reads do, the end of a
/// connection before any byte of a request is `end_of_stream`.
void end_of_input(bhttp::request_parser<bhttp::string_body>& parser,
                  boost::beast::error_code& ec) {
  if (parser.got_some()) {
    parser.put_eof(ec);
  } else {
    ec = bhttp::error::end_of_stream;
  }
}

void handle(const bhttp::request<bhttp::string_body>& req) {
  const auto& body = req.body();
  require(body.size() <= body_limit, "a body over the limit was read");
  const auto& cfg = tutti::fuzz::endpoint_config();
  auto target = view(req.target());
  if (target.substr(0, target.find('?')) == "/v1/runs") {
    tutti::http::parse_run_request(body, cfg);
  } else {
    tutti::http::parse_chat_request(body, cfg);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto input = tutti::fuzz::text_of(data, size);
  // The first byte sets how many bytes each read delivers (1 to 256).
  size_t piece = size > 0 ? static_cast<uint8_t>(input[0]) + 1 : 1;
  if (size > 0) {
    input.remove_prefix(1);
  }
  boost::beast::flat_buffer buffer;
  size_t delivered = 0;
  auto deliver = [&] {
    auto n = std::min(piece, input.size() - delivered);
    if (n == 0) {
      return false;
    }
    auto space = buffer.prepare(n);
    std::memcpy(space.data(), input.data() + delivered, n);
    buffer.commit(n);
    delivered += n;
    return true;
  };
  for (int r = 0; r < max_requests; ++r) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(header_limit);
    parser.body_limit(body_limit);
    boost::beast::error_code ec;
    bool head_checked = false;
    while (!parser.is_done()) {
      if (buffer.size() == 0 && !deliver()) {
        end_of_input(parser, ec);
        break;
      }
      auto used = parser.put(buffer.data(), ec);
      buffer.consume(used);
      if (ec == bhttp::error::need_more) {
        ec = {};
        if (!deliver()) {
          end_of_input(parser, ec);
          break;
        }
        continue;
      }
      if (ec) {
        break;
      }
      if (parser.is_header_done() && !head_checked) {
        head_checked = true;
        check_head(parser.get());
      }
    }
    if (ec || !parser.is_done()) {
      return 0; // tutti serve answers 400, 413 or 431 and closes
    }
    handle(parser.get());
    if (!parser.get().keep_alive()) {
      return 0;
    }
  }
  return 0;
}
