// TableSlice: the task of a table job. It names whole records of one file by byte range (or,
// with partition_keys, records framed in a spill file), so the coordinator holds offsets, not
// rows; the worker reads and parses them (materialize) into the TableBatch its scorer sees.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/errors.hpp"
#include "parallel_run/table_batch.hpp"
#include "parallel_run/tabular_dataset.hpp"
#include "parallel_run/detail/table_parse.hpp"
#include "parallel_run/detail/table_source.hpp"
#include "parallel_run/detail/wire.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

class TableSlice {
 public:
  TableSlice() = default;

  /// Records [offset, offset + length) of one file: whole records, ending on a record
  /// boundary. `first_line` is the 1-based line at `offset`, `first_index` the dataset index
  /// of its first record, `records` how many records it holds (blank lines not counted).
  /// `last_line`: the line of its last byte.
  static TableSlice of_file(std::size_t mini_batch_index, std::shared_ptr<const TableSource> source,
                            std::uint64_t offset, std::uint64_t length, std::uint64_t first_line,
                            std::uint64_t last_line, std::uint64_t first_index,
                            std::uint64_t records) {
    TableSlice s;
    s.kind_ = Kind::file;
    s.mini_batch_index_ = mini_batch_index;
    s.sources_.push_back(std::move(source));
    s.offset_ = offset;
    s.length_ = length;
    s.first_line_ = first_line;
    s.last_line_ = last_line;
    s.first_index_ = first_index;
    s.records_ = records;
    return s;
  }

  /// Records framed in a spill file (partition_keys): bytes [offset, offset + length) of
  /// `spill` hold records back to back, each
  ///   [u64 index][u64 line][u32 source][u32 length][length bytes: the raw record, no line break]
  /// (native byte order, no padding), `source` indexing `sources`.
  static TableSlice of_spill(std::size_t mini_batch_index, std::filesystem::path spill,
                             std::uint64_t offset, std::uint64_t length, std::uint64_t records,
                             std::vector<std::shared_ptr<const TableSource>> sources) {
    TableSlice s;
    s.kind_ = Kind::spill;
    s.mini_batch_index_ = mini_batch_index;
    s.spill_ = std::move(spill);
    s.offset_ = offset;
    s.length_ = length;
    s.records_ = records;
    s.sources_ = std::move(sources);
    return s;
  }

  /// Input a stopped job never read: the rest of the file `key` from line `first_line` on, or
  /// (first_line 0) the whole file. It is only listed as not processed, by that range (its
  /// records are not counted: that would mean reading them), and never materialized.
  static TableSlice of_unread(std::size_t mini_batch_index, std::string key,
                              std::uint64_t first_line) {
    TableSlice s;
    s.kind_ = Kind::unread;
    s.mini_batch_index_ = mini_batch_index;
    s.unread_key_ = std::move(key);
    s.first_line_ = first_line;
    return s;
  }

  std::size_t mini_batch_index() const noexcept { return mini_batch_index_; }
  /// Records, malformed ones included.
  std::size_t size() const noexcept { return static_cast<std::size_t>(records_); }
  std::uint64_t offset() const noexcept { return offset_; }
  std::uint64_t length() const noexcept { return length_; }
  std::uint64_t first_line() const noexcept { return first_line_; }
  std::uint64_t last_line() const noexcept { return last_line_; }
  std::uint64_t first_index() const noexcept { return first_index_; }
  bool from_spill() const noexcept { return kind_ == Kind::spill; }
  const std::filesystem::path& spill() const noexcept { return spill_; }
  const std::vector<std::shared_ptr<const TableSource>>& sources() const noexcept {
    return sources_;
  }

  /// Reads and parses the records (on the worker). I/O errors throw InputError.
  TableBatch materialize() const;

  /// fn(std::string key) per record, in order: "<file key>:<line>" (reads the slice again).
  template <class Fn>
  void for_each_item_key(Fn&& fn) const {
    for_each_item([&](std::string key, std::string_view) { fn(std::move(key)); });
  }

  /// fn(std::string key, std::string_view own_reason) per record, in order: a malformed
  /// record's reason (empty for a row), so a mini-batch that fails as a whole does not hide
  /// it. Reads and parses the slice again.
  template <class Fn>
  void for_each_item(Fn&& fn) const;

  /// fn(std::string key) once: the range of lines the slice covers, "<file key>:<first>-<last>"
  /// ("<file key>:<line>" for one line; "<file key>:<first>-" for the unread rest of a file;
  /// "<file key>" for a whole file never read), so a stopped job lists what it did not
  /// process without reading it. A spill slice lists its records (the frames name them).
  template <class Fn>
  void for_each_range_key(Fn&& fn) const;

