#include "cli/runs.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <stdexcept>

#include <CLI/CLI.hpp>

#include "cli/exit_codes.hpp"
#include "cli/format.hpp"
#include "engine/src/time_span.hpp"
#include "engine/src/utf8.hpp"
#include "tutti/json.hpp"
#include "tutti/store.hpp"

namespace tutti::cli {

namespace {

/// "2026-12-06 13:01:02" (UTC), or just the date.
std::string format_time(int64_t unix_ms, bool with_time = true) {
  std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof text, with_time ? "%Y-%m-%d %H:%M:%S" : "%Y-%m-%d",
                &tm);
  return text;
}

store_config reader_store(const runs_args& args) {
  return store_to_read(args.config, args.store);
}

} // namespace

store_config store_to_read(const std::string& config_flag,
                           const std::string& store_flag) {
  store_config store;
  if (!store_flag.empty()) {
    store.url = store_flag;
  } else {
    auto path = config_path(config_flag);
    std::error_code ec;
    if (!config_flag.empty() || std::filesystem::exists(path, ec)) {
      auto cfg = load_config(path);
      store = cfg.store;
      store.url = expand_env(store.url, cfg.store_where, "store");
    }
  }
  if (store.url == "none")
    throw store_error("store: none is configured; there is nothing to read");
  return store;
}

