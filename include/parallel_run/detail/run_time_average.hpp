// How long a mini-batch's run takes, as a moving average of the attempts' wall times: what a
// backend sizes its queues by, so that short mini-batches are sent ahead many at a time (a
// worker never waits a round trip for its next one) and long ones one at a time (a worker
// that falls idle finds them still unstarted elsewhere).
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/detail/batch_outcome.hpp"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

class RunTimeAverage {
 public:
  /// An attempt's times as its worker reports them (a clock that went back is ignored).
  void add(const AttemptTimes& t) {
    if (t.wall_end_ns <= t.wall_start_ns) return;
    const std::int64_t ns = t.wall_end_ns - t.wall_start_ns;
    ns_ = ns_ <= 0 ? ns : (7 * ns_ + ns) / 8;
  }

  /// How many mini-batches of the average length take about `work` to run, within
  /// [low, high]; `low` until an attempt has been timed.
  std::size_t count_in(std::chrono::nanoseconds work, std::size_t low, std::size_t high) const {
    if (ns_ <= 0) return low;
    return std::clamp<std::size_t>(static_cast<std::size_t>(work.count() / ns_), low, high);
  }

 private:
  std::int64_t ns_ = 0;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
