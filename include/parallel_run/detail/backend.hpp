// The seam between the coordinator and a backend (threads, worker processes, and next many
// nodes). The coordinator cuts mini-batches and decides; a backend runs attempts on workers
// and reports, on the io_context's thread, what became of each: BackendEvents. A backend is
// a class template over the task type that satisfies BackendFor; the coordinator checks it.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/errors.hpp"
#include "parallel_run/detail/batch_outcome.hpp"

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// One attempt of one mini-batch. Ids are unique per job: a retry is a new attempt.
template <class Batch>
struct Attempt {
  std::uint64_t id = 0;
  std::shared_ptr<const Batch> batch;
  std::int64_t number = 1;  // 1-based attempt number of this mini-batch
};

/// How an attempt failed.
enum class FailureKind : std::uint8_t {
  threw,        // run() (or reading the mini-batch) threw
  timed_out,    // past run_invocation_timeout
  worker_lost,  // its worker process died or was killed (a crash, the memory limit, ...)
};

/// What a backend reports to the coordinator, always on the io_context's thread.
struct BackendEvents {
  /// run() returned; the outcome holds the rows, the item accounting and the attempt's times.
  std::function<void(std::uint64_t attempt, BatchOutcome)> result;
  /// run() threw, timed out, or its worker died. `times` holds what is known (a worker that
  /// died reports nothing: the backend fills in what it saw).
  std::function<void(std::uint64_t attempt, std::string reason, FailureKind kind,
                     AttemptTimes times)>
      attempt_failed;
  // `misconfigured`: init threw one of our own errors (an unknown side input, say), which
  // no restart can fix.
  std::function<void(std::size_t worker, std::string reason, bool misconfigured)> init_failed;
  std::function<void(std::string message)> warning;
  // Attempts came back unstarted (a worker process handed them back): once the job stops,
  // the coordinator takes them with take_queued() as not processed.
  std::function<void()> handed_back = [] {};
  /// A worker started the attempt (at `times.wall_start_ns`, on `times.worker`/`times.pid`).
  std::function<void(std::uint64_t attempt, AttemptTimes times)> attempt_started =
      [](std::uint64_t, AttemptTimes) {};
  /// The exception to "on the io_context's thread": called on the worker's own thread, just
  /// before run(), by a backend whose workers share the job's process (it says so with
  /// `calls_before_run`), so that a crash inside run() finds the attempt on record (the
  /// journal). Must be thread-safe; may be empty.
  std::function<void(std::size_t mini_batch, std::int64_t attempt, std::size_t worker)> before_run;
  /// Its pair: `worker`'s run() returned (or threw), called on the worker's thread before the
  /// result is delivered, so that a death that comes later does not name a mini-batch that
  /// had finished. Must be thread-safe; may be empty.
  std::function<void(std::size_t worker)> after_run;
};

/// What the coordinator needs of a backend for tasks of type Task.
template <class B, class Task>
concept BackendFor = requires(B& b, const B& cb, Attempt<Task> a, bool flag) {
  b.start();                     // start the workers
  b.submit(std::move(a), flag);  // queue an attempt (flag: before the others)
  { b.take_queued() } -> std::same_as<std::vector<Attempt<Task>>>;  // not started ones
  b.top_up();               // replace workers lost, if there is work
  b.retire(std::size_t{});  // a worker whose init failed is gone
  b.no_more_work();         // the job stops: nothing new starts
  b.stop(flag);             // end every worker (flag: deliver events)
  { cb.stuck_workers() } -> std::convertible_to<std::size_t>;
  { cb.detached_workers() } -> std::convertible_to<std::size_t>;
};
// Optional: `cb.wanted_in_flight()`, how many mini-batches the coordinator should keep queued
// or running (it keeps at least its own window of 16 a worker): a backend that sends short
// mini-batches ahead asks for more.

/// Whether the exception being handled is one of the library's own errors (a
/// misconfiguration no restart can fix), as opposed to a failure of the scorer's code.
inline bool current_exception_is_ours() {
  try {
    throw;
  } catch (const Error&) {
    return true;
  } catch (...) {
    return false;
  }
}

inline std::string describe_current_exception() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception (not derived from std::exception)";
  }
}

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
