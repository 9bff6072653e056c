// JobObserver: the events of a job, as they happen. The log folder's files are written by
// observers of the library's own; attach yours with ParallelRun::add_observer() to export a
// metric per mini-batch, feed a dashboard, or keep a record of your own.
//
//   struct Timings : parallel_run::JobObserver {
//     void attempt_ended(const parallel_run::AttemptInfo& a) override {
//       fmt::print("mini-batch {}: {:.3f} s in run()\n", a.mini_batch, a.run_seconds);
//     }
//   };
//   job.add_observer(std::make_shared<Timings>());
//
// Every call comes from the job's coordinating thread, one at a time, in the order the
// coordinator learns of the events: an observer needs no lock, and should be quick (the
// coordinator hands out work meanwhile). An observer that throws is reported as a warning
// and called no more; the job goes on.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/config.hpp"
#include "parallel_run/job_result.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE

/// The job as it starts.
struct JobInfo {
  const Config* config = nullptr;  // the settings in effect
  std::string host;                // this machine's host name
  std::int64_t pid = 0;            // the coordinating process
  std::chrono::system_clock::time_point start;
  std::filesystem::path log_dir;
};

/// A mini-batch, as the coordinator cut it.
struct MiniBatchInfo {
  std::size_t index = 0;  // 0-based, in input order
  /// Its items; for a table slice not read yet, 0 (rows are counted as a worker reads them).
  std::size_t items = 0;
  /// Its first and last item keys ("<file>:<line>" for table rows); a table slice not read
  /// yet names the lines it covers ("data.csv:120-4501").
  std::string first_key, last_key;
  /// The input bytes it covers: a table slice's length; 0 for files (counted by items).
  std::uint64_t bytes = 0;
};

/// How an attempt ended.
enum class AttemptStatus {
  running,    // attempt_started: not ended yet
  succeeded,  // run() returned (some items may have failed on their own)
  failed,     // run() threw (or its mini-batch could not be read)
  timed_out,  // past run_invocation_timeout
  crashed,    // its worker process died or was killed (a signal, the memory limit, ...)
};

inline const char* to_string(AttemptStatus s) {
  switch (s) {
    case AttemptStatus::running:
      return "running";
    case AttemptStatus::succeeded:
      return "succeeded";
    case AttemptStatus::failed:
      return "failed";
    case AttemptStatus::timed_out:
      return "timed_out";
    case AttemptStatus::crashed:
      return "crashed";
  }
  return "unknown";
}

/// An item that failed on its own inside a mini-batch that ran (an ItemResult error, a
/// malformed record).
struct FailedItemInfo {
  std::string key;
  std::string reason;
};

/// One attempt of one mini-batch: where and when it ran and what became of it.
struct AttemptInfo {
  MiniBatchInfo mini_batch;
  std::int64_t attempt = 1;  // 1-based; run_max_try at most
  std::size_t worker = 0;    // the worker's index (a replacement gets a new one)
  std::int64_t pid = 0;      // the worker's process (the job's own on the thread backend)
  std::string host;
  /// Wall-clock start and end; end == start while running.
  std::chrono::system_clock::time_point start, end;
  /// The worker's CPU seconds at start and end: its thread's on the thread backend, its
  /// process's on the process backend (0 when its worker died before it could say).
  double cpu_start = 0, cpu_end = 0;
  double run_seconds = 0;  // inside the scorer's run()
  std::size_t items = 0;   // items of the mini-batch, once read
  std::size_t succeeded = 0;
  // Items failed: on their own (ItemResult, malformed records) when the attempt succeeded;
  // all of them when it failed, timed out or crashed.
  std::size_t failed = 0;
  // The items that failed on their own, in order (empty for an attempt that failed whole).
  std::vector<FailedItemInfo> failed_items;
  AttemptStatus status = AttemptStatus::running;
  std::string reason;  // why it failed or timed out
  /// No retry follows: this attempt decides the mini-batch.
  bool last = false;

  double elapsed_seconds() const { return std::chrono::duration<double>(end - start).count(); }
  double cpu_seconds() const { return cpu_end - cpu_start; }
  /// Whether run_seconds and cpu_seconds were measured: not when the attempt timed out or its
  /// worker died, since the worker could not say (they are 0 then).
  bool times_measured() const {
    return status != AttemptStatus::timed_out && status != AttemptStatus::crashed;
  }
};

/// What became of a mini-batch in the end.
enum class MiniBatchStatus {
  succeeded,      // run() returned
  failed,         // every attempt failed
  not_processed,  // the job stopped before it ran
};

inline const char* to_string(MiniBatchStatus s) {
  switch (s) {
    case MiniBatchStatus::succeeded:
      return "succeeded";
    case MiniBatchStatus::failed:
      return "failed";
    case MiniBatchStatus::not_processed:
      return "not_processed";
  }
  return "unknown";
}

struct MiniBatchFinal {
  MiniBatchInfo mini_batch;
  MiniBatchStatus status = MiniBatchStatus::succeeded;
  std::int64_t attempts = 0;
  std::size_t succeeded = 0;  // items
  std::size_t failed = 0;     // items, failed or not processed
  std::string reason;         // why it failed or was not processed
  /// Kept from an earlier run of the same output folder (--resume, --retry-failed): its rows
  /// and failed items come from the journal and it was not run again in this one.
  bool from_journal = false;
  /// With from_journal: the items the earlier run recorded as failed, with their reasons.
  std::vector<FailedItemInfo> failed_items;
};

/// Where the job stands, every few seconds while it runs.
struct JobProgress {
  std::size_t mini_batches_created = 0;
  std::size_t mini_batches_started = 0;  // at least one attempt started
  std::size_t mini_batches_succeeded = 0;
  std::size_t mini_batches_failed = 0;
  std::size_t mini_batches_not_processed = 0;
  std::size_t items_succeeded = 0;
  std::size_t items_failed = 0;
  std::size_t items_not_processed = 0;
  std::size_t attempts_running = 0;
  /// Every mini-batch has been cut: mini_batches_created is the total.
  bool listing_done = false;
  /// Before that, the total once the listing knows it ahead: for files, at most (a folder of
  /// files read whole); for tables, an estimate from the bytes left; 0 while unknown.
  std::size_t mini_batches_expected = 0;
  double elapsed_seconds = 0;

  std::size_t mini_batches_done() const {
    return mini_batches_succeeded + mini_batches_failed + mini_batches_not_processed;
  }
};

/// Override what you need; every default does nothing.
class JobObserver {
 public:
  virtual ~JobObserver() = default;
  virtual void job_started(const JobInfo&) {}
  virtual void mini_batch_created(const MiniBatchInfo&) {}
  virtual void attempt_started(const AttemptInfo&) {}
  virtual void attempt_ended(const AttemptInfo&) {}
  virtual void mini_batch_final(const MiniBatchFinal&) {}
  /// Every few seconds while the job runs, and once as its work ends.
  virtual void progress(const JobProgress&) {}
  /// Once all work is over: the result as returned (its log files are still being closed).
  virtual void job_ended(const JobResult&) {}
};

PARALLEL_RUN_END_NAMESPACE
