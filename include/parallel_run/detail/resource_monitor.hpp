// logs/performance/<host>/: what the job's processes and its machine used while it ran, one
// CSV row per sample every resource_monitor_interval seconds (0: off), as the service's
// resource monitor writes them:
//
//   process_resource_monitor_<host>_<pid>.csv  one per process: the coordinating process and
//       its direct children (the process backend's workers; found by scanning /proc for
//       ppid == getpid()): timestamp,pid,cpu_percent,rss_bytes,threads,read_bytes,write_bytes
//   sys_resource_monitor_<host>.csv  the machine: timestamp,cpu_percent,memory_total_bytes,
//       memory_available_bytes,memory_used_bytes,disk_read_bytes,disk_written_bytes,
//       network_received_bytes,network_sent_bytes
//
// An observer of the job: a thread of its own samples from job_started to job_ended (a last
// sample as the job ends), never the coordinator's thread. Each row is one write(2) to a file
// opened O_APPEND | O_CLOEXEC, so a killed job leaves whole rows. A sample that cannot be
// written (a full disk) stops the sampling; the coordinator's thread reports it once, as a
// warning, at its next progress() or at job_ended(). The job never fails for it.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/config.hpp"
#include "parallel_run/job_result.hpp"
#include "parallel_run/observer.hpp"
#include "parallel_run/detail/clock.hpp"
#include "parallel_run/detail/node_identity.hpp"
#include "parallel_run/detail/job_files.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

namespace proc {

/// The whole of a small file of /proc or /sys, or nothing when it cannot be read.
inline std::optional<std::string> read_file(const char* path) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return text;
}

inline std::optional<std::string> read_file(const std::string& path) {
  return read_file(path.c_str());
}

/// The unsigned number at the start of `text` (after spaces), and `text` moved past it.
inline std::optional<std::uint64_t> next_number(std::string_view& text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc()) return std::nullopt;
  text.remove_prefix(static_cast<std::size_t>(end - text.data()));
  return value;
}

/// The fields of /proc/<pid>/stat this monitor reads.
struct ProcessStat {
  char state = '?';
  std::int64_t ppid = 0;
  std::uint64_t cpu_ticks = 0;  // utime + stime
  std::uint64_t threads = 0;
  std::uint64_t start_time = 0;  // clock ticks since boot: tells a reused pid apart
};

/// Parses /proc/<pid>/stat's text; nothing when it is not one.
inline std::optional<ProcessStat> parse_stat(std::string_view text) {
  // Field 2, the command, is in parentheses and may hold spaces and ')': skip to the last ')'.
  const auto close = text.rfind(')');
  if (close == std::string_view::npos || close + 2 >= text.size()) return std::nullopt;
  text.remove_prefix(close + 2);  // field 3, the state
  ProcessStat s;
  s.state = text.front();
  text.remove_prefix(1);
  std::uint64_t fields[19] = {};  // fields 4 .. 22 of stat(5), field n at [n - 4]
  for (int field = 4; field <= 22; ++field) {
    const auto v = next_number(text);
    // Priority and nice (fields 18, 19) may be negative: read as 0, never used here.
    if (!v) {
      while (!text.empty() && text.front() == ' ')
        text.remove_prefix(1);
      if (!text.empty() && text.front() == '-') {
        text.remove_prefix(1);
        if (!next_number(text)) return std::nullopt;
        fields[field - 4] = 0;
        continue;
      }
      return std::nullopt;
    }
    fields[field - 4] = *v;
  }
  s.ppid = static_cast<std::int64_t>(fields[4 - 4]);
  s.cpu_ticks = fields[14 - 4] + fields[15 - 4];
  s.threads = fields[20 - 4];
  s.start_time = fields[22 - 4];
  return s;
}

inline std::optional<ProcessStat> process_stat(std::int64_t pid) {
  const auto text = read_file(fmt::format("/proc/{}/stat", pid));
  if (!text) return std::nullopt;
  return parse_stat(*text);
}

