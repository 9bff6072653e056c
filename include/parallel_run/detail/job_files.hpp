// Every file and folder a job writes, named in one place. The output folder holds the rows
// file and the job's temporaries; the log folder holds the rest (its readme.txt says what
// each file is). A new file of the record is added here, and only here.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/config.hpp"
#include "parallel_run/detail/temp_names.hpp"

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// Also what the input listing never reads, wherever it lies: the log folder (all of it),
/// and in the output folder the output file, `.parallel_run_tmp` and the temporary files
/// (".<name>.partial-<tag>", ".parallel_run_spill-<tag>").
struct JobFiles {
  JobFiles() = default;
  explicit JobFiles(const Config& c) : output_dir(c.output_dir), log_dir(c.effective_log_dir()) {
    if (c.output_action == OutputAction::append_row) output_file_name = c.append_row_file_name;
  }

  std::filesystem::path output_dir;
  std::filesystem::path log_dir;
  /// The append_row file's name; empty with summary_only.
  std::string output_file_name;

  std::filesystem::path output_file() const {
    return output_file_name.empty() ? std::filesystem::path() : output_dir / output_file_name;
  }

  /// Why `name`, an entry of the output folder, is the job's own; empty when it is not.
  std::string output_entry_reason(std::string_view name) const {
    if (!output_file_name.empty() && name == output_file_name) return "the job's output file";
    if (name == ".parallel_run_tmp") return "the job's temporary folder";
    if (name == ".parallel_run_journal") return "the job's journal";
    if (name.starts_with("only-mini-batch-")) return "the folder of a run of one mini-batch";
    if (temporary_tag(name)) return "a temporary file of a job";
    return {};
  }

  // In the output folder: what the job works with and removes at its end.
  std::filesystem::path temp_dir() const { return output_dir / ".parallel_run_tmp"; }
  std::filesystem::path partition_dir() const { return temp_dir() / "partition"; }
  /// What survives the run's process (detail/journal.hpp); kept after the run.
  std::filesystem::path journal_dir() const { return output_dir / ".parallel_run_journal"; }

  // In the log folder.
  std::filesystem::path master() const { return master_in(log_dir); }
  static std::filesystem::path master_in(const std::filesystem::path& log_dir) {
    return log_dir / "master.txt";
  }
  std::filesystem::path readme() const { return log_dir / "readme.txt"; }
  std::filesystem::path overview() const { return log_dir / "overview.txt"; }
  std::filesystem::path job_result() const { return log_dir / "job_result.txt"; }
  std::filesystem::path job_error() const { return log_dir / "job_error.txt"; }
  std::filesystem::path failed_items() const { return log_dir / "failed_items.csv"; }
  std::filesystem::path skipped_inputs() const { return log_dir / "skipped_inputs.csv"; }
  std::filesystem::path processed_mini_batches() const {
    return log_dir / "processed_mini-batches.csv";
  }
  std::filesystem::path metrics() const { return log_dir / "metrics.csv"; }
  /// The run as one self-contained page: summary, timeline, charts, failures.
  std::filesystem::path report() const { return log_dir / "report.html"; }
  /// Every attempt in the Chrome trace event format (Perfetto, chrome://tracing).
  std::filesystem::path trace() const { return log_dir / "trace.json"; }
  /// Each worker's record of its attempts, thread or process: logs/worker/<host>/process-<n>.txt.
  std::filesystem::path worker_dir(const std::string& host) const {
    return log_dir / "worker" / host;
  }
  std::filesystem::path user_dir() const { return log_dir / "user"; }
  /// What worker processes print, stdout and stderr in one file each (so their order is kept):
  /// logs/user/stdout/<host>/process-<n>.txt.
  std::filesystem::path worker_output_dir(const std::string& host) const {
    return user_dir() / "stdout" / host;
  }
  /// The resource monitor's samples of this host: logs/performance/<host>/.
  std::filesystem::path performance_dir(const std::string& host) const {
    return log_dir / "performance" / host;
  }
  /// One process's samples (the coordinating process, or one of its worker processes).
  std::filesystem::path process_resource_monitor(const std::string& host, long long pid) const {
    return performance_dir(host) /
           ("process_resource_monitor_" + host + "_" + std::to_string(pid) + ".csv");
  }
  /// The machine's samples: CPU, memory, disks and network.
  std::filesystem::path sys_resource_monitor(const std::string& host) const {
    return performance_dir(host) / ("sys_resource_monitor_" + host + ".csv");
  }

  /// What a run leaves in the log folder: a new run removes the previous run's first, so that
  /// the folder only ever tells of one run (master.txt is started afresh by its own writer).
  static std::vector<std::string> per_run_log_entries() {
    return {"job_result.txt",
            "job_error.txt",
            "failed_items.csv",
            "skipped_inputs.csv",
            "processed_mini-batches.csv",
            "metrics.csv",
            "overview.txt",
            "readme.txt",
            "report.html",
            "trace.json",
            "user",
            "worker",
            "performance"};
  }
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
