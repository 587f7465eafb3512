// soak: `tutti serve` under many concurrent ensembles for a long time, with a
// third of the members faulty, every answer checked (tests never assert
// speed; this asserts correctness and flat resources, and prints figures).
//
// The process hosts the fake upstream on loopback: members that answer
// (fast, streamed, slow) and members with every fault the fake has (429 with
// Retry-After, 500, 503, a stall, a truncated stream, a reset, malformed
// JSON, an error event mid-stream, a stream without its terminator, drip,
// a reply past the deadline, a deeply nested body), in OpenAI's, Anthropic's
// and Gemini's formats. It starts `tutti serve` as a child with ensembles
// mixing them (combine first, collect and vote; until all, first and
// quorum), and keeps --clients requests in flight over libcurl for
// --seconds, half of them streamed. Every answer must:
// - list every member of its ensemble, with a status or a failure kind;
// - have no member outcome later than the ensemble's deadline + 100 ms;
// - for a stream: end with [DONE] (or with an error event, for an ensemble
//   that failed mid-stream), never cut short, and its streamed text must be
//   the final answer's text; for a whole reply: the message is the answer.
// Once a second it samples the server's RSS, threads and open files; after
// the warm-up (a fifth of the run) they must stay flat. Prints the requests,
// answers by status, member outcomes by kind and by fault, the worst
// lateness, and the resource curves. Exits 1 when any check fails. See
// docs/reliability.md.

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <rapidjson/document.h>

#include "bench/bench_support.hpp"
#include "tools/fake_llm/fake_llm.hpp"

using namespace tutti::bench;
namespace fs = std::filesystem;
using steady = std::chrono::steady_clock;