/// Resident memory in bytes (/proc/<pid>/statm, pages).
inline std::optional<std::uint64_t> resident_bytes(std::int64_t pid) {
  const auto text = read_file(fmt::format("/proc/{}/statm", pid));
  if (!text) return std::nullopt;
  std::string_view t = *text;
  if (!next_number(t)) return std::nullopt;  // size
  const auto resident = next_number(t);
  if (!resident) return std::nullopt;
  return *resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

/// The value of the line "<name><sep> <number>..." of a /proc file, or nothing.
inline std::optional<std::uint64_t> keyed_value(std::string_view text, std::string_view name) {
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(at, end - at);
    at = end + 1;
    if (line.size() > name.size() && line.starts_with(name) && line[name.size()] == ':') {
      line.remove_prefix(name.size() + 1);
      return next_number(line);
    }
  }
  return std::nullopt;
}

/// read_bytes and write_bytes of /proc/<pid>/io (unreadable without the right to trace it).
struct ProcessIo {
  std::uint64_t read_bytes = 0, write_bytes = 0;
};
inline std::optional<ProcessIo> process_io(std::int64_t pid) {
  const auto text = read_file(fmt::format("/proc/{}/io", pid));
  if (!text) return std::nullopt;
  const auto r = keyed_value(*text, "read_bytes");
  const auto w = keyed_value(*text, "write_bytes");
  if (!r || !w) return std::nullopt;
  return ProcessIo{*r, *w};
}

