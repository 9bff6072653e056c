// ItemResult<T>: one outcome per input item (a value or an error), so that a scorer can
// fail single items instead of the whole mini-batch and every failure names its input.
#pragma once
#include "parallel_run/version.hpp"

#include <cstddef>
#include <exception>
#include <functional>
#include <iterator>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE

namespace detail {
template <class Item>
std::string item_key_of(const Item& item) {
  if constexpr (requires { item.key(); })
    return std::string(item.key());
  else
    return std::string(item.key);
}
template <class Item>
std::size_t item_index_of(const Item& item) {
  if constexpr (requires { item.index(); })
    return item.index();
  else
    return item.index;
}
}  // namespace detail

/// The outcome of one item: its key and index (from the entry it came from), and either a
/// value, written as one output row, or an error, written to logs/failed_items.csv.
template <class T>
class ItemResult {
 public:
  using value_type = T;

  template <class Item>
  static ItemResult success(const Item& item, T value) {
    return ItemResult(detail::item_key_of(item), detail::item_index_of(item), std::move(value), {});
  }
  template <class Item>
  static ItemResult failure(const Item& item, std::string reason) {
    return ItemResult(detail::item_key_of(item), detail::item_index_of(item), std::nullopt,
                      std::move(reason));
  }

  bool ok() const noexcept { return value_.has_value(); }
  const std::string& key() const noexcept { return key_; }
  /// The item's 0-based position in the dataset.
  std::size_t index() const noexcept { return index_; }
  /// The value; only when ok().
  const T& value() const { return *value_; }
  /// The reason; only when !ok().
  const std::string& error() const noexcept { return error_; }

 private:
  ItemResult(std::string key, std::size_t index, std::optional<T> value, std::string error)
      : key_(std::move(key)), index_(index), value_(std::move(value)), error_(std::move(error)) {}
  std::string key_;
  std::size_t index_;
  std::optional<T> value_;
  std::string error_;
};

/// A successful item: `parallel_run::ok(entry, value)`.
template <class Item, class T>
ItemResult<std::decay_t<T>> ok(const Item& item, T&& value) {
  return ItemResult<std::decay_t<T>>::success(item, std::forward<T>(value));
}
/// A failed item: `parallel_run::fail<std::string>(entry, "unreadable header")`.
template <class T, class Item>
ItemResult<T> fail(const Item& item, std::string reason) {
  return ItemResult<T>::failure(item, std::move(reason));
}

/// One ItemResult per item of `batch`: `fn(item)`'s value, or, when `fn` throws, a failure of
/// that item alone with the exception's message (so one unreadable row does not fail the
/// whole mini-batch):
///   return parallel_run::map_items(batch, [](const parallel_run::Row& row) {
///     return row.get<double>("x") * 2; });
template <class Batch, class Fn>
auto map_items(const Batch& batch, Fn&& fn) {
  using Item = std::remove_cvref_t<decltype(*std::begin(batch))>;
  using R = std::decay_t<std::invoke_result_t<Fn&, const Item&>>;
  std::vector<ItemResult<R>> out;
  out.reserve(std::size(batch));
  for (const Item& item : batch) {
    try {
      out.push_back(ItemResult<R>::success(item, fn(item)));
    } catch (const std::exception& e) {
      out.push_back(ItemResult<R>::failure(item, e.what()));
    } catch (...) {
      out.push_back(ItemResult<R>::failure(item, "unknown exception (not a std::exception)"));
    }
  }
  return out;
}

template <class T>
struct is_item_result : std::false_type {};
template <class T>
struct is_item_result<ItemResult<T>> : std::true_type {};
template <class T>
inline constexpr bool is_item_result_v = is_item_result<std::remove_cvref_t<T>>::value;

PARALLEL_RUN_END_NAMESPACE
