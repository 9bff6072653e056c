// Differential test of the CSV reader: many random small inputs full of what breaks readers
// (stray quotes, unclosed quotes, doubled quotes, LF, CRLF and lone CR, empty fields, blank
// lines), read by the library (partitioner and parser, at many mini-batch sizes and with each
// instruction set) and by a reference reader written here, one byte at a time, from the rule
// the README states. Every record must come out once, as a row or a malformed record, with
// its line, its fields and (for malformed ones) the kind of fault.
#include "parallel_run/detail/table_partitioner.hpp"

#include <catch2/catch.hpp>

#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "parallel_run/detail/csv_scan.hpp"
#include "parallel_run/detail/table_slice.hpp"
#include "parallel_run/tabular_dataset.hpp"
#include "support/temp_dir.hpp"

using parallel_run::TableBatch;
using parallel_run::TableOptions;
using parallel_run::TabularDataset;
using parallel_run::detail::TablePartitioner;
using test_support::TempDir;
using test_support::write_file;

namespace {

// What a record reads as: a row's fields, or "malformed: <kind>".
struct Read {
  std::uint64_t line;
  std::vector<std::string> fields;
  std::string fault;  // empty for a row

  bool operator==(const Read&) const = default;
};

std::string describe(const std::vector<Read>& v) {
  std::ostringstream o;
  for (const Read& r : v) {
    o << r.line << ": ";
    if (!r.fault.empty()) {
      o << "malformed (" << r.fault << ")\n";
      continue;
    }
    for (const auto& f : r.fields) {
      o << '[';
      for (char c : f)
        o << (c == '\n' ? "\\n" : c == '\r' ? "\\r" : std::string(1, c));
      o << ']';
    }
    o << '\n';
  }
  return o.str();
}

// The rule, as the README states it, one byte at a time:
// - a record ends at a LF outside quotes; one CR right before it belongs to the line break;
//   a record that is empty or only that CR is a blank line, no record;
// - a quote opens quotes only as the first byte of a field; inside, "" is one quote and a
//   single quote closes; text between a closing quote and the field's end makes the record
//   malformed ("after"), and quotes there are text; a quote elsewhere is text;
// - a quote that never closes: its record ends with the line where the quote opens, and is
//   malformed ("unclosed"); reading goes on with the next line;
// - every record has the header's field count (or, without a header, the first record's);
//   a malformed header makes every record malformed ("header"), the header's own line too.
struct Reference {
  char delimiter = ',';

  struct Raw {
    std::uint64_t line;
    std::string text;
    bool unclosed;
  };

  // The records of `text` (BOM already removed), with the line each starts on.
  std::vector<Raw> records(const std::string& text) const {
    std::vector<Raw> out;
    std::size_t start = 0;
    std::uint64_t line = 1;
    while (start < text.size()) {
      enum { field_start, unquoted, quoted, after_quote } s = field_start;
      std::size_t i = start;
      std::optional<std::size_t> open_at;  // the last quote that opened quotes
      for (; i < text.size(); ++i) {
        const char c = text[i];
        if (s == quoted) {
          if (c == '"') s = after_quote;
          continue;
        }
        if (s == after_quote && c == '"') {
          s = quoted;
          continue;
        }
        if (c == '\n') break;
        if (c == delimiter) {
          s = field_start;
        } else if (s == field_start && c == '"') {
          s = quoted;
          open_at = i;
        } else {
          s = unquoted;
        }
      }
      bool unclosed = false;
      std::size_t end = i;  // the LF that ends the record, or the end of the text
      if (s == quoted) {
        unclosed = true;
        const std::size_t lf = text.find('\n', *open_at);
        end = lf == std::string::npos ? text.size() : lf;
      }
      std::string record = text.substr(start, end - start);
      const std::uint64_t lines_in =
          static_cast<std::uint64_t>(std::count(record.begin(), record.end(), '\n'));
      if (!unclosed && !record.empty() && record.back() == '\r') record.pop_back();
      if (!record.empty() || unclosed) out.push_back({line, record, unclosed});
      line += lines_in + (end < text.size() ? 1 : 0);
      start = end + 1;
    }
    return out;
  }

