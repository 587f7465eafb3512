#pragma once

/// The interface of a provider codec plugin: pure functions that turn a
/// `chat_request` into an HTTP request and the upstream's bytes back into
/// values. A codec does no I/O, reads no clock and knows nothing of CAF; the
/// provider actor owns everything else (permits, retries, timeouts).

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "tutti/messages.hpp"

namespace tutti {

/// HTTP header fields in arrival order; names as sent.
using header_list = std::vector<std::pair<std::string, std::string>>;

/// Case-insensitive header lookup; nullptr when absent.
const std::string* find_header(const header_list& headers,
                               std::string_view name);

/// An HTTP request ready for the transport.
struct http_request {
  std::string method = "POST";
  std::string url;
  header_list headers;
  std::string body;
};

/// What a codec needs to know about the provider it speaks for.
struct provider_settings {
  std::string name; ///< the provider's name in the config
  std::string kind; ///< the codec's registered name
  std::string model;
  std::string base_url;      ///< without a trailing slash
  std::string api_key;       ///< already resolved from the environment
  chat_params defaults;      ///< used where the request leaves a value unset
  header_list extra_headers; ///< sent with every request (custom headers)
  std::string api_version;   ///< azure-openai's `api-version`
};

/// One Server-Sent Event, as defined by the WHATWG EventSource spec.
struct sse_event {
  std::string event; ///< empty means the default type, "message"
  std::string data;  ///< data lines joined with '\n'
  std::string id;
};

/// What one stream event adds to a streamed reply.
struct stream_update {
  std::string text; ///< new content, possibly empty
  std::optional<tutti::usage> usage;
  std::string finish_reason;    ///< set once the upstream says why it stopped
  bool terminal = false;        ///< the upstream's end-of-stream marker
  std::optional<failure> error; ///< an error reported inside the stream
};

/// A decoded whole body: the reply or why it is not one.
using body_result = std::variant<completion, failure>;

/// One vendor's wire format.
class codec {
public:
  virtual ~codec() = default;

  /// The vendor's API root, used when the config gives no `base_url`;
  /// empty when the kind requires one.
  virtual std::string default_base_url() const = 0;

  /// The HTTP request for `req`; `req.stream` selects the streamed form.
  virtual http_request encode(const chat_request& req,
                              const provider_settings& provider) const = 0;

  /// Decodes a whole 2xx response body.
  virtual body_result decode_body(std::string_view body) const = 0;

  /// Decodes one event of a 2xx streamed response.
  virtual stream_update decode_event(const sse_event& event) const = 0;

  /// The `max_tokens` the codec sends when neither the request nor the
  /// provider sets one (a vendor that requires it); 0: none is sent. The
  /// limiter's token estimate counts it.
  virtual int64_t implied_max_tokens() const { return 0; }

  /// True when a stream that ends cleanly after a finish reason is complete
  /// even without the format's end marker (servers that send no `[DONE]`).
  virtual bool accepts_unterminated_stream() const { return false; }

  /// Describes a non-2xx response: kind, the vendor's own message, status.
  virtual failure classify_error(int status, std::string_view body,
                                 const header_list& headers) const = 0;
};

} // namespace tutti
