// The two JSONL formats of a batch: input rows and result rows. Pure: no
// engine, no actor; the file handling is in batch.cpp.

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "engine/src/json_reader.hpp"
#include "engine/src/json_writers.hpp"
#include "engine/src/names.hpp"
#include "engine/src/saturating.hpp"
#include "tutti/batch.hpp"

namespace tutti {

namespace {

using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;
using namespace json_detail;

std::string compact_json(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  json_writer w{buffer};
  value.Accept(w);
  return {buffer.GetString(), buffer.GetSize()};
}

/// The start of every row: its id and input line.
void write_row_head(json_writer& w, const batch_row& row) {
  w.Key("id");
  w.RawValue(row.id_json.data(), row.id_json.size(), rapidjson::kStringType);
  w.Key("line");
  w.Uint64(row.line);
}

void write_error(json_writer& w, std::string_view kind,
                 std::string_view message) {
  w.StartObject();
  w.Key("kind");
  write_string(w, kind);
  w.Key("message");
  write_string(w, message);
  w.EndObject();
}

/// Why a run has no answer, as (kind, message): the first step (in YAML
/// order) that ran and failed, its kind the one most of its members failed
/// with; `pipeline` when no step failed on its own (a prompt that did not
/// render, a run the engine lost).
std::pair<std::string, std::string> failure_of(const pipeline_result& r) {
  for (auto& step : r.steps) {
    if (step.status != step_status::failed)
      continue;
    std::map<std::string, size_t> kinds;
    for (auto& member : step.answer.members)
      if (!member.ok)
        ++kinds[std::string{to_string(member.error.kind)}];
    std::string kind = "pipeline";
    size_t most = 0;
    for (auto& [name, count] : kinds)
      if (count > most) {
        kind = name;
        most = count;
      }
    return {kind, "step '" + step.id + "' failed: " + step.reason};
  }
  for (auto& step : r.steps)
    if (step.status == step_status::skipped)
      return {"pipeline", "step '" + step.id + "': " + step.reason};
  return {"pipeline", "the pipeline has no answer"};
}

/// Adds one result row to `tally`; one place for the row's counts whether
/// it was just written or read back for --resume.
void tally_row(std::string_view status, std::string_view error_kind,
               const usage& used, double cost_usd, batch_tally& tally) {
  ++tally.rows;
  if (status == "ok")
    ++tally.ok;
  else if (status == "partial")
    ++tally.partial;
  else if (status == "invalid")
    ++tally.invalid;
  else
    ++tally.failed;
  if (!error_kind.empty())
    ++tally.failures_by_kind[std::string{error_kind}];
  // A results file read back can say anything: the sums saturate.
  tally.usage.input_tokens =
      saturating_add(tally.usage.input_tokens, used.input_tokens);
  tally.usage.output_tokens =
      saturating_add(tally.usage.output_tokens, used.output_tokens);
  tally.usage.cached_input_tokens =
      saturating_add(tally.usage.cached_input_tokens, used.cached_input_tokens);
  tally.cost_usd += cost_usd;
}

} // namespace

batch_row parse_batch_row(std::string_view text, size_t line,
                          const std::string& source,
                          const std::vector<std::string>& input_names) {
  batch_row row;
  row.line = line;
  row.id_json = std::to_string(line);
  auto where = source + ":" + std::to_string(line) + ": ";
  rapidjson::Document doc;
  auto parsed =
      json_reader::parse(doc, text, json_reader::utf8_check::validate);
  if (!parsed) {
    row.error = where + "not valid JSON at column " +
                std::to_string(parsed.offset + 1) + ": " + parsed.what;
    return row;
  }
  if (!doc.IsObject()) {
    row.error = where + "expected a JSON object, e.g. {\"id\": 1, " +
                (input_names.empty()
                     ? std::string{}
                     : "\"" + input_names.front() + "\": " + "\"...\"") +
                "}";
    return row;
  }
  if (auto id = doc.FindMember("id"); id != doc.MemberEnd()) {
    if (id->value.IsString() || id->value.IsNumber())
      row.id_json = compact_json(id->value);
    else
      row.error = where + "\"id\" must be a string or a number";
  }
  const rapidjson::Value* fields = &doc;
  if (auto in = doc.FindMember("inputs");
      in != doc.MemberEnd() && in->value.IsObject())
    fields = &in->value;
  std::vector<std::string> missing;
  for (auto& name : input_names) {
    auto field = fields->FindMember(name.c_str());
    if (field == fields->MemberEnd() || field->value.IsNull()) {
      missing.push_back("'" + name + "'");
      continue;
    }
    row.inputs[name] = field->value.IsString()
                           ? std::string{field->value.GetString(),
                                         field->value.GetStringLength()}
                           : compact_json(field->value);
  }
  if (!missing.empty() && row.error.empty())
    row.error = where + "missing input " + join_names(missing) +
                " (the pipeline's inputs: " + join_names(input_names) + ")";
  return row;
}

std::string batch_result_line(const batch_row& row,
                              const pipeline_result& result,
                              const std::string& output_step) {
  rapidjson::StringBuffer buffer;
  json_writer w{buffer};
  w.StartObject();
  write_row_head(w, row);
  w.Key("status");
  write_string(w, to_string(result.status));
  const step_outcome* output = nullptr;
  for (auto& step : result.steps)
    if (step.id == output_step)
      output = &step;
  w.Key("answer");
  if (result.status == answer_status::failed)
    w.Null();
  else
    write_string(w, result.output);
  w.Key("members");
  w.StartArray();
  if (output != nullptr)
    for (auto& member : output->answer.members)
      write_outcome(w, member);
  w.EndArray();
  w.Key("steps");
  w.StartArray();
  for (auto& step : result.steps) {
    w.StartObject();
    w.Key("id");
    write_string(w, step.id);
    w.Key("status");
    write_string(w, to_string(step.status));
    if (!step.reason.empty()) {
      w.Key("reason");
      write_string(w, step.reason);
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("usage");
  write_usage(w, result.usage);
  w.Key("cost_usd");
  w.Double(result.cost_usd);
  w.Key("error");
  if (result.status == answer_status::failed) {
    auto [kind, message] = failure_of(result);
    write_error(w, kind, message);
  } else {
    w.Null();
  }
  w.Key("total_ms");
  w.Double(result.total_us / 1000.0);
  w.EndObject();
  return std::string{buffer.GetString(), buffer.GetSize()} + '\n';
}

std::string batch_invalid_line(const batch_row& row) {
  rapidjson::StringBuffer buffer;
  json_writer w{buffer};
  w.StartObject();
  write_row_head(w, row);
  w.Key("status");
  w.String("invalid");
  w.Key("answer");
  w.Null();
  w.Key("members");
  w.StartArray();
  w.EndArray();
  w.Key("steps");
  w.StartArray();
  w.EndArray();
  w.Key("usage");
  write_usage(w, {});
  w.Key("cost_usd");
  w.Double(0);
  w.Key("error");
  write_error(w, "bad_input", row.error);
  w.Key("total_ms");
  w.Double(0);
  w.EndObject();
  return std::string{buffer.GetString(), buffer.GetSize()} + '\n';
}

namespace {

/// Reads a result row; false when `line` is not one.
bool parse_result(std::string_view line, rapidjson::Document& doc) {
  if (!json_reader::parse(doc, line) || !doc.IsObject())
    return false;
  auto at = doc.FindMember("line");
  auto status = doc.FindMember("status");
  return at != doc.MemberEnd() && at->value.IsUint64() &&
         at->value.GetUint64() > 0 && doc.HasMember("id") &&
         status != doc.MemberEnd() && status->value.IsString();
}

int64_t int_field(const rapidjson::Value& object, const char* name) {
  auto field = object.FindMember(name);
  return field != object.MemberEnd() && field->value.IsInt64()
             ? field->value.GetInt64()
             : 0;
}

void count(const rapidjson::Document& doc, batch_tally& tally) {
  std::string_view kind;
  auto error = doc.FindMember("error");
  if (error != doc.MemberEnd() && error->value.IsObject()) {
    auto k = error->value.FindMember("kind");
    if (k != error->value.MemberEnd() && k->value.IsString())
      kind = k->value.GetString();
  }
  usage used;
  auto u = doc.FindMember("usage");
  if (u != doc.MemberEnd() && u->value.IsObject()) {
    used.input_tokens = int_field(u->value, "input_tokens");
    used.output_tokens = int_field(u->value, "output_tokens");
    used.cached_input_tokens = int_field(u->value, "cached_input_tokens");
  }
  auto cost = doc.FindMember("cost_usd");
  tally_row(doc["status"].GetString(), kind, used,
            cost != doc.MemberEnd() && cost->value.IsNumber()
                ? cost->value.GetDouble()
                : 0,
            tally);
}

} // namespace

void count_result(const pipeline_result& result, batch_tally& tally) {
  std::string kind;
  if (result.status == answer_status::failed)
    kind = failure_of(result).first;
  tally_row(to_string(result.status), kind, result.usage, result.cost_usd,
            tally);
}

void count_invalid(batch_tally& tally) {
  tally_row("invalid", "bad_input", {}, 0, tally);
}

void count_result_line(std::string_view line, batch_tally& tally) {
  rapidjson::Document doc;
  if (parse_result(line, doc))
    count(doc, tally);
}

size_t drop_failed_results(const std::string& path) {
  // Read and checked as --resume reads it: a file that is not results is
  // refused before anything is rewritten.
  auto results = read_batch_results(path);
  if (results.tally.rows == 0 && !results.torn)
    return 0;
  std::ifstream in{path, std::ios::binary};
  if (!in)
    throw batch_error(path + ": cannot read: " + std::strerror(errno));
  std::string text{std::istreambuf_iterator<char>{in}, {}};
  std::string kept;
  size_t dropped = 0;
  for (size_t start = 0; start < results.complete_bytes;) {
    auto end = text.find('\n', start);
    std::string_view line{text.data() + start, end - start};
    start = end + 1;
    rapidjson::Document doc;
    if (parse_result(line, doc) &&
        std::string_view{doc["status"].GetString()} == "failed") {
      ++dropped;
      continue;
    }
    kept.append(line);
    kept += '\n';
  }
  if (dropped == 0 && !results.torn)
    return 0;
  auto temporary = path + ".retry";
  auto fail = [&](const char* what) {
    auto why = std::strerror(errno);
    ::unlink(temporary.c_str());
    throw batch_error(path + ": cannot " + what + ": " + why);
  };
  int fd =
      ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    fail("write the file without its failed rows");
  for (size_t at = 0; at < kept.size();) {
    auto n = ::write(fd, kept.data() + at, kept.size() - at);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      ::close(fd);
      fail("write the file without its failed rows");
    }
    at += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    fail("flush the file without its failed rows");
  }
  ::close(fd);
  if (::rename(temporary.c_str(), path.c_str()) != 0)
    fail("replace it");
  // The rename itself is durable once the directory is flushed.
  auto dir = std::filesystem::path{path}.parent_path();
  int dir_fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return dropped;
}

batch_results_file read_batch_results(const std::string& path) {
  batch_results_file file;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    return file;
  std::ifstream in{path, std::ios::binary};
  if (!in)
    throw batch_error(path + ": cannot read: " + std::strerror(errno));
  std::string text{std::istreambuf_iterator<char>{in}, {}};
  std::map<size_t, size_t> written_at; // input line -> results line
  size_t start = 0;
  size_t number = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) {
      // The last write was cut short: the row it held is redone.
      file.torn = true;
      break;
    }
    ++number;
    std::string_view line{text.data() + start, end - start};
    start = end + 1;
    file.complete_bytes = start;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos)
      continue;
    rapidjson::Document doc;
    if (!parse_result(line, doc))
      throw batch_error(path + ":" + std::to_string(number) +
                        ": not a batch result row (a JSON object with "
                        "\"id\", \"line\" and \"status\"); is this the "
                        "results file of a batch?");
    auto input_line = static_cast<size_t>(doc["line"].GetUint64());
    if (auto [at, fresh] = written_at.emplace(input_line, number); !fresh)
      throw batch_error(path + ":" + std::to_string(number) +
                        ": a second result for input line " +
                        std::to_string(input_line) + " (the first is on line " +
                        std::to_string(at->second) + ")");
    file.done.emplace(input_line, compact_json(doc["id"]));
    count(doc, file.tally);
  }
  return file;
}

} // namespace tutti
