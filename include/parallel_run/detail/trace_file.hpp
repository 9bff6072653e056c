// logs/trace.json: the job's attempts in the Chrome trace event format, which Perfetto
// (ui.perfetto.dev, "Open trace file") and chrome://tracing open. One complete event
// ("ph":"X", ts and dur in microseconds since the job's start) per attempt, on the lane of
// its worker (pid: the worker's process, tid: the worker's index), with the mini-batch, its
// keys, the attempt, the status and the reason in "args"; metadata events name the lanes.
//
// Memory does not grow with the job: each event is written as its attempt ends, through the
// buffer of an AtomicFile (a hidden temporary beside the target), and the file is closed and
// renamed into place at the job's end, so trace.json is complete or absent. An observer.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/job_result.hpp"
#include "parallel_run/observer.hpp"
#include "parallel_run/detail/atomic_file.hpp"
#include "parallel_run/detail/clock.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// Appends `text` as a JSON string, quotes included: `"`, `\` and control characters escaped
/// (RFC 8259); bytes of 0x80 and above are copied (the keys and reasons are UTF-8 text).
inline void append_json_string(std::string& out, std::string_view text) {
  out.push_back('"');
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(c));
        else
          out.push_back(c);
    }
  }
  out.push_back('"');
}

/// Microseconds from `from` to `t` (negative when earlier).
inline std::int64_t micros_since(std::chrono::system_clock::time_point from,
                                 std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t - from).count();
}

class TraceFile final : public JobObserver {
 public:
  /// Lanes named by metadata events, at most (a process-backend job that replaces crashed
  /// workers for hours would otherwise name a million): later lanes keep their numbers only.
  static constexpr std::size_t max_named_lanes = 4096;

  /// `warn`: told at the job's end when the file could not be written (a full disk).
  explicit TraceFile(std::filesystem::path file, std::function<void(const std::string&)> warn = {})
      : target_(std::move(file)), warn_(std::move(warn)) {}

  void job_started(const JobInfo& job) override {
    start_ = job.start;
    job_name_ = job.config != nullptr ? job.config->name : std::string();
    host_ = job.host;
    try {
      file_ = std::make_unique<AtomicFile>(target_);
      file_->write("{\"traceEvents\":[\n");
    } catch (const std::exception& e) {
      file_.reset();  // a log folder that cannot take it: said at the job's end
      error_ = e.what();
    }
  }

  void attempt_ended(const AttemptInfo& a) override {
    if (!file_) return;
    std::string e;
    e.reserve(256 + a.reason.size());
    if (events_ > 0) e += ",\n";
    e += "{\"ph\":\"X\",\"cat\":\"attempt\",\"name\":";
    append_json_string(e, fmt::format("mini-batch {}", a.mini_batch.index));
    const std::int64_t ts = micros_since(start_, a.start);
    fmt::format_to(std::back_inserter(e), ",\"ts\":{},\"dur\":{},\"pid\":{},\"tid\":{},", ts,
                   std::max<std::int64_t>(0, micros_since(a.start, a.end)), a.pid, a.worker);
    fmt::format_to(std::back_inserter(e),
                   "\"args\":{{\"mini_batch\":{},\"attempt\":{},\"status\":\"{}\",\"last\":{},"
                   "\"items\":{},\"succeeded\":{},\"failed\":{},",
                   a.mini_batch.index, a.attempt, to_string(a.status), a.last ? "true" : "false",
                   a.items, a.succeeded, a.failed);
    if (a.times_measured())  // else unknown: null, not a 0 that reads as measured
      fmt::format_to(std::back_inserter(e), "\"run_seconds\":{:.6f},\"cpu_seconds\":{:.6f},",
                     a.run_seconds, a.cpu_seconds());
    else
      e += "\"run_seconds\":null,\"cpu_seconds\":null,";
    e += "\"first_key\":";
    append_json_string(e, a.mini_batch.first_key);
    e += ",\"last_key\":";
    append_json_string(e, a.mini_batch.last_key);
    e += ",\"host\":";
    append_json_string(e, a.host);
    if (!a.reason.empty()) {
      e += ",\"reason\":";
      append_json_string(e, a.reason);
    }
    e += "}}";
    file_->write(e);
    ++events_;
    if (lanes_.size() < max_named_lanes) lanes_.emplace(a.pid, a.worker, a.host);
  }

  void job_ended(const JobResult& r) override {
    if (!file_) {
      if (!error_.empty() && warn_)
        warn_(fmt::format("{} could not be written: {}", target_.string(), error_));
      return;
    }
    std::string e;
    // Metadata: each process and each worker's lane by name, in the order of their numbers.
    std::set<std::pair<std::int64_t, std::string>> processes;
    for (const auto& [pid, worker, host] : lanes_)
      processes.emplace(pid, host);
    for (const auto& [pid, host] : processes) {
      if (events_ > 0 || !e.empty()) e += ",\n";
      fmt::format_to(std::back_inserter(e),
                     "{{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":{},\"tid\":0,\"args\":{{"
                     "\"name\":",
                     pid);
      append_json_string(e, fmt::format("{} process {}", host, pid));
      e += "}}";
    }
    for (const auto& [pid, worker, host] : lanes_) {
      e += ",\n";
      fmt::format_to(std::back_inserter(e),
                     "{{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":{},\"tid\":{},\"args\":{{"
                     "\"name\":",
                     pid, worker);
      append_json_string(e, fmt::format("worker {}", worker));
      e += "}}";
    }
    e += "\n],\"displayTimeUnit\":\"ms\",\"otherData\":{\"job\":";
    append_json_string(e, job_name_);
    e += ",\"host\":";
    append_json_string(e, host_);
    e += ",\"start_utc\":";
    append_json_string(e, timestamp(start_));
    e += ",\"result\":";
    append_json_string(e, r.summary());
    fmt::format_to(std::back_inserter(e), ",\"attempts\":{}}}}}\n", events_);
    file_->write(e);
    try {
      file_->commit(false);
    } catch (const std::exception& failure) {
      // A full disk: trace.json is absent (AtomicFile), and the job's log says why.
      if (warn_)
        warn_(fmt::format("{} could not be written: {}", target_.string(), failure.what()));
    }
    file_.reset();
  }

  /// Attempt events written so far.
  std::size_t events() const noexcept { return events_; }

 private:
  std::filesystem::path target_;
  std::function<void(const std::string&)> warn_;
  std::string error_;  // why the file could not be started
  std::unique_ptr<AtomicFile> file_;
  std::chrono::system_clock::time_point start_;
  std::string job_name_, host_;
  std::size_t events_ = 0;
  std::set<std::tuple<std::int64_t, std::size_t, std::string>> lanes_;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
