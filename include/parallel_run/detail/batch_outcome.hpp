// Turns what run() returned into a BatchOutcome: output lines (already formatted, on the
// worker's thread, in element order) and the accounting of the mini-batch's items.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/config.hpp"
#include "parallel_run/item_result.hpp"
#include "parallel_run/result_element.hpp"

#include <fmt/format.h>
#include <range/v3/range/access.hpp>
#include <range/v3/range/traits.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

struct FailedItem {
  std::string key;
  std::string reason;
};

/// When and where an attempt ran, as its worker measured it (zeros: not known).
struct AttemptTimes {
  std::size_t worker = 0;  // its index on its node
  std::int64_t pid = 0;
  std::int64_t wall_start_ns = 0;  // system clock, since the epoch
  std::int64_t wall_end_ns = 0;
  double cpu_start = 0;  // CPU seconds of the worker: its thread, or its process
  double cpu_end = 0;
  double run_seconds = 0;  // inside the scorer's run()
  std::size_t items = 0;   // items of the mini-batch, once read
  std::size_t node = 0;    // which node of a multi-node job ran it (set by rank 0)
  // A worker process's output file's size once the attempt ended (its output flushed): what
  // follows belongs to its next attempts. -1: not known (the thread backend).
  std::int64_t output_end = -1;
};

struct BatchOutcome {
  std::string rows;  // every line ends with '\n'
  std::size_t succeeded = 0;
  std::vector<FailedItem> failed;
  std::vector<std::string> warnings;
  AttemptTimes times;
};

struct RowFormat {
  bool write_rows;  // false for summary_only: count, do not format
  bool key_column;
  std::string_view delimiter;
};

template <class Batch, class E>
void append_row(std::string& out, const Batch& batch, std::size_t position, const E& element,
                const RowFormat& fmt) {
  if (fmt.key_column) {
    if (position < batch.size())
      append_table_text(out, item_key_of(batch[position]), fmt.delimiter);
    else
      out.push_back('-');  // an element beyond the items maps to no input
    out.append(fmt.delimiter);
  }
  append_element(out, element, fmt.delimiter);
  out.push_back('\n');
}

/// Collects a plain range: element i stands for item i; succeeded = min(returned, items).
template <class Batch, class R>
BatchOutcome collect_elements(const Batch& batch, R&& result, const RowFormat& format) {
  BatchOutcome out;
  std::size_t returned = 0;
  for (auto&& element : result) {
    if (format.write_rows) append_row(out.rows, batch, returned, element, format);
    ++returned;
  }
  const std::size_t items = batch.size();
  out.succeeded = std::min(returned, items);
  if (returned > items)
    out.warnings.push_back(fmt::format("mini-batch {} returned {} results for {} items; counted {}",
                                       batch.mini_batch_index(), returned, items, items));
  for (std::size_t i = out.succeeded; i < items; ++i)
    out.failed.push_back({item_key_of(batch[i]),
                          fmt::format("run returned {} results for {} items", returned, items)});
  return out;
}

/// Where each item of a batch is, by its index in the dataset.
template <class Batch>
class ItemPositions {
 public:
  explicit ItemPositions(const Batch& batch)
      : items_(batch.size()), first_(items_ ? item_index_of(batch[0]) : 0) {
    // Items are usually consecutive in the dataset; when they are not (rows around a
    // malformed record, rows grouped by partition key) a map finds each item's position.
    for (std::size_t i = 0; i < items_ && consecutive_; ++i)
      consecutive_ = item_index_of(batch[i]) == first_ + i;
    if (!consecutive_)
      for (std::size_t i = 0; i < items_; ++i)
        position_of_.emplace(item_index_of(batch[i]), i);
  }

  /// The position of the item with dataset index `index`, or the batch's size when it is
  /// not in the batch.
  std::size_t find(std::size_t index) const {
    if (consecutive_) return index >= first_ && index - first_ < items_ ? index - first_ : items_;
    const auto it = position_of_.find(index);
    return it == position_of_.end() ? items_ : it->second;
  }

 private:
  std::size_t items_, first_;
  bool consecutive_ = true;
  std::unordered_map<std::size_t, std::size_t> position_of_;
};

