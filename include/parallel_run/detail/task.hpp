// A task is what the coordinator cuts and a backend carries: a mini-batch descriptor. For
// files it is the FileBatch itself; for tables it is a slice of a file (offsets, not rows),
// which the worker turns into the rows its scorer sees. The coordinator needs of a task only
// its index, its item count and, when the whole mini-batch fails, its item keys.
//
//   task.mini_batch_index(), task.size()
//   for_each_item_key(task, fn)  fn(std::string key) per item, in order
//   for_each_failed_item, for_each_not_processed_key  (below) what failed_items.csv lists
//   materialize(task)            the batch run() receives (may read and parse input)
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/item_result.hpp"

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

template <class Task, class Fn>
void for_each_item_key(const Task& task, Fn&& fn) {
  if constexpr (requires { task.for_each_item_key(fn); })
    task.for_each_item_key(fn);
  else
    for (const auto& item : task)
      fn(item_key_of(item));
}

/// fn(std::string key, std::string_view own_reason) per item of a task that failed as a
/// whole: `own_reason` is the item's own failure when it has one (a malformed record of a
/// table slice keeps its reason), else empty.
template <class Task, class Fn>
void for_each_failed_item(const Task& task, Fn&& fn) {
  if constexpr (requires { task.for_each_item(fn); })
    task.for_each_item(fn);
  else
    for_each_item_key(task, [&](std::string key) { fn(std::move(key), std::string_view{}); });
}

/// fn(std::string key) for a task that never ran: its items, or what stands for them without
/// reading input (a table slice: the range of lines it covers).
template <class Task, class Fn>
void for_each_not_processed_key(const Task& task, Fn&& fn) {
  if constexpr (requires { task.for_each_range_key(fn); })
    task.for_each_range_key(fn);
  else
    for_each_item_key(task, fn);
}

/// The first and last keys a task names without reading input: its item keys for a file
/// batch, the lines it covers for a table slice ("data.csv:120-4501").
template <class Task>
std::pair<std::string, std::string> key_range(const Task& task) {
  std::string first, last;
  bool any = false;
  auto take = [&](std::string key) {
    if (!any) first = key;
    any = true;
    last = std::move(key);
  };
  if constexpr (requires { task.for_each_range_key(take); })
    task.for_each_range_key(take);
  else
    for_each_item_key(task, take);
  return {std::move(first), std::move(last)};
}

/// The batch run() gets for `task`: a reference to the task itself when it already is one.
template <class Task>
decltype(auto) materialize(const Task& task) {
  if constexpr (requires { task.materialize(); })
    return task.materialize();
  else
    return (task);
}

template <class Task>
using materialized_t = std::remove_cvref_t<decltype(materialize(std::declval<const Task&>()))>;

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
