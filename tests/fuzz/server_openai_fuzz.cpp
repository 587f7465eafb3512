// The endpoint's request bodies: `POST /v1/chat/completions` and
// `POST /v1/runs` on any bytes. Each returns a call or an API error; an
// error is a 4xx whose JSON form is valid UTF-8 JSON; a call holds only
// valid UTF-8 text, known roles, parameters in range and names the config
// has.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

#include "engine/src/json_reader.hpp"
#include "engine/src/utf8.hpp"
#include "server/client_api.hpp"
#include "server/openai.hpp"
#include "tests/fuzz/endpoint_config.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace tutti;
using namespace tutti::http;
using tutti::fuzz::require;

namespace {

void check(const api_error& e) {
  require(e.status >= 400 && e.status < 500, "an API error that is no 4xx");
  rapidjson::Document doc;
  require(static_cast<bool>(json_reader::parse(
              doc, to_json(e), json_reader::utf8_check::validate)),
          "an API error's JSON is not valid UTF-8 JSON");
}

void check(const std::vector<chat_message>& messages) {
  require(!messages.empty(), "a call without messages");
  for (const auto& m : messages) {
    require(m.role == "system" || m.role == "user" || m.role == "assistant" ||
                m.role == "tool",
            "a message with an unknown role");
    require(utf8::is_valid(m.content), "message content is not UTF-8");
  }
}

void check(const chat_params& p) {
  if (p.temperature) {
    require(std::isfinite(*p.temperature), "a temperature not finite");
  }
  if (p.top_p) {
    require(std::isfinite(*p.top_p), "a top_p not finite");
  }
  if (p.max_tokens) {
    require(*p.max_tokens >= 1 && *p.max_tokens <= max_tokens_limit,
            "max_tokens out of range");
  }
  for (const auto& s : p.stop) {
    require(utf8::is_valid(s), "a stop sequence is not UTF-8");
  }
}

/// Parts are kept only with an image, only in a user turn; each image is
/// inline base64 of a known type or an http(s) URL within bounds; the
/// content is the text parts joined.
void check_parts(const chat_message& m) {
  if (m.parts.empty())
    return;
  require(m.role == "user", "a non-user turn holds images");
  require(m.images() > 0, "parts kept without an image");
  std::string text;
  for (const auto& part : m.parts) {
    if (!part.is_image()) {
      text += (text.empty() ? "" : "\n") + part.text;
      continue;
    }
    auto& image = part.image;
    if (image.inline_bytes()) {
      require(image.media_type == "image/png" ||
                  image.media_type == "image/jpeg" ||
                  image.media_type == "image/gif" ||
                  image.media_type == "image/webp",
              "an image of an unknown type accepted");
      require(!image.data.empty() && image.data.size() % 4 == 0,
              "image bytes that are not base64 accepted");
    } else {
      require(image.url.size() <= max_image_url_bytes &&
                  (image.url.rfind("https://", 0) == 0 ||
                   image.url.rfind("http://", 0) == 0),
              "an image URL out of bounds accepted");
    }
  }
  require(text == m.content, "content is not the text parts joined");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto body = tutti::fuzz::text_of(data, size);
  const auto& cfg = tutti::fuzz::endpoint_config();
  // The same body read by each client API that asks one question.
  for (auto* api : {&chat_completions_api(), &completions_api(),
                    &responses_api(), &messages_api()}) {
    auto chat = api->parse(body, cfg);
    if (auto* e = std::get_if<api_error>(&chat)) {
      check(*e);
      continue;
    }
    auto& call = std::get<chat_call>(chat);
    size_t images = 0;
    for (const auto& m : call.messages) {
      require(utf8::is_valid(m.content), "message content is not UTF-8");
      check_parts(m);
      images += m.images();
    }
    require(images <= max_images_per_request, "too many images accepted");
    check(call.params);
    require(cfg.providers.count(call.to.name) == 1 ||
                cfg.ensembles.count(call.to.name) == 1 ||
                !call.inline_ensemble.empty() || call.routed.has_value(),
            "a chat call to nothing the config has");
  }
  auto run = parse_run_request(body, cfg);
  if (auto* e = std::get_if<api_error>(&run)) {
    check(*e);
  } else {
    auto& call = std::get<run_call>(run);
    check(call.params);
    require(utf8::is_valid(call.system), "a system prompt is not UTF-8");
    switch (call.of) {
    case run_call::kind::pipeline:
      require(call.inputs.size() == 2, "a pipeline run without its inputs");
      for (const auto& [name, value] : call.inputs) {
        require(utf8::is_valid(value), "an input is not UTF-8");
      }
      break;
    case run_call::kind::ensemble:
      require(cfg.ensembles.count(call.name) == 1, "a run of no ensemble");
      check(call.messages);
      break;
    case run_call::kind::provider:
      require(cfg.providers.count(call.name) == 1, "a run of no provider");
      check(call.messages);
      break;
    }
  }
  return 0;
}
