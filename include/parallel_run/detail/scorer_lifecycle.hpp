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
#include "parallel_run/detail/task.hpp"

#include <unistd.h>
#include <time.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
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

/// Where an attempt starts: this worker, now, and its CPU clock (its thread's on the thread
/// backend, its process's in a worker process, where run() may start threads of its own).
inline AttemptTimes attempt_starts(std::size_t worker, clockid_t cpu_clock) {
  AttemptTimes t;
  t.worker = worker;
  t.pid = ::getpid();
  t.wall_start_ns = wall_now_ns();
  t.cpu_start = cpu_seconds(cpu_clock);
  return t;
}

/// Runs one attempt on the calling worker: reads the task's batch (a table slice is parsed
/// here), calls run(), collects its rows, and says what it threw. Both backends call it.
template <class Task>
AttemptEnd run_attempt(WorkerScorer<materialized_t<Task>>& scorer, const Task& task, Context& ctx,
                       const RowFormat& format, AttemptTimes times, clockid_t cpu_clock) {
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
  return end;
}

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
