#include <parallel_run/detail/jsonl.hpp>

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "parallel_run/detail/csv_scan.hpp"
#include "parallel_run/detail/key_partitioner.hpp"
#include "parallel_run/detail/table_partitioner.hpp"
#include "parallel_run/detail/table_slice.hpp"
#include "parallel_run/executor.hpp"
#include "support/temp_dir.hpp"

using parallel_run::Config;
using parallel_run::JobResult;
using parallel_run::LoggingLevel;
using parallel_run::MalformedRecord;
using parallel_run::ParallelRun;
using parallel_run::Row;
using parallel_run::TableBatch;
using parallel_run::TableOptions;
using parallel_run::TabularDataset;
using parallel_run::detail::KeyPartitioner;
using parallel_run::detail::TablePartitioner;
using test_support::read_file;
using test_support::TempDir;
using test_support::write_file;

namespace {

// simdjson's reasons, as the rows report them.
const std::string kStructure =
    "invalid JSON: The JSON document has an improper structure: missing or superfluous commas, "
    "braces, missing keys, etc.";
const std::string kNumber =
    "invalid JSON: Problem while parsing a number (a number must be valid JSON, an integer must "
    "fit in 64 bits and any other number in a double)";

// What a dataset reads as: "<key> <field>|<field>..." per row and "<key> <reason>" per
// malformed record, in input order, and the records the partitioner counted.
struct JsonlRead {
  std::vector<std::string> rows;
  std::vector<std::string> malformed;
  std::vector<std::string> header;
  std::uint64_t records = 0;
};

std::string describe(const Row& row) {
  std::string s = row.key() + " ";
  for (std::size_t i = 0; i < row.size(); ++i)
    s += (i ? "|" : "") + std::string(row[i]);
  return s;
}

void add(JsonlRead& r, const TableBatch& b) {
  for (const Row& row : b) {
    r.rows.push_back(describe(row));
    r.header = row.header().names();
  }
  for (const MalformedRecord& m : b.malformed())
    r.malformed.push_back(m.reason);
}

JsonlRead read_all(const TabularDataset& d, std::uint64_t size) {
  JsonlRead r;
  TablePartitioner p(d, size);
  while (auto s = p.next()) {
    r.records += s->size();
    add(r, s->materialize());
  }
  return r;
}

JsonlRead read_keyed(const TabularDataset& d, const std::filesystem::path& spill) {
  JsonlRead r;
  KeyPartitioner p(d, 1 << 20, 0, {}, spill);
  while (auto s = p.next()) {
    r.records += s->size();
    add(r, s->materialize());
  }
  return r;
}

// The same reading at every mini-batch size, from one record per slice to the whole file.
JsonlRead read_at_all_sizes(const TabularDataset& d) {
  const JsonlRead whole = read_all(d, std::uint64_t{1} << 20);
  for (std::uint64_t size : {1, 2, 5, 16, 63, 64, 65, 200}) {
    INFO("mini-batch size " << size);
    const JsonlRead part = read_all(d, size);
    CHECK(part.rows == whole.rows);
    CHECK(part.malformed == whole.malformed);
    CHECK(part.records == whole.records);
  }
  return whole;
}

TabularDataset one_file(const TempDir& t, const std::string& text) {
  write_file(t / "a.jsonl", text);
  return TabularDataset({(t / "a.jsonl").string()});
}

}  // namespace

TEST_CASE("JSON Lines: strings unescaped, numbers as written, null empty, nested minified",
          "[jsonl]") {
  TempDir t;
  const JsonlRead r = read_at_all_sizes(one_file(
      t,
      "{\"s\":\"a\\\"b\\u00e9\\/\\n\", \"n\":-0.50, \"i\":-0, \"e\":1E+2, \"t\":true, \"f\":false, "
      "\"z\":null, \"arr\":[ 1 , \"x y\" , {\"k\" : [ ]} ], \"obj\":{ \"a\" : \"} \\\" ]\" }}\n"
      "{\"s\":\"\",\"z\":\"not null\"}\r\n"));
  CHECK(r.header == std::vector<std::string>{"s", "n", "i", "e", "t", "f", "z", "arr", "obj"});
  CHECK(r.rows == std::vector<std::string>{
                      "a.jsonl:1 a\"b\xC3\xA9/\n|-0.50|-0|1E+2|true|false||[1,\"x y\",{\"k\":[]}]|"
                      "{\"a\":\"} \\\" ]\"}",
                      "a.jsonl:2 ||||||not null||"});
  CHECK(r.malformed.empty());

  TablePartitioner p(one_file(t, "{\"z\":null,\"t\":true,\"n\":-0.50}\n{\"z\":\"\"}\n"), 1 << 20);
  const TableBatch b = p.next()->materialize();
  REQUIRE(b.size() == 2);
  CHECK(b[0].get<std::optional<std::string>>("z") == std::nullopt);
  CHECK(b[0].get<bool>("t"));
  CHECK(b[0].get<double>("n") == -0.5);
  CHECK(b[0].text() == "{\"z\":null,\"t\":true,\"n\":-0.50}");
  CHECK(b[1].get<std::optional<std::string>>("z") == std::nullopt);  // "" reads as null too
}

