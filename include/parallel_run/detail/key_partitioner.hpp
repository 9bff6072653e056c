// KeyPartitioner: the mini-batches of a table job with partition_keys. A key's last row may be
// the table's last, so the first next() reads every table once, through the block scanner
// (csv_scan.hpp) and the worker's own parser (table_parse.hpp), and gives each record, keyed
// by the values of its key columns, to a KeyGrouper (key_grouper.hpp), which spills to
// <output>/.parallel_run_tmp/partition/. Then it serves the grouped mini-batches as spill
// slices. A record whose key cannot be read (malformed) joins the group of such records, so
// the worker still reports it.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/errors.hpp"
#include "parallel_run/file_dataset.hpp"
#include "parallel_run/table_batch.hpp"
#include "parallel_run/tabular_dataset.hpp"
#include "parallel_run/detail/csv_scan.hpp"
#include "parallel_run/detail/key_grouper.hpp"
#include "parallel_run/detail/jsonl.hpp"
#include "parallel_run/detail/table_parse.hpp"
#include "parallel_run/detail/table_partitioner.hpp"
#include "parallel_run/detail/table_slice.hpp"
#include "parallel_run/detail/table_source.hpp"

#include <fmt/format.h>

#include <bit>
#include <cstdint>
#include <cstring>
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

class KeyPartitioner {
 public:
  using batch_type = TableSlice;

  /// `size`: bytes per mini-batch; `limit`: at most that many records in all (0: no limit);
  /// `skip`: folders the walk never enters (the job's output and log folders); `spill_dir`:
  /// where the grouping spills (made on the first next(), removed when empty at the end);
  /// `memory_budget`: what the grouping may hold in memory (see KeyGrouper). Nothing is read
  /// before the first next().
  KeyPartitioner(const TabularDataset& dataset, std::uint64_t size, std::size_t limit,
                 std::vector<std::filesystem::path> skip, std::filesystem::path spill_dir,
                 std::uint64_t memory_budget = KeyGrouper::default_memory_budget)
      : files_(dataset.files()),
        options_(dataset.options()),
        skip_(std::move(skip)),
        size_(size),
        left_(limit == 0 ? UINT64_MAX : limit),
        budget_(memory_budget) {
    folder_.path = std::move(spill_dir);
  }

  std::string describe_size() const {
    return fmt::format("{} bytes, rows grouped by partition_keys {}", size_,
                       fmt::join(options_.partition_keys, ", "));
  }

  /// The next mini-batch, or nothing at the end. The first call reads and groups every
  /// table: a partition_keys column missing from a file's header is a ConfigError; a faulty
  /// input (unreadable, of unknown format, with another header) is an InputError, thrown one
  /// per call before any mini-batch, since groups without that input may be incomplete; the
  /// mini-batches come after them (the job lists them as not processed).
  std::optional<TableSlice> next() {
    if (!grouper_) group_all();
    if (!errors_.empty()) {
      std::exception_ptr e = errors_.front();
      errors_.pop_front();
      std::rethrow_exception(e);
    }
    std::optional<GroupedRun> run = grouper_->next();
    if (!run) return std::nullopt;
    std::vector<std::shared_ptr<const TableSource>> sources;
    sources.reserve(run->sources.size());
    for (std::uint32_t id : run->sources)
      sources.push_back(sources_[id]);
    return TableSlice::of_spill(next_index_++, std::move(run->file), run->offset, run->length,
                                run->records, std::move(sources));
  }

  /// The grouping, once next() has been called (for tests and the log).
  const KeyGrouper* grouper() const noexcept { return grouper_.get(); }

 private:
  static constexpr std::size_t kChunk = std::size_t{256} << 10;  // a multiple of kBlock

  // The spill folder: removed at the end when this made it and it is empty (a ConfigError
  // ends the job before the coordinator cleans .parallel_run_tmp).
  struct Folder {
    std::filesystem::path path;
    std::vector<std::filesystem::path> made;  // deepest last
    Folder() = default;
    Folder(Folder&& o) noexcept : path(std::move(o.path)), made(std::exchange(o.made, {})) {}
    Folder& operator=(Folder&&) = delete;
    ~Folder() {
      std::error_code ec;
      for (auto it = made.rbegin(); it != made.rend(); ++it)
        std::filesystem::remove(*it, ec);  // fails, harmlessly, unless empty
    }
    void make() {
      std::error_code ec;
      for (auto p = path; !p.empty() && !std::filesystem::exists(p, ec); p = p.parent_path())
        made.insert(made.begin(), p);
    }
  };

  // A complete, non-blank record of the read buffer: [start, end) and its first line.
  struct Record {
    std::size_t start;
    std::size_t end;
    std::uint64_t line;
  };

