// Wall-clock timestamps for logs and a host name for log folder names.
#pragma once
#include "parallel_run/version.hpp"

#include <fmt/format.h>

#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// "2026-11-21 22:10:00.123" in UTC.
inline std::string timestamp(
    std::chrono::system_clock::time_point t = std::chrono::system_clock::now()) {
  auto secs = std::chrono::system_clock::to_time_t(t);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

/// The system clock in nanoseconds since the epoch: comparable across processes.
inline std::int64_t wall_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// CPU seconds used so far by the calling thread (CLOCK_THREAD_CPUTIME_ID) or by this
/// process (CLOCK_PROCESS_CPUTIME_ID).
inline double cpu_seconds(clockid_t clock) {
  timespec t{};
  if (::clock_gettime(clock, &t) != 0) return 0;
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

/// "2026-11-21 22:10:00.123" in UTC, from wall_now_ns().
inline std::string timestamp_ns(std::int64_t ns) {
  return timestamp(std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(ns))));
}

/// This machine's host name, or "localhost".
inline std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
