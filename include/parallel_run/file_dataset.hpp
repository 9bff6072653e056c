// FileDataset: the file inputs of a job (folders, globs, list files, paths), enumerated
// lazily and deterministically, so a million files never sit in memory at once.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/errors.hpp"
#include "parallel_run/file_batch.hpp"
#include "parallel_run/detail/tree_walk.hpp"

#include <fmt/format.h>

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE

/// The file inputs of a job. Order: inputs in the order added; inside a folder or glob,
/// files sorted by path (component by component); inside a list file, as listed.
/// Keys: the path relative to the folder, to the glob's fixed prefix, as written in the
/// list file, or the file name of a single path.
class FileDataset {
 public:
  enum class InputKind { folder, glob, list_file, file };
  struct Input {
    InputKind kind;
    std::string text;
  };

  FileDataset() = default;
  /// Each string is classified as by add().
  explicit FileDataset(const std::vector<std::string>& inputs) {
    for (const auto& i : inputs)
      add(i);
  }

  /// Adds an input: "@list.txt" is a list file; an existing folder is walked recursively;
  /// text with *, ? or [ that is not an existing path is a glob ("**" spans folders);
  /// anything else is one file. Nothing is checked until the job runs (or count()).
  FileDataset& add(const std::string& input) {
    if (input.size() > 1 && input.front() == '@') return add_list_file(input.substr(1));
    std::error_code ec;
    if (std::filesystem::is_directory(input, ec)) return add_folder(input);
    if (detail::has_wildcard(input) && !std::filesystem::exists(input, ec)) return add_glob(input);
    return add_file(input);
  }
  FileDataset& add_folder(const std::filesystem::path& p) {
    inputs_.push_back({InputKind::folder, p.string()});
    return *this;
  }
  FileDataset& add_glob(const std::string& pattern) {
    inputs_.push_back({InputKind::glob, pattern});
    return *this;
  }
  /// A text file with one path per line; blank lines and lines starting with '#' are
  /// skipped; relative paths are relative to the list file's folder.
  FileDataset& add_list_file(const std::filesystem::path& p) {
    inputs_.push_back({InputKind::list_file, p.string()});
    return *this;
  }
  FileDataset& add_file(const std::filesystem::path& p) {
    inputs_.push_back({InputKind::file, p.string()});
    return *this;
  }

  const std::vector<Input>& inputs() const noexcept { return inputs_; }
  bool empty() const noexcept { return inputs_.empty(); }

  /// Enumerates the entries one at a time. Throws InputError naming the input at fault: a
  /// missing path, an unreadable folder, a glob that matches nothing, a list line that names
  /// no file.
  class Cursor {
   public:
    // Owns a copy of the inputs (a few strings), so it may outlive its dataset.
    explicit Cursor(std::vector<Input> inputs) : inputs_(std::move(inputs)) {}
    std::optional<FileEntry> next();
    /// Folders never to enter (the job's output and log folders).
    void skip_folders(std::vector<std::filesystem::path> folders) { skip_ = std::move(folders); }
    /// Checks that input `i` exists, listing nothing.
    void check_input(std::size_t i) {
      input_ = i;
      open_next_input(true);
    }

   private:
    // Checks the current input exists; unless `check_only`, starts listing it.
    bool open_next_input(bool check_only = false);
    std::vector<Input> inputs_;
    std::size_t input_ = 0;
    bool open_ = false;
    std::size_t produced_by_input_ = 0;
    std::size_t index_ = 0;
    std::unique_ptr<detail::TreeWalk> walk_;
    std::vector<std::filesystem::path> skip_;
    std::ifstream list_;
    std::filesystem::path list_dir_;
    std::size_t list_line_ = 0;
    bool single_done_ = false;
  };

  Cursor cursor() const { return Cursor(inputs_); }

  /// Checks that every input's root exists (a folder, a glob's fixed folder, a readable list
  /// file, a file) without listing anything. Throws InputError naming the first missing one.
  void check() const {
    if (inputs_.empty()) throw InputError("no input given (add a folder, glob, list file or path)");
    for (std::size_t i = 0; i < inputs_.size(); ++i)
      Cursor(inputs_).check_input(i);
  }

  /// Walks every input once: the number of files, and every input checked.
  std::size_t count() const {
    if (inputs_.empty()) throw InputError("no input given (add a folder, glob, list file or path)");
    Cursor c = cursor();
    std::size_t n = 0;
    while (c.next())
      ++n;
    return n;
  }

  /// All entries in order (materialized: for tests and small inputs).
  std::vector<FileEntry> entries() const {
    std::vector<FileEntry> out;
    Cursor c = cursor();
    while (auto e = c.next())
      out.push_back(std::move(*e));
    return out;
  }

 private:
  std::vector<Input> inputs_;
};

