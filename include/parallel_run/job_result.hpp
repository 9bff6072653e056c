// JobResult: what a job did, returned to the caller and written to logs/job_result.txt.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/detail/counted.hpp"

#include <fmt/format.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE

/// A failed item, as the first screen names it.
struct FailedItemRecord {
  std::string key;
  std::size_t mini_batch = 0;
  std::string reason;
};

/// An input that named no file to read (a missing list entry, an empty folder): a failed item
/// of no mini-batch. `reason` names the input.
struct FailedInputRecord {
  std::string input;
  std::string reason;
};

struct JobResult {
  /// True when every mini-batch was processed, no threshold was exceeded, at least one item
  /// succeeded (or the input held no item at all) and the output was written.
  bool succeeded = false;
  /// Why the job failed ("error_threshold exceeded: ...", "no item succeeded: ...", "the
  /// output could not be written: ..."); empty on success.
  std::string failure_reason;
  /// The output file could not be written (a full disk): it is absent, the logs are not.
  bool output_error = false;
  /// The job failed on a setting the scorer rejected in init() (e.g. a missing side input):
  /// a usage error, exit status 2 on the command line.
  bool configuration_error = false;
  /// The signal (SIGINT, SIGTERM) that stopped the job, or 0.
  int interrupted_by = 0;
  /// Timed-out worker threads still inside run() when the job returned: they ignored their
  /// stop token and run on detached (a thread cannot be killed).
  std::size_t detached_workers = 0;

  std::size_t items_total = 0;
  std::size_t items_succeeded = 0;
  /// Items of processed mini-batches that failed (see logs/failed_items.csv).
  std::size_t items_failed = 0;
  /// Items of mini-batches never run because the job stopped early.
  std::size_t items_not_processed = 0;

  std::size_t mini_batches_total = 0;
  /// Mini-batches whose run() returned (possibly with some failed items).
  std::size_t mini_batches_succeeded = 0;
  /// Mini-batches whose every attempt failed.
  std::size_t mini_batches_failed = 0;
  std::size_t mini_batches_not_processed = 0;

  /// run() calls that ended (returned, threw or timed out).
  std::size_t attempts = 0;
  /// Attempts after a failed one.
  std::size_t retries = 0;
  /// Attempts that exceeded run_invocation_timeout.
  std::size_t timeouts = 0;
  /// init() calls that threw.
  std::size_t init_failures = 0;
  std::size_t warnings = 0;
  /// Entries of the inputs that were not read (symbolic links to folders, FIFOs, devices,
  /// dangling links, the job's own files), listed in logs/skipped_inputs.csv.
  std::size_t inputs_skipped = 0;
  /// Files whose key an earlier file of the job already had (both were scored and written).
  std::size_t duplicate_keys = 0;
  /// Config::limit in effect (0: none).
  std::size_t limit = 0;
  /// Mini-batches kept from an earlier run of the output folder (--resume, --retry-failed):
  /// their rows and failed items came from the journal; they are counted above as well.
  std::size_t mini_batches_resumed = 0;
  /// Mini-batches the earlier run finished that ran again because their inputs changed since
  /// (or were named another way: another input folder, a file renamed).
  std::size_t mini_batches_inputs_changed = 0;
  /// The job did not run: the finished run in the output folder had the same program,
  /// settings and inputs (Config::allow_reuse), and this is its result; the output and the
  /// logs are that run's, untouched. `reused_run` says when it ended.
  bool reused = false;
  std::string reused_run;

  /// How many failed items (and inputs) a result names: first_failures, first_input_failures.
  static constexpr std::size_t first_failures_kept = 5;
  /// The first items that failed (at most 5, by mini-batch; a mini-batch that failed as a
  /// whole is named by its first item); the whole list is in failed_items_file.
  std::vector<FailedItemRecord> first_failures;
  /// The first inputs that named no file (at most 5, as listed), each a failed item too.
  std::vector<FailedInputRecord> first_input_failures;

  double wall_seconds = 0;
  /// The append_row file; empty for summary_only.
  std::filesystem::path output_file;
  std::filesystem::path failed_items_file;
  std::filesystem::path skipped_inputs_file;
  /// Failures grouped by category, written when anything failed (logs/job_error.txt).
  std::filesystem::path job_error_file;
  std::filesystem::path log_dir;

  /// One line: "succeeded: items 1797/1797 succeeded, 0 failed, ...; mini-batches ...".
  std::string summary() const {
    std::string s = fmt::format(
        "{}: items {}/{} succeeded, {} failed, {} not processed; mini-batches {}/{} succeeded, "
        "{} failed, {} not processed; ",
        succeeded ? "succeeded" : "failed", items_succeeded, items_total, items_failed,
        items_not_processed, mini_batches_succeeded, mini_batches_total, mini_batches_failed,
        mini_batches_not_processed);
    if (reused)  // attempts and time are the earlier run's, in reused_run
      s += "nothing ran: the earlier run's result, reused";
    else
      s += fmt::format("attempts {}, retries {}, timeouts {}; {:.3f} s", attempts, retries,
                       timeouts, wall_seconds);
    if (limit != 0) s += fmt::format("; limit: the first {} items", limit);
    using detail::counted;
    if (mini_batches_resumed != 0)
      s += fmt::format("; {} kept from the earlier run",
                       counted(mini_batches_resumed, "mini-batch"));
    if (mini_batches_inputs_changed != 0)
      s += fmt::format("; {} of the earlier run ran again ({} inputs changed)",
                       counted(mini_batches_inputs_changed, "mini-batch"),
                       mini_batches_inputs_changed == 1 ? "its" : "their");
    if (inputs_skipped != 0)
      s += fmt::format("; {} not read", counted(inputs_skipped, "input entry"));
    if (duplicate_keys != 0) s += fmt::format("; {}", counted(duplicate_keys, "duplicate key"));
    if (output_error)
      s += "; output: none (it could not be written)";
    else if (!output_file.empty())
      s += fmt::format("; output: {}", output_file.string());
    return s;
  }
};

PARALLEL_RUN_END_NAMESPACE