  /// For the process backend (detail/wire.hpp).
  void encode(WireWriter& w) const;
  static TableSlice decode(WireReader& r);

 private:
  enum class Kind : std::uint8_t { file, spill, unread };

  Kind kind_ = Kind::file;
  std::size_t mini_batch_index_ = 0;
  std::vector<std::shared_ptr<const TableSource>> sources_;
  std::filesystem::path spill_;
  std::uint64_t offset_ = 0;
  std::uint64_t length_ = 0;
  std::uint64_t first_line_ = 1;
  std::uint64_t last_line_ = 0;
  std::string unread_key_;
  std::uint64_t first_index_ = 0;
  std::uint64_t records_ = 0;
};

inline TableBatch TableSlice::materialize() const {
  if (kind_ == Kind::unread)
    throw Error("parallel_run.internal", "an unread rest of the input cannot be materialized");
  const auto records = static_cast<std::size_t>(records_);
  if (kind_ == Kind::file) {
    const TableSource& source = *sources_.at(0);
    TableBatchBuilder builder(mini_batch_index_, static_cast<std::size_t>(length_), records);
    builder.keep(sources_[0]);
    builder.reserve_fields(records * std::max<std::size_t>(source.columns, 1));
    const auto n = static_cast<std::size_t>(length_);
    std::size_t size = 0;
    auto bytes = TableBatchStorage::take_bytes(n, size);
    ReadOnlyFile(source.path).read_exact(bytes.get(), n, offset_);
    const std::size_t seen = builder.parse(bytes.get(), n, source, first_line_, first_index_);
    builder.own(std::move(bytes), size);
    if (seen != records)
      throw InputError(
          fmt::format("{}: bytes {} to {} held {} records when the job cut them and "
                      "{} now: the file changed while the job ran",
                      source.key, offset_, offset_ + length_, records, seen));
    return std::move(builder).finish();
  }
  const auto n = static_cast<std::size_t>(length_);
  auto bytes = std::make_unique_for_overwrite<char[]>(n);
  ReadOnlyFile(spill_).read_exact(bytes.get(), n, offset_);
  TableBatchBuilder builder(mini_batch_index_, n, records);
  for (const auto& source : sources_)
    builder.keep(source);
  std::size_t at = 0, seen = 0;
  constexpr std::size_t frame = 2 * sizeof(std::uint64_t) + 2 * sizeof(std::uint32_t);
  auto corrupt = [&](std::string_view what) {
    return Error("parallel_run.internal",
                 fmt::format("spill file '{}' bytes {} to {}: {} at byte {}", spill_.string(),
                             offset_, offset_ + length_, what, offset_ + at));
  };
  while (at < n) {
    if (n - at < frame) throw corrupt("a truncated record frame");
    std::uint64_t index = 0, line = 0;
    std::uint32_t source = 0, size = 0;
    std::memcpy(&index, bytes.get() + at, sizeof index);
    std::memcpy(&line, bytes.get() + at + 8, sizeof line);
    std::memcpy(&source, bytes.get() + at + 16, sizeof source);
    std::memcpy(&size, bytes.get() + at + 20, sizeof size);
    if (source >= sources_.size()) throw corrupt("a record of an unknown source");
    if (n - at - frame < size) throw corrupt("a truncated record");
    const std::size_t got =
        builder.parse(bytes.get() + at + frame, size, *sources_[source], line, index);
    if (got != 1) throw corrupt(fmt::format("a frame holding {} records", got));
    seen += got;
    at += frame + size;
  }
  if (seen != records) throw corrupt(fmt::format("{} records where {} were cut", seen, records));
  builder.own(std::move(bytes), n);
  return std::move(builder).finish();
}

template <class Fn>
void TableSlice::for_each_item(Fn&& fn) const {
  if (kind_ == Kind::unread) return for_each_range_key([&](std::string key) { fn(key, ""); });
  // Only a mini-batch that failed as a whole is listed: parsing it again is fine.
  const TableBatch batch = materialize();
  if (kind_ == Kind::spill) {
    // In the frames' order (the grouping's), which the keys say.
    std::vector<std::string> keys;
    for_each_range_key([&](std::string key) { keys.push_back(std::move(key)); });
    for (std::string& key : keys) {
      std::string_view reason;
      for (const MalformedRecord& m : batch.malformed())
        if (m.key == key) reason = m.reason;
      fn(std::move(key), reason);
    }
    return;
  }
  struct Key {
    std::size_t index;
    std::string key;
    std::string_view reason;
  };
  std::vector<Key> keys;
  keys.reserve(batch.size() + batch.malformed().size());
  for (const Row& row : batch)
    keys.push_back({row.index(), row.key(), {}});
  for (const MalformedRecord& m : batch.malformed())
    keys.push_back({m.index, m.key, m.reason});
  std::stable_sort(keys.begin(), keys.end(),
                   [](const Key& a, const Key& b) { return a.index < b.index; });
  for (Key& k : keys)
    fn(std::move(k.key), k.reason);
}

