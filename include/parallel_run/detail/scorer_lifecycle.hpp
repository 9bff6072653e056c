// The scorer as a worker drives it, whatever its type: made by the user's factory, init()
// once, one attempt per mini-batch (run() and its elements collected into rows), shutdown()
// once. Thread workers and worker processes both hold a WorkerScorer<Batch>, so the
// coordinator and both backends are compiled once per batch type (FileBatch, TableBatch)
// rather than once per scorer type: a program with ten scorers compiles the executor twice,
// not twenty times. One virtual call per mini-batch is the price.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/context.hpp"
#include "parallel_run/scorer.hpp"
#include "parallel_run/detail/backend.hpp"
#include "parallel_run/detail/batch_outcome.hpp"
#include "parallel_run/detail/clock.hpp"
#include "parallel_run/detail/node_identity.hpp"
#include "parallel_run/detail/leveled_log.hpp"
#include "parallel_run/detail/task.hpp"

#include <fmt/format.h>

#include <unistd.h>
#include <time.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// One worker's scorer. Every call runs on that worker's thread (or in its process).
template <class Batch>
class WorkerScorer {
 public:
  virtual ~WorkerScorer() = default;
  virtual void init(Context& ctx) = 0;
  /// One attempt: the scorer's run() over `batch`, collected into rows and failed items.
  virtual BatchOutcome run(const Batch& batch, Context& ctx, const RowFormat& format) = 0;
  virtual void shutdown(Context& ctx) = 0;
};

/// Makes one worker's scorer: called once per worker (and once per replacement).
template <class Batch>
using ScorerFactory = std::function<std::unique_ptr<WorkerScorer<Batch>>()>;

template <class Scorer, class Batch>
class ScorerModel final : public WorkerScorer<Batch> {
 public:
  explicit ScorerModel(Scorer scorer) : scorer_(std::move(scorer)) {}
  void init(Context& ctx) override { call_init(scorer_, ctx); }
  BatchOutcome run(const Batch& batch, Context& ctx, const RowFormat& format) override {
    // A table mini-batch whose records are all malformed leaves run() no row: it is not
    // called, and collect() makes each record a failed item as usual.
    if constexpr (requires { batch.malformed(); })
      if (batch.empty()) return collect(batch, std::vector<std::string>{}, format);
    return collect(batch, call_run(scorer_, batch, ctx), format);
  }
  void shutdown(Context& ctx) override { call_shutdown(scorer_, ctx); }

 private:
  Scorer scorer_;
};

/// The factory of a user's scorer type, as the backends take it.
template <class Batch, class Scorer>
ScorerFactory<Batch> erase_scorer(std::function<Scorer()> factory) {
  return [f = std::move(factory)]() -> std::unique_ptr<WorkerScorer<Batch>> {
    return std::make_unique<ScorerModel<Scorer, Batch>>(f());
  };
}

/// How an attempt ended on its worker: an outcome, or the reason run() (or reading the
/// mini-batch) threw; the times either way.
struct AttemptEnd {
  std::optional<BatchOutcome> outcome;
  std::string reason;
  AttemptTimes times;
};

/// Where an attempt starts: this worker (of process `pid`: the worker's own getpid(), asked
/// once, not a system call an attempt), now, and its CPU clock (its thread's on the thread
/// backend, its process's in a worker process, where run() may start threads of its own).
inline AttemptTimes attempt_starts(std::size_t worker, ::pid_t pid, clockid_t cpu_clock) {
  AttemptTimes t;
  t.worker = worker;
  t.pid = pid;
  t.wall_start_ns = wall_now_ns();
  t.cpu_start = cpu_seconds(cpu_clock);
  return t;
}