namespace {

std::string tokens(const usage& u) {
  return std::to_string(u.input_tokens) + "/" + std::to_string(u.output_tokens);
}

int list_runs(const runs_args& args) {
  auto store = open_store(reader_store(args));
  run_filter filter;
  auto now = unix_now_ms();
  if (!args.since.empty())
    filter.since_ms = parse_time_flag("--since", args.since, now);
  if (!args.until.empty())
    filter.until_ms = parse_time_flag("--until", args.until, now);
  filter.kind = args.kind;
  filter.target_kind = args.target_kind;
  filter.target = args.target;
  filter.status = args.status;
  filter.key = args.key;
  filter.session = args.session;
  filter.limit = args.limit;
  filter.cursor = args.cursor;
  auto page = store->list(filter);
  if (args.json) {
    std::cout << to_json(page, true) << '\n';
    return exit_answer;
  }
  size_t target_width = 10;
  for (auto& r : page.runs)
    target_width = std::max(target_width, width_of(r.target) + 2);
  std::cout << pad("run", 30) << pad("started (UTC)", 21) << pad("kind", 7)
            << pad("target", target_width) << pad("status", 11)
            << pad("wall", 10) << pad("tokens in/out", 15) << pad("cost", 11)
            << "key\n";
  for (auto& r : page.runs)
    std::cout << pad(r.id, 30) << pad(format_time(r.started_ms), 21)
              << pad(r.kind, 7) << pad(preview(r.target, 40), target_width)
              << pad(r.status, 11) << pad(format_ms(r.wall_us), 10)
              << pad(tokens(r.usage), 15) << pad(format_cost(r.cost_usd), 11)
              << preview(r.key, 30) << '\n';
  if (!page.next_cursor.empty())
    std::cout << "\nmore: --cursor " << page.next_cursor << '\n';
  return exit_answer;
}

std::string call_status(const stored_call& c) {
  if (c.ok)
    return c.cached ? "ok (cached)" : "ok";
  auto status = "failed: " + c.failure_kind;
  if (c.http_status != 0)
    status += " " + std::to_string(c.http_status);
  return status;
}

std::string optional_ms(int64_t us) {
  return us < 0 ? "-" : format_ms(us);
}

int show_run(const runs_args& args) {
  auto store = open_store(reader_store(args));
  auto run = store->find(args.id);
  if (!run) {
    std::cerr << "tutti runs show: no run '" << utf8::printable(args.id)
              << "' in the store\n";
    return exit_no_answer;
  }
  if (args.json) {
    std::cout << to_json(*run, true) << '\n';
    return exit_answer;
  }
  auto& r = *run;
  std::cout << pad("run:", key_width) << r.id << '\n'
            << pad("kind:", key_width) << r.kind << " (" << r.target_kind << " "
            << utf8::printable(r.target) << ")\n"
            << pad("status:", key_width) << r.status << '\n'
            << pad("started:", key_width) << format_time(r.started_ms)
            << " UTC, " << format_ms(r.wall_us) << '\n';
  if (!r.key.empty())
    std::cout << pad("key:", key_width) << utf8::printable(r.key) << '\n';
  if (!r.session.empty())
    std::cout << pad("session:", key_width) << utf8::printable(r.session)
              << '\n';
  if (!r.prompt.empty())
    std::cout << pad("prompt:", key_width) << preview(r.prompt, 100) << '\n';
  for (auto& s : r.steps)
    std::cout << pad("step:", key_width) << pad(s.id, 16) << pad(s.status, 10)
              << pad(format_ms(s.total_us), 10)
              << preview(s.reason.empty() ? s.text : s.reason, 50) << '\n';
  std::cout << '\n';
  size_t member_width = 12;
  size_t status_width = 10;
  for (auto& c : r.calls) {
    member_width = std::max(member_width, width_of(c.step + c.member) + 3);
    status_width = std::max(status_width, call_status(c).size() + 2);
  }
  std::cout << pad("member", member_width) << pad("provider", 14)
            << pad("status", status_width) << pad("queued", 9)
            << pad("first", 9) << pad("total", 10) << pad("tokens", 11)
            << pad("cost", 11) << "text\n";
  for (auto& c : r.calls) {
    auto label = (c.step.empty() ? "" : c.step + "/") + c.member +
                 (c.role == "combiner" ? "*" : "");
    std::cout << pad(utf8::printable(label), member_width)
              << pad(preview(c.provider, 12), 14)
              << pad(call_status(c), status_width)
              << pad(format_ms(c.queued_us), 9)
              << pad(optional_ms(c.first_token_us), 9)
              << pad(format_ms(c.total_us), 10) << pad(tokens(c.usage), 11)
              << pad(format_cost(c.cost_usd), 11)
              << preview(c.ok ? c.text : c.error, 40) << '\n';
  }
  std::cout << "\nanswer (" << (r.combine.empty() ? r.kind : r.combine)
            << "):\n"
            << utf8::for_terminal(r.answer) << '\n';
  if (!r.note.empty())
    std::cout << pad("note:", key_width) << utf8::printable(r.note) << '\n';
  std::cout << format_totals(r.usage, r.cost_usd) << '\n';
  return exit_answer;
}

int show_stats(const runs_args& args) {
  auto store = open_store(reader_store(args));
  stats_query query;
  query.by = args.by;
  query.per = args.per;
  auto now = unix_now_ms();
  query.since_ms =
      parse_time_flag("--since", args.since.empty() ? "7d" : args.since, now);
  if (!args.until.empty())
    query.until_ms = parse_time_flag("--until", args.until, now);
  auto rows = store->stats(query);
  if (args.json) {
    std::cout << to_json(query, rows, true) << '\n';
    return exit_answer;
  }
  size_t group_width = 10;
  for (auto& row : rows)
    group_width = std::max(group_width, width_of(row.group) + 2);
  std::cout << pad(query.per == "day" ? "day" : "hour (UTC)", 18)
            << pad(query.by, group_width) << pad("calls", 8) << pad("failed", 8)
            << pad("cached", 8) << pad("agree", 10) << pad("p50", 10)
            << pad("p95", 10) << pad("tokens in/out", 23)
            << pad("saved in/out", 18) << pad("cost", 14) << "failures\n";
  for (auto& row : rows) {
    std::string kinds;
    for (auto& [kind, n] : row.failures_by_kind)
      kinds += (kinds.empty() ? "" : ", ") + kind + " " + std::to_string(n);
    std::cout
        << pad(query.per == "day" ? format_time(row.bucket_ms, false)
                                  : format_time(row.bucket_ms).substr(0, 16),
               18)
        << pad(row.group.empty() ? "-" : preview(row.group, 40), group_width)
        << pad(std::to_string(row.calls), 8)
        << pad(std::to_string(row.failures), 8)
        << pad(std::to_string(row.cached), 8)
        << pad(row.voted == 0 ? std::string{"-"}
                              : std::to_string(row.agreed) + "/" +
                                    std::to_string(row.voted),
               10)
        << pad(format_ms(static_cast<int64_t>(row.p50_ms * 1000)), 10)
        << pad(format_ms(static_cast<int64_t>(row.p95_ms * 1000)), 10)
        << pad(std::to_string(row.input_tokens) + "/" +
                   std::to_string(row.output_tokens),
               23)
        << pad(row.cached == 0 ? std::string{"-"}
                               : std::to_string(row.saved_input_tokens) + "/" +
                                     std::to_string(row.saved_output_tokens),
               18)
        << pad(format_cost(row.cost_usd), 14) << kinds << '\n';
  }
  return exit_answer;
}

int migrate_store(const runs_args& args) {
  auto settings = reader_store(args);
  auto store = open_store(settings, true);
  auto where = settings.url.empty() ? default_store_path()
                                    : printable_store_url(settings.url);
  std::cout << "store " << where << " (" << store->backend()
            << "): schema version " << store->schema_version() << '\n';
  return exit_answer;
}

/// Deletes the runs that started before `--before`, a chunk at a time so
/// that a writer sharing the store waits at most one chunk.
int prune_store(const runs_args& args) {
  auto before_ms = parse_time_flag("--before", args.before, unix_now_ms());
  auto settings = reader_store(args);
  auto store = open_store(settings, true);
  constexpr size_t chunk = 1000;
  int64_t total = 0;
  for (;;) {
    auto n = store->prune(before_ms, chunk);
    total += n;
    if (static_cast<size_t>(n) < chunk)
      break;
  }
  auto where = settings.url.empty() ? default_store_path()
                                    : printable_store_url(settings.url);
  std::cout << "store " << where << ": deleted " << total
            << (total == 1 ? " run" : " runs")
            << " (with their steps and calls) that started before "
            << format_time(before_ms)
            << " UTC; `tutti runs stats` still counts their calls (the hourly "
               "roll-up is kept)\n";
  if (store->backend() == "sqlite" && total > 0)
    std::cout
        << "the file keeps its size and reuses the space for new runs; "
           "`sqlite3 FILE VACUUM` (with no tutti writing) gives it back\n";
  return exit_answer;
}

} // namespace

