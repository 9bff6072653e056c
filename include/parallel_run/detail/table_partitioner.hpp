// Cuts table files into mini-batches of about mini_batch_size bytes, on record boundaries,
// lazily and in input order. Each file is read once, in fixed-size chunks into one reused
// buffer (memory does not grow with the file), through the block scanner (csv_scan.hpp), which
// knows at every byte whether it lies inside quotes: a cut never falls inside a quoted field,
// and the first mini-batch is ready as soon as its bytes are scanned. A slice ends at the last
// record end at or before offset + size, or at the first one after it when one record is
// longer than the size (that record is then a mini-batch of its own). Lines and records are
// counted on the way, for the rows' keys and the accounting.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/errors.hpp"
#include "parallel_run/file_dataset.hpp"
#include "parallel_run/tabular_dataset.hpp"
#include "parallel_run/detail/csv_scan.hpp"
#include "parallel_run/detail/jsonl.hpp"
#include "parallel_run/detail/table_parse.hpp"
#include "parallel_run/detail/table_slice.hpp"
#include "parallel_run/detail/table_source.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <deque>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// The header (or first record) of a table file, read when the job first reaches the file.
struct TableStart {
  std::shared_ptr<const TableSource> source;
  std::uint64_t data_offset = 0;   // where the data records start (after BOM and header)
  std::uint64_t lines_before = 0;  // newlines before data_offset
};

/// The fields of `record` as the delimiters outside quotes split it (well-formed or not).
inline std::size_t count_fields(std::string_view record, char delimiter, bool quoted) {
  std::size_t fields = 1;
  QuoteState state = QuoteState::field_start;
  for (char c : record) {
    if (c == delimiter && state != QuoteState::quoted) ++fields;
    if (quoted) state = next_quote_state(state, c, delimiter);
  }
  return fields;
}

/// UnclosedQuote over [start, eof) of `file`.
inline UnclosedQuote find_unclosed_quote(const ReadOnlyFile& file, std::uint64_t start,
                                         std::uint64_t eof, char delimiter) {
  UnclosedQuote u(delimiter);
  std::vector<char> chunk(std::size_t{64} << 10);
  for (std::uint64_t pos = start; pos < eof;) {
    const std::size_t got =
        file.read(chunk.data(),
                  static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), eof - pos)), pos);
    if (got == 0) break;
    u.feed(chunk.data(), got);
    pos += got;
  }
  return u;
}

/// The longest header (or, without a header, first record) a table file may have.
inline constexpr std::size_t kMaxHeaderBytes = std::size_t{16} << 20;

