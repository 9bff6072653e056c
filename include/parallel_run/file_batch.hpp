// FileEntry and FileBatch: what a scorer's run() receives for file inputs.
#pragma once
#include "parallel_run/version.hpp"

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE

/// One input file.
struct FileEntry {
  /// The path to open (as given or found, not canonicalized).
  std::filesystem::path path;
  /// The item key: the path relative to its input root ('/'-separated). Stable across runs.
  std::string key;
  /// The item's 0-based position in the whole dataset.
  std::size_t index = 0;

  friend bool operator==(const FileEntry&, const FileEntry&) = default;
};

/// One mini-batch of files: a random-access, sized range of FileEntry in input order.
/// Immutable once built; safe to read from the worker that runs it.
class FileBatch {
 public:
  using value_type = FileEntry;
  using const_iterator = std::vector<FileEntry>::const_iterator;
  using iterator = const_iterator;

  FileBatch() = default;
  FileBatch(std::size_t mini_batch_index, std::vector<FileEntry> entries)
      : index_(mini_batch_index), entries_(std::move(entries)) {}

  const_iterator begin() const noexcept { return entries_.begin(); }
  const_iterator end() const noexcept { return entries_.end(); }
  std::size_t size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }
  const FileEntry& operator[](std::size_t i) const { return entries_[i]; }
  /// The 0-based position of this mini-batch in the job, which is also its output order.
  std::size_t mini_batch_index() const noexcept { return index_; }

 private:
  std::size_t index_ = 0;
  std::vector<FileEntry> entries_;
};

PARALLEL_RUN_END_NAMESPACE
