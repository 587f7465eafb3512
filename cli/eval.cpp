// `tutti eval`: every row of a labelled JSONL file through each ensemble
// and provider listed, scored against the row's expected answer; a table of
// accuracy (with its Wilson interval), cost, latency and failures, the vote
// weights the accuracies suggest, and an accuracy-against-cost chart.
//
// Rows run `--concurrency` at a time; the targets of one row run one after
// another, so that a member call a later target makes exactly as an earlier
// one did is served from the engine's response cache, switched on for every
// provider for this run alone and kept in memory: five strategies over the
// same members cost one call per member per row (docs/eval.md, "Shared
// calls"). A row's result lines are written in one write when its last
// target is scored: the results file is what `--resume` completes.

#include "cli/eval.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>

#include <CLI/CLI.hpp>

#include "cli/eval_report.hpp"
#include "cli/eval_score.hpp"
#include "cli/format.hpp"
#include "cli/runs.hpp"
#include "engine/src/line_reader.hpp"
#include "tutti/batch.hpp"
#include "tutti/engine.hpp"

namespace tutti::cli {

namespace {

constexpr int exit_all_scored = 0;
constexpr int exit_rows_unscored = 1;
constexpr int exit_interrupted = 130;

/// How long an eval's shared calls are kept: longer than any row's targets
/// take; the cache lives in memory and dies with the run.
constexpr int64_t shared_call_ttl_ms = 6 * 3600 * 1000;

std::atomic<int> interrupts{0};

extern "C" void on_eval_interrupt(int) {
  if (interrupts.fetch_add(1) >= 2)
    ::_exit(exit_interrupted);
}

/// The rows of the data file: those that are rows, and what the others are.
struct eval_rows {
  std::vector<batch_row> rows;
  std::vector<std::string> invalid; ///< "FILE:LINE: why", in order
};

/// Calls `on_line(text, line, too_long)` for each line of `path`, holding
/// at most `max_bytes` of one (the rest of a longer line is skipped), as
/// `tutti batch` reads its rows.
template <class OnLine>
void for_each_line(const std::string& path, size_t max_bytes, OnLine on_line) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    throw batch_error(path + ": cannot open: " + std::strerror(errno));
  std::string line;
  bool too_long = false;
  size_t number = 0;
  while (read_line(in, line, max_bytes, too_long))
    on_line(line, ++number, too_long);
  if (in.bad())
    throw batch_error(path + ": cannot read it");
}

eval_rows read_eval_rows(const eval_args& args) {
  eval_rows out;
  std::vector<std::string> fields{args.question, args.expected};
  for_each_line(args.data, args.max_row_bytes,
                [&](const std::string& text, size_t line, bool too_long) {
                  if (text.find_first_not_of(" \t\r") == std::string::npos &&
                      !too_long)
                    return; // a blank line is no row
                  auto where = args.data + ":" + std::to_string(line) + ": ";
                  if (too_long) {
                    out.invalid.push_back(where + "longer than " +
                                          std::to_string(args.max_row_bytes) +
                                          " bytes (--max-row-bytes)");
                    return;
                  }
                  auto row = parse_batch_row(text, line, args.data, fields);
                  if (!row.error.empty())
                    out.invalid.push_back(row.error);
                  else
                    out.rows.push_back(std::move(row));
                });
  return out;
}

/// What an existing results file holds.
struct done_results {
  std::vector<eval_result> results;
  std::set<size_t> lines; ///< the data lines every target has scored
  uint64_t complete_bytes = 0;
  bool torn = false;
};

/// Reads the results file for `--resume`: rows whose lines are all there
/// (one per target, written in one go) are done; a torn or incomplete last
/// row is dropped. Throws `batch_error` on anything else.
done_results read_done(const std::string& path,
                       const std::vector<eval_target>& targets) {
  done_results done;
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return done;
  std::string text{std::istreambuf_iterator<char>{in}, {}};
  std::vector<eval_result> group;
  uint64_t offset = 0;
  size_t number = 0;
  auto close_group = [&](uint64_t end) {
    if (group.empty())
      return;
    std::set<std::string> names;
    for (auto& r : group)
      names.insert(r.target);
    std::set<std::string> wanted;
    for (auto& t : targets)
      wanted.insert(t.name);
    if (names != wanted)
      throw batch_error(path + ":" + std::to_string(number) +
                        ": the row of data line " +
                        std::to_string(group.front().line) +
                        " was scored for other targets; resume with the "
                        "same --ensembles and --providers");
    if (!done.lines.insert(group.front().line).second)
      throw batch_error(path + ":" + std::to_string(number) + ": data line " +
                        std::to_string(group.front().line) +
                        " is scored twice");
    for (auto& r : group)
      done.results.push_back(std::move(r));
    group.clear();
    done.complete_bytes = end;
  };
  while (offset < text.size()) {
    auto end = text.find('\n', offset);
    if (end == std::string::npos) {
      done.torn = true; // a write cut short
      break;
    }
    ++number;
    auto line = std::string_view{text}.substr(offset, end - offset);
    auto r = parse_eval_result(line);
    if (!r)
      throw batch_error(path + ":" + std::to_string(number) +
                        ": not a result line of tutti eval");
    if (!group.empty() && group.front().line != r->line)
      close_group(offset);
    group.push_back(std::move(*r));
    offset = end + 1;
    if (group.size() == targets.size())
      close_group(offset);
  }
  if (!group.empty())
    done.torn = true; // a row's lines cut short
  return done;
}

/// One row on its way through the targets.
struct row_run {
  const batch_row* row = nullptr;
  size_t next = 0; ///< the target asked now
  uint64_t handle = 0;
  std::vector<member_outcome> calls; ///< the row's calls so far
  std::vector<eval_result> results;
  bool judging = false;
};

/// An answer handed from an engine thread to the main one.
struct finished {
  size_t slot = 0;
  bool judge = false;
  ensemble_answer answer;
};

class answer_queue {
public:
  void push(finished f) {
    {
      std::lock_guard<std::mutex> lock{mtx_};
      items_.push_back(std::move(f));
    }
    cv_.notify_one();
  }
  /// The next answer, or none after `wait`.
  std::optional<finished> pop(std::chrono::milliseconds wait) {
    std::unique_lock<std::mutex> lock{mtx_};
    if (!cv_.wait_for(lock, wait, [&] { return !items_.empty(); }))
      return std::nullopt;
    auto f = std::move(items_.front());
    items_.pop_front();
    return f;
  }

private:
  std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<finished> items_;
};

std::string session_name() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[40];
  std::strftime(text, sizeof text, "eval-%Y%m%dT%H%M%SZ", &tm);
  return text + std::string{"-"} + std::to_string(::getpid());
}

