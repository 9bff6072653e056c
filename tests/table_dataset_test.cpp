#include <parallel_run/tabular_dataset.hpp>

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "parallel_run/detail/csv_scan.hpp"
#include "parallel_run/detail/table_partitioner.hpp"
#include "parallel_run/detail/table_slice.hpp"
#include "parallel_run/detail/wire.hpp"
#include "parallel_run/config.hpp"
#include "support/temp_dir.hpp"

using parallel_run::ConfigError;
using parallel_run::InputError;
using parallel_run::MalformedRecord;
using parallel_run::TableBatch;
using parallel_run::TableFormat;
using parallel_run::TableOptions;
using parallel_run::TabularDataset;
using parallel_run::detail::TablePartitioner;
using parallel_run::detail::TableSlice;
using test_support::TempDir;
using test_support::write_file;

namespace {

struct RefRecord {
  std::size_t line;
  std::vector<std::string> fields;
};

// An independent reader, one byte at a time: what the tables below must read back as.
std::vector<RefRecord> reference_parse(std::string text, bool header, char delimiter = ',') {
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);
  std::vector<RefRecord> out;
  std::size_t line = 1, start_line = 1;
  std::string raw;
  bool in_quote = false;
  auto finish = [&] {
    if (!raw.empty() && raw.back() == '\r') raw.pop_back();
    if (raw.empty()) return;
    RefRecord r{start_line, {}};
    std::string field;
    bool q = false;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      const char c = raw[i];
      if (c == '"') {
        if (q && i + 1 < raw.size() && raw[i + 1] == '"') {
          field.push_back('"');
          ++i;
        } else {
          q = !q;
        }
      } else if (c == delimiter && !q) {
        r.fields.push_back(field);
        field.clear();
      } else {
        field.push_back(c);
      }
    }
    r.fields.push_back(field);
    out.push_back(std::move(r));
  };
  for (char c : text) {
    if (c == '"') in_quote = !in_quote;
    if (c == '\n') {
      ++line;
      if (!in_quote) {
        finish();
        raw.clear();
        start_line = line;
        continue;
      }
    }
    raw.push_back(c);
  }
  finish();
  if (header && !out.empty()) out.erase(out.begin());
  return out;
}

std::string quote_csv(const std::string& v, char delimiter, bool only_field) {
  if (v.empty() && only_field) return "\"\"";  // else the record would be a blank line
  if (v.find_first_of("\"\r\n") == std::string::npos && v.find(delimiter) == std::string::npos)
    return v;
  std::string q = "\"";
  for (char c : v) {
    if (c == '"') q.push_back('"');
    q.push_back(c);
  }
  return q + "\"";
}

struct Generated {
  std::string text;
  std::vector<std::vector<std::string>> rows;  // data rows, header excluded
};

Generated random_table(std::mt19937& rng, bool header) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const int columns = 1 + pick(5);
  const int shape = pick(4);
  const int records = shape == 0 ? 0 : shape == 1 ? 1 : pick(300);
  const std::string eol = pick(2) ? "\r\n" : "\n";
  const std::string alphabet = "abcXYZ019 ,\"\n\r.-";
  Generated g;
  if (pick(4) == 0) g.text += "\xEF\xBB\xBF";
  auto write_row = [&](const std::vector<std::string>& fields) {
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (i) g.text += ',';
      g.text += quote_csv(fields[i], ',', fields.size() == 1);
    }
  };
  if (header) {
    std::vector<std::string> names;
    for (int c = 0; c < columns; ++c)
      names.push_back("col" + std::to_string(c));
    write_row(names);
    g.text += eol;
  }
  for (int r = 0; r < records; ++r) {
    if (pick(20) == 0) g.text += eol;  // a blank line is no record
    std::vector<std::string> fields;
    for (int c = 0; c < columns; ++c) {
      std::string v;
      const int kind = pick(10);
      const int len = kind == 0 ? 0 : kind == 1 ? 100 + pick(3000) : pick(12);
      for (int k = 0; k < len; ++k)
        v.push_back(alphabet[static_cast<std::size_t>(pick(static_cast<int>(alphabet.size())))]);
      fields.push_back(v);
    }
    write_row(fields);
    g.rows.push_back(fields);
    if (r + 1 < records || pick(2)) g.text += eol;
  }
  return g;
}

struct Cut {
  std::vector<TableSlice> slices;
  std::vector<TableBatch> batches;
};

