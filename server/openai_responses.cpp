#include "server/openai.hpp"
#include "server/openai_writers.hpp"

#include <functional>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "engine/src/json_writers.hpp"
#include "tutti/json.hpp"

namespace tutti::http {

namespace {

using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;
using json_detail::json_text;
using json_detail::write_string;
using json_detail::write_string_or_null;

void write_limit(json_writer& w, int64_t limit) {
  if (limit > 0)
    w.Int64(limit);
  else
    w.Null();
}

const member_outcome* outcome_named(const std::vector<member_outcome>& list,
                                    const std::string& label) {
  for (auto& o : list)
    if (o.member == label)
      return &o;
  return nullptr;
}

/// A chunk with one choice whose delta `write_delta` writes.
/// `[{id, type: "function", function: {name, arguments}}]`; in a stream
/// chunk each call carries its `index` too.
void write_openai_tool_calls(json_writer& w,
                             const std::vector<tool_call>& calls,
                             bool indexed) {
  w.StartArray();
  for (size_t i = 0; i < calls.size(); ++i) {
    w.StartObject();
    if (indexed) {
      w.Key("index");
      w.Uint64(i);
    }
    w.Key("id");
    write_string(w, calls[i].id);
    w.Key("type");
    w.String("function");
    w.Key("function");
    w.StartObject();
    w.Key("name");
    write_string(w, calls[i].name);
    w.Key("arguments");
    write_string(w, calls[i].arguments);
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
}

std::string choice_chunk(const completion_ids& ids, bool include_usage,
                         const std::function<void(json_writer&)>& write_delta,
                         const std::string& finish_reason,
                         const std::string& ensemble_json = {},
                         const std::string& logprobs = {}, size_t index = 0) {
  return json_text([&](json_writer& w) {
    w.StartObject();
    write_completion_head(w, ids, "chat.completion.chunk");
    w.Key("choices");
    w.StartArray();
    w.StartObject();
    w.Key("index");
    w.Uint64(index);
    w.Key("delta");
    w.StartObject();
    write_delta(w);
    w.EndObject();
    w.Key("logprobs");
    write_logprobs(w, logprobs);
    w.Key("finish_reason");
    write_string_or_null(w, finish_reason);
    w.EndObject();
    w.EndArray();
    if (include_usage) {
      w.Key("usage");
      w.Null();
    }
    if (!ensemble_json.empty()) {
      w.Key("ensemble");
      write_raw_object(w, ensemble_json);
    }
    w.EndObject();
  });
}

/// A chunk whose delta is one text member, `key`: `content` or `refusal`.
std::string text_chunk(const completion_ids& ids, bool include_usage,
                       const char* key, const std::string& text) {
  return choice_chunk(
      ids, include_usage,
      [&](json_writer& w) {
        w.Key(key);
        write_string(w, text);
      },
      "");
}

/// A chunk without choices carrying tutti's own `tutti` member.
std::string tutti_chunk(const completion_ids& ids, bool include_usage,
                        const std::function<void(json_writer&)>& write_tutti) {
  return json_text([&](json_writer& w) {
    w.StartObject();
    write_completion_head(w, ids, "chat.completion.chunk");
    w.Key("choices");
    w.StartArray();
    w.EndArray();
    if (include_usage) {
      w.Key("usage");
      w.Null();
    }
    w.Key("tutti");
    w.StartObject();
    write_tutti(w);
    w.EndObject();
    w.EndObject();
  });
}

/// `{"object": "list", "data": [...]}` with the items `write_items` writes.
std::string list_json(const std::function<void(json_writer&)>& write_items) {
  return json_text([&](json_writer& w) {
    w.StartObject();
    w.Key("object");
    w.String("list");
    w.Key("data");
    w.StartArray();
    write_items(w);
    w.EndArray();
    w.EndObject();
  });
}

/// A list of a config map's entries: objects that start with the entry's
/// `name`, then what `write_fields(w, name, entry)` writes.
template <class Map, class WriteFields>
std::string named_list_json(const Map& map, WriteFields write_fields) {
  return list_json([&](json_writer& w) {
    for (auto& [name, entry] : map) {
      w.StartObject();
      w.Key("name");
      write_string(w, name);
      write_fields(w, name, entry);
      w.EndObject();
    }
  });
}

} // namespace

void write_raw_object(json_writer& w, const std::string& json) {
  w.RawValue(json.data(), json.size(), rapidjson::kObjectType);
}

/// The fields a chat completion and each of its chunks start with; `object`
/// is "chat.completion" or "chat.completion.chunk".
void write_completion_head(json_writer& w, const completion_ids& ids,
                           const char* object) {
  w.Key("id");
  write_string(w, ids.id);
  w.Key("object");
  w.String(object);
  w.Key("created");
  w.Int64(ids.created);
  w.Key("model");
  write_string(w, ids.model);
  w.Key("system_fingerprint");
  w.Null();
}

/// A choice's `logprobs`: the vendor's object, or null.
void write_logprobs(json_writer& w, const std::string& logprobs) {
  if (logprobs.empty())
    w.Null();
  else
    write_raw_object(w, logprobs);
}

void write_openai_usage(json_writer& w, const tutti::usage& used) {
  w.StartObject();
  w.Key("prompt_tokens");
  w.Int64(used.input_tokens);
  w.Key("completion_tokens");
  w.Int64(used.output_tokens);
  w.Key("total_tokens");
  w.Int64(used.input_tokens + used.output_tokens);
  w.Key("prompt_tokens_details");
  w.StartObject();
  w.Key("cached_tokens");
  w.Int64(used.cached_input_tokens);
  w.EndObject();
  w.EndObject();
}

std::string to_json(const api_error& error, const std::string& ensemble_json) {
  return json_text([&](json_writer& w) {
    w.StartObject();
    w.Key("error");
    w.StartObject();
    w.Key("message");
    write_string(w, error.message);
    w.Key("type");
    write_string(w, error.type);
    w.Key("param");
    write_string_or_null(w, error.param);
    w.Key("code");
    write_string_or_null(w, error.code);
    w.EndObject();
    if (!ensemble_json.empty()) {
      w.Key("ensemble");
      write_raw_object(w, ensemble_json);
    }
    w.EndObject();
  });
}

std::string finish_reason_of(const ensemble_answer& answer) {
  const member_outcome* source = nullptr;
  if (!answer.winner.empty())
    source = outcome_named(answer.members, answer.winner);
  else if (!answer.combiner_calls.empty() && answer.combiner_calls.back().ok &&
           answer.combiner_calls.back().reply.text == answer.text)
    source = &answer.combiner_calls.back(); // a synthesizer wrote it
  if (!answer.tool_calls.empty())
    return "tool_calls";
  if (source == nullptr || !source->ok)
    return "stop";
  auto& reason = source->reply.finish_reason;
  // Only the values OpenAI clients know.
  if (reason == "length" || reason == "content_filter")
    return reason;
  return "stop";
}

std::optional<std::string> refusal_of(const ensemble_answer& answer) {
  if (answer.status != answer_status::failed || answer.members.empty())
    return std::nullopt;
  for (auto& member : answer.members)
    if (member.ok || member.error.kind != failure_kind::refused)
      return std::nullopt;
  return answer.members.front().error.message;
}

/// A choice's message: its text (null when it only refuses or calls
/// tools), refusal and tool calls.
void write_choice_message(json_writer& w, const std::string& text,
                          const std::optional<std::string>& refusal,
                          const std::vector<tool_call>& calls) {
  w.StartObject();
  w.Key("role");
  w.String("assistant");
  w.Key("content");
  // A reply that only refuses or calls tools has no content, as OpenAI's.
  if (refusal || (text.empty() && !calls.empty()))
    w.Null();
  else
    write_string(w, text);
  w.Key("refusal");
  if (refusal)
    write_string(w, *refusal);
  else
    w.Null();
  if (!calls.empty()) {
    w.Key("tool_calls");
    write_openai_tool_calls(w, calls, false);
  }
  w.EndObject();
}

std::string finish_reason_of(const reply_choice& choice) {
  return choice.finish_reason.empty() ? "stop" : choice.finish_reason;
}

std::optional<std::string> refusal_of(const reply_choice& choice) {
  if (choice.refusal.empty())
    return std::nullopt;
  return choice.refusal;
}

std::string chat_completion_json(const completion_ids& ids,
                                 const ensemble_answer& answer) {
  auto ensemble = to_json(answer);
  auto refusal = refusal_of(answer);
  return json_text([&](json_writer& w) {
    w.StartObject();
    write_completion_head(w, ids, "chat.completion");
    w.Key("choices");
    w.StartArray();
    w.StartObject();
    w.Key("index");
    w.Int(0);
    w.Key("message");
    write_choice_message(w, answer.text, refusal,
                         refusal ? std::vector<tool_call>{}
                                 : answer.tool_calls);
    w.Key("logprobs");
    write_logprobs(w, answer.logprobs);
    w.Key("finish_reason");
    write_string(w, finish_reason_of(answer));
    w.EndObject();
    for (size_t i = 0; i < answer.more_choices.size(); ++i) {
      auto& choice = answer.more_choices[i];
      w.StartObject();
      w.Key("index");
      w.Uint64(i + 1);
      w.Key("message");
      write_choice_message(w, choice.text, refusal_of(choice),
                           choice.tool_calls);
      w.Key("logprobs");
      write_logprobs(w, choice.logprobs);
      w.Key("finish_reason");
      write_string(w, finish_reason_of(choice));
      w.EndObject();
    }
    w.EndArray();
    w.Key("usage");
    write_openai_usage(w, answer.usage);
    w.Key("ensemble");
    write_raw_object(w, ensemble);
    w.EndObject();
  });
}

std::string role_chunk(const completion_ids& ids, bool include_usage) {
  return choice_chunk(
      ids, include_usage,
      [](json_writer& w) {
        w.Key("role");
        w.String("assistant");
        w.Key("content");
        w.String("");
      },
      "");
}

std::string content_chunk(const completion_ids& ids, const std::string& text,
                          bool include_usage) {
  return text_chunk(ids, include_usage, "content", text);
}

std::string refusal_chunk(const completion_ids& ids, const std::string& words,
                          bool include_usage) {
  return text_chunk(ids, include_usage, "refusal", words);
}

std::string tool_calls_chunk(const completion_ids& ids,
                             const std::vector<tool_call>& calls,
                             bool include_usage) {
  return choice_chunk(
      ids, include_usage,
      [&](json_writer& w) {
        w.Key("tool_calls");
        write_openai_tool_calls(w, calls, true);
      },
      "", "");
}

std::vector<std::string> more_choice_chunks(const completion_ids& ids,
                                            const ensemble_answer& answer,
                                            bool include_usage) {
  std::vector<std::string> chunks;
  for (size_t i = 0; i < answer.more_choices.size(); ++i) {
    auto& choice = answer.more_choices[i];
    chunks.push_back(choice_chunk(
        ids, include_usage,
        [&](json_writer& w) {
          w.Key("role");
          w.String("assistant");
          if (!choice.refusal.empty()) {
            w.Key("refusal");
            write_string(w, choice.refusal);
          } else {
            w.Key("content");
            write_string(w, choice.text);
          }
          if (!choice.tool_calls.empty()) {
            w.Key("tool_calls");
            write_openai_tool_calls(w, choice.tool_calls, true);
          }
        },
        finish_reason_of(choice), "", choice.logprobs, i + 1));
  }
  return chunks;
}

std::string finish_chunk(const completion_ids& ids,
                         const ensemble_answer& answer, bool include_usage) {
  return choice_chunk(
      ids, include_usage, [](json_writer&) {}, finish_reason_of(answer),
      to_json(answer), answer.logprobs);
}

std::string usage_chunk(const completion_ids& ids, const tutti::usage& used,
                        const char* object) {
  return json_text([&](json_writer& w) {
    w.StartObject();
    write_completion_head(w, ids, object);
    w.Key("choices");
    w.StartArray();
    w.EndArray();
    w.Key("usage");
    write_openai_usage(w, used);
    w.EndObject();
  });
}

std::string member_delta_chunk(const completion_ids& ids,
                               const member_delta& delta, bool include_usage) {
  return tutti_chunk(ids, include_usage, [&](json_writer& w) {
    w.Key("member");
    write_string(w, delta.member);
    w.Key("delta");
    write_string(w, delta.text);
  });
}

std::string member_done_chunk(const completion_ids& ids,
                              const member_outcome& outcome,
                              bool include_usage) {
  return tutti_chunk(ids, include_usage, [&](json_writer& w) {
    w.Key("member_done");
    json_detail::write_outcome(w, outcome);
  });
}

std::string providers_json(const std::vector<provider_status>& states,
                           const config& cfg) {
  return list_json([&](json_writer& w) {
    for (auto& st : states) {
      w.StartObject();
      w.Key("name");
      write_string(w, st.name);
      w.Key("kind");
      write_string(w, st.kind);
      w.Key("model");
      write_string(w, st.model);
      w.Key("limit_group");
      write_string(w, st.limit_group);
      w.Key("running");
      w.Bool(st.note.empty());
      w.Key("note");
      write_string_or_null(w, st.note);
      w.Key("in_flight");
      w.Int64(st.in_flight);
      w.Key("queued");
      w.Int64(st.queued);
      w.Key("concurrency");
      w.Int64(st.concurrency);
      auto pc = cfg.providers.find(st.name);
      auto window = [&](const char* key, int64_t used, int64_t limit,
                        int64_t per_ms) {
        w.Key(key);
        w.StartObject();
        w.Key("in_window");
        w.Int64(used);
        w.Key("limit");
        write_limit(w, limit);
        w.Key("per_ms");
        w.Int64(per_ms);
        w.EndObject();
      };
      window("requests", st.requests_in_window, st.requests_limit,
             pc != cfg.providers.end() ? pc->second.requests.per_ms : 0);
      window("tokens", st.tokens_in_window, st.tokens_limit,
             pc != cfg.providers.end() ? pc->second.tokens.per_ms : 0);
      w.Key("cooldown_left_ms");
      w.Int64(st.cooldown_left_ms);
      // -1: the server's rate-limit headers said nothing.
      w.Key("server_requests_left");
      if (st.server_requests_left >= 0)
        w.Int64(st.server_requests_left);
      else
        w.Null();
      w.Key("server_tokens_left");
      if (st.server_tokens_left >= 0)
        w.Int64(st.server_tokens_left);
      else
        w.Null();
      w.Key("breaker");
      w.StartObject();
      w.Key("state");
      write_string_or_null(w, st.breaker);
      w.Key("consecutive_failures");
      w.Int(st.consecutive_failures);
      w.EndObject();
      w.EndObject();
    }
  });
}

std::string ensembles_json(const config& cfg, const registry& plugins) {
  return named_list_json(cfg.ensembles, [&plugins](json_writer& w,
                                                   const std::string& name,
                                                   const ensemble_config& e) {
    w.Key("model");
    write_string(w, "ensemble/" + name);
    w.Key("members");
    w.StartArray();
    for (auto& m : e.members) {
      w.StartObject();
      w.Key("label");
      write_string(w, m.label);
      w.Key("provider");
      write_string(w, m.provider);
      w.Key("weight");
      w.Double(m.weight);
      w.Key("samples");
      w.Int(m.samples);
      w.EndObject();
    }
    w.EndArray();
    w.Key("until");
    write_string(w, until_name(e.until, e.quorum));
    w.Key("mode");
    write_string(w, to_string(e.mode));
    w.Key("deadline_ms");
    w.Int64(e.deadline_ms);
    w.Key("min_success");
    w.Int(e.min_success);
    w.Key("combine");
    write_string(w, e.combine);
    // The providers the strategy asks (`judge`, `synthesizer`): the
    // settings it declares as providers.
    if (const auto* traits = plugins.traits_of(e.combine))
      for (const auto& setting : traits->settings)
        if (setting.type == setting_type::provider &&
            e.combine_settings.has(setting.name)) {
          w.Key(setting.name.c_str(),
                static_cast<rapidjson::SizeType>(setting.name.size()));
          write_string(w, e.combine_settings.text(setting.name));
        }
  });
}

std::string pipelines_json(const config& cfg) {
  return named_list_json(cfg.pipelines, [](json_writer& w, const std::string&,
                                           const pipeline_config& p) {
    w.Key("inputs");
    w.StartArray();
    for (auto& input : p.inputs)
      write_string(w, input);
    w.EndArray();
    w.Key("output");
    write_string(w, p.output);
    w.Key("steps");
    w.StartArray();
    for (auto& step : p.steps) {
      w.StartObject();
      w.Key("id");
      write_string(w, step.id);
      w.Key(step.ensemble.empty() ? "call" : "ensemble");
      write_string(w, step.ensemble.empty() ? step.call : step.ensemble);
      w.Key("needs");
      w.StartArray();
      for (auto& need : step.needs)
        write_string(w, need);
      w.EndArray();
      w.EndObject();
    }
    w.EndArray();
  });
}

namespace {

void write_model(json_writer& w, const std::string& id, int64_t created) {
  w.StartObject();
  w.Key("id");
  write_string(w, id);
  w.Key("object");
  w.String("model");
  w.Key("created");
  w.Int64(created);
  w.Key("owned_by");
  w.String("tutti");
  w.EndObject();
}

} // namespace

std::string models_json(const config& cfg, int64_t created) {
  return list_json([&](json_writer& w) {
    for (auto& [name, p] : cfg.providers)
      write_model(w, name, created);
    for (auto& [name, e] : cfg.ensembles)
      write_model(w, "ensemble/" + name, created);
    // Routed names; a wildcard matches too many names to list.
    for (auto& [name, r] : cfg.models)
      if (!r.wildcard)
        write_model(w, name, created);
  });
}

std::string model_json(const std::string& id, int64_t created) {
  return json_text([&](json_writer& w) { write_model(w, id, created); });
}

std::string server_json(const config& cfg, const std::string& version,
                        const std::string& auth) {
  static const char* routes[][2] = {
      {"GET", "/"},
      {"GET", "/ui/{file}"},
      {"GET", "/healthz"},
      {"GET", "/metrics"},
      {"GET", "/v1/models"},
      {"GET", "/v1/models/{id}"},
      {"POST", "/v1/chat/completions"},
      {"POST", "/v1/completions"},
      {"POST", "/v1/responses"},
      {"POST", "/v1/messages"},
      {"POST", "/v1/embeddings"},
      {"GET", "/v1/providers"},
      {"GET", "/v1/ensembles"},
      {"GET", "/v1/pipelines"},
      {"POST", "/v1/runs"},
      {"GET", "/v1/runs"},
      {"GET", "/v1/runs/{id}"},
      {"DELETE", "/v1/runs/{id}"},
      {"GET", "/v1/runs/{id}/events"},
      {"GET", "/v1/stats"},
      {"GET", "/v1/live"},
      {"POST", "/v1/batches"},
      {"GET", "/v1/batches"},
      {"GET", "/v1/batches/{id}"},
      {"DELETE", "/v1/batches/{id}"},
      {"GET", "/v1/batches/{id}/results"},
      {"POST", "/admin/reload"},
  };
  return json_text([&](json_writer& w) {
    w.StartObject();
    w.Key("object");
    w.String("tutti.server");
    w.Key("name");
    w.String("tutti");
    w.Key("version");
    write_string(w, version);
    w.Key("description");
    w.String("An OpenAI-compatible endpoint that asks several models at once "
             "and combines their replies (docs/http.md).");
    w.Key("auth");
    write_string(w, auth);
    w.Key("store");
    w.Bool(!store_is_off(cfg.store));
    w.Key("models");
    w.StartArray();
    for (auto& [name, p] : cfg.providers)
      write_string(w, name);
    for (auto& [name, e] : cfg.ensembles)
      write_string(w, "ensemble/" + name);
    w.EndArray();
    w.Key("routes");
    w.StartArray();
    for (auto& r : routes)
      write_string(w, std::string{r[0]} + " " + r[1]);
    w.EndArray();
    w.EndObject();
  });
}

std::string step_json(const step_outcome& step) {
  return json_text([&](json_writer& w) { json_detail::write_step(w, step); });
}

} // namespace tutti::http