/// The live (not zombie) direct children of process `parent`, from every /proc/<pid>/stat.
inline std::vector<std::int64_t> child_processes(std::int64_t parent) {
  std::vector<std::int64_t> children;
  std::error_code ec;
  for (std::filesystem::directory_iterator it("/proc", ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::int64_t pid = 0;
    const auto [p, pec] = std::from_chars(name.data(), name.data() + name.size(), pid);
    if (pec != std::errc() || p != name.data() + name.size()) continue;
    const auto s = process_stat(pid);
    if (s && s->ppid == parent && s->state != 'Z' && s->state != 'X') children.push_back(pid);
  }
  return children;
}

/// Busy and all CPU ticks of every core (the first line of /proc/stat).
struct CpuTicks {
  std::uint64_t busy = 0, total = 0;
};
inline std::optional<CpuTicks> cpu_ticks() {
  const auto text = read_file("/proc/stat");
  if (!text || !text->starts_with("cpu ")) return std::nullopt;
  std::string_view t = std::string_view(*text).substr(4);
  // user nice system idle iowait irq softirq steal (guest and guest_nice are in user, nice)
  std::uint64_t v[8] = {};
  for (int i = 0; i < 8; ++i) {
    const auto n = next_number(t);
    if (!n) {
      if (i < 4) return std::nullopt;
      break;  // an old kernel: fewer columns
    }
    v[i] = *n;
  }
  CpuTicks c;
  for (auto x : v)
    c.total += x;
  c.busy = c.total - v[3] - v[4];
  return c;
}

struct Memory {
  std::uint64_t total = 0, available = 0;
};
inline std::optional<Memory> memory() {
  const auto text = read_file("/proc/meminfo");
  if (!text) return std::nullopt;
  const auto total = keyed_value(*text, "MemTotal");
  if (!total) return std::nullopt;
  auto available = keyed_value(*text, "MemAvailable");
  if (!available)  // before Linux 3.14
    available = keyed_value(*text, "MemFree").value_or(0) +
                keyed_value(*text, "Buffers").value_or(0) +
                keyed_value(*text, "Cached").value_or(0);
  return Memory{*total * 1024, std::min(*available, *total) * 1024};
}

/// Whether /proc/diskstats's `name` is a whole disk: a block device of /sys/block backed by a
/// device (so neither a partition, nor loop, ram, zram, device-mapper or md, which would
/// count the same bytes twice). Without /sys, by name.
inline bool whole_disk(std::string_view name) {
  for (std::string_view virtual_device : {"loop", "ram", "zram"})
    if (name.starts_with(virtual_device)) return false;
  std::error_code ec;
  if (std::filesystem::is_directory("/sys/block", ec))
    return std::filesystem::exists(
        std::filesystem::path("/sys/block") / std::string(name) / "device", ec);
  if (name.starts_with("dm-") || name.starts_with("md")) return false;
  // sda1, vdb2, xvda1 are partitions; nvme0n1p1, mmcblk0p1 too.
  const bool ends_in_digit = !name.empty() && name.back() >= '0' && name.back() <= '9';
  if (name.starts_with("nvme") || name.starts_with("mmcblk"))
    return name.find('p', name.starts_with("nvme") ? 4 : 6) == std::string_view::npos;
  return !ends_in_digit;
}

/// fn(line) for each line of `text`, without its line break.
template <class Fn>
void for_each_line(std::string_view text, Fn&& fn) {
  while (!text.empty()) {
    const std::size_t end = std::min(text.find('\n'), text.size());
    fn(text.substr(0, end));
    text.remove_prefix(std::min(end + 1, text.size()));
  }
}

/// The next N numbers of `line` into `out`; false when there are fewer.
template <std::size_t N>
bool next_numbers(std::string_view& line, std::uint64_t (&out)[N]) {
  for (auto& x : out) {
    const auto n = next_number(line);
    if (!n) return false;
    x = *n;
  }
  return true;
}

/// Bytes read from and written to whole disks since boot (/proc/diskstats: sectors of 512
/// bytes, whatever the device's own sector size).
struct DiskBytes {
  std::uint64_t read = 0, written = 0;
};
inline std::optional<DiskBytes> disk_bytes() {
  const auto text = read_file("/proc/diskstats");
  if (!text) return std::nullopt;
  DiskBytes d;
  for_each_line(*text, [&](std::string_view line) {
    // major minor name reads merged sectors_read ms writes merged sectors_written ...
    if (!next_number(line) || !next_number(line)) return;
    while (!line.empty() && line.front() == ' ')
      line.remove_prefix(1);
    const std::string_view name = line.substr(0, line.find(' '));
    line.remove_prefix(name.size());
    std::uint64_t v[7] = {};
    if (!next_numbers(line, v) || !whole_disk(name)) return;
    d.read += v[2] * 512;
    d.written += v[6] * 512;
  });
  return d;
}

/// Bytes received and sent by every network interface but lo since boot (/proc/net/dev).
struct NetworkBytes {
  std::uint64_t received = 0, sent = 0;
};
inline std::optional<NetworkBytes> network_bytes() {
  const auto text = read_file("/proc/net/dev");
  if (!text) return std::nullopt;
  NetworkBytes n;
  for_each_line(*text, [&](std::string_view line) {
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return;  // the two heading lines
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && name.front() == ' ')
      name.remove_prefix(1);
    if (name == "lo") return;
    line.remove_prefix(colon + 1);
    // received: bytes packets errs drop fifo frame compressed multicast; then sent: bytes ...
    std::uint64_t v[9] = {};
    if (!next_numbers(line, v)) return;
    n.received += v[0];
    n.sent += v[8];
  });
  return n;
}

}  // namespace proc