/// Why an answer has none.
std::string failure_of(const ensemble_answer& a) {
  if (!a.note.empty())
    return a.note;
  std::string kinds;
  for (auto& m : a.members)
    if (!m.ok)
      kinds += (kinds.empty() ? "" : ", ") + m.member + " " +
               std::string{to_string(m.error.kind)};
  return kinds.empty() ? "no answer" : "no answer: " + kinds;
}

/// The live or periodic progress line.
std::string progress_text(size_t done, size_t total, size_t in_flight,
                          double seconds, size_t done_now) {
  std::ostringstream line;
  auto rate = seconds > 0 ? done_now / seconds : 0;
  line << "eval: " << done << '/' << total << " rows ("
       << (total == 0 ? 100 : done * 100 / total) << "%), " << in_flight
       << " in flight, ";
  char r[32];
  std::snprintf(r, sizeof r, "%.1f rows/s", rate);
  line << r;
  if (rate > 0) {
    auto left = static_cast<long long>((total - done) / rate + 0.5);
    char eta[32];
    std::snprintf(eta, sizeof eta, ", ETA %lld:%02lld", left / 60, left % 60);
    line << eta;
  }
  return line.str();
}

} // namespace

CLI::App* add_eval_command(CLI::App& app, eval_args& args) {
  auto* cmd = app.add_subcommand(
      "eval",
      "Score ensembles and providers on a labelled JSONL dataset: accuracy "
      "with a 95% interval, cost, latency and failures per target; member "
      "calls shared between targets; --resume completes a stopped run.");
  add_config_option(*cmd, args.config);
  add_store_option(*cmd, args.store);
  cmd->add_option("--data", args.data,
                  "Labelled rows, one JSON object per line, e.g. "
                  "{\"id\": 1, \"question\": \"...\", \"answer\": \"42\"}")
      ->required();
  cmd->add_option("--expected", args.expected,
                  "The field holding the expected answer")
      ->required();
  cmd->add_option("--question", args.question,
                  "The field holding the question sent (default question)");
  cmd->add_option("--extract", args.extract,
                  "Compare only the part of a reply this regex picks (RE2; "
                  "its first group, as vote's extract:)");
  cmd->add_option("--judge", args.judge,
                  "Score free text with this provider's verdict instead");
  cmd->add_option("--rubric", args.rubric,
                  "What the judge counts as correct (with --judge)");
  cmd->add_option("--ensembles", args.ensembles, "Ensembles to score")
      ->delimiter(',');
  cmd->add_option("--providers", args.providers, "Providers to score alone")
      ->delimiter(',');
  cmd->add_option("--out", args.out,
                  "Results file (JSONL, a line per row and target); what "
                  "--resume completes")
      ->required();
  cmd->add_option("--chart", args.chart,
                  "Write an SVG chart of accuracy against cost per row");
  cmd->add_option("--concurrency", args.concurrency,
                  "Rows running at once (default 8)")
      ->check(CLI::Range(1, 10000));
  cmd->add_flag("--weights", args.weights,
                "Print the vote weights the measured accuracies suggest, "
                "as YAML");
  cmd->add_flag("--resume", args.resume,
                "Complete an existing results file: skip the rows it has");
  cmd->add_option("--limit", args.limit, "Score only the first N rows");
  add_no_cache_flag(*cmd, args.no_cache)
      ->description("Share no calls: every target makes its own");
  cmd->add_option("--max-row-bytes", args.max_row_bytes,
                  "Longest data row in bytes; a longer line is reported and "
                  "skipped (default 1048576)")
      ->check(CLI::Range(size_t{16}, size_t{1} << 30));
  cmd->add_option("--progress-every", args.progress_every,
                  "Seconds between progress lines when stderr is not a "
                  "terminal (default 10)")
      ->check(CLI::PositiveNumber);
  return cmd;
}

