// Batch files on any bytes: each line of the input as an input row
// (`parse_batch_row`) and as a result row (`count_result_line`, all lines
// into one tally), and the whole input as a results file read for
// `--resume` (`read_batch_results`, from a memory file). A valid row has a
// value for every input, valid UTF-8, and an id that is JSON; counts never
// overflow; a results file is read or refused with `batch_error`.

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/src/json_reader.hpp"
#include "engine/src/utf8.hpp"
#include "tests/fuzz/fuzz_check.hpp"
#include "tutti/batch.hpp"

using namespace tutti;
using tutti::fuzz::require;

namespace {

const std::vector<std::string> input_names = {"question", "context"};

void check_row(std::string_view line, size_t number) {
  auto row = parse_batch_row(line, number, "fuzz.jsonl", input_names);
  require(row.line == number, "a row with another line number");
  rapidjson::Document id;
  require(static_cast<bool>(json_reader::parse(
              id, row.id_json, json_reader::utf8_check::validate)),
          "a row id that is not UTF-8 JSON");
  require(utf8::is_valid(row.error), "a row error that is not UTF-8");
  if (row.error.empty()) {
    require(row.inputs.size() == input_names.size(),
            "a valid row without every input");
    for (const auto& [name, value] : row.inputs) {
      require(utf8::is_valid(value), "a row input that is not UTF-8");
    }
  }
}

/// A file the fuzz input is written to, in memory.
class memory_file {
public:
  memory_file() : fd_(memfd_create("fuzz-results", 0)) {}
  ~memory_file() {
    if (fd_ >= 0) {
      close(fd_);
    }
  }

  /// The file's path, holding `bytes`; empty when it could not be made.
  std::string holding(std::string_view bytes) {
    if (fd_ < 0 || ftruncate(fd_, 0) != 0 ||
        pwrite(fd_, bytes.data(), bytes.size(), 0) !=
            static_cast<ssize_t>(bytes.size())) {
      return {};
    }
    return "/proc/self/fd/" + std::to_string(fd_);
  }

private:
  int fd_;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto text = tutti::fuzz::text_of(data, size);
  batch_tally tally;
  size_t number = 0;
  size_t start = 0;
  while (start <= text.size()) {
    auto end = std::min(text.find('\n', start), text.size());
    auto line = text.substr(start, end - start);
    check_row(line, ++number);
    count_result_line(line, tally);
    start = end + 1;
  }
  static memory_file file;
  auto path = file.holding(text);
  if (path.empty()) {
    return 0;
  }
  try {
    auto results = read_batch_results(path);
    require(results.complete_bytes <= size, "complete bytes beyond the file");
    require(results.torn == (size > 0 && text.back() != '\n'),
            "a torn line where there is none, or none where there is");
    require(results.tally.rows == results.done.size(),
            "a tally that is not the rows read");
  } catch (const batch_error&) {
  }
  return 0;
}
