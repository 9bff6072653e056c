// What the listing of the inputs does not read, and why: the job's own files (never inputs),
// entries that are not regular files (symbolic links to folders, dangling links, FIFOs,
// devices), inputs that name no file, and keys that two files share. Cursors report these
// to an InputReport; the coordinator writes them down (logs/skipped_inputs.csv,
// failed_items.csv, master.txt).
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/detail/job_files.hpp"
#include "parallel_run/detail/temp_names.hpp"

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// A folder's identity: device and inode (the same folder by any path, link or bind mount).
struct FolderId {
  dev_t device = 0;
  ino_t inode = 0;
  bool valid = false;
  friend bool operator==(const FolderId& a, const FolderId& b) {
    return a.valid && b.valid && a.device == b.device && a.inode == b.inode;
  }
};

/// The identity of the folder at `path` (following links), invalid when it does not exist.
inline FolderId folder_id(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return {};
  return {st.st_dev, st.st_ino, true};
}

/// Shared by every cursor over one dataset. Cursors list the same entries in the same order,
/// so the n-th event of each is the same event: it is handled once (a second pass over the
/// inputs, as partition_keys makes, reports nothing new).
class InputReport {
 public:
  /// A directory entry (or an input) that is not read: its path, why, and whether it is one
  /// of the job's own files (expected) rather than an input dropped (worth a warning).
  std::function<void(const std::filesystem::path&, const std::string&, bool)> on_skipped;
  /// An input that names no file (a list line, an empty folder, a glob that matches
  /// nothing): a failed item with this key and reason.
  std::function<void(const std::string&, const std::string&)> on_failed;
  /// A file whose key an earlier file of the job already had: the key, the earlier input,
  /// this input, and whether it is the key's first duplicate (later ones are only counted).
  std::function<void(const std::string&, const std::string&, const std::string&, bool)>
      on_duplicate;
  /// Duplicate keys are checked among this many files at most (memory).
  std::function<void(std::size_t)> on_duplicate_check_ended;

  /// True when the cursor's event number `sequence` was not handled yet.
  bool first_time(std::uint64_t sequence) {
    if (sequence < handled_) return false;
    handled_ = sequence + 1;
    return true;
  }

 private:
  std::uint64_t handled_ = 0;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