/// Opens `entry` as a table: resolves its format and delimiter, skips a UTF-8 BOM, reads its
/// header (CSV, TSV: the first record when options.header; JSON Lines: the keys of the first
/// object) or, without a header, counts the fields of its first record. Throws InputError.
inline TableStart open_table(const FileEntry& entry, const TableOptions& options) {
  auto source = std::make_shared<TableSource>();
  source->path = entry.path;
  source->key = entry.key;
  if (options.format) {
    source->format = *options.format;
  } else if (auto f = table_format_of(entry.path.string())) {
    source->format = *f;
  } else {
    throw InputError(
        fmt::format("'{}': cannot tell the table format from its extension (.csv, "
                    ".tsv, .tab, .jsonl, .ndjson); set the format (--format csv, "
                    "tsv or jsonl)",
                    entry.path.string()));
  }
  source->delimiter = options.delimiter != 0               ? options.delimiter
                      : source->format == TableFormat::tsv ? '\t'
                                                           : ',';
  if (source->format == TableFormat::csv &&
      (source->delimiter == '"' || source->delimiter == '\n' || source->delimiter == '\r'))
    throw ConfigError("input_delimiter",
                      "input_delimiter of a CSV table cannot be a quote or a line break");

  const ReadOnlyFile file(entry.path);
  TableStart start;
  char bom[3] = {};
  if (file.read(bom, 3, 0) == 3 && bom[0] == '\xEF' && bom[1] == '\xBB' && bom[2] == '\xBF')
    start.data_offset = 3;

  if (source->format == TableFormat::jsonl) {
    // The keys of the first line that is a JSON object name the columns (a missing key is an
    // empty field). Every line is data: one before it that is not an object is malformed.
    source->header = std::make_shared<const TableHeader>(
        first_object_columns(file, start.data_offset, entry.key, kMaxHeaderBytes));
    source->columns = 0;
    start.source = std::move(source);
    return start;
  }

  // The first non-blank record under the quoting rule (csv_scan.hpp); one byte at a time is
  // fine for a header.
  const bool quoted = source->format == TableFormat::csv;
  std::string record;
  std::uint64_t pos = start.data_offset, lines = 0, record_line = 1;
  std::uint64_t record_offset = pos;  // where `record` starts
  QuoteState state = QuoteState::field_start;
  // A quote that never closes ends its record with its line: where that is, and the
  // newlines before it.
  std::optional<std::size_t> open_line_end;
  std::uint64_t open_line_newlines = 0;
  bool open_line = false, found = false, eof = false;
  char chunk[4096];
  while (!found && !eof) {
    const std::size_t got = file.read(chunk, sizeof chunk, pos);
    if (got == 0) eof = true;
    for (std::size_t i = 0; i < got; ++i) {
      const char c = chunk[i];
      ++pos;
      const QuoteState next =
          quoted ? next_quote_state(state, c, source->delimiter) : QuoteState::unquoted;
      if (state == QuoteState::field_start && next == QuoteState::quoted) {
        open_line = true;
        open_line_end.reset();
      }
      state = next;
      if (c != '\n') {
        record.push_back(c);
        if (record.size() > kMaxHeaderBytes)
          throw InputError(
              fmt::format("{}:{}: the first record is longer than {} bytes (an "
                          "unclosed quote?)",
                          entry.key, record_line, kMaxHeaderBytes));
        continue;
      }
      ++lines;
      if (state == QuoteState::quoted) {
        if (open_line) {
          open_line_end = record.size();
          open_line_newlines = lines;
          open_line = false;
        }
        record.push_back(c);
        continue;
      }
      state = QuoteState::field_start;
      if (record.empty() || record == "\r") {  // a blank line
        record.clear();
        record_line = lines + 1;
        record_offset = pos;
        continue;
      }
      found = true;
      break;
    }
  }
  if (!found && state == QuoteState::quoted && open_line_end) {
    // As the partitioner does: the record ends with the line where its quote opens.
    record.resize(*open_line_end);
    pos = record_offset + *open_line_end + 1;
    lines = open_line_newlines;
  }
  const bool blank = record.empty() || record == "\r";
  if (blank) {  // no record at all
    start.data_offset = pos;
    start.lines_before = lines;
    start.source = std::move(source);
    return start;
  }

  // CSV, TSV: the record is parsed as any other. A malformed one is never lost: without a
  // header it is the file's first data record, reported as malformed with its reason (its
  // field count, as the delimiters outside quotes split it, still sets the columns); as the
  // header it is read as a record too, and every record of the file is malformed for it.
  TableSource probe = *source;
  probe.columns = 0;
  TableBatchBuilder builder(0, record.size(), 1);
  builder.parse(record.data(), record.size(), probe, record_line, 0);
  TableBatch first = std::move(builder).finish();
  if (!first.malformed().empty()) {
    source->columns = count_fields(record, source->delimiter, quoted);
    if (options.header) {
      const std::string& reason = first.malformed().front().reason;
      source->header_error = fmt::format("the header (line {}) is malformed: {}", record_line,
                                         reason.substr(reason.find("malformed record: ") + 18));
    }
    start.data_offset = record_offset;
    start.lines_before = record_line - 1;
  } else if (options.header) {
    std::vector<std::string> names;
    for (std::string_view f : first[0])
      names.emplace_back(f);
    source->columns = names.size();
    source->header = std::make_shared<const TableHeader>(std::move(names));
    start.data_offset = pos;
    start.lines_before = lines;
  } else {
    source->columns = first[0].size();
  }
  start.source = std::move(source);
  return start;
}

