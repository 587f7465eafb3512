#include "cli/eval_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "cli/format.hpp"

namespace tutti::cli {

namespace {

std::string fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

std::string percent(double fraction) {
  return fixed(100 * fraction, 1) + "%";
}

std::string latency_ms(int64_t us) {
  return us < 0 ? "-" : std::to_string((us + 500) / 1000);
}

/// Text for SVG: <, >, & and quotes escaped.
std::string xml_escaped(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '&':
      out += "&amp;";
      break;
    case '"':
      out += "&quot;";
      break;
    default:
      out += c;
    }
  }
  return out;
}

/// A "nice" step (1, 2 or 5 times a power of ten) for about `ticks` ticks
/// over `span`.
double tick_step(double span, int ticks) {
  if (span <= 0)
    return 1;
  double raw = span / ticks;
  double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * power)
      return m * power;
  return 10 * power;
}

/// "$0.0012" with as many decimals as `step` needs.
std::string cost_label(double usd, double step) {
  int decimals = std::max(0, int(std::ceil(-std::log10(step))));
  return "$" + fixed(usd, std::min(decimals, 8));
}

} // namespace

void print_eval_table(const std::vector<eval_target>& targets,
                      const std::map<std::string, eval_tally>& tallies,
                      std::ostream& out) {
  size_t name_width = 6;
  for (auto& t : targets)
    name_width = std::max(name_width, width_of(t.name));
  out << pad("target", name_width) << "  " << pad("kind", 8) << "  "
      << pad("rows", 5) << "  " << pad("right", 5) << "  "
      << pad("accuracy (95% CI)", 23) << "  " << pad("failed", 6) << "  "
      << pad("cost/row", 11) << "  " << pad("p50 ms", 7) << "  "
      << "p95 ms\n";
  double spent = 0;
  double judged = 0;
  size_t calls = 0;
  size_t shared = 0;
  for (auto& target : targets) {
    auto i = tallies.find(target.name);
    eval_tally empty;
    auto& t = i == tallies.end() ? empty : i->second;
    auto ci = t.ci();
    auto accuracy = t.rows == 0
                        ? std::string{"-"}
                        : percent(t.accuracy()) + " (" + percent(ci.low) + "-" +
                              percent(ci.high) + ")";
    auto failed = std::to_string(t.failed);
    if (t.unscored > 0)
      failed += "+" + std::to_string(t.unscored) + "?";
    out << pad(target.name, name_width) << "  " << pad(target.kind(), 8) << "  "
        << pad(std::to_string(t.rows), 5) << "  "
        << pad(std::to_string(t.right), 5) << "  " << pad(accuracy, 23) << "  "
        << pad(failed, 6) << "  " << pad(format_cost(t.cost_per_row()), 11)
        << "  " << pad(latency_ms(t.latency_quantile_us(0.5)), 7) << "  "
        << latency_ms(t.latency_quantile_us(0.95)) << '\n';
    spent += t.spent_usd;
    judged += t.judge_usd;
    calls += t.calls;
    shared += t.shared;
  }
  out << "\nspent " << format_cost(spent) << " on " << calls << " upstream call"
      << (calls == 1 ? "" : "s") << "; " << shared << " call"
      << (shared == 1 ? "" : "s")
      << " shared between targets (their cost/row counts them as if made)";
  if (judged > 0)
    out << "; scoring by the judge " << format_cost(judged);
  out << '\n';
}

std::string
weights_yaml(const config& cfg, const std::vector<eval_target>& targets,
             const std::map<std::string, provider_accuracy>& accuracy) {
  std::ostringstream yaml;
  yaml << "# Vote weights from the measured accuracies: log(p / (1 - p)), the\n"
          "# best weights for members that err independently (Nitzan &\n"
          "# Paroush 1982). Paste each member's weight into its ensemble.\n"
          "ensembles:\n";
  bool any = false;
  for (auto& target : targets) {
    if (!target.ensemble || cfg.ensembles.at(target.name).combine != "vote")
      continue; // only vote reads weights
    any = true;
    auto& ensemble = cfg.ensembles.at(target.name);
    yaml << "  " << target.name << ":\n    members:\n";
    for (auto& m : ensemble.members) {
      auto a = accuracy.find(m.provider);
      bool measured = a != accuracy.end() && a->second.asked > 0;
      auto weight = measured ? log_odds_weight(a->second.accuracy()) : 1.0;
      yaml << "      - {provider: " << m.provider;
      if (m.label != m.provider && m.label.find('#') == std::string::npos)
        yaml << ", label: " << m.label;
      if (m.samples > 1)
        yaml << ", samples: " << m.samples;
      yaml << ", weight: " << fixed(weight, 3) << "}";
      if (measured)
        yaml << "  # accuracy " << fixed(a->second.accuracy(), 3) << " over "
             << a->second.asked << " replies";
      else
        yaml << "  # not measured";
      yaml << '\n';
    }
  }
  if (!any)
    yaml << "  {}  # no vote ensemble was evaluated\n";
  return yaml.str();
}