Cut cut_all(const TabularDataset& d, std::uint64_t size, std::size_t limit = 0) {
  Cut c;
  TablePartitioner p(d, size, limit);
  while (auto s = p.next()) {
    c.batches.push_back(s->materialize());
    c.slices.push_back(std::move(*s));
  }
  return c;
}

}  // namespace

TEST_CASE("the block scanner finds quotes, newlines and record ends exactly", "[table_scan]") {
  using namespace parallel_run::detail;
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::string s(kBlock, 'a');
    for (char& c : s) {
      const unsigned r = rng() % 8;
      c = r == 0 ? '"' : r == 1 ? '\n' : r == 2 ? '\r' : r == 3 ? ',' : 'x';
    }
    const Block b(s.data());
    std::uint64_t q = 0, n = 0, parity = 0;
    bool in = false;
    for (unsigned i = 0; i < kBlock; ++i) {
      if (s[i] == '"') {
        q |= std::uint64_t{1} << i;
        in = !in;
      }
      if (s[i] == '\n') n |= std::uint64_t{1} << i;
      if (in) parity |= std::uint64_t{1} << i;
    }
    CHECK(b.eq('"') == q);
    CHECK(b.eq('\n') == n);
    CHECK(prefix_xor(q) == parity);
    // Record ends follow the quoting rule, one byte at a time.
    QuoteState state = QuoteState::field_start;
    const QuoteMasks want = quote_masks_scalar(s.data(), ',', state);
    RecordScanner scanner(true, ',');
    CHECK(scanner.scan(s.data()).end == (n & want.structural));
    CHECK(scanner.in_quote() == (state == QuoteState::quoted));
  }
  CHECK(low_bits(0) == 0);
  CHECK(low_bits(64) == ~std::uint64_t{0});
}

TEST_CASE("a quote opens quotes only at the start of a field", "[table_scan]") {
  using namespace parallel_run::detail;
  auto run = [](std::string text) {
    text.resize(kBlock, 'z');
    QuoteState state = QuoteState::field_start;
    const QuoteMasks scalar = quote_masks_scalar(text.data(), ',', state);
    QuoteCarry carry;
    const std::uint64_t quotes = Block(text.data()).eq('"');
    const std::uint64_t separators = Block(text.data()).eq(',') | Block(text.data()).eq('\n');
    const QuoteMasks fast = carry.next(text.data(), ',', quotes, prefix_xor(quotes), separators);
    CHECK(fast.inside == scalar.inside);
    CHECK(fast.structural == scalar.structural);
    CHECK(fast.literal == scalar.literal);
    CHECK(carry.state() == state);
    return scalar;
  };
  // a"b,c: the quote is text; the comma ends the field.
  QuoteMasks m = run("a\"b,c\n");
  CHECK(m.inside == 0);
  CHECK(m.literal == 0b10);
  CHECK(m.structural == 0b101000);
  // "a,b""c",d: one quoted field holding a comma and a doubled quote.
  m = run("\"a,b\"\"c\",d\n");
  CHECK(m.structural == ((std::uint64_t{1} << 8) | (std::uint64_t{1} << 10)));
  CHECK(m.literal == (std::uint64_t{1} << 5));
  // "a"b"c,d: text after a closing quote; its quotes are text too.
  m = run("\"a\"b\"c,d\n");
  CHECK(m.structural == ((std::uint64_t{1} << 6) | (std::uint64_t{1} << 8)));
  CHECK(m.literal == (std::uint64_t{1} << 4));
}

