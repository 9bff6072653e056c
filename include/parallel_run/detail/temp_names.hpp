// Names of the job's temporary files (".<name>.partial-<tag>", ".parallel_run_spill-<tag>"),
// where the tag is the process id and the process's start time. A killed job leaves them
// behind; a later job removes those whose process is gone. The pid alone is not enough: pids
// are reused, and a file named after a pid that another process now holds would be kept
// forever.
#pragma once
#include "parallel_run/version.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <charconv>
#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// The start time of process `pid` (clock ticks since boot, /proc/<pid>/stat field 22), or
/// nothing when the process does not exist.
inline std::optional<std::uint64_t> process_start_time(long pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string stat;
  if (!in || !std::getline(in, stat)) return std::nullopt;
  // Field 2, the command, is in parentheses and may hold spaces and ')': skip to the last ')'.
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::size_t pos = close + 2;  // field 3 starts here
  for (int field = 3; field < 22; ++field) {
    pos = stat.find(' ', pos);
    if (pos == std::string::npos) return std::nullopt;
    ++pos;
  }
  std::uint64_t ticks = 0;
  const auto [end, ec] = std::from_chars(stat.data() + pos, stat.data() + stat.size(), ticks);
  if (ec != std::errc()) return std::nullopt;
  return ticks;
}

/// "<pid>-<start time>": names this process's temporary files.
inline const std::string& process_tag() {
  static const std::string tag =
      fmt::format("{}-{}", ::getpid(), process_start_time(::getpid()).value_or(0));
  return tag;
}

/// The tag of a temporary file name of ours, or nothing when `name` is not one:
/// ".<file>.partial-<tag>" or ".parallel_run_spill-<tag>", the tag "<pid>-<start>" (or, as
/// earlier versions named them, "<pid>").
inline std::optional<std::string_view> temporary_tag(std::string_view name) {
  constexpr std::string_view spill = ".parallel_run_spill-", partial = ".partial-";
  std::string_view tag;
  if (name.starts_with(spill)) {
    tag = name.substr(spill.size());
  } else {
    const auto at = name.rfind(partial);
    if (name.empty() || name[0] != '.' || at == std::string_view::npos || at == 0)
      return std::nullopt;
    tag = name.substr(at + partial.size());
  }
  auto digits = [](std::string_view s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
  };
  const auto dash = tag.find('-');
  if (!digits(tag.substr(0, dash)) ||
      (dash != std::string_view::npos && !digits(tag.substr(dash + 1))))
    return std::nullopt;
  return tag;
}

/// True when the process that made a temporary file with this tag no longer runs: its pid
/// is gone, or now belongs to a process started at another time.
inline bool tag_is_stale(std::string_view tag) {
  const auto dash = tag.find('-');
  long pid = 0;
  std::from_chars(tag.data(), tag.data() + (dash == std::string_view::npos ? tag.size() : dash),
                  pid);
  if (pid <= 0) return false;
  if (tag == process_tag()) return false;
  const auto started = process_start_time(pid);
  if (!started) return true;
  if (dash == std::string_view::npos) return false;  // named by pid alone: it runs
  std::uint64_t when = 0;
  std::from_chars(tag.data() + dash + 1, tag.data() + tag.size(), when);
  return when != *started;
}

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
