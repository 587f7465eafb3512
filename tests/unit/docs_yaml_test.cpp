// Every ```yaml block of README.md and docs/ (all of its folders), checked
// as the docs present it, so that a reader who copies one gets what the
// page says. A block is a whole config that must load, unless the line
// before its fence (blank lines aside) is one of these markers:
//
//   <!-- fragment -->  a piece of a config, loaded in the smallest config
//                      around it: top-level sections (ensembles:,
//                      pipelines:, store:) get a stand-in for each
//                      provider and ensemble they name but do not define;
//                      keys of one provider or of one ensemble (an
//                      indented block) are loaded as the keys of a
//                      provider, else of an ensemble
//   <!-- invalid -->   an example of a mistake: it must be YAML and must
//                      fail to load as a fragment
//   <!-- tutti-fake-llm script -->  a script for the fake upstream
//
// Failures name the page and the line of the block's fence.

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "tools/fake_llm/fake_llm.hpp"
#include "tutti/config.hpp"

namespace fs = std::filesystem;

namespace {

struct yaml_block {
  std::string where; ///< "docs/x.md:LINE", the fence's line
  std::string marker;
  std::string text;
};

std::string trimmed(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos)
    return {};
  auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

/// The pages whose blocks are checked, relative to the source folder.
std::vector<fs::path> pages(const fs::path& source) {
  std::vector<fs::path> found{"README.md"};
  for (auto& entry : fs::recursive_directory_iterator(source / "docs"))
    if (entry.is_regular_file() && entry.path().extension() == ".md")
      found.push_back(fs::relative(entry.path(), source));
  std::sort(found.begin() + 1, found.end());
  return found;
}

std::vector<yaml_block> blocks_of(const fs::path& source,
                                  const fs::path& page) {
  std::ifstream in{source / page};
  BOOST_REQUIRE_MESSAGE(in, page.string() << ": cannot read");
  std::vector<yaml_block> blocks;
  std::string line;
  std::string marker; // of the last non-blank line before a fence
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    auto t = trimmed(line);
    if (t != "```yaml") {
      if (!t.empty())
        marker = t.rfind("<!--", 0) == 0 ? t : std::string{};
      continue;
    }
    yaml_block block;
    block.where = page.string() + ":" + std::to_string(number);
    block.marker = marker;
    bool closed = false;
    while (std::getline(in, line)) {
      ++number;
      if (trimmed(line) == "```") {
        closed = true;
        break;
      }
      block.text += line + "\n";
    }
    BOOST_REQUIRE_MESSAGE(closed, block.where << ": the block is not closed");
    blocks.push_back(std::move(block));
    marker.clear();
  }
  return blocks;
}

/// `text` with each line moved right by `spaces`.
std::string indented(const std::string& text, size_t spaces) {
  std::istringstream in{text};
  std::string out;
  std::string pad(spaces, ' ');
  for (std::string line; std::getline(in, line);)
    out += line.empty() ? "\n" : pad + line + "\n";
  return out;
}

/// Whether the fragment sets `key` at its top level.
bool has_key(const std::string& text, const std::string& key) {
  auto node = YAML::Load(text);
  return node.IsMap() && node[key];
}

/// The least indentation of the non-blank lines of `text`.
size_t indent_of(const std::string& text) {
  std::istringstream in{text};
  size_t least = std::string::npos;
  for (std::string line; std::getline(in, line);) {
    auto first = line.find_first_not_of(' ');
    if (first != std::string::npos && line[first] != '#')
      least = std::min(least, first);
  }
  return least == std::string::npos ? 0 : least;
}

/// `text` with its common indentation removed.
std::string dedented(const std::string& text) {
  auto by = indent_of(text);
  std::istringstream in{text};
  std::string out;
  for (std::string line; std::getline(in, line);)
    out += (line.size() >= by ? line.substr(by) : trimmed(line)) + "\n";
  return out;
}

/// The name in "... unknown provider 'NAME' ..." after `what`, or "".
std::string named_after(const std::string& message, const std::string& what) {
  auto at = message.find(what + " '");
  if (at == std::string::npos)
    return {};
  auto from = at + what.size() + 2;
  auto to = message.find('\'', from);
  return to == std::string::npos ? std::string{}
                                 : message.substr(from, to - from);
}

bool config_sections_only(const YAML::Node& node) {
  if (!node.IsMap() || node.size() == 0)
    return false;
  for (auto entry : node) {
    auto key = entry.first.as<std::string>();
    if (key != "providers" && key != "ensembles" && key != "pipelines" &&
        key != "store")
      return false;
  }
  return true;
}

void add_stand_in(YAML::Node& node, const std::string& name) {
  node["providers"][name]["kind"] = "openai";
  node["providers"][name]["model"] = "some-model";
}

/// Loads top-level sections, adding a stand-in for every provider and
/// ensemble they name but do not define (at most 64), so that everything
/// else in them is checked.
void load_sections(const std::string& text, const std::string& where) {
  auto node = YAML::Load(text);
  for (int round = 0;; ++round) {
    YAML::Emitter out;
    out << node;
    try {
      tutti::parse_config(out.c_str(), where);
      return;
    } catch (const tutti::config_error& e) {
      std::string message = e.what();
      if (round == 64)
        throw;
      if (auto name = named_after(message, "unknown provider"); !name.empty()) {
        add_stand_in(node, name);
      } else if (auto ensemble = named_after(message, "unknown ensemble");
                 !ensemble.empty()) {
        add_stand_in(node, "stand-in");
        node["ensembles"][ensemble]["members"].push_back("stand-in");
      } else if (message.find("no providers and no ensembles") !=
                 std::string::npos) {
        add_stand_in(node, "stand-in");
      } else {
        throw;
      }
    }
  }
}