/// Collects the batch's own rows, returned by a filter: each stands for itself wherever it
/// comes (its key is its own); the rows not returned were filtered out, and succeeded too.
template <class Batch, class R>
BatchOutcome collect_own_rows(const Batch& batch, R&& result, const RowFormat& format) {
  BatchOutcome out;
  const ItemPositions<Batch> positions(batch);
  for (auto&& row : result) {
    const std::size_t pos = positions.find(item_index_of(row));
    if (pos >= batch.size()) {
      out.warnings.push_back(
          fmt::format("mini-batch {}: a returned row of another mini-batch ('{}', index {}) "
                      "was ignored",
                      batch.mini_batch_index(), item_key_of(row), item_index_of(row)));
      continue;
    }
    if (format.write_rows) append_row(out.rows, batch, pos, row, format);
  }
  out.succeeded = batch.size();
  return out;
}

/// Collects ItemResult<T>s: each outcome is matched to its item by index; items without an
/// outcome fail; rows come out in item order.
template <class Batch, class R>
BatchOutcome collect_item_results(const Batch& batch, R&& result, const RowFormat& format) {
  BatchOutcome out;
  const std::size_t items = batch.size();
  std::vector<std::optional<std::string>> lines(items);
  std::vector<std::optional<std::string>> errors(items);
  const ItemPositions<Batch> positions(batch);
  for (auto&& r : result) {
    const std::size_t pos = positions.find(r.index());
    if (pos >= items) {
      out.warnings.push_back(
          fmt::format("mini-batch {}: result for item '{}' (index {}) that is "
                      "not in the mini-batch was ignored",
                      batch.mini_batch_index(), r.key(), r.index()));
      continue;
    }
    if (lines[pos] || errors[pos]) {
      out.warnings.push_back(fmt::format("mini-batch {}: second result for item '{}' was ignored",
                                         batch.mini_batch_index(), r.key()));
      continue;
    }
    if (r.ok()) {
      std::string line;
      if (format.write_rows) append_row(line, batch, pos, r.value(), format);
      lines[pos] = std::move(line);
    } else {
      errors[pos] = r.error().empty() ? std::string("failed (no reason given)") : r.error();
    }
  }
  for (std::size_t i = 0; i < items; ++i) {
    if (lines[i]) {
      ++out.succeeded;
      out.rows.append(*lines[i]);
    } else {
      out.failed.push_back({item_key_of(batch[i]), errors[i]
                                                       ? std::move(*errors[i])
                                                       : "run returned no result for this item"});
    }
  }
  return out;
}

/// Adds the records a table mini-batch rejected (malformed) to `failed`, which holds the
/// scorer's failures in item order: each goes in its place by dataset index (its line), so
/// that failed_items.csv lists a mini-batch's items in input order, as it does when the
/// mini-batch fails as a whole (TableSlice::for_each_item). Rows grouped by --partition-keys
/// are not in input order: there the malformed records come after the scorer's failures.
template <class Batch>
void add_malformed_in_place(const Batch& batch, std::vector<FailedItem>& failed) {
  const auto& malformed = batch.malformed();
  if (malformed.empty()) return;
  bool in_input_order = true;
  for (std::size_t i = 1; i < batch.size() && in_input_order; ++i)
    in_input_order = item_index_of(batch[i - 1]) < item_index_of(batch[i]);
  std::vector<FailedItem> merged;
  merged.reserve(failed.size() + malformed.size());
  std::size_t next = 0;  // the next malformed record
  auto malformed_before = [&](std::size_t index) {
    for (; next < malformed.size() && malformed[next].index < index; ++next)
      merged.push_back({malformed[next].key, malformed[next].reason});
  };
  std::size_t pos = 0;  // where the next failure may be
  for (FailedItem& f : failed) {
    if (in_input_order) {
      // Failures were added in item order, each under its item's key: found walking forward.
      while (pos < batch.size() && item_key_of(batch[pos]) != f.key)
        ++pos;
      if (pos < batch.size()) malformed_before(item_index_of(batch[pos++]));
    }
    merged.push_back(std::move(f));
  }
  malformed_before(SIZE_MAX);
  failed = std::move(merged);
}

/// The outcome of one attempt. Items the batch itself rejected (malformed records of a
/// table) fail too, among the scorer's own in input order.
template <class Batch, class R>
BatchOutcome collect(const Batch& batch, R&& result, const RowFormat& format) {
  using V = ranges::range_value_t<std::remove_cvref_t<R>>;
  BatchOutcome out;
  if constexpr (is_item_result_v<V>)
    out = collect_item_results(batch, std::forward<R>(result), format);
  else if constexpr (std::is_same_v<std::remove_cvref_t<V>, ranges::range_value_t<Batch>>)
    out = collect_own_rows(batch, std::forward<R>(result), format);  // a filter
  else
    out = collect_elements(batch, std::forward<R>(result), format);
  if constexpr (requires { batch.malformed(); }) add_malformed_in_place(batch, out.failed);
  return out;
}

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
