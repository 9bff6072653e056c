#include <parallel_run/table_batch.hpp>

#include <catch2/catch.hpp>
#include <range/v3/range/concepts.hpp>

#include <cstdint>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <vector>

#include "parallel_run/detail/batch_outcome.hpp"
#include "parallel_run/detail/table_partitioner.hpp"
#include "parallel_run/item_result.hpp"
#include "support/temp_dir.hpp"

using parallel_run::FieldError;
using parallel_run::Row;
using parallel_run::TableBatch;
using parallel_run::TabularDataset;
using test_support::TempDir;
using test_support::write_file;

static_assert(std::ranges::random_access_range<const TableBatch>);
static_assert(std::ranges::sized_range<const TableBatch>);
static_assert(ranges::random_access_range<const TableBatch>);
static_assert(ranges::sized_range<const TableBatch>);
static_assert(std::same_as<std::ranges::range_value_t<TableBatch>, Row>);
static_assert(std::ranges::random_access_range<const Row>);

namespace {
TableBatch read_one(const TempDir& t, const std::string& name, const std::string& text) {
  write_file(t / name, text);
  parallel_run::detail::TablePartitioner p(TabularDataset({(t / name).string()}), 1 << 20);
  auto slice = p.next();
  REQUIRE(slice);
  REQUIRE(!p.next());
  return slice->materialize();
}
}  // namespace

TEST_CASE("fields are read by index and name, typed, without copies", "[table_batch]") {
  TempDir t;
  const TableBatch b = read_one(t, "data.csv",
                                "name,age,score,big,flag,note\n"
                                "ada,36,0.5,18446744073709551615,true,\"a \"\"b\"\"\"\n"
                                "bo,,-1e3,+7,0,\n");
  REQUIRE(b.size() == 2);
  const Row& r = b[0];
  CHECK(r.size() == 6);
  CHECK(r[0] == "ada");
  CHECK(r["age"] == "36");
  CHECK(r.get<int>("age") == 36);
  CHECK(r.get<std::int64_t>(1) == 36);
  CHECK(r.get<double>("score") == 0.5);
  CHECK(r.get<float>("score") == 0.5f);
  CHECK(r.get<std::uint64_t>("big") == 18446744073709551615ULL);
  CHECK(r.get<bool>("flag"));
  CHECK(r.get<std::string>("note") == "a \"b\"");
  CHECK(r.get<std::string_view>("name") == "ada");
  CHECK(r.text() == "ada,36,0.5,18446744073709551615,true,\"a \"\"b\"\"\"");
  CHECK(r.key() == "data.csv:2");
  CHECK(r.file_key() == "data.csv");
  CHECK(r.line() == 2);
  CHECK(r.index() == 0);
  CHECK(r.header().find("score") == 2);
  CHECK(!r.header().find("nope"));
  CHECK(
      std::vector<std::string_view>(r.begin(), r.end()) ==
      std::vector<std::string_view>{"ada", "36", "0.5", "18446744073709551615", "true", "a \"b\""});
  // Unquoted fields view the batch's own bytes.
  CHECK(r[0].data() == r.text().data());

  const Row& s = b[1];
  CHECK(s.get<std::optional<int>>("age") == std::nullopt);
  CHECK(s.get<std::optional<double>>("score") == -1000.0);
  CHECK(s.get<int>("big") == 7);
  CHECK_FALSE(s.get<bool>("flag"));
  CHECK(s["note"].empty());
  CHECK(s.get<std::optional<std::string>>("note") == std::nullopt);
}

TEST_CASE("a field that does not parse names file, line, column and value", "[table_batch]") {
  TempDir t;
  const TableBatch b = read_one(t, "data.csv",
                                "id,age,ratio,small\n"
                                "1,abc, 2.5,300\n"
                                "2,,x,-1\n");
  const Row& r = b[0];
  CHECK_THROWS_AS(r.get<int>("age"), FieldError);
  CHECK_THROWS_WITH(r.get<int>("age"),
                    "[parallel_run.input] data.csv:2: column 'age': cannot parse 'abc' as an "
                    "integer");
  CHECK_THROWS_WITH(r.get<double>("ratio"),
                    "[parallel_run.input] data.csv:2: column 'ratio': cannot parse ' 2.5' as a "
                    "number");
  CHECK_THROWS_WITH(r.get<std::uint8_t>("small"),
                    "[parallel_run.input] data.csv:2: column 'small': '300' is out of range for "
                    "an unsigned integer");
  CHECK(r.get<bool>(0));
  CHECK_THROWS_WITH(r.get<bool>("small"),
                    "[parallel_run.input] data.csv:2: column 'small': cannot parse '300' as a "
                    "boolean (true, false, 1 or 0)");
  CHECK_THROWS_WITH(b[1].get<int>("age"),
                    "[parallel_run.input] data.csv:3: column 'age': cannot parse '' as an integer");
  CHECK_THROWS_WITH(b[1].get<unsigned>("small"),
                    "[parallel_run.input] data.csv:3: column 'small': cannot parse '-1' as an "
                    "unsigned integer");
  CHECK_THROWS_WITH(r["agee"],
                    "[parallel_run.input] data.csv:2: no column 'agee' (columns: id, "
                    "age, ratio, small)");
  CHECK_THROWS_WITH(r[4], "[parallel_run.input] data.csv:2: no column 4 (the row has 4 fields)");
  CHECK_THROWS_WITH(r.get<int>(std::size_t{9}),
                    "[parallel_run.input] data.csv:2: no column 9 (the row has 4 fields)");
}