TEST_CASE("random tables cut at any size read back every record once, in order",
          "[table_dataset][property]") {
  std::mt19937 rng(20240601);
  for (int round = 0; round < 60; ++round) {
    TempDir t;
    const bool header = round % 3 != 0;
    std::vector<Generated> files;
    const int file_count = 1 + round % 3;
    for (int f = 0; f < file_count; ++f) {
      files.push_back(random_table(rng, header));
      write_file(t / ("in/t" + std::to_string(f) + ".csv"), files.back().text);
    }
    TableOptions options;
    options.header = header;
    // Generated tables may differ in their column count.
    options.allow_different_headers = true;
    const TabularDataset d({(t / "in").string()}, options);
    for (std::uint64_t size : {std::uint64_t{1}, std::uint64_t{7}, std::uint64_t{64},
                               std::uint64_t{500}, std::uint64_t{4096}, std::uint64_t{1} << 20}) {
      INFO("round " << round << " size " << size);
      Cut cut = cut_all(d, size);
      std::size_t file = 0, row_in_file = 0, index = 0;
      std::vector<RefRecord> ref = reference_parse(files[0].text, header);
      for (std::size_t b = 0; b < cut.batches.size(); ++b) {
        const TableBatch& batch = cut.batches[b];
        const TableSlice& slice = cut.slices[b];
        CHECK(batch.mini_batch_index() == b);
        CHECK(batch.malformed().empty());
        REQUIRE(batch.size() == slice.size());
        REQUIRE(!batch.empty());
        if (batch.size() > 1) CHECK(slice.length() <= size);
        std::vector<std::string> keys;
        slice.for_each_item_key([&](std::string k) { keys.push_back(std::move(k)); });
        REQUIRE(keys.size() == batch.size());
        for (std::size_t r = 0; r < batch.size(); ++r) {
          while (row_in_file == ref.size()) {
            ++file;
            REQUIRE(file < files.size());
            row_in_file = 0;
            ref = reference_parse(files[file].text, header);
          }
          const auto& row = batch[r];
          const std::string key = "t" + std::to_string(file) + ".csv";
          CHECK(row.file_key() == key);
          CHECK(row.index() == index);
          CHECK(row.line() == ref[row_in_file].line);
          CHECK(keys[r] == row.key());
          const auto& want = files[file].rows[row_in_file];
          REQUIRE(row.size() == want.size());
          CHECK(ref[row_in_file].fields == want);
          for (std::size_t i = 0; i < want.size(); ++i)
            CHECK(row[i] == want[i]);
          ++row_in_file;
          ++index;
        }
      }
      while (row_in_file == ref.size() && file + 1 < files.size()) {
        ++file;
        row_in_file = 0;
        ref = reference_parse(files[file].text, header);
      }
      CHECK(file == files.size() - 1);
      CHECK(row_in_file == ref.size());
    }
  }
}

TEST_CASE("a file smaller than the size is one mini-batch - a big one is split on record ends",
          "[table_dataset]") {
  TempDir t;
  std::string text = "id,text\n";
  for (int i = 0; i < 1000; ++i)
    text += std::to_string(i) + ",\"line one\nline two, \"\"quoted\"\"\"\n";
  write_file(t / "big.csv", text);
  write_file(t / "small.csv", "id,text\n1,a\n");
  const TabularDataset d({(t / "big.csv").string(), (t / "small.csv").string()});
  Cut whole = cut_all(d, std::uint64_t{1} << 20);
  REQUIRE(whole.slices.size() == 2);
  CHECK(whole.slices[0].size() == 1000);
  CHECK(whole.slices[1].size() == 1);
  CHECK(whole.batches[1][0].key() == "small.csv:2");
  CHECK(whole.batches[1][0].index() == 1000);

  Cut parts = cut_all(d, 1024);
  CHECK(parts.slices.size() > 30);
  std::uint64_t next_offset = 8;
  for (std::size_t i = 0; i + 1 < parts.slices.size(); ++i) {
    const auto& s = parts.slices[i];
    CHECK(s.offset() == next_offset);
    CHECK(s.length() <= 1024);
    next_offset = s.offset() + s.length();
    CHECK(text[next_offset - 1] == '\n');
    CHECK(parts.batches[i][0].line() == s.first_line());
    CHECK(parts.batches[i][0].get<int>("id") == static_cast<int>((s.first_line() - 2) / 2));
  }
  CHECK(next_offset == text.size());
}

TEST_CASE("a record longer than the size is a mini-batch of its own", "[table_dataset]") {
  TempDir t;
  const std::string long_field(5000, 'x');
  write_file(t / "a.csv", "a,b\n1,2\n3,\"" + long_field + "\"\n5,6\n7,8\n");
  Cut c = cut_all(TabularDataset({(t / "a.csv").string()}), 10);
  REQUIRE(c.batches.size() == 3);
  CHECK(c.batches[1].size() == 1);
  CHECK(c.batches[1][0]["b"] == long_field);
  CHECK(c.batches[1][0].key() == "a.csv:3");
  CHECK(c.batches[2].size() == 2);  // "5,6\n7,8\n" fits in 10 bytes
  CHECK(c.batches[2][1].key() == "a.csv:5");
}

