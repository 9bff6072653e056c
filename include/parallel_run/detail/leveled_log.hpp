// What the job's log and the scorer's log share: a file of timestamped lines, opened on the
// first line, and debug/info/warning/error methods filtered by the logging_level.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/config.hpp"
#include "parallel_run/detail/clock.hpp"

#include <fmt/format.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// `text` with its control characters escaped (a line break as \n, ESC as \x1b; a tab is
/// kept), so that a key or a reason can neither break a log line in two nor drive a terminal.
inline std::string escape_control(std::string_view text) {
  auto is_control = [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
  };
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (!is_control(c)) {
      out.push_back(c);
      continue;
    }
    if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
  }
  return out;
}

/// Writes `text` to stderr as it is. Best effort: a closed stderr (piped into `head`, which
/// has exited) loses the text, which the job's log file also holds, and never fails the job
/// (fmt::print would throw).
inline void echo_to_stderr(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stderr);
}

/// "<time> <LEVEL> <message>" lines appended to a file created (with its folder) on first use.
/// A log that cannot be written must not fail the job: a write that fails (a full disk) is
/// taken back to the last whole line, so that the file never ends in the middle of a line or
/// a CSV row, and the next write tries again. lost() says how many writes were taken back.
class LineFile {
 public:
  // "e": O_CLOEXEC (glibc), so programs a scorer starts do not inherit the log.
  LineFile(std::filesystem::path file, const char* mode)
      : file_(std::move(file)), mode_(std::string(mode) + "e") {}
  ~LineFile() {
    if (out_) std::fclose(out_);
  }
  LineFile(const LineFile&) = delete;
  LineFile& operator=(const LineFile&) = delete;

  void append(std::string_view level, std::string_view message) {
    write(fmt::format("{} {} {}\n", timestamp(), level, escape_control(message)));
  }
  /// Appends `text` as it is (whole lines, already escaped or quoted), flushed at once; false
  /// when it was taken back.
  bool write(std::string_view text) {
    if (!out_) {
      std::error_code ec;
      std::filesystem::create_directories(file_.parent_path(), ec);
      out_ = std::fopen(file_.c_str(), mode_.c_str());
      if (!out_) {
        ++lost_;
        if (error_ == 0) error_ = errno;
        return false;
      }
      // Unbuffered: each write reaches the file now or fails now, so that a failed one can be
      // taken back whole (a buffered stream may keep part of it for a later write).
      std::setvbuf(out_, nullptr, _IONBF, 0);
      whole_ = size();  // "a": an earlier session's lines come first
    }
    // fwrite, not fmt::print, which throws when the disk is full.
    if (std::fwrite(text.data(), 1, text.size(), out_) == text.size()) {
      whole_ += static_cast<off_t>(text.size());
      return true;
    }
    ++lost_;
    if (error_ == 0) error_ = errno;
    std::clearerr(out_);
    // Back to the last whole line; where the file cannot be cut, on from where it ends.
    if (::ftruncate(::fileno(out_), whole_) != 0) whole_ = size();
    ::fseeko(out_, whole_, SEEK_SET);
    return false;
  }
  const std::filesystem::path& path() const noexcept { return file_; }
  /// Writes that failed and were taken back (or found no file to go to).
  std::size_t lost() const noexcept { return lost_; }
  /// The errno of the first failure, 0 if none.
  int error() const noexcept { return error_; }

 private:
  off_t size() const {
    struct ::stat st {};
    return ::fstat(::fileno(out_), &st) == 0 ? st.st_size : 0;
  }

  std::filesystem::path file_;
  std::string mode_;
  std::FILE* out_ = nullptr;
  off_t whole_ = 0;  // the file's size after the last write that went through
  std::size_t lost_ = 0;
  int error_ = 0;
};

/// debug/info/warning/error with fmt format strings; Derived::write(level, message) gets the
/// lines the level lets through.
template <class Derived>
class LeveledLog {
 public:
  explicit LeveledLog(LoggingLevel level) : level_(level) {}

  template <class... Args>
  void debug(fmt::format_string<Args...> f, Args&&... args) {
    if (level_ == LoggingLevel::debug) emit("DEBUG", fmt::format(f, std::forward<Args>(args)...));
  }
  template <class... Args>
  void info(fmt::format_string<Args...> f, Args&&... args) {
    if (level_ != LoggingLevel::warning) emit("INFO", fmt::format(f, std::forward<Args>(args)...));
  }
  template <class... Args>
  void warning(fmt::format_string<Args...> f, Args&&... args) {
    emit("WARNING", fmt::format(f, std::forward<Args>(args)...));
  }
  template <class... Args>
  void error(fmt::format_string<Args...> f, Args&&... args) {
    emit("ERROR", fmt::format(f, std::forward<Args>(args)...));
  }

 private:
  void emit(std::string_view level, const std::string& message) {
    static_cast<Derived&>(*this).write(level, message);
  }
  LoggingLevel level_;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
