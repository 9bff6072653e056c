// Parses the bytes of a table slice into the rows of a TableBatch, on the worker. CSV and TSV
// go through the block scanner (csv_scan.hpp): delimiters and newlines outside quotes are the
// field and record ends, found 64 bytes at a time; only fields that hold a quote are looked
// at byte by byte. JSON Lines are parsed line by line (jsonl.hpp).
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/table_batch.hpp"
#include "parallel_run/detail/csv_scan.hpp"
#include "parallel_run/detail/jsonl.hpp"
#include "parallel_run/detail/table_source.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// Why a record whose quoted field never closes is malformed. The record ends with the line
/// where that quote opens: reading goes on with the next line (csv_scan.hpp, QuoteState).
inline constexpr std::string_view kUnclosedQuote =
    "a quoted field is not closed before the end of the file (the record is taken to end with "
    "the line where its quote opens)";

/// Where a record whose quoted field never closes ends, fed its bytes from its start to the
/// end of the file (or of a slice that holds its line) under the quoting rule: the quote that never
/// closes is the last one that opens quotes, and the record ends with that quote's line (the first
/// newline after it). The partitioner and the parser both use it, so that they end the record at
/// one place.
class UnclosedQuote {
 public:
  explicit UnclosedQuote(char delimiter) : delimiter_(delimiter) {}

  void feed(const char* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      const char c = p[i];
      const QuoteState next = next_quote_state(state_, c, delimiter_);
      if (state_ == QuoteState::field_start && next == QuoteState::quoted) {
        open_line_ = true;
        line_end_.reset();
      }
      state_ = next;
      if (c == '\n') {
        ++newlines_;
        if (open_line_) {
          line_end_ = fed_ + i;
          through_ = newlines_;
          open_line_ = false;
        }
      }
    }
    fed_ += n;
  }

  /// The offset (from the record's start) of the newline that ends the record, if any.
  std::optional<std::uint64_t> line_end() const { return line_end_; }
  /// The newlines from the record's start through it.
  std::uint64_t newlines() const { return through_; }
  /// Inside quotes after the bytes fed (the quote never closed).
  bool in_quote() const { return state_ == QuoteState::quoted; }

 private:
  char delimiter_;
  QuoteState state_ = QuoteState::field_start;
  std::uint64_t fed_ = 0, newlines_ = 0, through_ = 0;
  bool open_line_ = false;
  std::optional<std::uint64_t> line_end_;
};

/// Builds one TableBatch from records parsed out of buffers the batch then owns.
class TableBatchBuilder {
 public:
  /// `unescaped_capacity`: the total size of the records to parse (unescaped text is never
  /// longer than its source), so views into the unescape buffer stay valid.
  TableBatchBuilder(std::size_t mini_batch_index, std::size_t unescaped_capacity,
                    std::size_t expected_records)
      : capacity_(unescaped_capacity) {
    batch_.index_ = mini_batch_index;
    auto& spare = TableBatchStorage::of_this_thread();
    batch_.fields_ = std::move(spare.fields);
    batch_.rows_ = std::move(spare.rows);
    batch_.fields_.clear();
    batch_.rows_.clear();
    batch_.rows_.reserve(expected_records);
  }

  /// Room for `n` fields in all, so the field list does not grow while parsing.
  void reserve_fields(std::size_t n) { batch_.fields_.reserve(n); }

  /// The batch owns `bytes` (the records parsed from it must lie inside it).
  void own(std::unique_ptr<char[]> bytes, std::size_t size) {
    batch_.bytes_ = std::move(bytes);
    batch_.bytes_size_ = size;
  }
  void keep(std::shared_ptr<const void> p) { batch_.keep_.push_back(std::move(p)); }

  /// Parses [data, data + n): the records of `source` starting at `line` (1-based) whose
  /// first non-blank record has dataset index `index`. Returns the records seen (malformed
  /// ones included, blank lines not).
  std::size_t parse(const char* data, std::size_t n, const TableSource& source, std::uint64_t line,
                    std::uint64_t index) {
    if (source.format == TableFormat::jsonl) return parse_jsonl(data, n, source, line, index);
    return parse_delimited(data, n, source, line, index);
  }

  /// A record reported without being parsed.
  void malformed(const TableSource& source, std::uint64_t line, std::uint64_t index,
                 std::string_view what) {
    batch_.malformed_.push_back({fmt::format("{}:{}", source.key, line),
                                 fmt::format("{}:{}: malformed record: {}", source.key, line, what),
                                 static_cast<std::size_t>(index)});
  }

  TableBatch finish() && {
    // The fields of the rows lie back to back (a malformed record's are taken back).
    const std::string_view* f = batch_.fields_.data();
    for (Row& r : batch_.rows_) {
      r.fields_ = f;
      f += r.count_;
    }
    return std::move(batch_);
  }

