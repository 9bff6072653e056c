// Row and TableBatch: what a scorer's run() receives for table inputs. A batch owns the bytes
// of its slice of one file; every field is a std::string_view into them (quoted fields that
// hold doubled quotes, and JSON strings with escapes, are unescaped into a second buffer of
// the batch, so Row::text() stays the raw record).
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/errors.hpp"
#include "parallel_run/detail/quote.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE

/// A field that cannot be read as asked (an unknown column, a value that does not parse).
/// The message names the file key, the line, the column and the value:
/// "[parallel_run.input] data.csv:12: column 'age': cannot parse 'abc' as an integer".
class FieldError : public InputError {
 public:
  using InputError::InputError;
};

/// The column names of one file, shared by every row of it. Empty when the table has no
/// header row.
class TableHeader {
 public:
  TableHeader() = default;
  explicit TableHeader(std::vector<std::string> names) : names_(std::move(names)) {
    index_.reserve(names_.size());
    for (std::size_t i = 0; i < names_.size(); ++i)
      index_.emplace(names_[i], i);  // a repeated name finds its first column
  }

  const std::vector<std::string>& names() const noexcept { return names_; }
  std::size_t size() const noexcept { return names_.size(); }
  bool empty() const noexcept { return names_.empty(); }
  /// The index of column `name`, or nothing.
  std::optional<std::size_t> find(std::string_view name) const {
    // Row::get("name") asks once per row: a few columns are found faster by a look at each
    // name than by hashing.
    if (names_.size() <= 8) {
      for (std::size_t i = 0; i < names_.size(); ++i)
        if (names_[i].size() == name.size() && names_[i] == name) return i;
      return std::nullopt;
    }
    auto it = index_.find(name);
    if (it == index_.end()) return std::nullopt;
    return it->second;
  }

  friend bool operator==(const TableHeader& a, const TableHeader& b) {
    return a.names_ == b.names_;
  }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  std::vector<std::string> names_;
  std::unordered_map<std::string, std::size_t, Hash, std::equal_to<>> index_;
};

/// A record that could not be parsed (wrong field count, unterminated quote, bad JSON). It is
/// not given to the scorer; it counts as a failed item and is listed in failed_items.csv.
struct MalformedRecord {
  std::string key;        // "<file key>:<line>"
  std::string reason;     // "data.csv:7: malformed record: 3 fields, the header has 4"
  std::size_t index = 0;  // the record's 0-based position in the dataset

  friend bool operator==(const MalformedRecord&, const MalformedRecord&) = default;
};

namespace detail {
class TableBatchBuilder;

template <class T>
struct is_optional : std::false_type {};
template <class U>
struct is_optional<std::optional<U>> : std::true_type {};

template <class T>
constexpr const char* field_type_name() {
  if constexpr (std::is_same_v<T, bool>)
    return "a boolean (true, false, 1 or 0)";
  else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>)
    return "an integer";
  else if constexpr (std::is_integral_v<T>)
    return "an unsigned integer";
  else
    return "a number";
}

/// A double written as [-]digits[.digits] with at most 15 digits: the digits as an integer
/// (exact below 2^53) divided by a power of ten (exact up to 10^22) is correctly rounded,
/// so the result is the one std::from_chars gives, at a fraction of its cost. Anything
/// else (exponents, more digits, inf, nan) is left to from_chars.
inline bool parse_simple_double(const char* p, const char* last, double& out) noexcept {
  static constexpr double kPow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                      1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
  const bool negative = p != last && *p == '-';
  p += negative;
  std::uint64_t m = 0;
  unsigned digits = 0, fraction = 0;
  const char* const int_start = p;
  for (; p != last && static_cast<unsigned char>(*p - '0') < 10; ++p, ++digits)
    m = m * 10 + static_cast<unsigned>(*p - '0');
  if (p == int_start) return false;
  if (p != last && *p == '.') {
    const char* const frac_start = ++p;
    for (; p != last && static_cast<unsigned char>(*p - '0') < 10; ++p, ++digits)
      m = m * 10 + static_cast<unsigned>(*p - '0');
    fraction = static_cast<unsigned>(p - frac_start);
    if (fraction == 0) return false;
  }
  if (p != last || digits > 15) return false;
  const double v = static_cast<double>(m) / kPow10[fraction];
  out = negative ? -v : v;
  return true;
}

