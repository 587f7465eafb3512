#pragma once

/// What a model replies to a request, before any format renders it.

#include "tools/fake_llm/fake_llm.hpp"
#include "tools/fake_llm/wire_format.hpp"

namespace tutti::fake {

/// The reply `ms` scripts for `req` in `format`: the scripted text (or
/// refusal, or "echo: <last user message>") as stream tokens, cut to the
/// request's max_tokens (finish reason `length`, trailing whitespace
/// dropped).
reply_plan plan_reply(const wire_format& format, const model_script& ms,
                      const chat_request& req);

} // namespace tutti::fake
