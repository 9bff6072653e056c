// logs/processed_mini-batches.csv: one row per attempt as it ends, with the service's
// columns, so that a job's history can be read (or loaded into a spreadsheet) while it runs
// and after it died. An observer of the job's events. Rows reach the file in groups: at most
// a quarter second after the first of them while attempts keep ending, at the job's progress
// events (every 2 s) when they do not, and at its end; a row a write cost the job's thread,
// which hands the workers their mini-batches, 2,000 system calls in the small-files run.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/observer.hpp"
#include "parallel_run/detail/clock.hpp"
#include "parallel_run/detail/leveled_log.hpp"
#include "parallel_run/detail/quote.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iterator>
#include <string>
#include <string_view>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// The kind of failure, for grouping: "timeout", "crash", the library's own error code
/// ("parallel_run.input", ...) or "user_error" (an exception of the scorer's code).
inline std::string error_category(AttemptStatus status, std::string_view reason) {
  if (status == AttemptStatus::timed_out) return "timeout";
  if (status == AttemptStatus::crashed) return "crash";
  if (status != AttemptStatus::failed) return "";
  // Our own errors say "[parallel_run.<code>] ..." (see errors.hpp).
  if (reason.starts_with("[parallel_run.")) {
    const auto end = reason.find(']');
    if (end != std::string_view::npos) return std::string(reason.substr(1, end - 1));
  }
  return "user_error";
}

/// "<host>/process-<n>/<pid>": the worker, as the log folder names it.
inline std::string process_name(const AttemptInfo& a) {
  return fmt::format("{}/process-{}/{}", a.host, a.worker, a.pid);
}

class ProcessedLog final : public JobObserver {
 public:
  static constexpr std::string_view header =
      "Mini-batch Id,Picked Count,Process,Start Time,Total,Succeeded,Failed,Elapsed Seconds,"
      "Process Seconds,Run Method Seconds,Status,Error Category,Error Message,"
      "Mini-batch Detail\n";

  /// `warn`: told, at the job's end, of rows that could not be written (a full disk).
  explicit ProcessedLog(std::filesystem::path file,
                        std::function<void(const std::string&)> warn = {})
      : file_(std::move(file), "w"), warn_(std::move(warn)) {
    file_.write(header);
  }
  ProcessedLog(const ProcessedLog&) = delete;
  ProcessedLog& operator=(const ProcessedLog&) = delete;
  ~ProcessedLog() override { flush(); }

  void attempt_ended(const AttemptInfo& a) override {
    const auto now = std::chrono::steady_clock::now();
    if (rows_.empty()) first_row_ = now;
    std::string& row = rows_;  // appended to the rows that wait
    auto out = std::back_inserter(row);
    fmt::format_to(out, "{},{},", a.mini_batch.index, a.attempt);
    append_csv_field(row, process_name(a));
    fmt::format_to(out, ",{},{},{},{},{:.3f},", timestamp(a.start), a.items, a.succeeded, a.failed,
                   a.elapsed_seconds());
    // Unknown times are left empty: a 0.000 would read as measured.
    if (a.times_measured())
      fmt::format_to(out, "{:.3f},{:.3f},", a.cpu_seconds(), a.run_seconds);
    else
      row += ",,";
    fmt::format_to(out, "{},", to_string(a.status));
    append_csv_field(row, error_category(a.status, a.reason));
    row.push_back(',');
    append_csv_field(row, a.reason);
    row.push_back(',');
    append_csv_field(row, mini_batch_detail(a.mini_batch));
    row.push_back('\n');
    ++waiting_;
    if (rows_.size() >= flush_bytes || now - first_row_ >= flush_after) flush();
  }
  void progress(const JobProgress&) override { flush(); }
  void job_ended(const JobResult&) override {
    flush();
    if (rows_lost_ > 0 && warn_)
      warn_(
          fmt::format("{} lacks {} of its rows, which could not be written: {} (each attempt "
                      "is also in trace.json and the workers' logs)",
                      file_.path().string(), rows_lost_, std::strerror(file_.error())));
  }

  /// Writes the rows that wait. A write that fails is taken back whole (LineFile): the file
  /// holds whole rows only, and the job's end says how many are missing.
  void flush() {
    if (rows_.empty()) return;
    if (!file_.write(rows_)) rows_lost_ += waiting_;
    rows_.clear();
    waiting_ = 0;
  }

  /// "first: <key>; last: <key>", or the one key of a mini-batch of one item.
  static std::string mini_batch_detail(const MiniBatchInfo& m) {
    if (m.first_key == m.last_key) return m.first_key;
    return fmt::format("first: {}; last: {}", m.first_key, m.last_key);
  }

 private:
  static constexpr std::size_t flush_bytes = 64 * 1024;
  static constexpr std::chrono::milliseconds flush_after{250};
  LineFile file_;
  std::function<void(const std::string&)> warn_;
  std::string rows_;         // rows not yet written
  std::size_t waiting_ = 0;  // how many
  std::size_t rows_lost_ = 0;
  std::chrono::steady_clock::time_point first_row_;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