/// Parses `text` as T (the whole text, no whitespace trimmed; a leading '+' is accepted).
/// Returns nothing, with `out_of_range` set when the number does not fit.
template <class T>
std::optional<T> parse_field(std::string_view text, bool& out_of_range) {
  out_of_range = false;
  if constexpr (std::is_same_v<T, bool>) {
    auto is = [&](std::string_view a, std::string_view b, std::string_view c) {
      return text == a || text == b || text == c;
    };
    if (text == "1" || is("true", "True", "TRUE")) return true;
    if (text == "0" || is("false", "False", "FALSE")) return false;
    return std::nullopt;
  } else {
    const char* first = text.data();
    const char* last = first + text.size();
    // from_chars takes no '+'; "+5" is a common spelling of 5, "+-5" and "+" are not numbers.
    if (first != last && *first == '+' && last - first > 1 && first[1] != '-') ++first;
    T value{};
    if constexpr (std::is_same_v<T, double>) {
      if (parse_simple_double(first, last, value)) return value;
    }
    std::from_chars_result r;
    if constexpr (std::is_integral_v<T>)
      r = std::from_chars(first, last, value);
    else
      r = std::from_chars(first, last, value, std::chars_format::general);
    if (r.ec == std::errc::result_out_of_range && r.ptr == last) {
      out_of_range = true;
      return std::nullopt;
    }
    if (r.ec != std::errc() || r.ptr != last || first == last) return std::nullopt;
    return value;
  }
}
}  // namespace detail

/// One record of a table: its fields (unquoted, as views into the batch's buffer), typed
/// access by index or column name, and where it came from. Valid while its batch lives.
class Row {
 public:
  Row() = default;

  /// The number of fields.
  std::size_t size() const noexcept { return count_; }
  /// Field `i`, unquoted. Throws FieldError when the row has no field `i`.
  std::string_view operator[](std::size_t i) const {
    if (i >= count_)
      throw FieldError(
          fmt::format("{}:{}: no column {} (the row has {} fields)", file_key_, line_, i, count_));
    return fields_[i];
  }
  /// The field of column `column` (from the file's header). Throws FieldError naming the
  /// column and the file when there is no such column.
  std::string_view operator[](std::string_view column) const {
    return fields_[column_index(column)];
  }

  /// Field `i` as T: an integer or floating-point type (std::from_chars), bool (true, false,
  /// 1, 0), std::string, std::string_view, or std::optional<U> of those (empty field:
  /// nullopt). Throws FieldError naming file, line, column and value when it does not parse.
  template <class T>
  T get(std::size_t i) const {
    return convert<T>((*this)[i], i);
  }
  /// The field of column `column` as T (see get(std::size_t)).
  template <class T>
  T get(std::string_view column) const {
    const std::size_t i = column_index(column);
    return convert<T>(fields_[i], i);
  }

  /// The item key: "<file key>:<line>".
  std::string key() const { return fmt::format("{}:{}", file_key_, line_); }
  /// The file's item key (its path relative to its input root).
  std::string_view file_key() const noexcept { return file_key_; }
  /// The 1-based line on which the record starts.
  std::size_t line() const noexcept { return static_cast<std::size_t>(line_); }
  /// The record's 0-based position among the records of the whole dataset (headers and
  /// blank lines not counted).
  std::size_t index() const noexcept { return static_cast<std::size_t>(index_); }
  /// The raw record, quotes and escapes included, without its line break.
  std::string_view text() const noexcept { return text_; }
  /// The column names of the row's file.
  const TableHeader& header() const noexcept { return *header_; }

  using const_iterator = const std::string_view*;
  const_iterator begin() const noexcept { return fields_; }
  const_iterator end() const noexcept { return fields_ + count_; }

 private:
  friend class detail::TableBatchBuilder;

  std::size_t column_index(std::string_view column) const {
    if (auto i = header_->find(column)) {
      if (*i < count_) return *i;
    } else if (header_->empty()) {
      throw FieldError(fmt::format("{}:{}: no column '{}': the file has no header row", file_key_,
                                   line_, column));
    } else {
      throw FieldError(fmt::format("{}:{}: no column '{}' (columns: {})", file_key_, line_, column,
                                   fmt::join(header_->names(), ", ")));
    }
    throw FieldError(fmt::format("{}:{}: column '{}' is missing (the row has {} fields)", file_key_,
                                 line_, column, count_));
  }

  std::string column_name(std::size_t i) const {
    if (i < header_->size()) return fmt::format("column '{}'", header_->names()[i]);
    return fmt::format("column {}", i);
  }

