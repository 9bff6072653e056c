// Work split over the calling thread and one more, for the checks of many inputs' ctimes that
// a resume or a reuse makes before it runs anything (a stat per input, most of what a kept
// mini-batch costs), when the cores would otherwise wait.
#pragma once
#include "parallel_run/version.hpp"

#include <cstddef>
#include <exception>
#include <optional>
#include <system_error>
#include <thread>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// Calls work(0, 2) on this thread and work(1, 2) on a second one (the items with even and
/// odd positions) when there are at least `min_items` of `items` and more than one core;
/// otherwise work(0, 1) here. Returns when both are done; rethrows what either threw.
template <class Work>
void on_two_threads(std::size_t items, std::size_t min_items, Work&& work) {
  std::optional<std::thread> other;
  std::exception_ptr other_failed;
  if (items >= min_items && std::thread::hardware_concurrency() > 1) try {
      other.emplace([&] {
        try {
          work(std::size_t{1}, std::size_t{2});
        } catch (...) {
          other_failed = std::current_exception();
        }
      });
    } catch (const std::system_error&) {
      // No thread to be had: this one does it all.
    }
  try {
    work(std::size_t{0}, other ? std::size_t{2} : std::size_t{1});
  } catch (...) {
    if (other) other->join();
    throw;
  }
  if (other) other->join();
  if (other_failed) std::rethrow_exception(other_failed);
}

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