template <class Fn>
void TableSlice::for_each_range_key(Fn&& fn) const {
  if (kind_ == Kind::unread) {
    fn(first_line_ == 0 ? unread_key_ : fmt::format("{}:{}-", unread_key_, first_line_));
    return;
  }
  if (kind_ == Kind::spill) {
    // The frames name their records: no parsing needed, and the order is the frames'.
    const auto n = static_cast<std::size_t>(length_);
    auto bytes = std::make_unique_for_overwrite<char[]>(n);
    ReadOnlyFile(spill_).read_exact(bytes.get(), n, offset_);
    constexpr std::size_t frame = 2 * sizeof(std::uint64_t) + 2 * sizeof(std::uint32_t);
    for (std::size_t at = 0; at + frame <= n;) {
      std::uint64_t line = 0;
      std::uint32_t source = 0, size = 0;
      std::memcpy(&line, bytes.get() + at + 8, sizeof line);
      std::memcpy(&source, bytes.get() + at + 16, sizeof source);
      std::memcpy(&size, bytes.get() + at + 20, sizeof size);
      fn(fmt::format("{}:{}", source < sources_.size() ? sources_[source]->key : "?", line));
      at += frame + size;
    }
    return;
  }
  const std::string& key = sources_.at(0)->key;
  fn(last_line_ <= first_line_ ? fmt::format("{}:{}", key, first_line_)
                               : fmt::format("{}:{}-{}", key, first_line_, last_line_));
}

inline void TableSlice::encode(WireWriter& w) const {
  w.put(static_cast<std::uint8_t>(kind_));
  w.put<std::uint64_t>(mini_batch_index_);
  w.put(spill_.string());
  w.put(offset_);
  w.put(length_);
  w.put(first_line_);
  w.put(last_line_);
  w.put(first_index_);
  w.put(records_);
  w.put<std::uint64_t>(sources_.size());
  for (const auto& s : sources_) {
    w.put(s->path.string());
    w.put(s->key);
    w.put(static_cast<std::uint8_t>(s->format));
    w.put(s->delimiter);
    w.put<std::uint64_t>(s->columns);
    w.put(s->header_error);
    w.put<std::uint64_t>(s->header->size());
    for (const auto& name : s->header->names())
      w.put(name);
  }
}

inline TableSlice TableSlice::decode(WireReader& r) {
  TableSlice s;
  const auto kind = r.get<std::uint8_t>();
  if (kind > static_cast<std::uint8_t>(Kind::unread))
    throw Error("parallel_run.internal", fmt::format("a table slice of unknown kind {}", kind));
  s.kind_ = static_cast<Kind>(kind);
  s.mini_batch_index_ = static_cast<std::size_t>(r.get<std::uint64_t>());
  s.spill_ = r.get_string();
  s.offset_ = r.get<std::uint64_t>();
  s.length_ = r.get<std::uint64_t>();
  s.first_line_ = r.get<std::uint64_t>();
  s.last_line_ = r.get<std::uint64_t>();
  s.first_index_ = r.get<std::uint64_t>();
  s.records_ = r.get<std::uint64_t>();
  const auto count = r.get<std::uint64_t>();
  for (std::uint64_t i = 0; i < count; ++i) {
    auto source = std::make_shared<TableSource>();
    source->path = r.get_string();
    source->key = r.get_string();
    source->format = static_cast<TableFormat>(r.get<std::uint8_t>());
    source->delimiter = r.get<char>();
    source->columns = static_cast<std::size_t>(r.get<std::uint64_t>());
    source->header_error = r.get_string();
    const auto names = r.get<std::uint64_t>();
    std::vector<std::string> header;
    for (std::uint64_t k = 0; k < names; ++k)
      header.push_back(r.get_string());
    source->header = std::make_shared<const TableHeader>(std::move(header));
    s.sources_.push_back(std::move(source));
  }
  return s;
}

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