 private:
  // Where unescaped text goes: allocated on first use, never reallocated.
  char* unescape_area() {
    if (!batch_.unescaped_) {
      batch_.unescaped_ = std::make_unique_for_overwrite<char[]>(capacity_ + 1);
      cursor_ = batch_.unescaped_.get();
    }
    return cursor_;
  }

  void add_row(const TableSource& source, std::size_t first_field, std::string_view text,
               std::uint64_t line, std::uint64_t index) {
    // Filled in place: a Row built aside and copied costs store-forwarding stalls.
    Row& r = batch_.rows_.emplace_back();
    r.count_ = batch_.fields_.size() - first_field;
    r.text_ = text;
    r.file_key_ = source.key;
    r.header_ = source.header.get();
    r.line_ = line;
    r.index_ = index;
  }

  // A field with a quote that is not a plain "text": a bad one keeps its place (an empty
  // view), and the record is dropped at its end.
  [[gnu::noinline]] void quoted_field(const char* s, std::size_t n, std::string& why,
                                      std::size_t field_number) {
    if (n == 0 || s[0] != '"')
      batch_.fields_.emplace_back(s, n);  // an unquoted field: its quotes are text
    else if (!why.empty() || !unquote(s, n, why, field_number))
      batch_.fields_.emplace_back();
  }

  // A field that starts with a quote: it must be "..." with inner quotes doubled. Returns
  // false (and says why) otherwise.
  bool unquote(const char* s, std::size_t n, std::string& why, std::size_t field_number) {
    std::size_t j = 1;
    bool doubled = false;
    for (;;) {
      const void* q = std::memchr(s + j, '"', n - j);
      j = q ? static_cast<std::size_t>(static_cast<const char*>(q) - s) : n;
      if (j + 1 < n && s[j + 1] == '"') {
        doubled = true;
        j += 2;
        continue;
      }
      break;  // the closing quote
    }
    if (j != n - 1) {
      why = fmt::format("field {} has text after its closing quote", field_number);
      return false;
    }
    if (!doubled) {
      batch_.fields_.emplace_back(s + 1, n - 2);
      return true;
    }
    char* out = unescape_area();
    char* const first = out;
    for (std::size_t k = 1; k + 1 < n;) {
      const void* q = std::memchr(s + k, '"', n - 1 - k);
      const std::size_t upto =
          q ? static_cast<std::size_t>(static_cast<const char*>(q) - s) + 1 : n - 1;
      std::memcpy(out, s + k, upto - k);  // up to and with one quote of a pair
      out += upto - k;
      k = upto + 1;
    }
    cursor_ = out;
    batch_.fields_.emplace_back(first, static_cast<std::size_t>(out - first));
    return true;
  }

  std::size_t parse_delimited(const char* data, std::size_t n, const TableSource& source,
                              std::uint64_t line, std::uint64_t index) {
    return source.format == TableFormat::csv ? parse_delimited<true>(data, n, source, line, index)
                                             : parse_delimited<false>(data, n, source, line, index);
  }

