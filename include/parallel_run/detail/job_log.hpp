// The job's own log: <logs>/master.txt at the configured level, and warnings and errors on
// stderr too, so the real cause of a failure is where the user looks first.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/config.hpp"
#include "parallel_run/detail/leveled_log.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <string_view>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

class JobLog : public LeveledLog<JobLog> {
 public:
  JobLog(std::filesystem::path file, LoggingLevel level, bool echo_warnings = true)
      : LeveledLog(level), file_(std::move(file), "w"), echo_(echo_warnings) {}

  /// Writes to the log file only, whatever the level.
  void record(std::string_view level, const std::string& message) { file_.append(level, message); }
  std::size_t warnings() const noexcept { return warnings_; }
  /// Called before a line is echoed to stderr (the live progress line wipes itself).
  void set_before_echo(std::function<void()> f) { before_echo_ = std::move(f); }

 private:
  friend class LeveledLog<JobLog>;
  void write(std::string_view level, const std::string& message) {
    record(level, message);
    if (level == "WARNING") ++warnings_;
    if (!echo_ || (level != "WARNING" && level != "ERROR")) return;
    if (before_echo_ && echoed_ <= max_echoed) before_echo_();
    // A million failing items must not flood the terminal: the log file has them all.
    if (++echoed_ <= max_echoed)
      echo_to_stderr(fmt::format("parallel_run: {}: {}\n", level == "ERROR" ? "error" : "warning",
                                 escape_control(message)));
    else if (echoed_ == max_echoed + 1)
      echo_to_stderr("parallel_run: further warnings and errors are only in logs/master.txt\n");
  }
  LineFile file_;
  bool echo_;
  std::function<void()> before_echo_;
  std::size_t warnings_ = 0;
  static constexpr std::size_t max_echoed = 20;
  std::size_t echoed_ = 0;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