int64_t parse_time_flag(const std::string& flag, const std::string& text,
                        int64_t now_ms) {
  auto bad = [&] {
    return std::invalid_argument(
        flag +
        ": expected a time ago such as 30m, 24h or 7d, or a date such "
        "as 2026-12-01, got '" +
        utf8::printable(text.substr(0, 40)) + "'");
  };
  if (text.size() == 10 && text[4] == '-' && text[7] == '-') {
    std::tm tm{};
    if (strptime(text.c_str(), "%Y-%m-%d", &tm) == nullptr)
      throw bad();
    return static_cast<int64_t>(timegm(&tm)) * 1000;
  }
  auto span = time_span_ms(text);
  if (!span)
    throw bad();
  return now_ms - *span;
}

CLI::Option* add_store_option(CLI::App& cmd, std::string& store) {
  return cmd.add_option(
      "--store", store,
      "Where to keep this run: none, a file, or a postgresql:// URL "
      "(overrides the config's store:)");
}

CLI::Option* add_no_cache_flag(CLI::App& cmd, bool& no_cache) {
  return cmd.add_flag("--no-cache", no_cache,
                      "Neither read nor fill the response cache (the "
                      "config's cache: rules)");
}

void apply_store_flag(tutti::config& cfg, const std::string& flag) {
  if (!flag.empty())
    cfg.store.url = flag;
}