  template <class T>
  T convert(std::string_view text, std::size_t i) const {
    using V = std::remove_cv_t<T>;
    if constexpr (detail::is_optional<V>::value) {
      if (text.empty()) return std::nullopt;
      return convert<typename V::value_type>(text, i);
    } else if constexpr (std::is_same_v<V, std::string_view>) {
      return text;
    } else if constexpr (std::is_same_v<V, std::string>) {
      return std::string(text);
    } else {
      static_assert(std::is_arithmetic_v<V>,
                    "parallel_run: Row::get<T> reads integers, floating point, bool, "
                    "std::string, std::string_view or std::optional of those");
      bool out_of_range = false;
      if (auto v = detail::parse_field<V>(text, out_of_range)) return *v;
      if (out_of_range)
        throw FieldError(fmt::format("{}:{}: {}: '{}' is out of range for {}", file_key_, line_,
                                     column_name(i), detail::message_value(text),
                                     detail::field_type_name<V>()));
      throw FieldError(fmt::format("{}:{}: {}: cannot parse '{}' as {}", file_key_, line_,
                                   column_name(i), detail::message_value(text),
                                   detail::field_type_name<V>()));
    }
  }

  const std::string_view* fields_ = nullptr;
  std::size_t count_ = 0;
  std::string_view text_;
  std::string_view file_key_;
  const TableHeader* header_ = nullptr;
  std::uint64_t line_ = 0;
  std::uint64_t index_ = 0;
};

/// One mini-batch of a table: a random-access, sized range of Row in file order, all from
/// one file (or, with partition_keys, the rows of some key groups). It owns the bytes its
/// rows view, so it moves but does not copy.
class TableBatch {
 public:
  using value_type = Row;
  using const_iterator = std::vector<Row>::const_iterator;
  using iterator = const_iterator;

  TableBatch() = default;
  ~TableBatch();
  TableBatch(TableBatch&&) noexcept = default;
  TableBatch& operator=(TableBatch&&) noexcept = default;
  TableBatch(const TableBatch&) = delete;
  TableBatch& operator=(const TableBatch&) = delete;

  const_iterator begin() const noexcept { return rows_.begin(); }
  const_iterator end() const noexcept { return rows_.end(); }
  std::size_t size() const noexcept { return rows_.size(); }
  bool empty() const noexcept { return rows_.empty(); }
  const Row& operator[](std::size_t i) const { return rows_[i]; }
  /// The 0-based position of this mini-batch in the job, which is also its output order.
  std::size_t mini_batch_index() const noexcept { return index_; }
  /// Records of the slice that could not be parsed; they count as failed items.
  const std::vector<MalformedRecord>& malformed() const noexcept { return malformed_; }

 private:
  friend class detail::TableBatchBuilder;
  std::size_t index_ = 0;
  std::unique_ptr<char[]> bytes_;
  std::size_t bytes_size_ = 0;
  std::unique_ptr<char[]> unescaped_;
  std::vector<std::string_view> fields_;
  std::vector<Row> rows_;
  std::vector<MalformedRecord> malformed_;
  std::vector<std::shared_ptr<const void>> keep_;
};

namespace detail {
/// The storage of the last batch a thread destroyed, reused by the next one it builds: fresh
/// megabytes for every mini-batch cost more in page faults than the parsing itself.
struct TableBatchStorage {
  std::unique_ptr<char[]> bytes;
  std::size_t bytes_size = 0;
  std::vector<std::string_view> fields;
  std::vector<Row> rows;

  static TableBatchStorage& of_this_thread() {
    thread_local TableBatchStorage storage;
    return storage;
  }

  /// A buffer of at least `n` bytes (the spare one when it is large enough); `size` is set
  /// to its size.
  static std::unique_ptr<char[]> take_bytes(std::size_t n, std::size_t& size) {
    auto& spare = of_this_thread();
    if (spare.bytes && spare.bytes_size >= n && spare.bytes_size <= 2 * n + 4096) {
      size = spare.bytes_size;
      spare.bytes_size = 0;
      return std::move(spare.bytes);
    }
    size = n;
    return std::make_unique_for_overwrite<char[]>(n);
  }
};
}  // namespace detail

inline TableBatch::~TableBatch() {
  auto& spare = detail::TableBatchStorage::of_this_thread();
  if (bytes_ && bytes_size_ > spare.bytes_size) {
    spare.bytes = std::move(bytes_);
    spare.bytes_size = bytes_size_;
  }
  if (fields_.capacity() > spare.fields.capacity()) {
    fields_.clear();
    spare.fields = std::move(fields_);
  }
  if (rows_.capacity() > spare.rows.capacity()) {
    rows_.clear();
    spare.rows = std::move(rows_);
  }
}

PARALLEL_RUN_END_NAMESPACE
