// Every built-in codec's request encoding, for a request and provider
// settings made of fuzz data (any bytes in messages, model, key, headers,
// any numbers in the parameters): the body must be JSON, and well-formed
// UTF-8 whatever the text was.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include "engine/src/json_reader.hpp"
#include "tests/fuzz/fuzz_check.hpp"
#include "tutti/codec.hpp"
#include "tutti/registry.hpp"

using namespace tutti;
using tutti::fuzz::require;

namespace {

std::optional<double> maybe_double(FuzzedDataProvider& in) {
  if (!in.ConsumeBool()) {
    return std::nullopt;
  }
  switch (in.ConsumeIntegralInRange<int>(0, 3)) {
  case 0:
    return std::nan("");
  case 1:
    return in.ConsumeBool() ? HUGE_VAL : -HUGE_VAL;
  default:
    return in.ConsumeFloatingPoint<double>();
  }
}

std::optional<int64_t> maybe_int(FuzzedDataProvider& in) {
  if (!in.ConsumeBool()) {
    return std::nullopt;
  }
  return in.ConsumeIntegral<int64_t>();
}

chat_params params_of(FuzzedDataProvider& in) {
  chat_params p;
  p.temperature = maybe_double(in);
  p.top_p = maybe_double(in);
  p.max_tokens = maybe_int(in);
  p.seed = maybe_int(in);
  auto stops = in.ConsumeIntegralInRange<int>(0, 4);
  for (int i = 0; i < stops; ++i) {
    p.stop.push_back(in.ConsumeRandomLengthString(64));
  }
  p.n = maybe_int(in);
  p.logprobs = in.ConsumeBool();
  p.top_logprobs = maybe_int(in);
  return p;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in{data, size};
  const auto& plugins = registry::builtin();
  auto names = plugins.codec_names();
  auto c = plugins.make_codec(
      names[in.ConsumeIntegralInRange<size_t>(0, names.size() - 1)]);
  provider_settings provider;
  provider.name = in.ConsumeRandomLengthString(32);
  provider.kind = "fuzz";
  provider.model = in.ConsumeRandomLengthString(64);
  provider.base_url = in.ConsumeRandomLengthString(64);
  provider.api_key = in.ConsumeRandomLengthString(64);
  provider.options["api_version"] = in.ConsumeRandomLengthString(32);
  provider.defaults = params_of(in);
  auto headers = in.ConsumeIntegralInRange<int>(0, 3);
  for (int i = 0; i < headers; ++i) {
    auto name = in.ConsumeRandomLengthString(24);
    provider.extra_headers.emplace_back(name, in.ConsumeRandomLengthString(32));
  }
  chat_request req;
  req.id = in.ConsumeRandomLengthString(16);
  req.stream = in.ConsumeBool();
  req.params = params_of(in);
  while (in.remaining_bytes() > 0) {
    chat_message msg;
    msg.role = in.PickValueInArray(
        {"system", "user", "assistant", "tool", "", "developer"});
    if (in.ConsumeBool()) {
      msg.role = in.ConsumeRandomLengthString(16);
    }
    msg.content = in.ConsumeRandomLengthString(512);
    // Text and image parts of any bytes (an embedding program may pass
    // what the endpoint would refuse).
    auto parts = in.ConsumeIntegralInRange<int>(0, 3);
    for (int i = 0; i < parts; ++i) {
      content_part part;
      if (in.ConsumeBool()) {
        part.text = in.ConsumeRandomLengthString(64);
      } else {
        part.image.media_type = in.ConsumeRandomLengthString(16);
        part.image.data = in.ConsumeRandomLengthString(64);
        part.image.url =
            in.ConsumeBool() ? in.ConsumeRandomLengthString(64) : std::string{};
        part.image.detail = in.ConsumeRandomLengthString(8);
      }
      msg.parts.push_back(std::move(part));
    }
    req.messages.push_back(std::move(msg));
  }
  auto request = c->encode(req, provider);
  rapidjson::Document doc;
  auto parsed =
      json_reader::parse(doc, request.body, json_reader::utf8_check::validate);
  require(static_cast<bool>(parsed), "an encoded body is not UTF-8 JSON");
  return 0;
}
