// TableSource: one input file of a table job (its path, key, format and header), shared by
// every slice cut from it; and the reads of byte ranges of such files.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/table_batch.hpp"
#include "parallel_run/tabular_dataset.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// One input file of a table job, shared by its slices.
struct TableSource {
  std::filesystem::path path;
  /// The file's item key (its path relative to its input root).
  std::string key;
  TableFormat format = TableFormat::csv;
  /// Resolved: ',' or '\t' (or the one given); unused for JSON Lines.
  char delimiter = ',';
  /// The file's column names (empty: no header row).
  std::shared_ptr<const TableHeader> header = std::make_shared<const TableHeader>();
  /// The number of fields every record must have: the header's, or without a header the
  /// first record's (0: the file has no record, or JSON Lines without header).
  std::size_t columns = 0;
  /// Why the header cannot be read (empty: it can, or there is none). Then the header record
  /// and every other record of the file are malformed records with this reason.
  std::string header_error;
};

/// A file opened for reading, closed on destruction. Errors are InputErrors naming it.
class ReadOnlyFile {
 public:
  explicit ReadOnlyFile(const std::filesystem::path& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0)
      throw InputError(fmt::format("cannot open '{}': {}", path.string(), std::strerror(errno)));
  }
  ~ReadOnlyFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  ReadOnlyFile(const ReadOnlyFile&) = delete;
  ReadOnlyFile& operator=(const ReadOnlyFile&) = delete;

  /// Reads up to `n` bytes at `offset`; fewer only at the end of the file.
  std::size_t read(char* out, std::size_t n, std::uint64_t offset) const {
    std::size_t done = 0;
    while (done < n) {
      const ssize_t r = ::pread(fd_, out + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        throw InputError(fmt::format("cannot read '{}': {}", path_.string(), std::strerror(errno)));
      }
      if (r == 0) break;
      done += static_cast<std::size_t>(r);
    }
    return done;
  }

  /// Reads exactly `n` bytes at `offset`: a shorter file changed after the job cut it.
  void read_exact(char* out, std::size_t n, std::uint64_t offset) const {
    if (read(out, n, offset) != n)
      throw InputError(
          fmt::format("'{}' is shorter than when the job cut it (bytes {} to {} are "
                      "gone): the file changed while the job ran",
                      path_.string(), offset, offset + n));
  }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
