// The log folder's record: the library's own observers of a job, one file (or display) each,
// in the order they are called. A new file of the log folder is a new observer added here.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/config.hpp"
#include "parallel_run/detail/error_digest.hpp"
#include "parallel_run/detail/job_files.hpp"
#include "parallel_run/detail/job_log.hpp"
#include "parallel_run/detail/log_readme.hpp"
#include "parallel_run/detail/observer_list.hpp"
#include "parallel_run/detail/overview_file.hpp"
#include "parallel_run/detail/processed_log.hpp"
#include "parallel_run/detail/progress_display.hpp"
#include "parallel_run/detail/resource_monitor.hpp"
#include "parallel_run/detail/run_report.hpp"
#include "parallel_run/detail/trace_file.hpp"

#include <memory>
#include <string>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// Writes the log folder's README and attaches its observers to `observers`; `digest` (the
/// first failures, which the job's result quotes) is one of them. `log` outlives the job.
inline void add_log_record(ObserverList& observers, const Config& cfg, const JobFiles& files,
                           JobLog& log, const std::shared_ptr<ErrorDigest>& digest) {
  write_log_readme(files);
  // A file of the record that cannot be written (a full disk) is said in the job's log.
  auto warn = [&log](const std::string& warning) { log.warning("{}", warning); };
  observers.add(std::make_shared<OverviewFile>(files.overview(), warn));
  observers.add(std::make_shared<ProcessedLog>(files.processed_mini_batches(), warn));
  observers.add(std::make_shared<ResourceMonitor>(warn));  // logs/performance, its own thread
  observers.add(digest);
  observers.add(std::make_shared<TraceFile>(files.trace(), warn));
  // After the resource monitor (its last samples are written when the report reads them) and
  // the digest (whose categories it shows).
  auto report = std::make_shared<RunReport>(files, digest);
  report->on_unwritten(warn);
  observers.add(report);
  auto progress = std::make_shared<ProgressDisplay>(
      cfg.progress, cfg.logging_level, [&log](const std::string& line) { log.info("{}", line); });
  if (progress->mode() != ProgressMode::none) {
    observers.add(progress);
    log.set_before_echo([progress] { progress->clear_line(); });
  }
}

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
