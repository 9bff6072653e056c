// libFuzzer target: the JSON Lines reader on arbitrary bytes, as a job reads a file: the
// partitioner's header search and record scan (at a mini-batch size taken from the first
// byte), then each slice parsed into rows. No crash, and every line that is not blank is
// exactly one row or one malformed record, in order; a row's nested values are valid JSON.
#include <utility>

#include <parallel_run/detail/jsonl.hpp>
#include <parallel_run/detail/table_partitioner.hpp>
#include <parallel_run/detail/table_slice.hpp>
#include <parallel_run/tabular_dataset.hpp>

#include <simdjson.h>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "jsonl fuzz: %s\n", what);
    std::abort();
  }
}

const std::filesystem::path& input_path() {
  static const std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("parallel_run_fuzz_jsonl_" + std::to_string(::getpid()) + ".jsonl");
  return path;
}

// Each field of `row` against the members of its line as simdjson reads them (the last of a
// repeated key): a string unescaped, null empty, true/false, a number non-empty, and an array
// or object valid JSON of the same type.
void check_fields(const parallel_run::Row& row, simdjson::dom::parser& line_parser,
                  simdjson::dom::parser& nested_parser) {
  const std::string text(row.text());
  simdjson::dom::object object;
  check(!line_parser.parse(text).get(object), "a row whose line is not a JSON object");
  std::map<std::string_view, simdjson::dom::element> last;
  for (const simdjson::dom::key_value_pair m : object)
    last[m.key] = m.value;
  check(last.size() <= row.size(), "a row has more keys than columns");
  for (const auto& [key, element] : last) {
    const std::string_view field = row[std::string(key)];
    switch (element.type()) {
      case simdjson::dom::element_type::STRING:
        check(field == element.get_string().value_unsafe(), "a string field differs");
        break;
      case simdjson::dom::element_type::NULL_VALUE:
        check(field.empty(), "a null field is not empty");
        break;
      case simdjson::dom::element_type::BOOL:
        check(field == (element.get_bool().value_unsafe() ? "true" : "false"),
              "a boolean field differs");
        break;
      case simdjson::dom::element_type::ARRAY:
      case simdjson::dom::element_type::OBJECT: {
        simdjson::dom::element nested;
        check(!nested_parser.parse(std::string(field)).get(nested) && nested.type() == element.type(),
              "a nested field is not valid JSON of its type");
        break;
      }
      default:
        check(!field.empty(), "a number field is empty");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace parallel_run;
  using namespace parallel_run::detail;
  if (size == 0) return 0;
  const std::uint64_t slice_size = data[0] + std::uint64_t{1};
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  {
    std::ofstream out(input_path(), std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
  }

  // The lines that hold a record, with their line numbers (a BOM is skipped, as the
  // partitioner does).
  std::string_view body = text;
  if (body.substr(0, 3) == "\xEF\xBB\xBF") body.remove_prefix(3);
  std::vector<std::uint64_t> record_lines;
  std::uint64_t line = 1;
  for (std::size_t start = 0; start <= body.size(); ++line) {
    std::size_t end = body.find('\n', start);
    if (end == std::string_view::npos) end = body.size();
    std::string_view l = body.substr(start, end - start);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    if (!is_blank_json_line(l)) record_lines.push_back(line);
    start = end + 1;
  }

  std::vector<std::uint64_t> seen_lines;
  simdjson::dom::parser line_parser, nested_parser;
  try {
    TablePartitioner partitioner(TabularDataset({input_path().string()}), slice_size);
    while (auto slice = partitioner.next()) {
      const TableBatch batch = slice->materialize();
      check(batch.size() + batch.malformed().size() == slice->size(),
            "a slice's rows and malformed records differ from its record count");
      std::size_t row = 0, bad = 0;
      while (row < batch.size() || bad < batch.malformed().size()) {
        // Rows and malformed records interleave by index.
        const bool take_row =
            bad == batch.malformed().size() ||
            (row < batch.size() && batch[row].index() < batch.malformed()[bad].index);
        if (take_row) {
          const Row& r = batch[row++];
          seen_lines.push_back(r.line());
          check(r.size() == r.header().size(), "a row's field count differs from the header");
          check_fields(r, line_parser, nested_parser);
        } else {
          const std::string& key = batch.malformed()[bad++].key;
          seen_lines.push_back(std::stoull(key.substr(key.rfind(':') + 1)));
        }
      }
    }
  } catch (const InputError&) {
    // Only a line longer than the header limit may stop the file.
    check(text.size() > kMaxHeaderBytes, "an InputError on a small input");
    return 0;
  }
  check(seen_lines == record_lines, "the lines read differ from the lines that hold a record");
  return 0;
}