inline bool FileDataset::Cursor::open_next_input(bool check_only) {
  namespace fs = std::filesystem;
  const Input& in = inputs_[input_];
  std::error_code ec;
  produced_by_input_ = 0;
  switch (in.kind) {
    case InputKind::folder:
      if (!fs::is_directory(in.text, ec))
        throw InputError(fmt::format("input folder '{}' does not exist", in.text));
      if (!check_only)
        walk_ = std::make_unique<detail::TreeWalk>(
            fs::path(in.text), std::vector<std::string>{"**", "*"}, true, skip_);
      break;
    case InputKind::glob: {
      // The fixed prefix (components without wildcards) is the walk's root and key base.
      std::vector<std::string> parts;
      std::string text = in.text;
      bool absolute = !text.empty() && text.front() == '/';
      std::size_t pos = 0;
      while (pos <= text.size()) {
        std::size_t slash = text.find('/', pos);
        if (slash == std::string::npos) slash = text.size();
        if (slash > pos) parts.push_back(text.substr(pos, slash - pos));
        pos = slash + 1;
      }
      fs::path root = absolute ? fs::path("/") : fs::path(".");
      std::size_t i = 0;
      while (i + 1 < parts.size() && !detail::has_wildcard(parts[i]))
        root /= parts[i++];
      if (!fs::is_directory(root, ec))
        throw InputError(
            fmt::format("glob '{}': folder '{}' does not exist", in.text, root.string()));
      std::vector<std::string> rest(parts.begin() + static_cast<std::ptrdiff_t>(i), parts.end());
      // "dir/**" means every file below dir, as with bash's globstar.
      if (rest.empty() || rest.back() == "**") rest.push_back("*");
      if (!check_only)
        walk_ = std::make_unique<detail::TreeWalk>(root, std::move(rest), false, skip_);
      break;
    }
    case InputKind::list_file:
      list_.close();
      list_.clear();
      list_.open(in.text);
      if (!fs::is_regular_file(in.text, ec) || !list_)
        throw InputError(fmt::format("list file '{}' does not exist or cannot be read", in.text));
      list_dir_ = fs::path(in.text).parent_path();
      list_line_ = 0;
      break;
    case InputKind::file:
      if (!fs::is_regular_file(in.text, ec))
        throw InputError(
            fmt::format("input '{}' does not exist (not a file, folder, glob match "
                        "or @list file)",
                        in.text));
      single_done_ = false;
      break;
  }
  open_ = true;
  return true;
}

inline std::optional<FileEntry> FileDataset::Cursor::next() {
  namespace fs = std::filesystem;
  while (input_ < inputs_.size()) {
    if (!open_) {
      try {
        open_next_input();
      } catch (...) {
        ++input_;  // the next call goes on with the next input
        throw;
      }
    }
    const Input& in = inputs_[input_];
    std::optional<FileEntry> found;
    switch (in.kind) {
      case InputKind::folder:
      case InputKind::glob:
        if (auto hit = walk_->next())
          found = FileEntry{std::move(hit->first), std::move(hit->second), 0};
        break;
      case InputKind::list_file: {
        std::string line;
        while (!found && std::getline(list_, line)) {
          ++list_line_;
          if (!line.empty() && line.back() == '\r') line.pop_back();
          auto b = line.find_first_not_of(" \t");
          if (b == std::string::npos || line[b] == '#') continue;
          line = line.substr(b, line.find_last_not_of(" \t") - b + 1);
          fs::path p = fs::path(line).is_absolute() ? fs::path(line) : list_dir_ / line;
          std::error_code ec;
          if (!fs::is_regular_file(p, ec))
            throw InputError(fmt::format("list file '{}' line {}: '{}' is not a file", in.text,
                                         list_line_, line));
          found = FileEntry{std::move(p), line, 0};
        }
        break;
      }
      case InputKind::file:
        if (!single_done_) {
          single_done_ = true;
          found = FileEntry{fs::path(in.text), fs::path(in.text).filename().string(), 0};
        }
        break;
    }
    if (found) {
      found->index = index_++;
      ++produced_by_input_;
      return found;
    }
    // Every error leaves the cursor past its cause (a list line is consumed before it is
    // checked), so a caller may go on listing after it.
    const bool produced_nothing = produced_by_input_ == 0;
    open_ = false;
    walk_.reset();
    ++input_;
    if (produced_nothing) {
      switch (in.kind) {
        case InputKind::folder:
          throw InputError(fmt::format("input folder '{}' holds no files", in.text));
        case InputKind::glob:
          throw InputError(fmt::format("no file matches the glob '{}'", in.text));
        case InputKind::list_file:
          throw InputError(fmt::format("list file '{}' names no files", in.text));
        case InputKind::file:
          break;
      }
    }
  }
  return std::nullopt;
}

PARALLEL_RUN_END_NAMESPACE
