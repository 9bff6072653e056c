// Starting a worker process and telling how it ended. A worker is this same program started
// again (posix_spawn of /proc/self/exe with this process's argv), never a bare fork: the host
// may run threads, and a forked child of a multithreaded process may only call
// async-signal-safe functions until it execs. The child gets exactly three descriptors: fd 0
// is /dev/null, fds 1 and 2 are its log file, fd 3 its end of the channel; every other fd is
// closed (closefrom), so nothing of the host leaks into it. It leads a process group of its
// own, so that signals meant for the coordinator's group do not reach it.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/errors.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <vector>

extern char** environ;

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// The environment variable that makes a started program serve as a worker.
inline constexpr const char* worker_env_name = "PARALLEL_RUN_WORKER";
/// The worker's end of the channel.
inline constexpr int worker_channel_fd = 3;

/// The run() calls of this process that reached their job, either backend, in order: a
/// worker process serves the one whose ordinal its coordinator gave it, and replays the
/// earlier ones (worker_process.hpp). Memory is bounded: the last `keep` runs are kept (a
/// few hundred bytes each), so a host that runs jobs in a loop for days does not grow; a
/// process-backend job after more than `keep` of them is refused (its workers could not
/// replay the first ones).
class RunLog {
 public:
  struct Run {
    std::string name;
    std::string end;  // what it returned or threw (encode_job_end); empty while it runs
  };

  static constexpr std::size_t default_keep = 10'000;

  explicit RunLog(std::size_t keep = default_keep) : keep_(std::max<std::size_t>(keep, 1)) {}

  static RunLog& instance() {
    static RunLog& log = *new RunLog;  // never destroyed: exit() may come from any thread
    return log;
  }
  /// A run() begins: its ordinal, from 1.
  std::size_t begin(const std::string& name) {
    const std::lock_guard lock(mutex_);
    runs_.push_back({name, {}});
    if (runs_.size() > keep_) {
      runs_.pop_front();
      ++dropped_;
    }
    return dropped_ + runs_.size();
  }
  /// Run `ordinal` ended with `end`.
  void end(std::size_t ordinal, std::string end) {
    const std::lock_guard lock(mutex_);
    if (ordinal > dropped_ && ordinal - dropped_ <= runs_.size())
      runs_[ordinal - dropped_ - 1].end = std::move(end);
  }
  /// The runs before `ordinal`; throws Error when the first ones are no longer kept.
  std::vector<Run> before(std::size_t ordinal) const {
    const std::lock_guard lock(mutex_);
    require_kept(ordinal);
    const std::size_t n = std::min(ordinal - 1, runs_.size());
    return {runs_.begin(), runs_.begin() + static_cast<std::ptrdiff_t>(n)};
  }
  /// Throws what before() would, without copying the runs: a job checks it at its start.
  void check_replayable(std::size_t ordinal) const {
    const std::lock_guard lock(mutex_);
    require_kept(ordinal);
  }

 private:
  // Under mutex_.
  void require_kept(std::size_t ordinal) const {
    if (dropped_ > 0)
      throw Error(
          "parallel_run.process",
          fmt::format(
              "run() call {} of this process uses the process backend, "
              "whose worker processes replay every earlier run() of the program; this process "
              "has made {} before it, more than the {} kept: use the thread backend for it, or "
              "start the process-backend jobs from a program of their own",
              ordinal, ordinal - 1, keep_));
  }

  const std::size_t keep_;
  mutable std::mutex mutex_;
  std::deque<Run> runs_;
  std::size_t dropped_ = 0;  // the oldest runs, no longer kept
};

/// This process's argv, as the kernel has it.
inline std::vector<std::string> own_command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  std::size_t start = 0;
  while (start < all.size()) {
    std::size_t end = all.find('\0', start);
    if (end == std::string::npos) end = all.size();
    args.emplace_back(all, start, end - start);
    start = end + 1;
  }
  if (args.empty())
    throw Error("parallel_run.process", "cannot read /proc/self/cmdline to start worker processes");
  return args;
}

/// "SIGSEGV" for 11.
inline std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev ? fmt::format("SIG{}", abbrev) : fmt::format("signal {}", sig);
}

/// "was killed by signal 11 (SIGSEGV)" or "exited with status 3", from waitpid's status.
inline std::string describe_wait_status(int status) {
  if (WIFSIGNALED(status))
    return fmt::format("was killed by signal {} ({})", WTERMSIG(status),
                       signal_name(WTERMSIG(status)));
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  return fmt::format("ended with wait status {}", status);
}

/// Starts this program again as a worker: `env_value` goes into PARALLEL_RUN_WORKER,
/// `channel` becomes its fd 3, `log` its stdout and stderr. Both must be CLOEXEC in this
/// process (as every fd we open is), so no other child inherits them. `extra_env`
/// ("NAME=VALUE", Config::worker_env expanded) is added to the environment it inherits,
/// replacing a variable of the same name. Returns the pid.
inline pid_t spawn_worker_process(const std::string& env_value, int channel, int log,
                                  std::vector<std::string> extra_env = {}) {
  // Out of the way of the fds the child's are dup2'ed to, whatever this process has open.
  const int hi_channel = ::fcntl(channel, F_DUPFD_CLOEXEC, 10);
  const int hi_log = ::fcntl(log, F_DUPFD_CLOEXEC, 10);
  struct Closer {
    int a, b;
    ~Closer() {
      if (a >= 0) ::close(a);
      if (b >= 0) ::close(b);
    }
  } closer{hi_channel, hi_log};
  if (hi_channel < 0 || hi_log < 0)
    throw Error("parallel_run.process",
                fmt::format("cannot start a worker process: fcntl: {}", std::strerror(errno)));

  std::vector<std::string> args = own_command_line();
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);

  const std::string prefix = std::string(worker_env_name) + "=";
  std::string own = prefix + env_value;
  // "NAME=": a variable the worker gets from us, not from this process's environment.
  std::vector<std::string> replaced = {prefix};
  for (const auto& e : extra_env)
    replaced.push_back(e.substr(0, e.find('=')) + "=");
  std::vector<char*> envp;
  for (char** e = environ; e && *e; ++e)
    if (std::none_of(replaced.begin(), replaced.end(), [&](const std::string& p) {
          return std::strncmp(*e, p.c_str(), p.size()) == 0;
        }))
      envp.push_back(*e);
  for (auto& e : extra_env)
    envp.push_back(e.data());
  envp.push_back(own.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  struct Actions {
    posix_spawn_file_actions_t* a;
    ~Actions() { posix_spawn_file_actions_destroy(a); }
  } actions_guard{&actions};
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  struct Attr {
    posix_spawnattr_t* a;
    ~Attr() { posix_spawnattr_destroy(a); }
  } attr_guard{&attr};
  // The host's signal mask and handlers are its own business: the worker starts clean.
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  // Its own process group: a terminal's Ctrl-C reaches the coordinator alone (which stops
  // gracefully), and a kill reaches the worker's own child processes too.
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);

  int rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, hi_log, 1);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, hi_log, 2);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, hi_channel, worker_channel_fd);
  if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions, worker_channel_fd + 1);
  pid_t pid = -1;
  if (rc == 0) rc = posix_spawn(&pid, "/proc/self/exe", &actions, &attr, argv.data(), envp.data());
  if (rc != 0)
    throw Error("parallel_run.process",
                fmt::format("cannot start a worker process (posix_spawn of /proc/self/exe): {}",
                            std::strerror(rc)));
  return pid;
}

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