/// The files of one job share a header unless allow_different_headers: the first file with
/// a header sets it, and a file with another one is an InputError naming both files.
class HeaderCheck {
 public:
  explicit HeaderCheck(const TableOptions& options) : allowed_(options.allow_different_headers) {}

  void check(const TableSource& s) {
    // Without a header (or without a record) there is nothing to compare.
    if (s.header->empty()) return;
    if (!first_) {
      first_ = s.header;
      first_path_ = s.path;
      return;
    }
    if (allowed_ || *s.header == *first_) return;
    throw InputError(fmt::format(
        "the header of '{}' ({}) differs from the header of '{}' ({}); set "
        "allow_different_headers (--allow-different-headers) to read files with different headers",
        s.path.string(), fmt::join(s.header->names(), ", "), first_path_.string(),
        fmt::join(first_->names(), ", ")));
  }

 private:
  bool allowed_;
  std::shared_ptr<const TableHeader> first_;
  std::filesystem::path first_path_;
};

class TablePartitioner {
 public:
  using batch_type = TableSlice;

  /// `size`: bytes per mini-batch; `limit`: at most that many records in all (0: no limit);
  /// `skip`: folders the walk never enters (the job's output and log folders).
  TablePartitioner(const TabularDataset& dataset, std::uint64_t size, std::size_t limit = 0,
                   std::vector<std::filesystem::path> skip = {})
      : cursor_(dataset.files().cursor()),
        options_(dataset.options()),
        size_(size),
        left_(limit == 0 ? UINT64_MAX : limit),
        limited_(limit != 0),
        buffer_(std::make_unique<char[]>(kChunk)),
        headers_(dataset.options()) {
    cursor_.skip_folders(std::move(skip));
  }

  std::string describe_size() const { return fmt::format("{} bytes", size_); }

  /// The mini-batches there will be in all, estimated from the bytes left once the listing
  /// knows which files are left (the last input open, no folder left to enter): then the
  /// files left (up to kLookAhead of them) are taken from the listing ahead of their turn
  /// and their sizes read, so the progress line has a total long before the last file is
  /// cut. Each file's data bytes left (a file not opened yet: its size less the last
  /// header's) count as slices of the length the slices cut so far by the size have had.
  /// Nothing while unknown, and with a record limit (its end is not in bytes).
  std::optional<std::size_t> expected_mini_batches() {
    if (limited_ || unread_only_ || !look_ahead()) return std::nullopt;
    const double fill = full_slices_ == 0
                            ? static_cast<double>(size_)
                            : static_cast<double>(full_bytes_) / static_cast<double>(full_slices_);
    auto slices = [&](std::uint64_t bytes) {
      return static_cast<std::size_t>(std::ceil(static_cast<double>(bytes) / fill));
    };
    std::size_t n = next_index_;
    if (file_ && file_->size > file_->slice_start) n += slices(file_->size - file_->slice_start);
    for (const Ahead& a : ahead_)
      n += slices(a.size > header_bytes_ ? a.size - header_bytes_ : 0);
    return n;
  }

  /// The job stopped: next() reads no more input. It gives the slices already cut, then the
  /// unread rest of the file being read (TableSlice::of_unread, from the line after the last
  /// cut), or the file whose fault stopped it (another header, an unknown format, unreadable),
  /// then each file not yet reached, by name alone, so a stop takes the time of listing the
  /// remaining file names whatever the size of the input.
  void stop_reading() { unread_only_ = true; }

  /// The next mini-batch, or nothing at the end of the input. A faulty file (unreadable, of
  /// unknown format, with another header) is an InputError thrown after the mini-batches cut
  /// before it; the next call goes on with the next file.
  std::optional<TableSlice> next() {
    if (unread_only_) return next_unread();
    refused_key_.reset();  // going on past it: not to be listed
    while (ready_.empty()) {
      if (done_) return std::nullopt;
      if (!file_) {
        std::optional<FileEntry> entry = next_entry();
        if (!entry) {
          done_ = true;
          return std::nullopt;
        }
        try {
          open(*entry);
        } catch (const InputError&) {
          refused_key_ = entry->key;  // listed by stop_reading()'s next() if the job stops
          throw;
        }
        continue;
      }
      try {
        scan_chunk();
      } catch (...) {
        file_.reset();
        throw;
      }
    }
    TableSlice s = std::move(ready_.front());
    ready_.pop_front();
    return s;
  }

