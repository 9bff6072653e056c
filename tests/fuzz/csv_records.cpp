// Fuzzes the CSV and TSV record reading on arbitrary bytes: the parser alone (TableBatchBuilder
// over the whole text), and the partitioner with the parser (the text as a file, cut at several
// mini-batch sizes, with and without a header), as a job reads it. Whatever the bytes, nothing
// crashes, and every record is accounted for exactly once: each slice parses to as many rows
// and malformed records as the partitioner counted, with consecutive indices and increasing
// lines; every size reads the same rows and malformed records; a row's text lies inside the
// bytes, in order, without overlap.
//
// Input: [1 byte: bits 0-1 the delimiter (',' ';' '\t' '|'), bit 2 TSV, bit 3 no header]
// [the text].
#include <parallel_run/detail/table_partitioner.hpp>

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace pd = parallel_run::detail;

namespace {

void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "csv_records: %s\n", what);
  std::abort();
}

// What a cut reads: per record, "<line> <fields joined by \x1f>" or "<line> !<reason>".
std::vector<std::string> read_all(const parallel_run::TabularDataset& d, std::uint64_t size) {
  std::vector<std::string> out;
  pd::TablePartitioner p(d, size);
  std::uint64_t index = 0, last_line = 0;
  while (auto s = p.next()) {
    const parallel_run::TableBatch b = s->materialize();
    check(b.size() + b.malformed().size() == s->size(), "a slice parses to its record count");
    check(s->size() > 0, "an empty slice");
    std::size_t row = 0, bad = 0;
    for (std::size_t k = 0; k < s->size(); ++k, ++index) {
      std::string r;
      std::uint64_t line = 0;
      if (row < b.size() && b[row].index() == index) {
        line = b[row].line();
        r = std::to_string(line) + ' ';
        for (std::string_view f : b[row]) {
          r.append(f);
          r.push_back('\x1f');
        }
        ++row;
      } else {
        check(bad < b.malformed().size() && b.malformed()[bad].index == index,
              "records have consecutive indices");
        const auto& m = b.malformed()[bad++];
        line = std::stoull(m.key.substr(m.key.rfind(':') + 1));
        r = std::to_string(line) + " !" + m.reason;
      }
      check(line > last_line, "records have increasing lines");
      last_line = line;
      out.push_back(std::move(r));
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const char delimiter = ",;\t|"[data[0] & 3];
  const bool tsv = (data[0] & 4) != 0;
  const bool header = (data[0] & 8) == 0;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);

  // The parser alone, on the whole text as one slice.
  {
    auto source = std::make_shared<pd::TableSource>();
    source->key = "f";
    source->format = tsv ? parallel_run::TableFormat::tsv : parallel_run::TableFormat::csv;
    source->delimiter = delimiter;
    pd::TableBatchBuilder builder(0, text.size(), 0);
    const std::size_t seen = builder.parse(text.data(), text.size(), *source, 1, 0);
    const parallel_run::TableBatch b = std::move(builder).finish();
    check(b.size() + b.malformed().size() == seen, "the parser counts what it reports");
    const char* at = text.data();
    for (const parallel_run::Row& r : b) {
      check(r.text().data() >= at && r.text().data() + r.text().size() <= text.data() + text.size(),
            "a row's text lies inside the bytes, in order");
      at = r.text().data() + r.text().size();
    }
  }

  // The partitioner and the parser, as a job reads the text from a file.
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("csv_records_fuzz_" + std::to_string(::getpid()) + (tsv ? ".tsv" : ".csv"));
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
  }
  parallel_run::TableOptions options;
  options.header = header;
  options.delimiter = delimiter;
  const parallel_run::TabularDataset d({path.string()}, options);
  try {
    const std::vector<std::string> whole = read_all(d, std::uint64_t{1} << 20);
    for (std::uint64_t cut : {std::uint64_t{1}, std::uint64_t{7}, std::uint64_t{64}})
      check(read_all(d, cut) == whole, "every mini-batch size reads the same records");
  } catch (const parallel_run::InputError&) {
    // Only a first record longer than 16 MB, which these inputs never reach.
    check(false, "an InputError");
  }
  std::filesystem::remove(path);
  return 0;
}
