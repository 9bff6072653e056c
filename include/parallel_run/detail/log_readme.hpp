// logs/readme.txt: what each file of the log folder holds, written as a job starts, so that
// a log folder found on a disk months later explains itself.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/detail/atomic_file.hpp"
#include "parallel_run/detail/job_files.hpp"

#include <string_view>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

inline constexpr std::string_view log_readme_text =
    R"(This folder is the record of one parallel_run job (a new run replaces it).
Open first: overview.txt, then master.txt.

overview.txt       Where the job stands, rewritten every few seconds and at its end:
                   mini-batches created, started and processed, items, elapsed time, rate,
                   time left; then the result, and on failure the reason, the first failed
                   items and the command that reruns the mini-batch of the first failed item alone.
master.txt         The job's log: settings (two lines), the command line, warnings, errors,
                   the summary.
job_result.txt     The summary line, and the reason when the job failed.
job_error.txt      Written when anything failed: failures grouped by category (timeout,
                   crash, user_error, item_failed, not_processed, input_failed,
                   failed_in_earlier_run, parallel_run.<code>) with counts and the
                   first examples.
failed_items.csv   Every item that did not succeed: key, mini_batch, attempts, reason.
skipped_inputs.csv Input entries that were not read (symbolic links to folders, FIFOs,
                   devices, dangling links, the job's own files), with the reason.
processed_mini-batches.csv
                   One row per attempt as it ended: Mini-batch Id, Picked Count (the attempt
                   number), Process (<host>/process-<n>/<pid>), Start Time (UTC), Total,
                   Succeeded, Failed (items), Elapsed Seconds (wall), Process Seconds (CPU
                   of the worker: its thread, or its process), Run Method Seconds (inside
                   run(); these two are empty when the attempt timed out or crashed), Status (succeeded, failed, timed_out, crashed), Error Category,
                   Error Message, Mini-batch Detail (its first and last item keys).
                   Rows are written in groups, within a quarter second of the attempt's
                   end (2 s when few attempts end), so a killed job may lack its last ones.
metrics.csv        Metrics the scorer logged with Context::log_metric, per worker (absent
                   when it logged none).
report.html        The run as one page to open in a browser (nothing is fetched): the
                   summary (the numbers of job_result.txt), a timeline with a lane per
                   worker and a bar per attempt, throughput and progress over time, CPU and
                   memory from performance/, failures by category, the slowest attempts,
                   the settings. Rewritten every few seconds while the job runs.
trace.json         Every attempt in the Chrome trace event format: open it in Perfetto
                   (ui.perfetto.dev) or chrome://tracing. Written at the job's end.
readme.txt         This file: what each file of this folder holds.
worker/<host>/process-<n>.txt
                   One per worker (thread or process): a line as each attempt starts
                   (before run() is called: a crash still names its mini-batch and items)
                   and as it ends, with host, pid, items, succeeded, start1/end1 (wall
                   clock), start2/end2 (the worker's CPU seconds). An end line is written
                   with the next start line, or when the worker waits for work.
user/<host>/worker-<n>.txt
                   What the scorer of worker n logged with ctx.log().
user/stdout/<host>/process-<n>.txt
                   Process backend: everything worker process n printed, stdout and stderr
                   in one file, in the order printed (a crash's reason quotes its last
                   lines).
performance/<host>/process_resource_monitor_<host>_<pid>.csv
                   One per process (the job's own, and each worker process): a row every
                   resource_monitor_interval seconds and at the end: timestamp (UTC), pid,
                   cpu_percent (of one core, since the previous row; empty in the first),
                   rss_bytes, threads, read_bytes, write_bytes (disk I/O; empty when
                   /proc/<pid>/io cannot be read).
performance/<host>/sys_resource_monitor_<host>.csv
                   The machine, at the same times: timestamp, cpu_percent (of all cores),
                   memory_total_bytes, memory_available_bytes, memory_used_bytes,
                   disk_read_bytes, disk_written_bytes (whole disks, since boot),
                   network_received_bytes, network_sent_bytes (all interfaces but lo, since
                   boot).
)";

/// Writes readme.txt into the job's log folder (a log folder that cannot take it is
/// reported by the job's other files).
inline void write_log_readme(const JobFiles& files) {
  try {
    AtomicFile f(files.readme());
    f.write(log_readme_text);
    f.commit(false);
  } catch (const std::exception&) {
  }
}

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