TEST_CASE("JSON Lines: a line that is not one valid JSON object is a malformed record", "[jsonl]") {
  TempDir t;
  const std::string deep = "{\"a\":" + std::string(2000, '[') + std::string(2000, ']') + "}";
  const JsonlRead r = read_at_all_sizes(one_file(t,
                                                 "{\"a\":1}\n"
                                                 "{\"a\":[1,,2]}\n"
                                                 "{\"a\":[01]}\n"
                                                 "{\"a\":[NaN]}\n"
                                                 "{\"a\":{\"b\":tru}}\n"
                                                 "{\"a\":\"\\ud800\"}\n"
                                                 "{\"a\":\"\xFF\"}\n"
                                                 "{\"a\":1} x\n"
                                                 "{\"a\":1}{\"a\":2}\n"
                                                 "[1]\n"
                                                 "\"text\"\n"
                                                 "3\n"
                                                 "null\n"
                                                 "{\"a\":123456789012345678901234567890}\n"
                                                 "{\"a\":1e999}\n" +
                                                     deep +
                                                     "\n"
                                                     "{\"a\":\"tab\tinside\"}\n"
                                                     "{\"a\":2}"));
  CHECK(r.rows == std::vector<std::string>{"a.jsonl:1 1", "a.jsonl:18 2"});
  CHECK(r.records == 18);
  const std::string bad = ": malformed record: ";
  CHECK(r.malformed ==
        std::vector<std::string>{
            "a.jsonl:2" + bad + kStructure, "a.jsonl:3" + bad + kNumber,
            "a.jsonl:4" + bad + kStructure,
            "a.jsonl:5" + bad +
                "invalid JSON: Problem while parsing an atom starting with the letter 't'",
            "a.jsonl:6" + bad + "invalid JSON: Problem while parsing a string",
            "a.jsonl:7" + bad + "invalid JSON: The input is not valid UTF-8",
            "a.jsonl:8" + bad + kStructure, "a.jsonl:9" + bad + kStructure,
            "a.jsonl:10" + bad + "a JSON array, not an object (each line must be one JSON object)",
            "a.jsonl:11" + bad + "a JSON string, not an object (each line must be one JSON object)",
            "a.jsonl:12" + bad + "a JSON number, not an object (each line must be one JSON object)",
            "a.jsonl:13" + bad + "a JSON null, not an object (each line must be one JSON object)",
            "a.jsonl:14" + bad + kNumber, "a.jsonl:15" + bad + kNumber,
            "a.jsonl:16" + bad +
                "invalid JSON: The JSON document was too deep (too many nested objects and arrays)",
            "a.jsonl:17" + bad +
                "invalid JSON: Within strings, some characters must be escaped, we found unescaped "
                "characters"});
}

TEST_CASE("JSON Lines: a key given twice keeps its last value in one column", "[jsonl]") {
  TempDir t;
  const JsonlRead r = read_at_all_sizes(
      one_file(t, "{\"a\":1,\"b\":2,\"a\":3}\n{\"b\":4,\"a\":5,\"a\":null}\n{\"b\":6,\"b\":7}\n"));
  CHECK(r.header == std::vector<std::string>{"a", "b"});
  CHECK(r.rows == std::vector<std::string>{"a.jsonl:1 3|2", "a.jsonl:2 |4", "a.jsonl:3 |7"});
  CHECK(r.malformed.empty());
}

TEST_CASE("JSON Lines: a line of spaces, tabs and CRs is blank like an empty line", "[jsonl]") {
  TempDir t;
  const std::string text =
      "  \t \n\n{\"a\":1}\n \n\r\n\t\r\n{\"a\":2}\n" + std::string(70, ' ') + "\n{\"a\":3}\n \t";
  const JsonlRead r = read_at_all_sizes(one_file(t, text));
  CHECK(r.rows == std::vector<std::string>{"a.jsonl:3 1", "a.jsonl:7 2", "a.jsonl:9 3"});
  CHECK(r.malformed.empty());
  CHECK(r.records == 3);

  write_file(t / "in/b.jsonl", text);  // grouped by key: the same records
  TableOptions o;
  o.partition_keys = {"a"};
  const JsonlRead keyed = read_keyed(TabularDataset({(t / "in").string()}, o), t / "spill");
  CHECK(keyed.rows == std::vector<std::string>{"b.jsonl:3 1", "b.jsonl:7 2", "b.jsonl:9 3"});
  CHECK(keyed.records == 3);
}