/// A CSV file of the monitor: created with its header line, each row one write(2).
class MonitorCsv {
 public:
  MonitorCsv() = default;
  MonitorCsv(const MonitorCsv&) = delete;
  MonitorCsv& operator=(const MonitorCsv&) = delete;
  MonitorCsv(MonitorCsv&& o) noexcept : path_(std::move(o.path_)), fd_(std::exchange(o.fd_, -1)) {}
  MonitorCsv& operator=(MonitorCsv&& o) noexcept {
    std::swap(path_, o.path_);
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~MonitorCsv() {
    if (fd_ >= 0) ::close(fd_);
  }

  /// Opens `path` for appending (a file that already holds rows, of a reused pid, goes on)
  /// and writes `header` into an empty one. Returns why it failed, or "".
  std::string open(std::filesystem::path path, std::string_view header) {
    path_ = std::move(path);
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) return fmt::format("cannot create '{}': {}", path_.string(), std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) == 0 && st.st_size > 0) return {};
    return write(header);
  }

  /// Appends `row` (a whole line) with one write; returns why it failed, or "".
  std::string write(std::string_view row) {
    while (!row.empty()) {
      const ssize_t n = ::write(fd_, row.data(), row.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        return fmt::format("cannot write '{}': {}", path_.string(),
                           n < 0 ? std::strerror(errno) : "no byte written");
      row.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
  }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

class ResourceMonitor final : public JobObserver {
 public:
  static constexpr std::string_view process_header =
      "timestamp,pid,cpu_percent,rss_bytes,threads,read_bytes,write_bytes\n";
  static constexpr std::string_view system_header =
      "timestamp,cpu_percent,memory_total_bytes,memory_available_bytes,memory_used_bytes,"
      "disk_read_bytes,disk_written_bytes,network_received_bytes,network_sent_bytes\n";

  /// `warn`: reports a sample that could not be written, called on the job's coordinating
  /// thread (from progress() or job_ended()), once.
  explicit ResourceMonitor(std::function<void(const std::string&)> warn) : warn_(std::move(warn)) {}
  ~ResourceMonitor() override { stop(); }
  ResourceMonitor(const ResourceMonitor&) = delete;
  ResourceMonitor& operator=(const ResourceMonitor&) = delete;

  void job_started(const JobInfo& job) override {
    const double interval = job.config != nullptr ? job.config->resource_monitor_interval : 0;
    if (!(interval > 0) || thread_.joinable()) return;
    interval_ = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(interval));
    host_ = job.host.empty() ? node_name() : job.host;
    JobFiles files;
    files.log_dir = job.log_dir;
    files_ = std::move(files);
    // Process-directed signals (Ctrl-C, a program's own) go to the job's threads, not here:
    // the thread starts with every signal blocked.
    sigset_t all, previous;
    sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &previous);
    try {
      thread_ = std::jthread([this](std::stop_token stop) { sample_until(stop); });
    } catch (...) {
      ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
      throw;
    }
    ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  }

  void progress(const JobProgress&) override { report(); }

  void job_ended(const JobResult&) override {
    stop();
    report();
  }

 private:
  struct Process {
    std::uint64_t start_time = 0;
    std::uint64_t cpu_ticks = 0;
    std::chrono::steady_clock::time_point at;
    bool seen = false;  // in the current sample
    MonitorCsv file;
  };

  // Stops the sampling thread after its last sample.
  void stop() {
    if (!thread_.joinable()) return;
    thread_.request_stop();
    thread_.join();
  }

  // On the coordinating thread: a failure of the sampling thread, reported once.
  void report() {
    std::string failure;
    {
      std::lock_guard lock(mutex_);
      failure = failure_;
    }
    if (failure.empty() || reported_) return;
    reported_ = true;
    if (warn_) warn_(failure);
  }

  // The sampling thread: a sample now, then every interval; a last one once stopped.
  void sample_until(std::stop_token stop) {
    auto next = std::chrono::steady_clock::now();
    for (;;) {
      const bool last = stop.stop_requested();
      std::string failure;
      try {
        failure = sample();
      } catch (const std::exception& e) {
        failure = e.what();
      }
      if (!failure.empty()) {
        std::lock_guard lock(mutex_);
        failure_ =
            fmt::format("the resource monitor stopped: {}; no more samples are written to {}",
                        failure, files_.performance_dir(host_).string());
        return;
      }
      if (last) return;
      next += interval_;
      const auto now = std::chrono::steady_clock::now();
      if (next < now) next = now + interval_;  // a slow sample: no burst to catch up
      std::unique_lock lock(mutex_);
      wake_.wait_until(lock, stop, next, [] { return false; });
    }
  }

  // One sample: a row in each file. Returns why a file could not be written, or "".
  std::string sample() {
    const auto now = std::chrono::steady_clock::now();
    const std::string time = timestamp();
    if (!folder_made_) {
      std::error_code ec;
      std::filesystem::create_directories(files_.performance_dir(host_), ec);
      if (ec)
        return fmt::format("cannot create '{}': {}", files_.performance_dir(host_).string(),
                           ec.message());
      folder_made_ = true;
    }
    if (std::string failure = sample_system(time); !failure.empty()) return failure;

    const std::int64_t self = ::getpid();
    std::vector<std::int64_t> pids = proc::child_processes(self);
    pids.insert(pids.begin(), self);
    for (auto& [pid, p] : processes_)
      p.seen = false;
    for (const std::int64_t pid : pids) {
      const auto stat = proc::process_stat(pid);
      if (!stat) continue;  // gone
      // A process that is exiting has given its memory back already: gone too.
      const auto rss = proc::resident_bytes(pid);
      if (rss && *rss == 0) continue;
      auto it = processes_.find(pid);
      bool first = false;
      if (it == processes_.end()) {
        it = processes_.emplace(pid, Process{}).first;
        if (std::string failure =
                it->second.file.open(files_.process_resource_monitor(host_, pid), process_header);
            !failure.empty())
          return failure;
        first = true;
      } else if (it->second.start_time != stat->start_time) {
        first = true;  // a new process under a reused pid: its own CPU time from now on
      }
      Process& p = it->second;
      std::string row = fmt::format("{},{},", time, pid);
      if (!first) {
        const double wall = std::chrono::duration<double>(now - p.at).count();
        const double cpu =
            static_cast<double>(stat->cpu_ticks - std::min(stat->cpu_ticks, p.cpu_ticks)) /
            static_cast<double>(clock_ticks_);
        if (wall > 0) row += fmt::format("{:.1f}", 100.0 * cpu / wall);
      }
      row.push_back(',');
      if (rss) row += std::to_string(*rss);
      row += fmt::format(",{},", stat->threads);
      if (const auto io = proc::process_io(pid))
        row += fmt::format("{},{}", io->read_bytes, io->write_bytes);
      else
        row.push_back(',');
      row.push_back('\n');
      p.start_time = stat->start_time;
      p.cpu_ticks = stat->cpu_ticks;
      p.at = now;
      p.seen = true;
      if (std::string failure = p.file.write(row); !failure.empty()) return failure;
    }
    // A process that is gone is sampled no more (its file is closed).
    std::erase_if(processes_, [](const auto& entry) { return !entry.second.seen; });
    return {};
  }

  std::string sample_system(const std::string& time) {
    if (!system_open_) {
      if (std::string failure = system_.open(files_.sys_resource_monitor(host_), system_header);
          !failure.empty())
        return failure;
      system_open_ = true;
    }
    std::string row = time + ",";
    const auto cpu = proc::cpu_ticks();
    if (cpu && previous_cpu_ && cpu->total > previous_cpu_->total) {
      const auto total = cpu->total - previous_cpu_->total;
      const auto busy = cpu->busy - std::min(cpu->busy, previous_cpu_->busy);
      row += fmt::format("{:.1f}", 100.0 * static_cast<double>(std::min(busy, total)) /
                                       static_cast<double>(total));
    }
    if (cpu) previous_cpu_ = cpu;
    row.push_back(',');
    if (const auto m = proc::memory())
      row += fmt::format("{},{},{}", m->total, m->available, m->total - m->available);
    else
      row += ",,";
    row.push_back(',');
    if (const auto d = proc::disk_bytes())
      row += fmt::format("{},{}", d->read, d->written);
    else
      row.push_back(',');
    row.push_back(',');
    if (const auto n = proc::network_bytes())
      row += fmt::format("{},{}", n->received, n->sent);
    else
      row.push_back(',');
    row.push_back('\n');
    return system_.write(row);
  }

  std::function<void(const std::string&)> warn_;
  std::chrono::steady_clock::duration interval_{};
  std::string host_;
  JobFiles files_;
  const long clock_ticks_ = std::max(1L, ::sysconf(_SC_CLK_TCK));

  // The sampling thread's own.
  bool folder_made_ = false;
  bool system_open_ = false;
  MonitorCsv system_;
  std::optional<proc::CpuTicks> previous_cpu_;
  std::map<std::int64_t, Process> processes_;

  // Shared: the failure, and the wait that a stop request ends.
  std::mutex mutex_;
  std::condition_variable_any wake_;
  std::string failure_;
  bool reported_ = false;  // the coordinating thread's

  std::jthread thread_;  // last: stopped and joined before the members above go
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