  // The fields of a record and whether text follows a closing quote.
  std::vector<std::string> fields(const std::string& r, bool& after) const {
    std::vector<std::string> out(1);
    after = false;
    enum { field_start, unquoted, quoted, after_quote, junk } s = field_start;
    for (std::size_t i = 0; i < r.size(); ++i) {
      const char c = r[i];
      switch (s) {
        case quoted:
          if (c == '"')
            s = after_quote;
          else
            out.back().push_back(c);
          continue;
        case after_quote:
          if (c == '"') {
            out.back().push_back('"');
            s = quoted;
            continue;
          }
          if (c != delimiter) {
            after = true;
            s = junk;
            continue;
          }
          break;
        case field_start:
          if (c == '"') {
            s = quoted;
            continue;
          }
          break;
        default:
          break;
      }
      if (c == delimiter) {
        out.emplace_back();
        s = field_start;
      } else {
        out.back().push_back(c);
        if (s != junk) s = unquoted;
      }
    }
    return out;
  }

  std::vector<Read> read(std::string text, bool header) const {
    if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);
    std::vector<Raw> raw = records(text);
    std::vector<Read> out;
    std::size_t columns = 0;
    bool bad_header = false;
    std::size_t first = 0;
    if (!raw.empty()) {
      bool after = false;
      columns = fields(raw[0].text, after).size();
      if (header) {
        bad_header = after || raw[0].unclosed;
        if (!bad_header) first = 1;  // else the header is read as a record too
      }
    }
    for (std::size_t k = first; k < raw.size(); ++k) {
      const Raw& r = raw[k];
      bool after = false;
      std::vector<std::string> f = fields(r.text, after);
      std::string fault = r.unclosed            ? "unclosed"
                          : after               ? "after"
                          : bad_header          ? "header"
                          : f.size() != columns ? "count"
                                                : "";
      if (!fault.empty()) f.clear();
      out.push_back({r.line, std::move(f), fault});
    }
    return out;
  }
};

std::string fault_of(const std::string& reason) {
  if (reason.find("the header (line") != std::string::npos) return "header";
  if (reason.find("is not closed") != std::string::npos) return "unclosed";
  if (reason.find("after its closing quote") != std::string::npos) return "after";
  if (reason.find("fields, the") != std::string::npos) return "count";
  return "other: " + reason;
}

// What the library reads, cut at `size` bytes: every row and malformed record, in order.
std::vector<Read> library_read(const TabularDataset& d, std::uint64_t size) {
  std::vector<Read> out;
  TablePartitioner p(d, size);
  std::uint64_t index = 0;
  while (auto s = p.next()) {
    const TableBatch b = s->materialize();
    REQUIRE(b.size() + b.malformed().size() == s->size());
    std::size_t row = 0, bad = 0;
    while (row < b.size() || bad < b.malformed().size()) {
      if (row < b.size() && b[row].index() == index) {
        std::vector<std::string> f;
        for (std::string_view v : b[row])
          f.emplace_back(v);
        out.push_back({b[row].line(), std::move(f), ""});
        ++row;
      } else {
        REQUIRE(bad < b.malformed().size());
        const auto& m = b.malformed()[bad];
        REQUIRE(m.index == index);
        const std::string line = m.key.substr(m.key.rfind(':') + 1);
        out.push_back({std::stoull(line), {}, fault_of(m.reason)});
        ++bad;
      }
      ++index;
    }
  }
  return out;
}

// Random text made of pieces that trouble CSV readers.
std::string random_csv(std::mt19937& rng) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  static const char* const pieces[] = {
      "a",  "bc",  ",",      ",",    "\"",         "\"\"",     "\"x\"",  "\"y,z\"",
      "\n", "\n",  "\r\n",   "\r",   "\"q\"\"r\"", "\"\n\"",   ",\"",    "\" ",
      " ",  "1.5", "\"a\"b", "x\"y", "\n\n",       "\r\n\r\n", "\"\"\"", ",,"};
  const int n = pick(4) == 0 ? pick(200) : pick(30);
  std::string s;
  if (pick(10) == 0) s += "\xEF\xBB\xBF";
  for (int i = 0; i < n; ++i)
    s += pieces[pick(static_cast<int>(std::size(pieces)))];
  // Long quiet runs move the troubles across 64-byte blocks.
  if (pick(3) == 0)
    s.insert(static_cast<std::size_t>(pick(static_cast<int>(s.size()) + 1)),
             std::string(static_cast<std::size_t>(pick(130)), 'w'));
  return s;
}

}  // namespace