 private:
  static constexpr std::size_t kChunk = std::size_t{256} << 10;  // a multiple of kBlock
  // Files taken from the listing ahead of their turn, at most (a few hundred bytes each).
  static constexpr std::size_t kLookAhead = std::size_t{1} << 16;

  struct Ahead {
    FileEntry entry;
    std::uint64_t size;  // 0 if it cannot be read: opening it will say why
  };

  // The next file to cut: one taken ahead, the error met after them, or the listing's next.
  std::optional<FileEntry> next_entry() {
    if (!ahead_.empty()) {
      FileEntry e = std::move(ahead_.front().entry);
      ahead_.pop_front();
      return e;
    }
    if (ahead_error_) std::rethrow_exception(std::exchange(ahead_error_, nullptr));
    if (listed_) return std::nullopt;
    return cursor_.next();
  }

  // Takes the files left from the listing once it knows how many there are and they are
  // at most kLookAhead; true when every file left is in ahead_. An error of the listing
  // stops it there, to be thrown in its turn.
  bool look_ahead() {
    if (listed_) return true;
    if (ahead_error_) return false;
    const std::optional<std::size_t> left = cursor_.known_left();
    if (!left || *left > kLookAhead) return false;
    for (;;) {
      std::optional<FileEntry> e;
      try {
        e = cursor_.next();
      } catch (...) {
        ahead_error_ = std::current_exception();
        return false;
      }
      if (!e) return listed_ = true;
      std::error_code ec;
      const std::uint64_t size = std::filesystem::file_size(e->path, ec);
      ahead_.push_back({std::move(*e), ec ? 0 : size});
    }
  }

  struct OpenFile {
    std::shared_ptr<const TableSource> source;
    std::unique_ptr<ReadOnlyFile> file;
    RecordScanner scanner;
    std::uint64_t pos;           // the next byte to scan
    std::uint64_t lines;         // newlines before pos
    std::uint64_t records = 0;   // records of the file before pos
    std::uint64_t size;          // of the file when opened (for the progress line)
    std::uint64_t record_start;  // where the record being scanned starts
    std::uint64_t record_line;   // the line it starts on
    std::uint64_t slice_start;   // the current slice
    std::uint64_t slice_line;
    std::uint64_t slice_records = 0;  // records before the slice
    bool has_candidate = false;       // the last record end within the size
    std::uint64_t candidate = 0, candidate_lines = 0, candidate_records = 0;
    char last_byte = 0;
  };

  void open(const FileEntry& entry) {
    TableStart start = open_table(entry, options_);
    headers_.check(*start.source);
    header_bytes_ = start.data_offset;
    auto f = std::make_unique<OpenFile>(
        OpenFile{start.source, std::make_unique<ReadOnlyFile>(entry.path),
                 RecordScanner(start.source->format == TableFormat::csv, start.source->delimiter,
                               start.source->format == TableFormat::jsonl),
                 start.data_offset, start.lines_before, 0, file_size(entry), start.data_offset,
                 start.lines_before + 1, start.data_offset, start.lines_before + 1});
    file_ = std::move(f);
  }