TEST_CASE("mini_batch_size parses sizes as the service writes them", "[table_dataset][config]") {
  using parallel_run::MiniBatchSize;
  CHECK(MiniBatchSize("1024").bytes() == 1024);
  CHECK(MiniBatchSize("1KB").bytes() == 1024);
  CHECK(MiniBatchSize("10mb").bytes() == 10 << 20);
  CHECK(MiniBatchSize("1GB").bytes() == std::int64_t{1} << 30);
  CHECK(MiniBatchSize().bytes() == 1 << 20);
  CHECK_THROWS_WITH(MiniBatchSize("10 MB").bytes(),
                    "[parallel_run.config.mini_batch_size] mini_batch_size must be a size like "
                    "1024, 1024KB, 10MB or 1GB (^\\d+([kKmMgG][bB])?$), got '10 MB'");
  CHECK_THROWS_WITH(MiniBatchSize("1TB").bytes(),
                    "[parallel_run.config.mini_batch_size] mini_batch_size must be a size like "
                    "1024, 1024KB, 10MB or 1GB (^\\d+([kKmMgG][bB])?$), got '1TB'");
  CHECK_THROWS_WITH(MiniBatchSize("0").bytes(),
                    "[parallel_run.config.mini_batch_size] mini_batch_size must be at least 1 "
                    "byte, got '0'");
  CHECK_THROWS_WITH(MiniBatchSize("2048GB").bytes(),
                    "[parallel_run.config.mini_batch_size] mini_batch_size must be at most "
                    "1024GB, got '2048GB'");
}

TEST_CASE("every mini-batch of a file knows its header - different headers are an error",
          "[table_dataset][header]") {
  TempDir t;
  write_file(t / "in/a.csv", "x,y\n1,2\n3,4\n5,6\n");
  write_file(t / "in/b.csv", "x,y\n7,8\n");
  write_file(t / "in/c.csv", "x,z\n9,10\n");
  {
    Cut c = cut_all(TabularDataset({(t / "in/a.csv").string(), (t / "in/b.csv").string()}), 4);
    REQUIRE(c.batches.size() == 4);
    for (const auto& b : c.batches)
      CHECK(b[0].header().names() == std::vector<std::string>{"x", "y"});
    CHECK(c.batches[2][0].get<int>("y") == 6);
    CHECK(c.batches[3][0].key() == "b.csv:2");
  }
  {
    TablePartitioner p(TabularDataset({(t / "in").string()}), 1 << 20);
    CHECK(p.next()->size() == 3);
    CHECK(p.next()->size() == 1);
    CHECK_THROWS_WITH(p.next(), "[parallel_run.input] the header of '" + (t / "in/c.csv").string() +
                                    "' (x, z) differs from the header of '" +
                                    (t / "in/a.csv").string() +
                                    "' (x, y); set allow_different_headers "
                                    "(--allow-different-headers) to read files with different "
                                    "headers");
    CHECK(!p.next());
  }
  {
    TableOptions o;
    o.allow_different_headers = true;
    Cut c = cut_all(TabularDataset({(t / "in").string()}, o), 1 << 20);
    REQUIRE(c.batches.size() == 3);
    CHECK(c.batches[2][0]["z"] == "10");
    CHECK(c.batches[2][0].index() == 4);
  }
  {
    TableOptions o;
    o.header = false;
    Cut c = cut_all(TabularDataset({(t / "in").string()}, o), 1 << 20);
    REQUIRE(c.batches.size() == 3);
    CHECK(c.batches[0].size() == 4);
    CHECK(c.batches[0][0][1] == "y");
    CHECK(c.batches[0][0].key() == "a.csv:1");
    CHECK(c.batches[0][0].header().empty());
  }
}

TEST_CASE("a UTF-8 BOM, CRLF and blank lines are not data", "[table_dataset]") {
  TempDir t;
  write_file(t / "a.csv", "\xEF\xBB\xBF\r\nname,n\r\n\r\nada,1\r\n\n\"b\r\nc\",2\r\n\r\n");
  Cut c = cut_all(TabularDataset({(t / "a.csv").string()}), 1 << 20);
  REQUIRE(c.batches.size() == 1);
  const TableBatch& b = c.batches[0];
  REQUIRE(b.size() == 2);
  CHECK(b[0].header().names() == std::vector<std::string>{"name", "n"});
  CHECK(b[0].key() == "a.csv:4");
  CHECK(b[0].text() == "ada,1");
  CHECK(b[1].key() == "a.csv:6");
  CHECK(b[1]["name"] == "b\r\nc");
  CHECK(b[1].text() == "\"b\r\nc\",2");
}