runs_commands add_runs_commands(CLI::App& app, runs_args& args) {
  runs_commands commands;
  auto* runs = app.add_subcommand(
      "runs", "Read the run store: list runs, show one, sum calls and spend.");
  runs->require_subcommand(1);
  auto common = [&](CLI::App& cmd) {
    add_config_option(cmd, args.config);
    cmd.add_option("--store", args.store,
                   "The store to read (default: the config's store:, else "
                   "the default SQLite file)");
    cmd.add_flag("--json", args.json, "Print JSON");
  };
  auto* list = runs->add_subcommand("list", "Runs, newest first, a page at "
                                            "a time.");
  common(*list);
  list->add_option("--since", args.since,
                   "Started since: 30m, 24h, 7d or a "
                   "date (2026-12-01)");
  list->add_option("--until", args.until, "Started before (as --since)");
  list->add_option("--kind", args.kind, "ask, run, batch or http");
  list->add_option("--target-kind", args.target_kind,
                   "ensemble, provider or pipeline")
      ->check(CLI::IsMember({"ensemble", "provider", "pipeline"}));
  list->add_option("--target", args.target,
                   "An ensemble, provider or "
                   "pipeline");
  list->add_option("--status", args.status, "ok, partial, failed, cancelled");
  list->add_option("--key", args.key, "The API key's name");
  list->add_option("--session", args.session, "A conversation's session id");
  list->add_option("--limit", args.limit, "Runs per page (at most 1000)")
      ->check(CLI::Range(1, 1000));
  list->add_option("--cursor", args.cursor, "The page after this cursor");
  auto* show = runs->add_subcommand(
      "show", "One run: every step and member call, texts and timings.");
  common(*show);
  show->add_option("id", args.id, "The run's id (run_...)")->required();
  auto* stats = runs->add_subcommand(
      "stats", "Calls, failures by kind, p50/p95 latency, tokens and spend "
               "per day or hour.");
  common(*stats);
  stats->add_option("--by", args.by, "provider, model, ensemble or key")
      ->check(CLI::IsMember({"provider", "model", "ensemble", "key"}));
  stats->add_option("--per", args.per, "day or hour")
      ->check(CLI::IsMember({"day", "hour"}));
  stats->add_option("--since", args.since, "From (default 7d)");
  stats->add_option("--until", args.until, "Until (default now)");
  auto* store = app.add_subcommand("store", "Manage the run store.");
  store->require_subcommand(1);
  auto* migrate = store->add_subcommand(
      "migrate", "Bring the store's schema up to date (tutti does it at "
                 "start as well).");
  add_config_option(*migrate, args.config);
  migrate->add_option("--store", args.store, "The store to migrate");
  commands.list = list;
  commands.show = show;
  commands.stats = stats;
  auto* prune = store->add_subcommand(
      "prune", "Delete the runs that started before a time, with their steps "
               "and calls; the hourly roll-up (tutti runs stats, budgets) "
               "keeps their figures.");
  add_config_option(*prune, args.config);
  prune->add_option("--store", args.store, "The store to prune");
  prune
      ->add_option("--before", args.before,
                   "Runs that started before this go: 90d, 24h or a date "
                   "(2026-09-01, UTC)")
      ->required();
  commands.migrate = migrate;
  commands.prune = prune;
  return commands;
}

int run_runs(const runs_commands& commands, const runs_args& args) {
  if (*commands.list)
    return list_runs(args);
  if (*commands.show)
    return show_run(args);
  if (*commands.stats)
    return show_stats(args);
  if (*commands.prune)
    return prune_store(args);
  return migrate_store(args);
}

} // namespace tutti::cli