  void group_all() {
    folder_.make();
    grouper_ = std::make_unique<KeyGrouper>(folder_.path, size_, budget_, input_bytes());
    buffer_.resize(kChunk);
    FileDataset::Cursor cursor = files_.cursor();
    cursor.skip_folders(skip_);
    while (left_ > 0) {
      std::optional<FileEntry> entry;
      try {
        entry = cursor.next();
        if (!entry) break;
        read_table(*entry);
      } catch (const InputError&) {
        // The cursor is past it: read the rest, so that it can be listed as not processed.
        errors_.push_back(std::current_exception());
      }
    }
    std::string().swap(buffer_);
    grouper_->finish();
  }

  // The size of every input file: how many buckets the grouping spills to. Listing errors
  // are left to the reading.
  std::uint64_t input_bytes() const {
    FileDataset::Cursor cursor = files_.cursor();
    cursor.skip_folders(skip_);
    std::uint64_t total = 0;
    for (;;) {
      try {
        std::optional<FileEntry> entry = cursor.next();
        if (!entry) return total;
        std::error_code ec;
        const auto n = std::filesystem::file_size(entry->path, ec);
        if (!ec) total += n;
      } catch (const InputError&) {
      }
    }
  }

  void read_table(const FileEntry& entry) {
    const TableStart start = open_table(entry, options_);
    const TableSource& source = *start.source;
    const ReadOnlyFile file(entry.path);
    headers_.check(source);
    if (sources_.size() == UINT32_MAX)
      throw InputError(fmt::format("'{}': more than {} table files with partition_keys",
                                   entry.path.string(), UINT32_MAX));
    const auto id = static_cast<std::uint32_t>(sources_.size());
    sources_.push_back(start.source);
    columns_.clear();

    const bool quoted = source.format == TableFormat::csv;
    std::uint64_t pos = start.data_offset;
    std::uint64_t line = start.lines_before + 1;  // the line at pos
    for (;;) {
      const std::size_t got = file.read(buffer_.data(), buffer_.size(), pos);
      if (got == 0) return;
      const bool eof = got < buffer_.size();
      records_.clear();
      RecordScanner scanner(quoted, source.delimiter, source.format == TableFormat::jsonl);
      std::uint64_t newlines = line - 1;  // before the block
      std::size_t record_start = 0;
      std::uint64_t record_line = line;
      for (std::size_t at = 0; at < got; at += kBlock) {
        const BlockBytes bytes(buffer_.data() + at, std::min(kBlock, got - at));
        const RecordScanner::Masks m = scanner.scan(bytes.data());
        for (std::uint64_t ends = m.end; ends != 0; ends &= ends - 1) {
          const auto bit = static_cast<unsigned>(std::countr_zero(ends));
          if ((m.record >> bit) & 1) records_.push_back({record_start, at + bit, record_line});
          record_start = at + bit + 1;
          record_line = newlines +
                        static_cast<std::uint64_t>(std::popcount(m.newline & low_bits(bit + 1))) +
                        1;
        }
        newlines += static_cast<std::uint64_t>(std::popcount(m.newline));
      }
      std::size_t complete = record_start;
      bool resumes = false;  // a record whose quote never closes ends before the end of file
      if (eof && scanner.in_quote()) {
        // The record ends with the line where its quote opens (as TablePartitioner cuts it);
        // the worker reports it as malformed, and reading goes on with the next line.
        UnclosedQuote u(source.delimiter);
        u.feed(buffer_.data() + record_start, got - record_start);
        if (u.line_end()) {
          const auto end = record_start + static_cast<std::size_t>(*u.line_end());
          records_.push_back({record_start, end, record_line});
          complete = end + 1;
          record_line += u.newlines();
          resumes = true;
        } else {
          records_.push_back({record_start, got, record_line});
          complete = got;
        }
      } else if (eof) {
        // The last record has no line break.
        const bool blank =
            source.format == TableFormat::jsonl
                ? is_blank_json_line(
                      std::string_view(buffer_.data() + record_start, got - record_start))
                : record_start == got || (record_start + 1 == got && buffer_[record_start] == '\r');
        if (!blank) records_.push_back({record_start, got, record_line});
        complete = got;
      } else if (complete == 0 && buffer_.size() >= max_record_bytes() && scanner.in_quote() &&
                 unclosed_within(file, pos, got, source.delimiter, complete, record_line)) {
        // A quote that never closes: its record, up to the end of its line, fits.
        records_.push_back({0, complete - 1, line});
      } else if (complete == 0) {
        // One record longer than the buffer: read it again into a larger one.
        if (buffer_.size() >= max_record_bytes())
          throw InputError(
              fmt::format("{}:{}: a record is longer than {} bytes (an unclosed quote?); with "
                          "partition_keys each record must fit in memory",
                          source.key, record_line, max_record_bytes()));
        buffer_.resize(std::min<std::size_t>(2 * buffer_.size(), max_record_bytes()));
        continue;
      }
      add_records(source, id, complete, line);
      if (left_ == 0 || (eof && !resumes)) return;
      pos += complete;
      line = record_line;
    }
  }