/// A worker's own record of its attempts (logs/worker/<host>/process-<n>.txt): a line as
/// each starts, on disk before run() is called, so that a crash that takes the whole process
/// down (a segfault on the thread backend) still names the mini-batch and its items; and a
/// line as it ends, with the service's start1/end1 (wall clock) and start2/end2 (the
/// worker's CPU seconds). An end line goes to disk with the next start line, or at flush(),
/// which the worker calls before it waits for work, or at the record's end: one write a
/// mini-batch, not two (each is a system call on the worker's path; half of the small-files
/// run's 4,000 record writes).
class WorkerRecord {
 public:
  /// `write` puts whole lines on disk at once (flushed).
  explicit WorkerRecord(std::function<void(std::string_view)> write) : write_(std::move(write)) {}
  WorkerRecord(const WorkerRecord&) = delete;
  WorkerRecord& operator=(const WorkerRecord&) = delete;
  ~WorkerRecord() {
    try {
      flush();
    } catch (...) {
      // The record's file is gone bad; the job's own logs say what happened.
    }
  }

  /// Writes the end line that waits, if any.
  void flush() {
    if (pending_.empty()) return;
    try {
      write_(pending_);
    } catch (...) {
      pending_.clear();
      throw;
    }
    pending_.clear();
  }
  bool has_pending() const noexcept { return !pending_.empty(); }

  template <class Task>
  void started(const Task& task, std::int64_t attempt, const AttemptTimes& t) {
    std::string keys;
    std::size_t n = 0;
    for_each_not_processed_key(task, [&](const std::string& key) {
      if (++n <= max_keys) {
        if (n > 1) keys += ", ";
        keys += escape_control(key);
      }
    });
    if (n > max_keys) keys += fmt::format(", ... ({} more)", n - max_keys);
    fmt::format_to(std::back_inserter(pending_),
                   "{} mini-batch {} attempt {} started: host {}, pid {}, items {} ({}), "
                   "start1 {}, start2 {:.3f}\n",
                   timestamp(), task.mini_batch_index(), attempt, host_, t.pid, task.size(), keys,
                   timestamp_ns(t.wall_start_ns), t.cpu_start);
    flush();
  }

  void ended(std::size_t mini_batch, std::int64_t attempt, const AttemptEnd& end) {
    const AttemptTimes& t = end.times;
    const std::size_t succeeded = end.outcome ? end.outcome->succeeded : 0;
    fmt::format_to(std::back_inserter(pending_),
                   "{} mini-batch {} attempt {} {}: host {}, pid {}, items {}, succeeded {}, "
                   "start1 {}, end1 {}, start2 {:.3f}, end2 {:.3f}, run() {:.3f} s{}\n",
                   timestamp(), mini_batch, attempt, end.outcome ? "succeeded" : "failed", host_,
                   t.pid, t.items, succeeded, timestamp_ns(t.wall_start_ns),
                   timestamp_ns(t.wall_end_ns), t.cpu_start, t.cpu_end, t.run_seconds,
                   end.outcome ? "" : ": " + escape_control(end.reason));
  }

 private:
  static constexpr std::size_t max_keys = 20;
  std::function<void(std::string_view)> write_;
  std::string host_ = node_name();
  std::string pending_;  // an end line not yet written
};

/// Runs one attempt on the calling worker: reads the task's batch (a table slice is parsed
/// here), calls run(), collects its rows, and says what it threw. Both backends call it.
/// `record` (may be null) hears of its start before run() is called, and of its end.
template <class Task>
AttemptEnd run_attempt(WorkerScorer<materialized_t<Task>>& scorer, const Task& task, Context& ctx,
                       const RowFormat& format, AttemptTimes times, clockid_t cpu_clock,
                       std::int64_t attempt = 1, WorkerRecord* record = nullptr) {
  if (record) record->started(task, attempt, times);
  AttemptEnd end;
  try {
    decltype(auto) batch = materialize(task);
    times.items = batch.size();
    const auto run_start = std::chrono::steady_clock::now();
    try {
      end.outcome = scorer.run(batch, ctx, format);
    } catch (...) {
      times.run_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
      throw;
    }
    times.run_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
  } catch (...) {
    end.outcome.reset();
    end.reason = describe_current_exception();
  }
  times.wall_end_ns = wall_now_ns();
  times.cpu_end = cpu_seconds(cpu_clock);
  end.times = times;
  if (end.outcome) end.outcome->times = times;
  if (record) record->ended(task.mini_batch_index(), attempt, end);
  return end;
}

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