std::string accuracy_cost_svg(const std::vector<eval_target>& targets,
                              const std::map<std::string, eval_tally>& tallies,
                              const std::string& title) {
  constexpr double width = 720, height = 480;
  constexpr double left = 80, right = 40, top = 50, bottom = 60;
  double plot_w = width - left - right, plot_h = height - top - bottom;
  double max_cost = 0;
  for (auto& [name, t] : tallies)
    max_cost = std::max(max_cost, t.cost_per_row());
  double x_step = tick_step(max_cost > 0 ? max_cost : 1, 5);
  double x_max = max_cost > 0 ? std::ceil(max_cost / x_step) * x_step : 1;
  if (x_max <= max_cost)
    x_max += x_step;
  auto x_of = [&](double cost) { return left + plot_w * cost / x_max; };
  auto y_of = [&](double acc) { return top + plot_h * (1 - acc); };

  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width
      << "\" height=\"" << height << "\" viewBox=\"0 0 " << width << ' '
      << height << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << width / 2 << "\" y=\"24\" text-anchor=\"middle\" "
      << "font-size=\"15\">" << xml_escaped(title) << "</text>\n";
  // Grid and ticks.
  for (int i = 0; i <= 10; ++i) {
    double acc = i / 10.0;
    double y = y_of(acc);
    svg << "<line x1=\"" << left << "\" y1=\"" << y << "\" x2=\""
        << left + plot_w << "\" y2=\"" << y << "\" stroke=\"#e5e5e5\"/>\n"
        << "<text x=\"" << left - 8 << "\" y=\"" << y + 4
        << "\" text-anchor=\"end\">" << i * 10 << "%</text>\n";
  }
  for (double c = 0; c <= x_max + x_step / 2; c += x_step) {
    double x = x_of(c);
    svg << "<line x1=\"" << x << "\" y1=\"" << top << "\" x2=\"" << x
        << "\" y2=\"" << top + plot_h << "\" stroke=\"#e5e5e5\"/>\n"
        << "<text x=\"" << x << "\" y=\"" << top + plot_h + 18
        << "\" text-anchor=\"middle\">" << cost_label(c, x_step) << "</text>\n";
  }
  svg << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << plot_w
      << "\" height=\"" << plot_h << "\" fill=\"none\" stroke=\"#333\"/>\n"
      << "<text x=\"" << left + plot_w / 2 << "\" y=\"" << height - 16
      << "\" text-anchor=\"middle\">mean cost per row (USD, as if run "
         "alone)</text>\n"
      << "<text transform=\"translate(20 " << top + plot_h / 2
      << ") rotate(-90)\" text-anchor=\"middle\">accuracy (95% Wilson "
         "interval)</text>\n";
  // One point per target: ensembles filled, providers hollow.
  for (auto& target : targets) {
    auto i = tallies.find(target.name);
    if (i == tallies.end() || i->second.rows == 0)
      continue;
    auto& t = i->second;
    auto ci = t.ci();
    double x = x_of(t.cost_per_row());
    double y = y_of(t.accuracy());
    auto color = target.ensemble ? "#1f77b4" : "#d62728";
    svg << "<line x1=\"" << x << "\" y1=\"" << y_of(ci.low) << "\" x2=\"" << x
        << "\" y2=\"" << y_of(ci.high) << "\" stroke=\"" << color
        << "\" stroke-width=\"1.5\"/>\n";
    for (double end : {ci.low, ci.high})
      svg << "<line x1=\"" << x - 5 << "\" y1=\"" << y_of(end) << "\" x2=\""
          << x + 5 << "\" y2=\"" << y_of(end) << "\" stroke=\"" << color
          << "\" stroke-width=\"1.5\"/>\n";
    svg << "<circle cx=\"" << x << "\" cy=\"" << y << "\" r=\"5\" fill=\""
        << (target.ensemble ? color : "white") << "\" stroke=\"" << color
        << "\" stroke-width=\"2\"/>\n"
        << "<text x=\"" << x + 9 << "\" y=\"" << y + 4 << "\">"
        << xml_escaped(target.name) << " " << fixed(100 * t.accuracy(), 1)
        << "%</text>\n";
  }
  svg << "<text x=\"" << width - right << "\" y=\"" << top - 8
      << "\" text-anchor=\"end\" fill=\"#555\">filled: ensemble, hollow: "
         "provider</text>\n</svg>\n";
  return svg.str();
}

} // namespace tutti::cli
