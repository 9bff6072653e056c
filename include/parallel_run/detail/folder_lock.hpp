// A job's hold on its output folder, and on its log folder when that lies elsewhere: an
// exclusive flock on the folder itself, taken before anything in it is read or written and
// held until the job ends. A second job started on the same folder while the first runs is
// refused: it would interleave its lines with the first's in master.txt and replace the
// journal and the output under it (and a --resume of it would be told the first had died).
// flock, not a lock file: nothing is added to the output folder, and the kernel drops the
// lock when the process ends, however it ends, so a --resume after a crash is never refused.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/errors.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

class FolderLock {
 public:
  /// Locks `folder` (created when missing), the value of `setting`. Throws ConfigError naming
  /// the setting when another job holds it. A folder that cannot be created or opened is not
  /// locked: the job says what is wrong with it when it writes there.
  FolderLock(const std::filesystem::path& folder, const std::string& setting) {
    std::error_code ec;
    std::filesystem::create_directories(folder, ec);
    fd_ = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd_ < 0) return;
    if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return;
    const int error = errno;
    ::close(fd_);
    fd_ = -1;
    if (error != EWOULDBLOCK) return;  // a file system without flock: nothing to hold
    throw ConfigError(
        setting,
        fmt::format("{} '{}' is in use by another job that is still running (a process, or a "
                    "process it started, holds its lock): wait for that job to end, or give "
                    "this one another {}",
                    setting, folder.string(), setting));
  }
  ~FolderLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  int fd_ = -1;
};

/// The locks of a job's folders: the output folder's, and the log folder's when it is not
/// inside the output folder.
class JobFolderLocks {
 public:
  JobFolderLocks(const std::filesystem::path& output_dir, const std::filesystem::path& log_dir)
      : output_(output_dir, "output_dir") {
    std::error_code ec;
    const auto out = std::filesystem::weakly_canonical(output_dir, ec);
    const auto logs = std::filesystem::weakly_canonical(log_dir, ec);
    auto [o, l] = std::mismatch(out.begin(), out.end(), logs.begin(), logs.end());
    if (o != out.end()) log_.emplace(log_dir, "log_dir");
  }

 private:
  FolderLock output_;
  std::optional<FolderLock> log_;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