namespace {

struct soak_options {
  int seconds = 600;
  int clients = 200;
  int deadline_ms = 3000;
  uint32_t seed = 1;
  bool keep_dir = false;
  std::string tutti_bin = TUTTI_BIN;
};

void usage(std::ostream& out) {
  out << "usage: soak [--seconds N] [--clients N] [--deadline-ms N] "
         "[--seed N]\n"
         "            [--tutti PATH] [--keep-dir]\n"
         "  --seconds N      how long the load lasts (default 600)\n"
         "  --clients N      requests in flight at once (default 200)\n"
         "  --deadline-ms N  every ensemble's deadline (default 3000)\n"
         "  --seed N         the random choice of ensembles and streaming "
         "(default 1)\n"
         "  --tutti PATH     the tutti binary (default: the one built with "
         "this)\n"
         "  --keep-dir       keep the temporary directory (config, logs)\n";
}

soak_options parse_args(int argc, char** argv) {
  soak_options opts;
  parse_flags(argc, argv, usage, [&](const std::string& arg, auto& value) {
    if (arg == "--seconds") {
      opts.seconds = int_flag(arg, value(), 5, 86'400);
    } else if (arg == "--clients") {
      opts.clients = int_flag(arg, value(), 1, 2'000);
    } else if (arg == "--deadline-ms") {
      opts.deadline_ms = int_flag(arg, value(), 500, 120'000);
    } else if (arg == "--seed") {
      opts.seed = static_cast<uint32_t>(int_flag(arg, value(), 0, 1 << 30));
    } else if (arg == "--tutti") {
      opts.tutti_bin = value();
    } else if (arg == "--keep-dir") {
      opts.keep_dir = true;
    } else {
      return false;
    }
    return true;
  });
  return opts;
}

// --- the members
// ----------------------------------------------------------------

/// One fake model and the provider that asks it.
struct member_spec {
  std::string name;   ///< provider and fake model
  std::string kind;   ///< codec
  std::string script; ///< the fake's behaviour
  bool faulty = false;
};

const std::vector<member_spec>& members() {
  static const std::vector<member_spec> all = {
      {"ok-fast", "openai", "{reply: \"Paris.\", latency: 30ms}", false},
      {"ok-stream", "openai",
       "{reply: \"Paris is the capital of France.\", tokens_per_second: 60}",
       false},
      {"ok-slow", "anthropic", "{reply: \"Paris.\", latency: 400ms}", false},
      {"ok-gemini", "gemini",
       "{reply: \"Paris is the capital.\", tokens_per_second: 80}", false},
      {"ok-claude", "anthropic",
       "{reply: \"The capital is Paris.\", tokens_per_second: 100}", false},
      {"ok-split", "openai",
       "{reply: \"Grüße aus Paris — ✓\", split_chunks: true}", false},
      {"ok-ping", "anthropic", "{reply: \"Paris.\", ping_comments: true}",
       false},
      {"f-429", "openai",
       "{fail: {status: 429, retry_after: 1, times: 1000000000}}", true},
      {"f-500", "openai", "{fail: {status: 500}}", true},
      {"f-503", "anthropic", "{fail: {status: 503}}", true},
      {"f-stall", "openai",
       "{reply: \"one two three four\", "
       "stall_after_tokens: 2}",
       true},
      {"f-truncate", "gemini",
       "{reply: \"one two three four\", truncate_after_tokens: 2}", true},
      {"f-reset", "openai",
       "{reply: \"one two three four\", reset_after_tokens: 2}", true},
      {"f-malformed", "anthropic", "{reply: \"Paris.\", malformed: true}",
       true},
      {"f-error-event", "openai",
       "{reply: \"one two three four\", error_event_after_tokens: 2}", true},
      {"f-no-end", "anthropic",
       "{reply: \"one two\", end_without_terminator: true}", true},
      {"f-late", "openai", "{reply: \"too late\", latency: 20s}", true},
      {"f-drip", "gemini", "{reply: \"a b c d e f\", drip_ms: 900}", true},
      {"f-nested", "openai", "{raw_body: \"" + std::string(5000, '[') + "\"}",
       true},
  };
  return all;
}

/// One ensemble of the config.
struct ensemble_spec {
  std::string name;
  std::vector<std::string> members;
  std::string combine;
  std::string until;
};

/// 49 member places, 16 of them faulty (33%); every fault appears, and two
/// ensembles have only faulty members (so answers fail whole, and streams
/// fail midway).
const std::vector<ensemble_spec>& ensembles() {
  static const std::vector<ensemble_spec> all = {
      {"e1", {"ok-fast", "ok-stream", "f-429", "ok-claude"}, "collect", "all"},
      {"e2", {"ok-stream", "f-500", "ok-gemini", "ok-split"}, "first", "all"},
      {"e3", {"ok-fast", "ok-slow", "f-stall", "ok-stream"}, "vote", "all"},
      {"e4", {"f-truncate", "ok-claude", "ok-gemini"}, "first", "first"},
      {"e5",
       {"ok-fast", "f-reset", "ok-ping", "ok-split"},
       "collect",
       "quorum"},
      {"e6", {"f-malformed", "f-error-event", "ok-stream"}, "first", "all"},
      {"e7", {"ok-gemini", "f-no-end", "ok-fast", "ok-claude"}, "vote", "all"},
      {"e8", {"f-late", "ok-fast", "ok-ping"}, "collect", "all"},
      {"e9", {"ok-split", "f-drip", "f-nested", "ok-slow"}, "first", "all"},
      {"e10", {"f-503", "ok-stream", "ok-ping", "ok-claude"}, "collect", "all"},
      {"e11", {"f-error-event", "f-no-end"}, "first", "all"},
      {"e12", {"f-500", "f-malformed"}, "collect", "all"},
      {"e13", {"ok-fast", "ok-stream", "ok-claude", "ok-ping"}, "vote", "all"},
      {"e14",
       {"ok-gemini", "ok-split", "ok-slow", "ok-fast"},
       "collect",
       "first"},
  };
  return all;
}

/// Every provider asked alone, as a one-member "ensemble" named after it.
const std::vector<ensemble_spec>& single_providers() {
  static const std::vector<ensemble_spec> all = [] {
    std::vector<ensemble_spec> out;
    for (auto& m : members())
      out.push_back({m.name, {m.name}, "first", "all"});
    return out;
  }();
  return all;
}

std::string fake_script() {
  std::string script = "models:\n";
  for (auto& m : members())
    script += "  " + m.name + ": " + m.script + "\n";
  return script;
}

void write_config(const fs::path& path, const tutti::fake::server& fake,
                  const soak_options& opts) {
  std::ofstream out{path};
  out << "providers:\n";
  for (auto& m : members()) {
    auto url =
        m.kind == "gemini" ? fake.root_url() + "/v1beta" : fake.base_url();
    out << "  " << m.name << ":\n    kind: " << m.kind
        << "\n    model: " << m.name << "\n    base_url: \"" << url
        << "\"\n    api_key: sk-soak-" << m.name
        << "\n    concurrency: 1000\n    retry: {attempts: 2, backoff: 50ms, "
           "max_backoff: 200ms}\n"
           "    timeouts: {idle: 1500ms, total: "
        << opts.deadline_ms
        << "ms}\n"
           // The breaker stays closed, so every fault is met all along.
           "    breaker: {failures: 0}\n";
    if (m.kind == "anthropic")
      out << "    params: {max_tokens: 64}\n";
  }
  out << "ensembles:\n";
  for (auto& e : ensembles()) {
    out << "  " << e.name << ":\n    members: [";
    for (size_t i = 0; i < e.members.size(); ++i)
      out << (i > 0 ? ", " : "") << e.members[i];
    out << "]\n    combine: " << e.combine
        << "\n    until: " << (e.until == "quorum" ? "{quorum: 2}" : e.until)
        << "\n    deadline: " << opts.deadline_ms << "ms\n";
  }
  if (!out)
    throw std::runtime_error(path.string() + ": cannot write");
}

// --- checking one answer
// --------------------------------------------------------

struct tally {
  uint64_t requests = 0;
  std::map<std::string, uint64_t> answers;      ///< by ensemble status
  std::map<std::string, uint64_t> http;         ///< by HTTP status
  std::map<std::string, uint64_t> member_kinds; ///< ok or failure kind
  std::map<std::string, std::map<std::string, uint64_t>> by_member;
  uint64_t streams = 0;
  uint64_t streams_failed_midway = 0;
  double worst_late_ms = -1e9; ///< member total_ms - deadline, worst seen
  std::vector<std::string> problems;
  uint64_t problem_count = 0;

  void problem(const std::string& text) {
    ++problem_count;
    if (problems.size() < 20)
      problems.push_back(text);
  }
};

std::string str(const rapidjson::Value& v) {
  return v.IsString() ? std::string{v.GetString(), v.GetStringLength()} : "";
}

/// Checks an `ensemble` object: every member listed, none late.
void check_ensemble(const rapidjson::Value& ens, const ensemble_spec& spec,
                    const soak_options& opts, tally& t,
                    const std::string& where) {
  if (!ens.IsObject() || !ens.HasMember("members") ||
      !ens["members"].IsArray()) {
    t.problem(where + ": no ensemble object with members");
    return;
  }
  auto& list = ens["members"];
  if (list.Size() != spec.members.size())
    t.problem(where + ": " + std::to_string(list.Size()) + " members listed, " +
              std::to_string(spec.members.size()) + " in the ensemble");
  std::vector<std::string> seen;
  for (auto& m : list.GetArray()) {
    auto label = str(m["member"]);
    seen.push_back(label);
    auto status = str(m["status"]);
    std::string kind = status == "ok" ? "ok" : "";
    if (status != "ok" && m.HasMember("error") && m["error"].IsObject())
      kind = str(m["error"]["kind"]);
    if (kind.empty())
      t.problem(where + ": member " + label + " has neither ok nor a kind");
    ++t.member_kinds[kind];
    ++t.by_member[label][kind];
    auto& timing = m["timing"];
    if (timing.IsObject() && timing.HasMember("total_ms") &&
        timing["total_ms"].IsNumber()) {
      auto late = timing["total_ms"].GetDouble() - opts.deadline_ms;
      t.worst_late_ms = std::max(t.worst_late_ms, late);
      if (late > 100)
        t.problem(where + ": member " + label + " ended " + fixed(late, 0) +
                  " ms past the deadline");
    }
  }
  for (auto& name : spec.members)
    if (std::find(seen.begin(), seen.end(), name) == seen.end())
      t.problem(where + ": member " + name + " is not listed");
}

void check_whole(long status, const std::string& body,
                 const ensemble_spec& spec, const soak_options& opts,
                 tally& t) {
  auto where = spec.name + " whole";
  rapidjson::Document doc;
  doc.Parse(body.c_str());
  if (doc.HasParseError() || !doc.IsObject()) {
    t.problem(where + ": HTTP " + std::to_string(status) +
              ", not JSON: " + body.substr(0, 120));
    return;
  }
  if (!doc.HasMember("ensemble")) {
    t.problem(where + ": HTTP " + std::to_string(status) +
              " without the ensemble: " + body.substr(0, 160));
    return;
  }
  auto& ens = doc["ensemble"];
  check_ensemble(ens, spec, opts, t, where);
  auto answer = str(ens["status"]);
  ++t.answers[answer];
  if (status == 200) {
    if (answer == "failed")
      t.problem(where + ": 200 for a failed ensemble");
    auto text = str(doc["choices"][0]["message"]["content"]);
    if (text != str(ens["text"]))
      t.problem(where + ": the message is not the answer's text");
  } else if (status >= 400 && status <= 599) {
    // A failed ensemble is a 502; a provider asked alone answers with the
    // status its failure maps to (429, 500, 503, 504...; docs/http.md).
    if (answer != "failed")
      t.problem(where + ": " + std::to_string(status) + " for a " + answer +
                " answer");
  } else {
    t.problem(where + ": HTTP " + std::to_string(status));
  }
}

void check_stream(long status, const std::string& body,
                  const ensemble_spec& spec, const soak_options& opts,
                  tally& t) {
  auto where = spec.name + " stream";
  ++t.streams;
  if (status >= 400 && status <= 599) {
    check_whole(status, body, spec, opts, t); // failed before any token
    return;
  }
  if (status != 200) {
    t.problem(where + ": HTTP " + std::to_string(status));
    return;
  }
  std::string content;
  bool done = false;
  bool failed_midway = false;
  bool finished = false;
  size_t at = 0;
  while (at < body.size()) {
    auto end = body.find("\n\n", at);
    if (end == std::string::npos) {
      t.problem(where + ": a partial event at the end");
      return;
    }
    auto event = body.substr(at, end - at);
    at = end + 2;
    if (event.rfind(":", 0) == 0)
      continue; // a comment
    if (event.rfind("data: ", 0) != 0) {
      t.problem(where + ": an event without data: " + event.substr(0, 60));
      continue;
    }
    auto data = event.substr(6);
    if (data == "[DONE]") {
      done = true;
      continue;
    }
    if (done)
      t.problem(where + ": data after [DONE]");
    rapidjson::Document doc;
    doc.Parse(data.c_str());
    if (doc.HasParseError() || !doc.IsObject()) {
      t.problem(where + ": an event that is not JSON: " + data.substr(0, 80));
      continue;
    }
    if (doc.HasMember("error")) {
      failed_midway = true;
      check_ensemble(doc["ensemble"], spec, opts, t, where);
      ++t.answers[str(doc["ensemble"]["status"])];
      continue;
    }
    auto& choices = doc["choices"];
    if (!choices.IsArray() || choices.Empty())
      continue;
    auto& choice = choices[0];
    if (choice["delta"].HasMember("content"))
      content += str(choice["delta"]["content"]);
    if (!choice["finish_reason"].IsNull()) {
      finished = true;
      auto& ens = doc["ensemble"];
      check_ensemble(ens, spec, opts, t, where);
      auto answer = str(ens["status"]);
      ++t.answers[answer];
      if (answer == "failed")
        t.problem(where + ": a finished stream for a failed ensemble");
      if (content != str(ens["text"]))
        t.problem(where + ": streamed '" + content.substr(0, 60) +
                  "' but the answer is '" + str(ens["text"]).substr(0, 60) +
                  "'");
    }
  }
  if (failed_midway) {
    ++t.streams_failed_midway;
    if (done)
      t.problem(where + ": [DONE] after an error event");
    return;
  }
  if (!finished || !done)
    t.problem(where + ": the stream ended without " +
              (finished ? std::string{"[DONE]"} : "its finish chunk"));
}

// --- the load
// ----------------------------------------------------------------------

struct request {
  CURL* easy = nullptr;
  const ensemble_spec* spec = nullptr;
  bool stream = false;
  std::string body;
  std::string payload;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  static_cast<request*>(user)->body.append(data, size * count);
  return size * count;
}

struct sample {
  double t = 0;
  double rss_mib = 0;
  double threads = 0;
  double fds = 0;
};

sample sample_of(pid_t pid, double t) {
  sample s;
  s.t = t;
  s.rss_mib = proc_status_number(pid, "VmRSS") / 1024.0;
  s.threads = static_cast<double>(proc_status_number(pid, "Threads"));
  s.fds = static_cast<double>(open_fds(pid));
  return s;
}

/// The largest of `field` over the samples in [from, to) seconds.
double max_in(const std::vector<sample>& samples, double from, double to,
              double sample::*field) {
  double most = 0;
  for (auto& s : samples)
    if (s.t >= from && s.t < to)
      most = std::max(most, s.*field);
  return most;
}

void print_curve(const std::vector<sample>& samples, const std::string& name,
                 double sample::*field, int decimals) {
  double top = 0;
  for (auto& s : samples)
    top = std::max(top, s.*field);
  std::cout << name << " of tutti serve over time\n";
  size_t step = std::max<size_t>(1, samples.size() / 30);
  for (size_t i = 0; i < samples.size(); i += step) {
    auto& s = samples[i];
    std::cout << "  " << std::setw(6) << fixed(s.t, 0) << " s " << std::setw(8)
              << fixed(s.*field, decimals) << "  " << scaled_bar(s.*field, top)
              << '\n';
  }
  std::cout << '\n';
}

int run(const soak_options& opts) {
  if (::access(opts.tutti_bin.c_str(), X_OK) != 0)
    throw std::runtime_error(opts.tutti_bin + ": not an executable");
  print_machine_head("soak");
  std::cout << "  loadavg   " << read_first_line("/proc/loadavg") << '\n'
            << "  build     " << TUTTI_BUILD_TYPE << '\n'
            << "  tutti     " << opts.tutti_bin << '\n'
            << "  settings  --seconds " << opts.seconds << " --clients "
            << opts.clients << " --deadline-ms " << opts.deadline_ms
            << " --seed " << opts.seed << '\n';
  curl_global_init(CURL_GLOBAL_DEFAULT);
  tutti::fake::server fake{tutti::fake::parse_script(fake_script()), "",
                           2 * opts.clients * 4 + 64};
  fake.start();
  auto dir = make_work_dir("soak");
  write_config(dir / "tutti.yaml", fake, opts);
  child_process serve{{opts.tutti_bin, "serve", "--config",
                       (dir / "tutti.yaml").string(), "--listen",
                       "127.0.0.1:0"},
                      {data_home_in(dir)},
                      dir / "tutti.stdout",
                      dir / "tutti.stderr"};
  auto url = wait_for_banner(serve, "tutti serve listening on",
                             std::chrono::seconds{60});
  size_t faulty_places = 0;
  size_t places = 0;
  for (auto& e : ensembles())
    for (auto& m : e.members) {
      ++places;
      for (auto& spec : members())
        if (spec.name == m && spec.faulty)
          ++faulty_places;
    }
  std::cout << "  serve     " << url << " (pid " << serve.pid() << ")\n"
            << "  upstream  " << fake.base_url() << "; " << members().size()
            << " models, " << ensembles().size() << " ensembles, "
            << faulty_places << " of " << places << " member places faulty\n"
            << "  workdir   " << dir.string() << "\n\n"
            << std::flush;

  tally t;
  std::mt19937 random{opts.seed};
  CURLM* multi = curl_multi_init();
  curl_slist* headers =
      curl_slist_append(nullptr, "Content-Type: application/json");
  headers = curl_slist_append(headers, "Expect:");
  std::vector<request> slots(static_cast<size_t>(opts.clients));
  auto start_request = [&](request& r) {
    // One request in eight asks a provider alone: its tokens are the
    // answer's, so a stream can fail after text went out.
    bool alone = random() % 8 == 0;
    auto& e = alone ? single_providers()[random() % single_providers().size()]
                    : ensembles()[random() % ensembles().size()];
    r.spec = &e;
    r.stream = random() % 2 == 0;
    r.body.clear();
    r.payload =
        R"({"model":")" + (alone ? "" : std::string{"ensemble/"}) + e.name +
        R"(","messages":[{"role":"user","content":"Capital of France? )" +
        std::to_string(t.requests) + R"("}],"stream":)" +
        (r.stream ? "true" : "false") + "}";
    if (r.easy == nullptr) {
      r.easy = curl_easy_init();
      curl_easy_setopt(r.easy, CURLOPT_URL,
                       (url + "/v1/chat/completions").c_str());
      curl_easy_setopt(r.easy, CURLOPT_HTTPHEADER, headers);
      curl_easy_setopt(r.easy, CURLOPT_WRITEFUNCTION, on_body);
      curl_easy_setopt(r.easy, CURLOPT_WRITEDATA, &r);
      curl_easy_setopt(r.easy, CURLOPT_PRIVATE, &r);
      curl_easy_setopt(r.easy, CURLOPT_NOSIGNAL, 1L);
      curl_easy_setopt(r.easy, CURLOPT_TIMEOUT_MS,
                       static_cast<long>(4 * opts.deadline_ms + 10'000));
    }
    curl_easy_setopt(r.easy, CURLOPT_POSTFIELDS, r.payload.c_str());
    curl_multi_add_handle(multi, r.easy);
    ++t.requests;
  };
  for (auto& r : slots)
    start_request(r);

  std::vector<sample> samples;
  auto begin = steady::now();
  auto end_at = begin + std::chrono::seconds{opts.seconds};
  auto next_sample = begin;
  int in_flight = opts.clients;
  bool stopping = false;
  while (in_flight > 0) {
    auto now = steady::now();
    if (!stopping && now >= end_at)
      stopping = true;
    if (now >= next_sample) {
      samples.push_back(sample_of(
          serve.pid(), std::chrono::duration<double>(now - begin).count()));
      next_sample += std::chrono::seconds{1};
    }
    int running = 0;
    curl_multi_perform(multi, &running);
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE)
        continue;
      request* r = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &r);
      long status = 0;
      curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
      auto code = msg->data.result;
      curl_multi_remove_handle(multi, r->easy);
      ++t.http[std::to_string(status)];
      if (code != CURLE_OK) {
        t.problem(r->spec->name + ": " + curl_easy_strerror(code));
      } else if (r->stream) {
        check_stream(status, r->body, *r->spec, opts, t);
      } else {
        check_whole(status, r->body, *r->spec, opts, t);
      }
      if (stopping || !serve.running())
        --in_flight;
      else
        start_request(*r);
    }
    if (in_flight > 0)
      curl_multi_poll(multi, nullptr, 0, 100, nullptr);
  }
  auto wall = std::chrono::duration<double>(steady::now() - begin).count();
  samples.push_back(sample_of(serve.pid(), wall));
  for (auto& r : slots)
    if (r.easy != nullptr)
      curl_easy_cleanup(r.easy);
  curl_multi_cleanup(multi);
  curl_slist_free_all(headers);
  bool alive = serve.running();
  serve.stop();
  // A sanitizer build reports at exit too (leaks): its report, or any exit
  // but a clean one after SIGTERM, fails the soak.
  auto errors = serve.errors();
  if (alive && serve.exit_code() != 0)
    t.problem(serve.describe_failure("tutti serve exited with " +
                                     std::to_string(serve.exit_code()) +
                                     " after SIGTERM"));
  for (auto* report : {"Sanitizer", "runtime error:"})
    if (errors.find(report) != std::string::npos)
      t.problem(serve.describe_failure(std::string{"tutti serve reported '"} +
                                       report + "'"));
  fake.stop();
  curl_global_cleanup();

  // Resources after the warm-up: the window just after it against the last.
  double warm = opts.seconds / 5.0;
  double span = std::max(5.0, opts.seconds / 5.0);
  double rss_early = max_in(samples, warm, warm + span, &sample::rss_mib);
  double rss_late =
      max_in(samples, opts.seconds - span, opts.seconds + 1, &sample::rss_mib);
  double fds_early = max_in(samples, warm, warm + span, &sample::fds);
  double fds_late =
      max_in(samples, opts.seconds - span, opts.seconds + 1, &sample::fds);
  double thr_early = max_in(samples, warm, warm + span, &sample::threads);
  double thr_late =
      max_in(samples, opts.seconds - span, opts.seconds + 1, &sample::threads);
  if (rss_late > rss_early * 1.10 + 4)
    t.problem("RSS grew after the warm-up: " + fixed(rss_early, 1) + " -> " +
              fixed(rss_late, 1) + " MiB");
  if (fds_late > fds_early * 1.20 + 20)
    t.problem("open files grew after the warm-up: " + fixed(fds_early, 0) +
              " -> " + fixed(fds_late, 0));
  if (thr_late > thr_early + 2)
    t.problem("threads grew after the warm-up: " + fixed(thr_early, 0) +
              " -> " + fixed(thr_late, 0));
  if (!alive)
    t.problem(serve.describe_failure("tutti serve exited during the soak"));

  std::cout << "requests  " << t.requests << " in " << fixed(wall, 1) << " s ("
            << fixed(t.requests / wall, 1) << "/s), " << opts.clients
            << " in flight, " << t.streams << " streamed ("
            << t.streams_failed_midway << " failed mid-stream)\n";
  std::cout << "HTTP      ";
  for (auto& [code, n] : t.http)
    std::cout << code << ": " << n << "  ";
  std::cout << "\nanswers   ";
  for (auto& [status, n] : t.answers)
    std::cout << status << ": " << n << "  ";
  std::cout << "\nmembers   ";
  for (auto& [kind, n] : t.member_kinds)
    std::cout << kind << ": " << n << "  ";
  std::cout << "\nworst lateness past the deadline: "
            << fixed(t.worst_late_ms, 1) << " ms (a member's total_ms - "
            << opts.deadline_ms << ")\n";
  std::cout << "resources after the warm-up (" << fixed(warm, 0) << " s): RSS "
            << fixed(rss_early, 1) << " -> " << fixed(rss_late, 1)
            << " MiB, threads " << fixed(thr_early, 0) << " -> "
            << fixed(thr_late, 0) << ", open files " << fixed(fds_early, 0)
            << " -> " << fixed(fds_late, 0) << "\n\n";

  std::cout << "what each member produced (its outcomes by kind)\n";
  for (auto& m : members()) {
    std::cout << "  " << m.name
              << std::string(16 - std::min<size_t>(15, m.name.size()), ' ')
              << (m.faulty ? "fault " : "      ");
    for (auto& [kind, n] : t.by_member[m.name])
      std::cout << kind << " " << n << "  ";
    std::cout << '\n';
  }
  std::cout << '\n';
  print_curve(samples, "RSS MiB", &sample::rss_mib, 1);
  print_curve(samples, "open files", &sample::fds, 0);
  print_curve(samples, "threads", &sample::threads, 0);

  if (t.problem_count > 0) {
    std::cout << "FAILED: " << t.problem_count << " problems (logs kept in "
              << dir.string() << ")\n";
    for (auto& p : t.problems)
      std::cout << "  " << p << '\n';
    return 1;
  }
  std::cout << "every answer listed every member, none later than the "
               "deadline + 100 ms; every stream ended with [DONE] or an "
               "error event and streamed its answer's text; resources flat\n";
  remove_work_dir(dir, opts.keep_dir);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  return tutti::bench::bench_main("soak", argc, argv, parse_args, run, usage);
}