  // Two passes per window of the buffer: index_fields() (SIMD, csv_scan.hpp) lists the field
  // and record ends and the quotes not at the start of a field; this loop then cuts the
  // fields at those offsets. A field with no listed quote is plain or "quoted" without inner
  // quotes: a view, no byte looked at. Only a field with a listed quote (doubled quotes, or
  // a malformed one) goes through unquote().
  template <bool Quoted>
  std::size_t parse_delimited(const char* data, std::size_t n, const TableSource& source,
                              std::uint64_t first_line, std::uint64_t index) {
    const char delimiter = source.delimiter;
    std::vector<std::string_view>& fields = batch_.fields_;
    std::size_t records = 0;
    std::size_t record_start = 0;
    std::size_t field_start = 0;
    std::size_t first_field = fields.size();
    std::uint64_t line = first_line;  // of the record being read
    bool complex = false;             // the current field holds a quote not at its start
    std::string why;                  // set when the current record is malformed
    const bool bad_header = !source.header_error.empty();

    auto end_field = [&](std::size_t end, bool last) __attribute__((always_inline)) {
      if (last && end > field_start && data[end - 1] == '\r') --end;
      const char* s = data + field_start;
      const std::size_t len = end - field_start;
      if constexpr (!Quoted) {
        fields.emplace_back(s, len);
      } else {
        // Without a branch on the quotes (plain and quoted fields alternate at random): a
        // "text" field loses its two quotes.
        const bool open = (len != 0 ? s[0] : 0) == '"';
        const bool closed = (len >= 2 ? s[len - 1] : 0) == '"';
        if (!complex && open <= closed) [[likely]]
          fields.emplace_back(s + open, len - 2 * std::size_t{open});
        else
          quoted_field(s, len, why, fields.size() - first_field + 1);
      }
    };
    // `next_line`: the line after the record's line break.
    auto end_record = [&](std::size_t end, std::uint64_t next_line) __attribute__((always_inline)) {
      const bool blank =
          fields.size() == first_field &&
          (end == record_start || (end == record_start + 1 && data[record_start] == '\r'));
      if (!blank) {
        end_field(end, true);
        complex = false;
        std::size_t text_end = end;
        if (text_end > record_start && data[text_end - 1] == '\r') --text_end;
        const std::size_t count = fields.size() - first_field;
        if (bad_header && why.empty()) why = source.header_error;
        if (why.empty() && source.columns != 0 && count != source.columns)
          why = fmt::format("{} fields, {} has {}", count,
                            source.header->empty() ? "the first record" : "the header",
                            source.columns);
        if (why.empty()) {
          add_row(source, first_field,
                  std::string_view(data + record_start, text_end - record_start), line, index);
        } else {
          fields.resize(first_field);
          malformed(source, line, index, why);
          why.clear();
        }
        ++index;
        ++records;
      }
      line = next_line;
      record_start = field_start = end + 1;
      first_field = fields.size();
    };

    FieldIndex& ix = field_index();
    std::uint64_t base_line = first_line;  // the line at `begin`
    for (std::size_t begin = 0;;) {
      FieldIndexState state;
      for (std::size_t window = begin; window < n; window += FieldIndex::kWindow) {
        const char* const w = data + window;
        const std::size_t count = index_fields_any<Quoted>(
            w, std::min(FieldIndex::kWindow, n - window), delimiter, state, ix);
        for (std::size_t k = 0; k < count; ++k) {
          const std::uint32_t at = ix.ends[k];
          const std::size_t pos = window + at;
          const char c = w[at];
          if (c == delimiter) {
            end_field(pos, false);
            complex = false;
            field_start = pos + 1;
          } else if (c == '\n') {
            // Newlines before this one, quoted ones included, give the next record's line.
            const std::uint32_t block = at / kBlock;
            const std::uint64_t before =
                ix.lines_before[block] + popcount64(ix.newlines[block] & low_bits(at % kBlock));
            end_record(pos, base_line + before + 1);
          } else {
            complex = true;  // a quote not at the start of its field
          }
        }
      }
      if (record_start >= n) break;
      if (!Quoted || state.quotes.in_quote == 0) {
        end_record(n, line);
        break;
      }
      // A quote that never closes: the record ends with the line where it opens, as the
      // partitioner cuts it, and reading goes on with the next line from a fresh state, so
      // that both count the same records whatever the slice holds around it.
      UnclosedQuote u(delimiter);
      u.feed(data + record_start, n - record_start);
      fields.resize(first_field);
      malformed(source, line, index, kUnclosedQuote);
      ++index;
      ++records;
      if (!u.line_end()) break;  // its line is the slice's last
      begin = record_start + static_cast<std::size_t>(*u.line_end()) + 1;
      line = base_line = line + u.newlines();
      record_start = field_start = begin;
      first_field = fields.size();
      complex = false;
      why.clear();
    }
    return records;
  }

  // The index of one window, per thread: 160 KB, not worth allocating per batch.
  static FieldIndex& field_index() {
    thread_local std::unique_ptr<FieldIndex> index;
    if (!index) index = std::make_unique_for_overwrite<FieldIndex>();
    return *index;
  }

  std::size_t parse_jsonl(const char* data, std::size_t n, const TableSource& source,
                          std::uint64_t line, std::uint64_t index) {
    const TableHeader& header = *source.header;
    std::size_t records = 0;
    std::size_t start = 0;
    while (start < n) {
      const void* hit = std::memchr(data + start, '\n', n - start);
      const std::size_t end =
          hit ? static_cast<std::size_t>(static_cast<const char*>(hit) - data) : n;
      std::size_t text_end = end;
      if (text_end > start && data[text_end - 1] == '\r') --text_end;
      const std::string_view text(data + start, text_end - start);
      if (!is_blank_json_line(text)) {
        char* scratch = unescape_area();
        std::string why = JsonLineReader::of_this_thread().parse(text, scratch, members_);
        const std::size_t first_field = batch_.fields_.size();
        if (why.empty()) {
          cursor_ = scratch;
          batch_.fields_.resize(first_field + header.size());
          for (const JsonMember& m : members_) {  // a repeated key: its last value
            const auto column = header.find(m.key);
            if (!column) {
              why = fmt::format(
                  "key '{}' is not one of the columns ({}) of the file's first "
                  "JSON object",
                  m.key, fmt::join(header.names(), ", "));
              break;
            }
            batch_.fields_[first_field + *column] = m.value;
          }
        }
        if (why.empty()) {
          add_row(source, first_field, text, line, index);
        } else {
          batch_.fields_.resize(first_field);
          malformed(source, line, index, why);
        }
        ++index;
        ++records;
      }
      ++line;
      start = end + 1;
    }
    return records;
  }

  TableBatch batch_;
  std::size_t capacity_;
  char* cursor_ = nullptr;
  std::vector<JsonMember> members_;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