  void scan_chunk() {
    OpenFile& f = *file_;
    const std::size_t got = f.file->read(buffer_.get(), kChunk, f.pos);
    if (got == 0) return finish_file();
    f.last_byte = buffer_[got - 1];
    for (std::size_t at = 0; at < got && file_;) {
      // Whole blocks that end before the slice's limit can hold no cut: they only count
      // lines and records and move the candidate, in scan_records() (SIMD, csv_scan.hpp).
      const std::uint64_t limit = f.slice_start + size_;
      const std::uint64_t here = f.pos + at;
      const std::size_t free_bytes =
          limit > here ? static_cast<std::size_t>(std::min<std::uint64_t>(limit - here, got - at))
                       : 0;
      if (const std::size_t run = free_bytes / kBlock * kBlock; run != 0) {
        RecordRun r;
        scan_records_any(f.scanner, buffer_.get() + at, run, r);
        if (r.has_end) {
          f.has_candidate = true;
          f.candidate = here + r.last_end;
          f.candidate_lines = f.lines + r.lines_through;
          f.candidate_records = f.records + r.records_through;
          f.record_start = f.candidate + 1;
          f.record_line = f.candidate_lines + 1;
        }
        f.lines += r.lines;
        f.records += r.records;
        at += run;
        continue;
      }
      const std::size_t valid = std::min(kBlock, got - at);
      const BlockBytes bytes(buffer_.get() + at, valid);
      scan_block(bytes.data(), here, valid);
      at += kBlock;
    }
    if (!file_) return;  // the record limit was reached
    f.pos += got;
    if (got < kChunk) finish_file();
  }

  void scan_block(const char* block, std::uint64_t base, std::size_t valid) {
    OpenFile& f = *file_;
    const RecordScanner::Masks m = f.scanner.scan(block);
    std::uint64_t ends =
        m.end & ~low_bits(f.slice_start > base ? static_cast<unsigned>(f.slice_start - base) : 0u);
    auto lines_through = [&](unsigned bit) {
      return f.lines + popcount64(m.newline & low_bits(bit + 1));
    };
    auto records_through = [&](unsigned bit) {
      return f.records + popcount64(m.record & low_bits(bit + 1));
    };
    for (;;) {
      const std::uint64_t limit = f.slice_start + size_;  // a cut at p needs p < limit
      if (limit >= base + valid) {
        if (ends != 0) {
          const auto bit = static_cast<unsigned>(63 - std::countl_zero(ends));
          f.has_candidate = true;
          f.candidate = base + bit;
          f.candidate_lines = lines_through(bit);
          f.candidate_records = records_through(bit);
        }
        break;
      }
      const std::uint64_t allowed =
          limit > base ? ends & low_bits(static_cast<unsigned>(limit - base)) : 0;
      if (allowed != 0 || (!f.has_candidate && ends != 0)) {
        const auto bit = static_cast<unsigned>(allowed != 0 ? 63 - std::countl_zero(allowed)
                                                            : std::countr_zero(ends));
        cut(base + bit, lines_through(bit), records_through(bit));
      } else if (f.has_candidate) {
        cut(f.candidate, f.candidate_lines, f.candidate_records);
      } else {
        break;  // one record longer than the size goes on
      }
      if (!file_) return;
      if (f.slice_start > base) ends &= ~low_bits(static_cast<unsigned>(f.slice_start - base));
    }
    if (m.end != 0) {
      const auto bit = static_cast<unsigned>(63 - std::countl_zero(m.end));
      f.record_start = base + bit + 1;
      f.record_line = lines_through(bit) + 1;
    }
    f.lines += popcount64(m.newline);
    f.records += popcount64(m.record);
  }

  // Ends the current slice after the record end at `end`.
  void cut(std::uint64_t end, std::uint64_t lines_through, std::uint64_t records_through) {
    OpenFile& f = *file_;
    full_bytes_ += end + 1 - f.slice_start;  // a slice the size ended, for the estimate
    ++full_slices_;
    emit(f.slice_start, end + 1 - f.slice_start, f.slice_line, lines_through,
         records_through - f.slice_records);
    if (!file_) return;  // the record limit was reached
    f.slice_start = end + 1;
    f.slice_line = lines_through + 1;
    f.slice_records = records_through;
    f.has_candidate = false;
  }