TEST_CASE("the issue's stray quotes lose nothing", "[csv_differential]") {
  TempDir t;
  TableOptions no_header;
  no_header.header = false;
  const Reference ref;
  for (const std::string text : {"x,y\nd,e\na\"b,c\nf,g\nh,i\n", "x,y\na\"b,c\nd\"e,f\ng,h\n",
                                 "a\"b,c\nd,e\nf,g\n", "a,b\r\r\n1,2\r\n"}) {
    write_file(t / "a.csv", text);
    for (std::uint64_t size : {std::uint64_t{1}, std::uint64_t{5}, std::uint64_t{1} << 20}) {
      INFO(text << " at " << size);
      const std::vector<Read> got =
          library_read(TabularDataset({(t / "a.csv").string()}, no_header), size);
      CHECK(describe(got) == describe(ref.read(text, false)));
    }
  }
  write_file(t / "a.csv", "x,y\nd,e\na\"b,c\nf,g\nh,i\n");
  const std::vector<Read> got =
      library_read(TabularDataset({(t / "a.csv").string()}, no_header), 1 << 20);
  CHECK(describe(got) == "1: [x][y]\n2: [d][e]\n3: [a\"b][c]\n4: [f][g]\n5: [h][i]\n");
  write_file(t / "a.csv", "x,y\na\"b,c\nd\"e,f\ng,h\n");
  CHECK(describe(library_read(TabularDataset({(t / "a.csv").string()}, no_header), 1)) ==
        "1: [x][y]\n2: [a\"b][c]\n3: [d\"e][f]\n4: [g][h]\n");
  // One CR rule for header and data: only the CR right before the LF is the line break's.
  write_file(t / "a.csv", "a,b\r\r\n1,2\r\n");
  CHECK(describe(library_read(TabularDataset({(t / "a.csv").string()}, no_header), 1)) ==
        "1: [a][b\\r]\n2: [1][2]\n");
  TablePartitioner p(TabularDataset({(t / "a.csv").string()}), 1 << 20);
  const TableBatch b = p.next()->materialize();
  CHECK(b[0].header().names() == std::vector<std::string>{"a", "b\r"});
}

TEST_CASE("a malformed header or first record is a malformed record, not an error",
          "[csv_differential]") {
  TempDir t;
  write_file(t / "a.csv", "\"a\"x,b\n1,2\n3,4\n");
  std::vector<Read> got = library_read(TabularDataset({(t / "a.csv").string()}), 1);
  CHECK(describe(got) == "1: malformed (after)\n2: malformed (header)\n3: malformed (header)\n");
  TablePartitioner p(TabularDataset({(t / "a.csv").string()}), 1 << 20);
  const TableBatch b = p.next()->materialize();
  REQUIRE(b.malformed().size() == 3);
  CHECK(b.malformed()[1].reason ==
        "a.csv:2: malformed record: the header (line 1) is malformed: field 1 has text after its "
        "closing quote");

  TableOptions no_header;
  no_header.header = false;
  // Without a header, the first record sets the field count as the delimiters outside quotes
  // split it, even when it is malformed.
  write_file(t / "b.csv", "\"a\"x,b\n1,2\n3,4\n");
  got = library_read(TabularDataset({(t / "b.csv").string()}, no_header), 1 << 20);
  CHECK(describe(got) == "1: malformed (after)\n2: [1][2]\n3: [3][4]\n");
  write_file(t / "b.csv", "\"a,b\n1\n3,4\n");
  got = library_read(TabularDataset({(t / "b.csv").string()}, no_header), 1 << 20);
  CHECK(describe(got) == "1: malformed (unclosed)\n2: [1]\n3: malformed (count)\n");
  got = library_read(TabularDataset({(t / "b.csv").string()}), 1 << 20);
  CHECK(describe(got) == "1: malformed (unclosed)\n2: malformed (header)\n3: malformed (header)\n");
}

TEST_CASE("random CSV reads as the reference reader reads it, at every size",
          "[csv_differential][property]") {
  TempDir t;
  const Reference ref;
  std::mt19937 rng(8);
  bool& avx2 = parallel_run::detail::cpu_has_avx2();
  const bool had_avx2 = avx2;
  for (int round = 0; round < 1500; ++round) {
    const std::string text = random_csv(rng);
    const bool header = round % 2 == 0;
    write_file(t / "a.csv", text);
    TableOptions options;
    options.header = header;
    const TabularDataset d({(t / "a.csv").string()}, options);
    const std::string want = describe(ref.read(text, header));
    for (std::uint64_t size : {std::uint64_t{1}, std::uint64_t{2}, std::uint64_t{3},
                               std::uint64_t{13}, std::uint64_t{64}, std::uint64_t{1} << 20}) {
      avx2 = had_avx2 && (round + static_cast<int>(size)) % 2 == 0;
      INFO("round " << round << " size " << size << " header " << header << " avx2 " << avx2
                    << "\ntext: " << describe({{0, {text}, ""}}));
      REQUIRE(describe(library_read(d, size)) == want);
    }
  }
  avx2 = had_avx2;
}