TEST_CASE("malformed records are reported with file, line and reason, never given to run",
          "[table_dataset][malformed]") {
  TempDir t;
  write_file(t / "data.csv",
             "a,b,c,d\n"
             "1,2,3,4\n"
             "1,2,3\n"
             "\"x\"y,2,3,4\n"
             "1,x\"y\",3,4\n"
             "1,2,3,4,5\n"
             "5,6,7,8\n"
             "\"open,2,3,4\n"
             "9,9,9,9\n");
  for (std::uint64_t size : {std::uint64_t{1}, std::uint64_t{20}, std::uint64_t{1} << 20}) {
    INFO("size " << size);
    Cut c = cut_all(TabularDataset({(t / "data.csv").string()}), size);
    std::vector<std::string> rows;
    std::vector<MalformedRecord> malformed;
    for (const TableBatch& b : c.batches) {
      for (const auto& r : b)
        rows.push_back(r.key() + " " + std::string(r.text()));
      malformed.insert(malformed.end(), b.malformed().begin(), b.malformed().end());
    }
    // A quote inside an unquoted field is text (line 5); an unclosed quote ends its record
    // with its line, and line 9 is read.
    CHECK(rows == std::vector<std::string>{"data.csv:2 1,2,3,4", "data.csv:5 1,x\"y\",3,4",
                                           "data.csv:7 5,6,7,8", "data.csv:9 9,9,9,9"});
    CHECK(malformed ==
          std::vector<MalformedRecord>{
              {"data.csv:3", "data.csv:3: malformed record: 3 fields, the header has 4", 1},
              {"data.csv:4",
               "data.csv:4: malformed record: field 1 has text after its closing quote", 2},
              {"data.csv:6", "data.csv:6: malformed record: 5 fields, the header has 4", 4},
              {"data.csv:8",
               "data.csv:8: malformed record: a quoted field is not closed before the end of the "
               "file (the record is taken to end with the line where its quote opens)",
               6}});
    if (size == 1) {  // each record alone: the unclosed one is line 8, up to its line break
      REQUIRE(c.slices.size() == 8);
      CHECK(c.slices[6].first_line() == 8);
      CHECK(c.slices[6].length() == 12);
    }
  }
  // The unclosed quote does not split the file: it is one mini-batch, as the size says.
  Cut c = cut_all(TabularDataset({(t / "data.csv").string()}), 1 << 20);
  REQUIRE(c.batches.size() == 1);
  CHECK(c.slices[0].size() == 8);
  CHECK(c.batches[0][1]["b"] == "x\"y\"");
  std::vector<std::string> keys;
  c.slices[0].for_each_item_key([&](std::string k) { keys.push_back(std::move(k)); });
  CHECK(keys == std::vector<std::string>{"data.csv:2", "data.csv:3", "data.csv:4", "data.csv:5",
                                         "data.csv:6", "data.csv:7", "data.csv:8", "data.csv:9"});
}

TEST_CASE("an unclosed quote does not split a small file: slicer and parser end it alike",
          "[table_dataset][malformed][unclosed]") {
  TempDir t;
  // The README trial's file: 22 bytes of data, far below one mini-batch.
  write_file(t / "a.csv", "id,text\n1,\"abc\n2,def\n3,ghi\n");
  const std::string unclosed =
      "a.csv:2: malformed record: a quoted field is not closed before the end of the file (the "
      "record is taken to end with the line where its quote opens)";
  Cut c = cut_all(TabularDataset({(t / "a.csv").string()}), 1 << 20);
  REQUIRE(c.slices.size() == 1);
  CHECK(c.slices[0].offset() == 8);
  CHECK(c.slices[0].length() == 19);
  CHECK(c.slices[0].size() == 3);
  CHECK(c.slices[0].first_line() == 2);
  CHECK(c.slices[0].last_line() == 4);
  const TableBatch& b = c.batches[0];
  REQUIRE(b.size() == 2);
  CHECK(b[0].key() == "a.csv:3");
  CHECK(b[0]["text"] == "def");
  CHECK(b[0].index() == 1);
  CHECK(b[1].key() == "a.csv:4");
  CHECK(b[1]["text"] == "ghi");
  CHECK(b.malformed() == std::vector<MalformedRecord>{{"a.csv:2", unclosed, 0}});
  std::vector<std::string> items;
  c.slices[0].for_each_item([&](std::string key, std::string_view reason) {
    items.push_back(key + " " + std::string(reason));
  });
  CHECK(items == std::vector<std::string>{"a.csv:2 " + unclosed, "a.csv:3 ", "a.csv:4 "});

  // A record limit inside or right after the unclosed record counts it as one record.
  const std::vector<std::string> ranges = {"a.csv:2", "a.csv:2-3", "a.csv:2-4"};
  for (std::size_t limit = 1; limit <= 3; ++limit) {
    INFO("limit " << limit);
    Cut l = cut_all(TabularDataset({(t / "a.csv").string()}), 1 << 20, limit);
    REQUIRE(l.slices.size() == 1);
    CHECK(l.slices[0].size() == limit);
    CHECK(l.batches[0].size() + l.batches[0].malformed().size() == limit);
    std::vector<std::string> range;
    l.slices[0].for_each_range_key([&](std::string k) { range.push_back(std::move(k)); });
    CHECK(range == std::vector<std::string>{ranges[limit - 1]});
  }
}

