// A file that is complete or absent: written to a hidden temporary name beside the target,
// then flushed, synced and renamed over it by commit(); removed if never committed.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/errors.hpp"
#include "parallel_run/detail/quote.hpp"
#include "parallel_run/detail/temp_names.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path target) : target_(std::move(target)) {
    temp_ = target_.parent_path() /
            fmt::format(".{}.partial-{}", target_.filename().string(), process_tag());
    out_ = std::fopen(temp_.c_str(), "wbe");  // "e": O_CLOEXEC, kept from child processes
    if (!out_)
      throw OutputError(
          fmt::format("cannot create '{}': {}", temp_.string(), std::strerror(errno)));
    std::setvbuf(out_, nullptr, _IOFBF, 1 << 20);
  }
  ~AtomicFile() { discard(); }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  /// A write that fails (a full disk) does not throw: the file is then lost, error() says
  /// why, later writes are dropped and commit() throws. The job goes on recording what it
  /// can (failed items, its summary) and stops.
  void write(std::string_view bytes) {
    if (bytes.empty() || !error_.empty() || !out_) return;
    if (std::fwrite(bytes.data(), 1, bytes.size(), out_) != bytes.size()) {
      error_ = fmt::format("cannot write '{}': {}", temp_.string(), std::strerror(errno));
      return;
    }
    written_ += bytes.size();
  }
  /// Why a write failed; empty while the file is good.
  const std::string& error() const noexcept { return error_; }
  /// Makes the file appear under its name, whole. `durable` also syncs it to disk first, so
  /// it survives a power loss too (results: yes; a summary that can be rewritten: no).
  void commit(bool durable = true) {
    if (!error_.empty()) {
      // Lost already: its bytes go at once (on a full disk, the space the lists written
      // next need), not when this object goes.
      discard();
      throw OutputError(error_);
    }
    std::FILE* f = out_;
    out_ = nullptr;
    bool ok = std::fflush(f) == 0 && (!durable || ::fsync(::fileno(f)) == 0);
    ok = (std::fclose(f) == 0) && ok;
    if (!ok) {
      std::error_code ec;
      std::filesystem::remove(temp_, ec);
      throw OutputError(fmt::format("cannot write '{}': {}", temp_.string(), std::strerror(errno)));
    }
    std::error_code ec;
    std::filesystem::rename(temp_, target_, ec);
    if (!ec) return;
    // The content is complete: kept under its temporary name rather than lost, unless the
    // temporary itself is gone (its folder was removed while the job ran).
    std::error_code gone;  // set when whether it is there cannot be told (not "not found")
    if (std::filesystem::exists(temp_, gone) || gone)
      throw OutputError(
          fmt::format("cannot rename '{}' to '{}': {}; the complete file is kept "
                      "as '{}'",
                      temp_.string(), target_.string(), ec.message(), temp_.string()));
    const std::filesystem::path folder = target_.parent_path();
    throw OutputError(fmt::format(
        "cannot write '{}': {} was removed while the job ran, and the file written there with "
        "it ({})",
        target_.string(),
        std::filesystem::is_directory(folder, gone)
            ? fmt::format("its temporary file '{}'", temp_.filename().string())
            : fmt::format("its folder '{}'", folder.string()),
        ec.message()));
  }

  /// Drops what was written: the temporary file is closed and removed, the target untouched.
  void discard() noexcept {
    if (!out_) return;
    std::fclose(out_);
    out_ = nullptr;
    std::error_code ec;
    std::filesystem::remove(temp_, ec);
  }

  std::uint64_t bytes_written() const noexcept { return written_; }
  const std::filesystem::path& target() const noexcept { return target_; }

 private:
  std::filesystem::path target_;
  std::filesystem::path temp_;
  std::FILE* out_ = nullptr;
  std::uint64_t written_ = 0;
  std::string error_;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