  // Parses records_ (the first `n` bytes of the buffer, from line `line`) as the worker will,
  // and adds each to the grouper with its key.
  void add_records(const TableSource& source, std::uint32_t id, std::size_t n, std::uint64_t line) {
    if (records_.empty()) return;
    if (records_.size() > left_) {
      records_.resize(static_cast<std::size_t>(left_));
      n = records_.back().end;
    }
    if (columns_.empty()) resolve_columns(source);
    TableBatchBuilder builder(0, n, records_.size());
    const std::size_t seen = builder.parse(buffer_.data(), n, source, line, next_record_);
    const TableBatch batch = std::move(builder).finish();
    if (seen != records_.size())
      throw Error("parallel_run.internal",
                  fmt::format("{}: {} records scanned from line {} but {} parsed", source.key,
                              records_.size(), records_.front().line, seen));
    std::size_t row = 0;
    for (std::size_t i = 0; i < records_.size(); ++i) {
      const Record& r = records_[i];
      const std::uint64_t index = next_record_ + i;
      key_.clear();
      // Well-formed records have a key of 4 bytes or more per column; malformed ones share
      // the empty key.
      if (row < batch.size() && batch[row].index() == index) {
        for (std::size_t c : columns_) {
          const std::string_view value = batch[row][c];
          const auto len = static_cast<std::uint32_t>(value.size());
          key_.append(reinterpret_cast<const char*>(&len), sizeof len);
          key_.append(value);
        }
        ++row;
      }
      std::size_t end = r.end;
      if (end > r.start && buffer_[end - 1] == '\r') --end;  // as Row::text()
      grouper_->add(key_, std::string_view(buffer_.data() + r.start, end - r.start),
                    RecordOrigin{id, r.line, index});
    }
    next_record_ += records_.size();
    left_ -= records_.size();
  }

  // The field index of every partition key in this file's header.
  void resolve_columns(const TableSource& source) {
    const TableHeader& header = *source.header;
    for (const std::string& name : options_.partition_keys) {
      const std::optional<std::size_t> c = header.find(name);
      if (!c) {
        if (header.empty())
          throw ConfigError("partition_keys",
                            fmt::format("partition_keys names column '{}', but '{}' has no "
                                        "header row to find it in",
                                        name, source.path.string()));
        throw ConfigError("partition_keys",
                          fmt::format("partition_keys column '{}' is not in the header of '{}' "
                                      "(columns: {})",
                                      name, source.path.string(), fmt::join(header.names(), ", ")));
      }
      columns_.push_back(*c);
    }
  }

  // The buffer (`got` bytes read at `pos`) holds the start of one record whose quote has not
  // closed. If it never closes before the end of the file and the record's line (the line
  // where that quote opens) ends inside the buffer, sets `complete` past that line's newline
  // and moves `record_line` to the next line: the record is malformed, reading goes on.
  bool unclosed_within(const ReadOnlyFile& file, std::uint64_t pos, std::size_t got, char delimiter,
                       std::size_t& complete, std::uint64_t& record_line) {
    UnclosedQuote u(delimiter);
    u.feed(buffer_.data(), got);
    std::vector<char> chunk(std::size_t{64} << 10);
    for (std::uint64_t at = pos + got;;) {
      const std::size_t n = file.read(chunk.data(), chunk.size(), at);
      if (n == 0) break;
      u.feed(chunk.data(), n);
      at += n;
    }
    if (!u.in_quote() || !u.line_end() || *u.line_end() >= got) return false;
    complete = static_cast<std::size_t>(*u.line_end()) + 1;
    record_line += u.newlines();
    return true;
  }

  std::size_t max_record_bytes() const {
    return static_cast<std::size_t>(std::max<std::uint64_t>(budget_, kChunk));
  }

  FileDataset files_;
  TableOptions options_;
  std::vector<std::filesystem::path> skip_;
  std::uint64_t size_;
  std::uint64_t left_;
  std::uint64_t budget_;
  Folder folder_;  // before grouper_: its files go first
  std::unique_ptr<KeyGrouper> grouper_;
  std::deque<std::exception_ptr> errors_;
  std::vector<std::shared_ptr<const TableSource>> sources_;
  HeaderCheck headers_{options_};  // shared with TablePartitioner
  std::string buffer_;
  std::vector<Record> records_;
  std::vector<std::size_t> columns_;
  std::string key_;
  std::uint64_t next_record_ = 0;
  std::size_t next_index_ = 0;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