TEST_CASE("an unclosed quote in the middle of a file is one record at every mini-batch size",
          "[table_dataset][malformed][unclosed]") {
  TempDir t;
  // Line 3 closes its first quote on line 4, then opens one that never closes: the record
  // is lines 3 and 4, and lines 5 and 6 are rows.
  const std::string text = "id,text\n1,x\n2,\"multi\nline\",\"open\n3,y\n4,z\n";
  write_file(t / "a.csv", text);
  for (std::uint64_t size = 1; size <= text.size(); ++size) {
    INFO("size " << size);
    Cut c;
    REQUIRE_NOTHROW(c = cut_all(TabularDataset({(t / "a.csv").string()}), size));
    std::vector<std::string> rows, malformed;
    std::uint64_t records = 0;
    for (std::size_t i = 0; i < c.slices.size(); ++i) {
      records += c.slices[i].size();
      for (const auto& r : c.batches[i])
        rows.push_back(r.key() + " " + std::string(r["text"]));
      for (const MalformedRecord& m : c.batches[i].malformed())
        malformed.push_back(m.key);
    }
    CHECK(records == 4);
    CHECK(rows == std::vector<std::string>{"a.csv:2 x", "a.csv:5 y", "a.csv:6 z"});
    CHECK(malformed == std::vector<std::string>{"a.csv:3"});
    if (size >= text.size()) CHECK(c.slices.size() == 1);
  }
}

TEST_CASE("TSV has no quoting - a delimiter can be given", "[table_dataset][tsv]") {
  TempDir t;
  write_file(t / "a.tsv", "name\tnote\nada\tsays \"hi\", twice\n\"b\t\"c\n");
  Cut c = cut_all(TabularDataset({(t / "a.tsv").string()}), 1 << 20);
  REQUIRE(c.batches.size() == 1);
  REQUIRE(c.batches[0].size() == 2);
  CHECK(c.batches[0][0]["note"] == "says \"hi\", twice");
  CHECK(c.batches[0][1]["name"] == "\"b");
  CHECK(c.batches[0][1]["note"] == "\"c");

  write_file(t / "semi.txt", "a;b\n\"1;2\";3\n");
  TableOptions o;
  o.format = TableFormat::csv;
  o.delimiter = ';';
  Cut s = cut_all(TabularDataset({(t / "semi.txt").string()}, o), 1 << 20);
  REQUIRE(s.batches.size() == 1);
  CHECK(s.batches[0][0]["a"] == "1;2");
  CHECK(s.batches[0][0]["b"] == "3");

  CHECK_THROWS_WITH(cut_all(TabularDataset({(t / "semi.txt").string()}), 1 << 20),
                    "[parallel_run.input] '" + (t / "semi.txt").string() +
                        "': cannot tell the table format from its extension (.csv, .tsv, .tab, "
                        ".jsonl, .ndjson); set the format (--format csv, tsv or jsonl)");
  CHECK(parallel_run::parse_table_format("JSONL") == TableFormat::jsonl);
  CHECK_THROWS_WITH(parallel_run::parse_table_format("xls"),
                    "[parallel_run.config.table_format] table_format must be one of csv, tsv, "
                    "jsonl; got 'xls'");
}