TEST_CASE("a value a message quotes shows its NUL bytes and is cut when long", "[table_batch]") {
  TempDir t;
  const std::string huge(100000, '7');
  const TableBatch b = read_one(t, "data.csv",
                                std::string("id,v\n1,12") + '\0' + "x\n2," + huge + "\n3,\xc3\xa9" +
                                    std::string(300, 'x') + "\n");
  CHECK_THROWS_WITH(b[0].get<double>("v"),
                    "[parallel_run.input] data.csv:2: column 'v': cannot parse '12\\0x' as a "
                    "number");
  CHECK_THROWS_WITH(b[1].get<int>("v"), "[parallel_run.input] data.csv:3: column 'v': '" +
                                            std::string(200, '7') +
                                            "... (100000 bytes)' is out of range for an integer");
  // Cut at a character's start: the two bytes of 'é' stay whole.
  CHECK_THROWS_WITH(b[2].get<int>("v"),
                    "[parallel_run.input] data.csv:4: column 'v': cannot "
                    "parse '\xc3\xa9" +
                        std::string(198, 'x') + "... (302 bytes)' as an integer");
}

TEST_CASE("without a header, columns are read by index", "[table_batch]") {
  TempDir t;
  write_file(t / "n.csv", "x,1\ny,2\n");
  parallel_run::TableOptions o;
  o.header = false;
  parallel_run::detail::TablePartitioner p(TabularDataset({(t / "n.csv").string()}, o), 1 << 20);
  const TableBatch b = p.next()->materialize();
  REQUIRE(b.size() == 2);
  CHECK(b[1].get<int>(1) == 2);
  CHECK(b[1].key() == "n.csv:2");
  CHECK_THROWS_WITH(b[1].get<int>(0),
                    "[parallel_run.input] n.csv:2: column 0: cannot parse 'y' as an integer");
  CHECK_THROWS_WITH(b[0]["x"],
                    "[parallel_run.input] n.csv:1: no column 'x': the file has no header row");
}

TEST_CASE("map_items fails only the rows whose function throws", "[table_batch][item_result]") {
  TempDir t;
  const TableBatch b = read_one(t, "m.csv", "v\n1\nx\n3\n");
  const auto results =
      parallel_run::map_items(b, [](const Row& row) { return row.get<int>("v") * 2; });
  REQUIRE(results.size() == 3);
  CHECK(results[0].ok());
  CHECK(results[0].value() == 2);
  CHECK(results[0].key() == "m.csv:2");
  CHECK(!results[1].ok());
  CHECK(results[1].key() == "m.csv:3");
  CHECK(results[1].index() == 1);
  CHECK(results[1].error() ==
        "[parallel_run.input] m.csv:3: column 'v': cannot parse 'x' as an integer");
  CHECK(results[2].value() == 6);
}

TEST_CASE("a mini-batch's failed rows and malformed records are listed in line order",
          "[table_batch][item_result]") {
  TempDir t;
  // Lines 3 and 6 are malformed (two fields for one); lines 2 and 5 fail in the scorer.
  const TableBatch b = read_one(t, "o.csv", "v\nx\n1,1\n2\nx\n3,3\n4\n");
  REQUIRE(b.size() == 4);
  REQUIRE(b.malformed().size() == 2);
  const auto outcome = parallel_run::detail::collect(
      b, parallel_run::map_items(b, [](const Row& row) { return row.get<int>("v"); }),
      parallel_run::detail::RowFormat{true, false, ","});
  CHECK(outcome.rows == "2\n4\n");
  CHECK(outcome.succeeded == 2);
  std::vector<std::string> keys;
  for (const auto& f : outcome.failed)
    keys.push_back(f.key);
  CHECK(keys == std::vector<std::string>{"o.csv:2", "o.csv:3", "o.csv:5", "o.csv:6"});
  REQUIRE(outcome.failed.size() == 4);
  CHECK(outcome.failed[1].reason == b.malformed()[0].reason);
  CHECK(outcome.failed[2].reason ==
        "[parallel_run.input] o.csv:5: column 'v': cannot parse 'x' as an integer");
}

TEST_CASE("a batch moves with its rows intact", "[table_batch]") {
  TempDir t;
  TableBatch a = read_one(t, "a.csv", "k\n\"x\"\"y\"\n");
  const std::string_view before = a[0]["k"];
  TableBatch moved = std::move(a);
  CHECK(moved[0]["k"] == "x\"y");
  CHECK(moved[0]["k"].data() == before.data());
}