TEST_CASE("JSON Lines: the record scan finds blank lines of spaces across blocks",
          "[jsonl][table_scan]") {
  using namespace parallel_run::detail;
  std::mt19937 rng(11);
  const char alphabet[] = {' ', ' ', '\t', '\r', '\n', '\n', 'x'};
  for (int round = 0; round < 500; ++round) {
    std::string s(rng() % 400, ' ');
    for (char& c : s)
      c = alphabet[rng() % sizeof alphabet];
    s += '\n';
    std::uint64_t want = 0;
    std::size_t start = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] != '\n') continue;
      want += !is_blank_json_line(std::string_view(s).substr(start, i - start));
      start = i + 1;
    }
    RecordScanner scanner(false, ',', true);
    std::uint64_t got = 0;
    for (std::size_t at = 0; at < s.size(); at += kBlock) {
      const BlockBytes bytes(s.data() + at, std::min(kBlock, s.size() - at));
      got += popcount64(scanner.scan(bytes.data()).record);
    }
    INFO(s);
    REQUIRE(got == want);
  }
}

TEST_CASE("JSON Lines: the first valid object names the columns - bad lines before it fail alone",
          "[jsonl]") {
  TempDir t;
  const JsonlRead r = read_at_all_sizes(
      one_file(t, "\n  \n{\"x\":1,\"y\":\n[1,2]\n{\"x\":1,\"y\":2}\n{\"y\":3}\n{\"z\":4}\n"));
  CHECK(r.header == std::vector<std::string>{"x", "y"});
  CHECK(r.rows == std::vector<std::string>{"a.jsonl:5 1|2", "a.jsonl:6 |3"});
  CHECK(r.malformed ==
        std::vector<std::string>{
            "a.jsonl:3: malformed record: " + kStructure,
            "a.jsonl:4: malformed record: a JSON array, not an object (each line must be one JSON "
            "object)",
            "a.jsonl:7: malformed record: key 'z' is not one of the columns (x, y) of the file's "
            "first JSON object"});

  // No line is an object: every line is a malformed record, and the file is still read.
  const JsonlRead none = read_at_all_sizes(one_file(t, "oops\n[]\n"));
  CHECK(none.rows.empty());
  CHECK(none.records == 2);
  CHECK(none.malformed ==
        std::vector<std::string>{
            "a.jsonl:1: malformed record: " + kStructure,
            "a.jsonl:2: malformed record: a JSON array, not an object (each line must be one JSON "
            "object)"});
}

TEST_CASE("JSON Lines job: a malformed first line is a failed item and every good row is scored",
          "[jsonl][table_job]") {
  TempDir t;
  write_file(t / "in/a.jsonl",
             "{\"id\":\"a1\",\"value\":1.5,,}\n"
             "{\"id\":\"a2\",\"value\":2}\n"
             "   \n"
             "{\"value\":3,\"id\":\"a4\",\"value\":4}\n"
             "{\"id\":\"a5\",\"value\":[01]}\n");
  write_file(t / "in/b.jsonl", "[\"id\",\"value\"]\n{\"id\":\"b2\",\"value\":-0.25}\n");
  auto scorer = parallel_run::make_scorer([](const TableBatch& batch) {
    return parallel_run::map_items(batch, [](const Row& row) {
      return std::make_tuple(std::string(row["id"]), row.get<double>("value") * 2);
    });
  });
  Config c;
  c.output_dir = t / "out";
  c.mini_batch_size = "1MB";
  c.process_count_per_node = 2;
  c.logging_level = LoggingLevel::warning;
  c.key_column = false;
  const JobResult r = ParallelRun(c, scorer).run(TabularDataset({(t / "in").string()}));
  CHECK(r.items_total == 6);
  CHECK(r.items_succeeded == 3);
  CHECK(r.items_failed == 3);
  CHECK(read_file(t / "out/parallel_run_step.txt") == "a2 4\na4 8\nb2 -0.5\n");
  CHECK(read_file(t / "out/logs/failed_items.csv") ==
        "key,mini_batch,attempts,reason\n"
        "a.jsonl:1,0,1,\"a.jsonl:1: malformed record: " +
            kStructure +
            "\"\n"
            "a.jsonl:5,0,1,\"a.jsonl:5: malformed record: " +
            kNumber +
            "\"\n"
            "b.jsonl:1,1,1,\"b.jsonl:1: malformed record: a JSON array, not an object (each line "
            "must be one JSON object)\"\n");
}
