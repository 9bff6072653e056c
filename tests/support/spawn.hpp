// Starting a test program as a child process and waiting for it, bounded: the tests of the
// process backend and of --worker-env run whole jobs (the program starts its own workers).
#pragma once
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace test_support {

/// Where a started program's stdout and stderr go.
enum class Streams {
  files,        // dir/stdout.txt and dir/stderr.txt
  closed_pipe,  // a pipe nobody reads (its read end closed, as after `| head` exited), with
                // SIGPIPE's default action: a write there kills a program that does not
                // ignore it
};

/// Starts `argv[0]` with `argv` in `dir`, its stdout and stderr as `streams` says, with this
/// process's environment followed by `extra_env` ("NAME=value"; a name this process already
/// has keeps its value: getenv finds the first). `own_group`: in a process group of its own,
/// as a shell's job (the test signals it whole, as a terminal's Ctrl-C does). Returns its pid,
/// or -1 when it could not be started.
inline pid_t spawn_in(const std::filesystem::path& dir, std::vector<std::string> argv,
                      const std::vector<std::string>& extra_env = {}, bool own_group = false,
                      Streams streams = Streams::files) {
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(a.data());
  args.push_back(nullptr);
  std::vector<std::string> env_strings = extra_env;
  std::vector<char*> envp;
  for (char** e = environ; *e; ++e)
    envp.push_back(*e);
  for (auto& e : env_strings)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  short flags = 0;
  int pipe_fds[2] = {-1, -1};
  if (streams == Streams::closed_pipe) {
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return -1;
    ::close(pipe_fds[0]);
    posix_spawn_file_actions_adddup2(&fa, pipe_fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pipe_fds[1], 2);
    sigset_t pipe_signal;
    sigemptyset(&pipe_signal);
    sigaddset(&pipe_signal, SIGPIPE);
    posix_spawnattr_setsigdefault(&attr, &pipe_signal);
    flags |= POSIX_SPAWN_SETSIGDEF;
  } else {
    posix_spawn_file_actions_addopen(&fa, 1, (dir / "stdout.txt").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, (dir / "stderr.txt").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
  }
  posix_spawn_file_actions_addchdir_np(&fa, dir.c_str());
  if (own_group) {
    posix_spawnattr_setpgroup(&attr, 0);
    flags |= POSIX_SPAWN_SETPGROUP;
  }
  posix_spawnattr_setflags(&attr, flags);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, args[0], &fa, &attr, args.data(), envp.data());
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  if (pipe_fds[1] >= 0) ::close(pipe_fds[1]);
  return rc == 0 ? pid : -1;
}

/// Waits for `pid` at most `limit`: its exit status (128 + signal when a signal ended it), or
/// nothing when it had to be killed (it is reaped either way). A failure of waitpid other
/// than an interruption (no such child) throws, saying so, rather than pass for a timeout.
inline std::optional<int> wait_for_exit(pid_t pid, std::chrono::seconds limit) {
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  pid_t done = 0;
  for (;;) {
    done = ::waitpid(pid, &status, WNOHANG);
    if (done < 0 && errno == EINTR) continue;
    if (done != 0 || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (done < 0) {
    const int error = errno;  // before anything else can change it
    throw std::runtime_error("waitpid(" + std::to_string(pid) +
                             ") failed: " + std::strerror(error));
  }
  if (done == 0) {
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return std::nullopt;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace test_support
