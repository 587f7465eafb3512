// Every built-in codec's decoding of what an upstream sends: the input as a
// whole response body, as an error body under several HTTP statuses the codecs
// tell apart, as an SSE stream whose events are decoded one by one, as the
// data of one event, and as an embeddings reply. Whatever the bytes, decoding
// returns a value: no crash, no exception, no undefined behaviour.

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "tests/fuzz/builtin_codecs.hpp"
#include "tests/fuzz/fuzz_check.hpp"
#include "tutti/codec.hpp"
#include "tutti/registry.hpp"
#include "tutti/sse_decoder.hpp"

using namespace tutti;
using tutti::fuzz::builtin_codecs;
using tutti::fuzz::require;

namespace {

constexpr int statuses[] = {400, 401, 403, 404, 408, 409, 413, 422,
                            429, 500, 502, 503, 504, 529, 299, 418};

void check(const failure& f) {
  require(!to_string(f.kind).empty(), "a failure kind without a name");
}

void check(const stream_update& update) {
  if (update.error) {
    check(*update.error);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = tutti::fuzz::text_of(data, size);
  sse_decoder decoder;
  auto events = decoder.feed(bytes);
  for (auto& event : decoder.finish()) {
    events.push_back(std::move(event));
  }
  stream_event whole;
  whole.data = std::string{bytes};
  const header_list no_headers;
  // Three statuses always, and one picked by the input's last byte (each
  // status costs a parse of the body).
  int picked = statuses[size > 0 ? data[size - 1] % std::size(statuses) : 0];
  for (const auto& c : builtin_codecs()) {
    auto body = c->decode_body(bytes);
    if (auto* f = std::get_if<failure>(&body)) {
      check(*f);
    }
    check(c->decode_event(whole));
    // As an embeddings reply, for one text and for two.
    for (size_t texts : {1u, 2u}) {
      embedding_request req;
      req.inputs.assign(texts, "text");
      auto embedded = c->decode_embedding(bytes, req);
      if (auto* f = std::get_if<failure>(&embedded)) {
        check(*f);
      } else {
        require(std::get<completion>(embedded).embeddings.size() == texts,
                "vectors not one per text");
      }
    }
    // The events gathered and judged as the provider does.
    reply_parts parts;
    for (const auto& event : events) {
      auto update = c->decode_event(event);
      check(update);
      add_update(parts, update);
    }
    require(parts.usage.input_tokens >= 0 && parts.usage.output_tokens >= 0 &&
                parts.usage.cached_input_tokens >= 0,
            "a negative token count");
    require(parts.other_content.size() <= max_other_content,
            "other content beyond its bound");
    auto outcome = stream_outcome(std::move(parts), true, true);
    if (auto* f = std::get_if<failure>(&outcome)) {
      check(*f);
    }
    for (int status : {400, 429, 503, picked}) {
      auto f = c->classify_error(status, bytes, no_headers);
      check(f);
      require(f.http_status == status, "classify_error lost the status");
    }
  }
  return 0;
}