int run_eval(const eval_args& args) {
  auto cfg = load_cli_config(args.config);
  apply_store_flag(cfg, args.store);
  auto targets = eval_targets(cfg, args.ensembles, args.providers);
  if (!args.judge.empty() && cfg.providers.count(args.judge) == 0)
    throw std::invalid_argument("eval: no provider '" + args.judge +
                                "' for --judge in the config");
  if (!args.rubric.empty() && args.judge.empty())
    throw std::invalid_argument("eval: --rubric goes with --judge");
  answer_scorer scorer{args.extract};

  auto data = read_eval_rows(args);
  for (auto& why : data.invalid)
    std::cerr << "skipped " << why << '\n';
  if (args.limit > 0 && data.rows.size() > args.limit)
    data.rows.resize(args.limit);

  struct stat st {};
  bool exists = ::stat(args.out.c_str(), &st) == 0 && st.st_size > 0;
  if (exists && !args.resume)
    throw batch_error(args.out +
                      ": already holds results; --resume completes it, or "
                      "give another --out");
  auto done = args.resume ? read_done(args.out, targets) : done_results{};
  if (done.torn && ::truncate(args.out.c_str(),
                              static_cast<off_t>(done.complete_bytes)) != 0)
    throw batch_error(
        args.out + ": cannot drop its torn last row: " + std::strerror(errno));
  std::vector<const batch_row*> todo;
  size_t done_before = 0;
  for (auto& row : data.rows) {
    if (done.lines.count(row.line) > 0)
      ++done_before;
    else
      todo.push_back(&row);
  }
  if (done_before > 0)
    std::cerr << "resuming: " << done_before << " of " << data.rows.size()
              << " rows already scored\n";
  // Only the rows of this data (and limit) count in the report.
  std::set<size_t> wanted_lines;
  for (auto& row : data.rows)
    wanted_lines.insert(row.line);
  std::vector<eval_result> results;
  for (auto& r : done.results)
    if (wanted_lines.count(r.line) > 0)
      results.push_back(std::move(r));

  int fd =
      ::open(args.out.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0)
    throw batch_error(args.out + ": cannot open: " + std::strerror(errno));

  // Share identical member calls between a row's targets: every provider
  // and ensemble caches, sampled calls too, in memory for this run alone.
  if (!args.no_cache) {
    cache_policy shared{shared_call_ttl_ms, true};
    for (auto& [name, pc] : cfg.providers)
      pc.cache = shared;
    for (auto& [name, ec] : cfg.ensembles)
      ec.cache = shared;
  }
  engine_options engine_opts;
  engine_opts.memory_cache = true;
  auto session = session_name();
  const config cfg_seen = cfg; // prices for the report, as run
  answer_queue queue;          // before the engine: its last answers land here
  tutti::engine engine{std::move(cfg), engine_opts};

  std::vector<row_run> slots(std::max<size_t>(1, args.concurrency));
  std::vector<size_t> free_slots;
  for (size_t i = slots.size(); i-- > 0;)
    free_slots.push_back(i);
  size_t next_row = 0;
  size_t in_flight = 0;
  size_t unscored = 0;
  size_t scored_now = 0;
  bool stopping = false;
  auto started = std::chrono::steady_clock::now();

  auto base_options = [&] {
    ask_options o;
    o.priority = priority::batch;
    o.no_cache = args.no_cache;
    o.record.kind = "eval";
    o.record.session = session;
    return o;
  };
  auto ask_target = [&](size_t slot) {
    auto& run = slots[slot];
    auto& t = targets[run.next];
    auto to = t.ensemble ? target::ensemble(t.name) : target::provider(t.name);
    std::vector<chat_message> messages{
        chat_message{"user", run.row->inputs.at(args.question)}};
    run.handle =
        engine.start_ask(to, std::move(messages), base_options(),
                         [&queue, slot](ensemble_answer a) {
                           queue.push(finished{slot, false, std::move(a)});
                         });
  };
  auto ask_judge = [&](size_t slot, const eval_result& r) {
    auto& run = slots[slot];
    auto prompt =
        judge_prompt(run.row->inputs.at(args.question),
                     run.row->inputs.at(args.expected), r.answer, args.rubric);
    run.judging = true;
    run.handle = engine.start_ask(
        target::provider(args.judge), {chat_message{"user", prompt}},
        base_options(), [&queue, slot](ensemble_answer a) {
          queue.push(finished{slot, true, std::move(a)});
        });
  };
  auto start_rows = [&] {
    while (!stopping && !free_slots.empty() && next_row < todo.size()) {
      auto slot = free_slots.back();
      free_slots.pop_back();
      slots[slot] = row_run{};
      slots[slot].row = todo[next_row++];
      ++in_flight;
      ask_target(slot);
    }
  };
  auto finish_row = [&](size_t slot) {
    auto& run = slots[slot];
    std::string lines;
    for (auto& r : run.results) {
      lines += eval_result_line(r);
      unscored += r.scored ? 0 : 1;
    }
    size_t written = 0;
    while (written < lines.size()) {
      auto n = ::write(fd, lines.data() + written, lines.size() - written);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        throw batch_error(args.out + ": cannot write: " + std::strerror(errno));
      written += static_cast<size_t>(n);
    }
    for (auto& r : run.results)
      results.push_back(std::move(r));
    ++scored_now;
    --in_flight;
    run = row_run{};
    free_slots.push_back(slot);
  };
  auto next_target = [&](size_t slot) {
    auto& run = slots[slot];
    run.judging = false;
    if (++run.next < targets.size())
      ask_target(slot);
    else
      finish_row(slot);
  };
  auto on_answer = [&](finished& f) {
    auto& run = slots[f.slot];
    auto& a = f.answer;
    if (f.judge) {
      auto& r = run.results.back();
      r.judge_usd = a.cost_usd;
      auto verdict = a.status == answer_status::failed ? std::nullopt
                                                       : judge_verdict(a.text);
      if (verdict) {
        r.right = *verdict;
      } else {
        r.scored = false;
        r.error = a.status == answer_status::failed
                      ? "the judge failed: " + failure_of(a)
                      : "the judge gave no verdict";
      }
      next_target(f.slot);
      return;
    }
    auto& t = targets[run.next];
    auto& expected = run.row->inputs.at(args.expected);
    eval_result r;
    r.line = run.row->line;
    r.id_json = run.row->id_json;
    r.target = t.name;
    r.kind = t.kind();
    r.status = std::string{to_string(a.status)};
    account_calls(a, cfg_seen, run.calls, r);
    for (auto& m : a.members)
      r.members.push_back(
          eval_member{m.member, m.provider, m.ok,
                      m.ok && scorer.is_right(m.reply.text, expected),
                      m.ok && m.reply.cached});
    run.calls.insert(run.calls.end(), a.members.begin(), a.members.end());
    run.calls.insert(run.calls.end(), a.combiner_calls.begin(),
                     a.combiner_calls.end());
    bool answered = a.status != answer_status::failed;
    if (answered) {
      r.answer = a.text;
      r.read = scorer.answer_in(a.text).value_or("");
      r.right = !r.read.empty() && r.read == normalize_answer(expected);
    } else {
      r.error = failure_of(a);
    }
    run.results.push_back(std::move(r));
    if (answered && !args.judge.empty()) {
      run.results.back().right = false;
      ask_judge(f.slot, run.results.back());
      return;
    }
    next_target(f.slot);
  };

  struct sigaction action {};
  action.sa_handler = on_eval_interrupt;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  bool terminal = ::isatty(STDERR_FILENO) != 0;
  auto every = std::chrono::duration<double>(args.progress_every);
  auto next_line =
      started +
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(every);
  int seen_interrupts = 0;
  bool cancelled = false;
  auto show = [&](bool last) {
    auto now = std::chrono::steady_clock::now();
    double seconds = std::chrono::duration<double>(now - started).count();
    auto text = progress_text(done_before + scored_now, data.rows.size(),
                              in_flight, seconds, scored_now);
    if (terminal) {
      std::cerr << "\r\033[K" << text << (last ? "\n" : "") << std::flush;
    } else if (now >= next_line || last) {
      std::cerr << text << '\n';
      next_line =
          now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    every);
    }
  };
  start_rows();
  while (in_flight > 0) {
    auto n = interrupts.load();
    if (n >= 1 && seen_interrupts < 1) {
      stopping = true;
      std::cerr << "\nstopping: no new rows; waiting for the " << in_flight
                << " in flight (Ctrl-C again cancels them)\n";
    }
    if (n >= 2 && seen_interrupts < 2) {
      cancelled = true;
      std::cerr << "\ncancelling the " << in_flight
                << " rows in flight; --resume runs them again\n";
      for (auto& run : slots)
        if (run.row != nullptr)
          engine.cancel(run.handle);
    }
    seen_interrupts = n;
    auto f = queue.pop(std::chrono::milliseconds{100});
    if (f) {
      if (cancelled) {
        // A cancelled row is not scored: its lines are not written.
        --in_flight;
        slots[f->slot] = row_run{};
        free_slots.push_back(f->slot);
      } else {
        on_answer(*f);
        start_rows();
      }
    }
    show(false);
  }
  show(true);
  ::fdatasync(fd);
  ::close(fd);
  engine.flush_store(std::chrono::seconds{5});

  std::map<std::string, eval_tally> tallies;
  for (auto& r : results)
    count_eval_result(r, tallies);
  std::cout << "eval: " << data.rows.size() << " rows of " << args.data;
  if (!data.invalid.empty())
    std::cout << " (" << data.invalid.size() << " lines skipped: not rows)";
  std::cout << "; results in " << args.out << "\n\n";
  print_eval_table(targets, tallies, std::cout);
  if (!store_is_off(cfg_seen.store))
    std::cout << "runs in the store: tutti runs list --kind eval --session "
              << session << '\n';
  if (!args.chart.empty()) {
    std::ofstream chart{args.chart, std::ios::binary | std::ios::trunc};
    chart << accuracy_cost_svg(targets, tallies,
                               "tutti eval: " + args.data + " (" +
                                   std::to_string(data.rows.size()) + " rows)");
    if (!chart)
      throw batch_error(args.chart + ": cannot write the chart");
    std::cout << "chart in " << args.chart << '\n';
  }
  if (args.weights)
    std::cout << '\n'
              << weights_yaml(cfg_seen, targets, provider_accuracies(results));
  size_t left = todo.size() - scored_now;
  if (left > 0) {
    std::cout << "stopped with " << left
              << " rows left; to finish, run the same command with "
                 "--resume\n";
    return exit_interrupted;
  }
  // The rows each target scored this run or before.
  for (auto& r : results)
    unscored += (!r.scored && done.lines.count(r.line) > 0) ? 1 : 0;
  return data.invalid.empty() && unscored == 0 ? exit_all_scored
                                               : exit_rows_unscored;
}

} // namespace tutti::cli