TEST_CASE("JSON Lines: top-level keys are the columns, strings unescaped",
          "[table_dataset][jsonl]") {
  TempDir t;
  write_file(t / "a.jsonl",
             "{\"id\": 1, \"name\": \"Ada \\\"A\\\" \\u00e9\\n\", \"ok\": true, \"tags\": [1, "
             "{\"x\": \"]\"}]}\n"
             "\n"
             "{\"name\":\"plain\",\"id\":-2.5e3,\"ok\":null}\r\n"
             "{\"id\": 3, \"extra\": 1}\n"
             "{\"id\": 4,}\n"
             "{\"id\": \"\\ud83d\\ude00\", \"id\": 5}\n"
             "{\"id\":6}");
  Cut c = cut_all(TabularDataset({(t / "a.jsonl").string()}), 1 << 20);
  REQUIRE(c.batches.size() == 1);
  const TableBatch& b = c.batches[0];
  CHECK(c.slices[0].size() == 6);
  REQUIRE(b.size() == 4);
  CHECK(b[0].header().names() == std::vector<std::string>{"id", "name", "ok", "tags"});
  CHECK(b[0].get<int>("id") == 1);
  CHECK(b[0]["name"] == "Ada \"A\" \xC3\xA9\n");
  CHECK(b[0].get<bool>("ok"));
  CHECK(b[0]["tags"] == "[1,{\"x\":\"]\"}]");  // nested: minified JSON text
  CHECK(b[1].key() == "a.jsonl:3");
  CHECK(b[1].get<double>("id") == -2500.0);
  CHECK(b[1]["name"] == "plain");
  CHECK(b[1].get<std::optional<bool>>("ok") == std::nullopt);
  CHECK(b[1]["tags"].empty());
  CHECK(b[2].key() == "a.jsonl:6");  // a key given twice: its last value
  CHECK(b[2].get<int>("id") == 5);
  CHECK(b[3].key() == "a.jsonl:7");
  CHECK(b[3].get<int>("id") == 6);
  CHECK(b.malformed() ==
        std::vector<MalformedRecord>{
            {"a.jsonl:4",
             "a.jsonl:4: malformed record: key 'extra' is not one of the columns (id, name, ok, "
             "tags) of the file's first JSON object",
             2},
            {"a.jsonl:5",
             "a.jsonl:5: malformed record: invalid JSON: The JSON document has an improper "
             "structure: missing or superfluous commas, braces, missing keys, etc.",
             3}});
}

TEST_CASE("limit takes the first N records", "[table_dataset][limit]") {
  TempDir t;
  write_file(t / "in/a.csv", "n\n1\n\"2\n\"\n3\n4\n");
  write_file(t / "in/b.csv", "n\n5\n6\n");
  const TabularDataset d({(t / "in").string()});
  for (std::size_t limit : {1, 2, 4, 5, 6, 100}) {
    for (std::uint64_t size : {std::uint64_t{1}, std::uint64_t{1} << 20}) {
      Cut c = cut_all(d, size, limit);
      std::vector<std::string> got;
      for (const auto& b : c.batches)
        for (const auto& r : b)
          got.emplace_back(r["n"]);
      std::vector<std::string> want{"1", "2\n", "3", "4", "5", "6"};
      want.resize(std::min<std::size_t>(limit, 6));
      CHECK(got == want);
    }
  }
}

TEST_CASE("empty files and header-only files make no mini-batch", "[table_dataset]") {
  TempDir t;
  write_file(t / "in/a.csv", "");
  write_file(t / "in/b.csv", "x,y\n");
  write_file(t / "in/c.csv", "x,y");
  write_file(t / "in/d.csv", "x,y\n\n\r\n");
  write_file(t / "in/e.csv", "x,y\n1,2");
  Cut c = cut_all(TabularDataset({(t / "in").string()}), 1 << 20);
  REQUIRE(c.batches.size() == 1);
  CHECK(c.batches[0][0].key() == "e.csv:2");
  CHECK(c.batches[0][0]["y"] == "2");
}

TEST_CASE("a table slice crosses the wire to a worker process intact", "[table_dataset][wire]") {
  TempDir t;
  write_file(t / "a.csv", "x,y\n1,2\n3,4\n");
  TablePartitioner p(TabularDataset({(t / "a.csv").string()}), 1 << 20);
  const TableSlice s = *p.next();
  std::string bytes;
  parallel_run::detail::WireWriter w(bytes);
  s.encode(w);
  parallel_run::detail::WireReader r(bytes);
  const TableSlice d = TableSlice::decode(r);
  CHECK(r.done());
  CHECK(d.mini_batch_index() == s.mini_batch_index());
  CHECK(d.size() == 2);
  CHECK(d.offset() == s.offset());
  CHECK(d.length() == s.length());
  CHECK(d.first_line() == 2);
  CHECK(d.last_line() == 3);
  CHECK(d.sources().at(0)->key == "a.csv");
  CHECK(d.sources().at(0)->columns == 2);
  const TableBatch b = d.materialize();
  REQUIRE(b.size() == 2);
  CHECK(b[1].get<int>("y") == 4);
  CHECK(b[1].key() == "a.csv:3");
  CHECK_THROWS_WITH(TableSlice::decode(*std::make_unique<parallel_run::detail::WireReader>(
                        std::string_view(bytes).substr(0, bytes.size() - 1))),
                    "[parallel_run.internal] a message between the coordinator and a worker "
                    "process is truncated");
}