  // `last_line`: the line of the slice's last byte.
  void emit(std::uint64_t offset, std::uint64_t length, std::uint64_t line, std::uint64_t last_line,
            std::uint64_t records) {
    if (records == 0) return;  // blank lines only
    const std::uint64_t first_index = next_record_ + (file_->slice_records);
    if (records > left_) {
      std::uint64_t newlines = 0;
      length = length_of_records(offset, length, left_, newlines);
      last_line = line + newlines - 1;
      records = left_;
    }
    ready_.push_back(TableSlice::of_file(next_index_++, file_->source, offset, length, line,
                                         last_line, first_index, records));
    left_ -= records;
    if (left_ == 0) {
      done_ = true;
      file_.reset();
    }
  }

  // The length of the first `records` records of [offset, offset + length) (for the limit),
  // and the newlines in it. A quote that never closes ends its record with its line, as in
  // finish_file(), and the count goes on from the next line.
  std::uint64_t length_of_records(std::uint64_t offset, std::uint64_t length, std::uint64_t records,
                                  std::uint64_t& newlines) {
    const TableSource& source = *file_->source;
    std::uint64_t seen = 0;
    for (std::uint64_t from = 0;;) {
      RecordScanner scanner(source.format == TableFormat::csv, source.delimiter,
                            source.format == TableFormat::jsonl);
      // Where the last record scanned starts, and the newlines before it.
      std::uint64_t record_start = from, record_newlines = newlines;
      for (std::uint64_t at = from; at < length; at += kChunk) {
        const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, length - at));
        file_->file->read_exact(buffer_.get(), want, offset + at);
        for (std::size_t b = 0; b < want; b += kBlock) {
          const BlockBytes bytes(buffer_.get() + b, std::min(kBlock, want - b));
          const RecordScanner::Masks m = scanner.scan(bytes.data());
          std::uint64_t r = m.record;
          const std::uint64_t n = popcount64(r);
          if (seen + n >= records) {
            for (std::uint64_t k = seen + 1; k < records; ++k)
              r &= r - 1;
            const auto bit = static_cast<unsigned>(std::countr_zero(r));
            newlines += popcount64(m.newline & low_bits(bit + 1));
            return at + b + bit + 1;
          }
          if (m.end != 0) {
            const auto bit = static_cast<unsigned>(63 - std::countl_zero(m.end));
            record_start = at + b + bit + 1;
            record_newlines = newlines + popcount64(m.newline & low_bits(bit + 1));
          }
          newlines += popcount64(m.newline);
          seen += n;
        }
      }
      if (!scanner.in_quote()) break;
      UnclosedQuote u(source.delimiter);
      for (std::uint64_t pos = record_start; pos < length;) {
        const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, length - pos));
        file_->file->read_exact(buffer_.get(), want, offset + pos);
        u.feed(buffer_.get(), want);
        pos += want;
      }
      if (!u.line_end()) break;  // it runs to the end of the range
      newlines = record_newlines + u.newlines();
      from = record_start + *u.line_end() + 1;
      if (++seen == records) return from;
    }
    ++newlines;  // the last record has no line break: count its line
    return length;
  }

  // [from, to) of `file` holds only JSON whitespace (a blank last line of JSON Lines).
  static bool json_space_only(const ReadOnlyFile& file, std::uint64_t from, std::uint64_t to) {
    char chunk[4096];
    for (std::uint64_t pos = from; pos < to;) {
      const std::size_t got = file.read(
          chunk, static_cast<std::size_t>(std::min<std::uint64_t>(sizeof chunk, to - pos)), pos);
      if (got == 0) break;
      if (!is_blank_json_line(std::string_view(chunk, got))) return false;
      pos += got;
    }
    return true;
  }

  // The line of the file's last byte.
  static std::uint64_t last_line_of_file(const OpenFile& f) {
    return f.last_byte == '\n' ? f.lines : f.lines + 1;
  }

  // A record end at `end` found outside the block scan: a candidate, or the cuts that
  // scan_block() would make there.
  void record_end(std::uint64_t end, std::uint64_t lines_through, std::uint64_t records_through) {
    OpenFile& f = *file_;
    for (;;) {
      if (end < f.slice_start + size_) {
        f.has_candidate = true;
        f.candidate = end;
        f.candidate_lines = lines_through;
        f.candidate_records = records_through;
        return;
      }
      if (!f.has_candidate) return cut(end, lines_through, records_through);
      cut(f.candidate, f.candidate_lines, f.candidate_records);
      if (!file_) return;
    }
  }

  void finish_file() {
    OpenFile& f = *file_;
    const std::uint64_t eof = f.pos;
    if (f.scanner.in_quote()) {
      // Its last record opens a quote that never closes: the record ends with the line where
      // that quote opens (the worker's parser ends it there too, and reports it as
      // malformed), and scanning resumes on the next line with a fresh state. It stays in
      // the slice being cut like any record: a small file holding one is one mini-batch.
      const UnclosedQuote u =
          find_unclosed_quote(*f.file, f.record_start, eof, f.source->delimiter);
      if (u.line_end()) {
        const std::uint64_t end = f.record_start + *u.line_end();  // its newline
        const std::uint64_t lines = f.record_line - 1 + u.newlines();
        record_end(end, lines, f.records + 1);
        if (!file_) return;  // the record limit was reached
        ++f.records;
        f.lines = lines;
        f.pos = f.record_start = end + 1;
        f.record_line = lines + 1;
        f.scanner = RecordScanner(true, f.source->delimiter);
        return;  // the next scan_chunk() goes on from there
      }
      ++f.records;  // its line is the file's last
    } else {
      const bool blank_tail =
          f.source->format == TableFormat::jsonl
              ? json_space_only(*f.file, f.record_start, eof)
              : eof == f.record_start || (eof == f.record_start + 1 && f.last_byte == '\r');
      if (!blank_tail) ++f.records;
    }
    emit(f.slice_start, eof - f.slice_start, f.slice_line, last_line_of_file(f),
         f.records - f.slice_records);
    if (!file_) return;
    next_record_ += f.records;
    file_.reset();
  }

  std::optional<TableSlice> next_unread() {
    if (!ready_.empty()) {
      TableSlice s = std::move(ready_.front());
      ready_.pop_front();
      return s;
    }
    if (file_) {
      const std::unique_ptr<OpenFile> f = std::move(file_);
      std::error_code ec;
      const std::uint64_t size = std::filesystem::file_size(f->source->path, ec);
      if (ec || f->slice_start < size)  // else every byte of it was cut
        return TableSlice::of_unread(next_index_++, f->source->key, f->slice_line);
    }
    if (refused_key_) {
      std::string key = std::move(*refused_key_);
      refused_key_.reset();
      return TableSlice::of_unread(next_index_++, std::move(key), 0);
    }
    if (done_) return std::nullopt;
    std::optional<FileEntry> entry = next_entry();  // an InputError leaves the cursor past it
    if (!entry) {
      done_ = true;
      return std::nullopt;
    }
    return TableSlice::of_unread(next_index_++, entry->key, 0);
  }

  static std::uint64_t file_size(const FileEntry& entry) {
    std::error_code ec;
    const std::uint64_t n = std::filesystem::file_size(entry.path, ec);
    return ec ? 0 : n;
  }

  FileDataset::Cursor cursor_;
  std::deque<Ahead> ahead_;         // look_ahead()
  std::exception_ptr ahead_error_;  // met by look_ahead() after ahead_
  bool listed_ = false;             // the listing is over: every file left is in ahead_
  std::uint64_t full_bytes_ = 0;    // the slices that the size ended
  std::uint64_t full_slices_ = 0;
  std::uint64_t header_bytes_ = 0;  // the BOM and header of the last file opened
  TableOptions options_;
  std::uint64_t size_;
  std::uint64_t left_;
  bool limited_;
  std::unique_ptr<char[]> buffer_;
  std::unique_ptr<OpenFile> file_;
  std::deque<TableSlice> ready_;
  HeaderCheck headers_;
  std::uint64_t next_record_ = 0;  // records of the files before the open one
  std::size_t next_index_ = 0;
  bool done_ = false;
  bool unread_only_ = false;  // stop_reading()
  // The key of the file whose open() failed at the last next(): never read, so a stop lists
  // it (before 2026-12-02 it was in no list: a README trial's file with another header).
  std::optional<std::string> refused_key_;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