std::string provider_config(const std::string& keys) {
  std::string extra;
  if (!has_key(keys, "kind"))
    extra += "kind: openai\n";
  if (!has_key(keys, "model"))
    extra += "model: some-model\n";
  return "providers:\n  p:\n" + indented(extra + keys, 4) +
         "ensembles:\n  e:\n    members: [p]\n";
}

std::string ensemble_config(const std::string& keys) {
  std::string extra;
  if (!has_key(keys, "members"))
    extra += "members: [p]\n";
  return "providers:\n  p: {kind: openai, model: some-model}\n"
         "ensembles:\n  e:\n" +
         indented(extra + keys, 4);
}

/// Loads a fragment in the smallest config around it; throws what the
/// loader says.
void load_fragment(const std::string& text, const std::string& where) {
  auto node = YAML::Load(text);
  if (config_sections_only(node))
    return load_sections(text, where);
  try {
    load_sections(provider_config(text), where + " (as a provider)");
  } catch (const tutti::config_error& as_provider) {
    try {
      load_sections(ensemble_config(text), where + " (as an ensemble)");
    } catch (const tutti::config_error& as_ensemble) {
      throw std::runtime_error(std::string{as_provider.what()} + "; " +
                               as_ensemble.what());
    }
  }
}

/// Checks one block as its marker says; an empty string when it holds.
std::string check(const yaml_block& b) {
  try {
    auto text = dedented(b.text);
    if (b.marker.empty()) {
      tutti::parse_config(b.text, b.where);
    } else if (b.marker == "<!-- fragment -->") {
      load_fragment(text, b.where);
    } else if (b.marker == "<!-- invalid -->") {
      YAML::Load(text);
      try {
        load_fragment(text, b.where);
      } catch (const std::exception&) {
        return {};
      }
      return "marked invalid, but it loads";
    } else if (b.marker == "<!-- tutti-fake-llm script -->") {
      tutti::fake::parse_script(b.text);
    } else {
      return "unknown marker " + b.marker;
    }
  } catch (const std::exception& e) {
    return e.what();
  }
  return {};
}

} // namespace

BOOST_AUTO_TEST_CASE(every_yaml_block_in_the_docs_loads_as_shipped) {
  fs::path source{TUTTI_SOURCE_DIR};
  size_t checked = 0;
  for (auto& page : pages(source)) {
    for (auto& block : blocks_of(source, page)) {
      ++checked;
      auto why = check(block);
      BOOST_CHECK_MESSAGE(
          why.empty(), block.where
                           << (block.marker.empty() ? "" : " " + block.marker)
                           << ": " << why);
    }
  }
  // The pages have dozens of blocks: none found means the walk is broken.
  BOOST_CHECK_GT(checked, 30u);
}

// The checker itself: a wrong block fails, whatever its marker.
BOOST_AUTO_TEST_CASE(the_checker_fails_what_it_should) {
  auto fails = [](std::string marker, std::string text) {
    return !check({"test:1", std::move(marker), std::move(text)}).empty();
  };
  BOOST_CHECK(fails("", "providers:\n  p: {kind: nope, model: m}\n"));
  BOOST_CHECK(fails("", "ensembles:\n  e: {members: [ghost]}\n"));
  BOOST_CHECK(fails("<!-- fragment -->", "    concurrency: -3\n"));
  BOOST_CHECK(fails("<!-- fragment -->", "    until: sometimes\n"));
  BOOST_CHECK(fails("<!-- fragment -->", "a: [1, 2\n"));
  BOOST_CHECK(fails("<!-- fragment -->", "a: 1\n"));
  BOOST_CHECK(fails("<!-- fragment -->",
                    "ensembles:\n  e: {members: [ghost], until: never}\n"));
  BOOST_CHECK(
      fails("<!-- invalid -->", "providers:\n  p: {kind: openai, model: m}\n"));
  BOOST_CHECK(fails("<!-- tutti-fake-llm script -->",
                    "models:\n  m: {latency: soon}\n"));
  BOOST_CHECK(fails("<!-- frgament -->", "a: 1\n"));
  BOOST_CHECK(!fails("<!-- fragment -->", "    concurrency: 3\n"));
  BOOST_CHECK(!fails("<!-- fragment -->", "    until: first\n"));
  BOOST_CHECK(!fails("<!-- fragment -->",
                     "ensembles:\n  e: {members: [ghost], until: first}\n"
                     "pipelines:\n  p:\n    inputs: [q]\n    steps:\n"
                     "      s: {ensemble: other, prompt: \"{{input.q}}\"}\n"
                     "    output: s\n"));
  BOOST_CHECK(!fails("<!-- fragment -->", "store: none\n"));
  BOOST_CHECK(!fails("<!-- invalid -->", "    temperature: 9\n"));
}