TEST_CASE("after stop_reading the partitioner lists the unread input without reading it",
          "[table_dataset][stop]") {
  TempDir t;
  std::string a = "n\n";
  for (int i = 0; i < 200000; ++i)
    a += "1234\n";  // 1 MB: more than one 256 KB chunk
  write_file(t / "in/a.csv", a);
  write_file(t / "in/b.csv", "n\n1\n");
  write_file(t / "in/c.csv", "n\n2\n");
  TablePartitioner p(TabularDataset({(t / "in").string()}), 100);
  const TableSlice first = *p.next();
  CHECK(first.first_line() == 2);
  CHECK(first.last_line() == 21);
  std::vector<std::string> keys;
  first.for_each_range_key([&](std::string k) { keys.push_back(std::move(k)); });
  CHECK(keys == std::vector<std::string>{"a.csv:2-21"});
  p.stop_reading();
  // The slices cut from the first chunk, then the rest of a.csv, then b.csv and c.csv.
  std::uint64_t next_line = 22;
  std::vector<std::string> unread;
  std::size_t index = 1;
  while (auto s = p.next()) {
    CHECK(s->mini_batch_index() == index++);
    keys.clear();
    s->for_each_range_key([&](std::string k) { keys.push_back(std::move(k)); });
    REQUIRE(keys.size() == 1);
    if (s->size() == 0) {
      unread.push_back(keys[0]);
      continue;
    }
    REQUIRE(unread.empty());
    CHECK(s->first_line() == next_line);
    CHECK(keys[0] == fmt::format("a.csv:{}-{}", s->first_line(), s->last_line()));
    CHECK(s->last_line() - s->first_line() + 1 == s->size());
    next_line = s->last_line() + 1;
  }
  CHECK(next_line < 200000);  // most of a.csv is never read
  CHECK(unread == std::vector<std::string>{fmt::format("a.csv:{}-", next_line), "b.csv", "c.csv"});
}

TEST_CASE("spill slices parse framed records of several sources", "[table_dataset][spill]") {
  TempDir t;
  auto source = std::make_shared<parallel_run::detail::TableSource>();
  source->path = t / "a.csv";
  source->key = "a.csv";
  source->header =
      std::make_shared<const parallel_run::TableHeader>(std::vector<std::string>{"k", "v"});
  source->columns = 2;
  std::string spill;
  auto frame = [&](std::uint64_t index, std::uint64_t line, std::string_view text) {
    const auto src = std::uint32_t{0};
    const auto n = static_cast<std::uint32_t>(text.size());
    spill.append(reinterpret_cast<const char*>(&index), 8);
    spill.append(reinterpret_cast<const char*>(&line), 8);
    spill.append(reinterpret_cast<const char*>(&src), 4);
    spill.append(reinterpret_cast<const char*>(&n), 4);
    spill.append(text);
  };
  frame(4, 9, "a,\"multi\nline\"");
  frame(1, 3, "a,1,extra");
  write_file(t / "spill", "junk" + spill);
  const TableSlice s = TableSlice::of_spill(3, t / "spill", 4, spill.size(), 2, {source});
  const TableBatch b = s.materialize();
  REQUIRE(b.size() == 1);
  CHECK(b.mini_batch_index() == 3);
  CHECK(b[0].key() == "a.csv:9");
  CHECK(b[0].index() == 4);
  CHECK(b[0]["v"] == "multi\nline");
  CHECK(b.malformed() ==
        std::vector<MalformedRecord>{
            {"a.csv:3", "a.csv:3: malformed record: 3 fields, the header has 2", 1}});
  std::vector<std::string> keys;
  s.for_each_item_key([&](std::string k) { keys.push_back(std::move(k)); });
  CHECK(keys == std::vector<std::string>{"a.csv:9", "a.csv:3"});
}
