// Cuts the file dataset into mini-batches of mini_batch_size files, lazily, in input order.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/file_batch.hpp"
#include "parallel_run/file_dataset.hpp"

#include <fmt/format.h>

#include <exception>
#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

class FilePartitioner {
 public:
  using batch_type = FileBatch;

  /// `limit`: at most that many files in all (0: no limit).
  /// `skip`: folders the walk never enters (the job's output and log folders).
  FilePartitioner(const FileDataset& dataset, std::size_t mini_batch_size, std::size_t limit = 0,
                  std::vector<std::filesystem::path> skip = {})
      : cursor_(dataset.cursor()), size_(mini_batch_size), left_(limit == 0 ? SIZE_MAX : limit) {
    cursor_.skip_folders(std::move(skip));
  }

  std::string describe_size() const { return fmt::format("{} files", size_); }
  /// The mini-batches there will be in all, once the listing knows how many files are left
  /// (a folder read whole, nothing below it to open: the progress line's total before the
  /// last one is cut); at most that many. Nothing while unknown.
  std::optional<std::size_t> expected_mini_batches() const {
    if (pending_error_) return std::nullopt;
    const std::optional<std::size_t> files = cursor_.known_left();
    if (!files) return std::nullopt;
    return next_index_ + (std::min(*files, left_) + size_ - 1) / size_;
  }

  /// The next mini-batch, or nothing at the end of the input. An input error met part way
  /// through a mini-batch is thrown by the next call, after the files listed before it.
  std::optional<FileBatch> next() {
    if (pending_error_) std::rethrow_exception(std::exchange(pending_error_, nullptr));
    std::vector<FileEntry> entries;
    entries.reserve(std::min<std::size_t>(size_, 4096));  // a huge size means few files
    while (entries.size() < size_ && left_ > 0) {
      std::optional<FileEntry> e;
      try {
        e = cursor_.next();
      } catch (...) {
        if (entries.empty()) throw;
        pending_error_ = std::current_exception();
        break;
      }
      if (!e) break;
      entries.push_back(std::move(*e));
      --left_;
    }
    if (entries.empty()) return std::nullopt;
    return FileBatch(next_index_++, std::move(entries));
  }

 private:
  FileDataset::Cursor cursor_;
  std::size_t size_;
  std::size_t left_;
  std::size_t next_index_ = 0;
  std::exception_ptr pending_error_;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
