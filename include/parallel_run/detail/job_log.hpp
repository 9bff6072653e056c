// The job's own log: <logs>/master.txt at the configured level, and warnings and errors on
// stderr too, so the real cause of a failure is where the user looks first.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/config.hpp"
#include "parallel_run/detail/clock.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <string_view>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

class JobLog {
 public:
  JobLog(const std::filesystem::path& file, LoggingLevel level, bool echo_warnings = true)
      : level_(level), echo_(echo_warnings) {
    out_ = std::fopen(file.c_str(), "w");
  }
  ~JobLog() {
    if (out_) std::fclose(out_);
  }
  JobLog(const JobLog&) = delete;
  JobLog& operator=(const JobLog&) = delete;

  template <class... Args>
  void debug(fmt::format_string<Args...> f, Args&&... args) {
    if (level_ == LoggingLevel::debug) write("DEBUG", fmt::format(f, std::forward<Args>(args)...));
  }
  template <class... Args>
  void info(fmt::format_string<Args...> f, Args&&... args) {
    if (level_ != LoggingLevel::warning) write("INFO", fmt::format(f, std::forward<Args>(args)...));
  }
  template <class... Args>
  void warning(fmt::format_string<Args...> f, Args&&... args) {
    ++warnings_;
    write("WARNING", fmt::format(f, std::forward<Args>(args)...));
  }
  template <class... Args>
  void error(fmt::format_string<Args...> f, Args&&... args) {
    write("ERROR", fmt::format(f, std::forward<Args>(args)...));
  }
  /// Writes to the log file only.
  void record(std::string_view level, const std::string& message) {
    if (out_) {
      fmt::print(out_, "{} {} {}\n", timestamp(), level, message);
      std::fflush(out_);
    }
  }
  std::size_t warnings() const noexcept { return warnings_; }
  bool enabled(LoggingLevel l) const noexcept {
    return static_cast<int>(l) <= static_cast<int>(level_);
  }

 private:
  void write(std::string_view level, const std::string& message) {
    record(level, message);
    if (!echo_ || (level != "WARNING" && level != "ERROR")) return;
    // A million failing items must not flood the terminal: the log file has them all.
    if (++echoed_ <= max_echoed)
      fmt::print(stderr, "parallel_run: {}: {}\n", level == "ERROR" ? "error" : "warning", message);
    else if (echoed_ == max_echoed + 1)
      fmt::print(stderr, "parallel_run: further warnings and errors are only in logs/master.txt\n");
  }
  LoggingLevel level_;
  bool echo_;
  std::FILE* out_ = nullptr;
  std::size_t warnings_ = 0;
  static constexpr std::size_t max_echoed = 20;
  std::size_t echoed_ = 0;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
