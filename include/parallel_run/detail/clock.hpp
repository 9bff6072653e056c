// Wall-clock timestamps for logs and a host name for log folder names.
#pragma once
#include "parallel_run/version.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <chrono>
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

/// This machine's host name, or "localhost".
inline std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
