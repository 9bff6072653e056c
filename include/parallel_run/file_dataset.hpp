// FileDataset: the file inputs of a job (folders, globs, list files, paths), enumerated
// lazily and deterministically, so a million files never sit in memory at once.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/errors.hpp"
#include "parallel_run/file_batch.hpp"
#include "parallel_run/detail/input_report.hpp"
#include "parallel_run/detail/tree_walk.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE

/// How a job lists its inputs (set by the executor): its own files are never inputs,
/// symbolic links to folders are followed or not, and what is not read goes to `report`.
struct InputListing {
  detail::JobFiles job_files;
  bool follow_symlinks = false;
  /// Without a report, entries that are not read are passed over silently and an input that
  /// names no file is an InputError thrown by FileDataset::Cursor::next().
  std::shared_ptr<detail::InputReport> report;
};

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

  using Listing = InputListing;
  void set_listing(Listing listing) { listing_ = std::move(listing); }
  const Listing& listing() const noexcept { return listing_; }

  /// Enumerates the entries one at a time. Throws InputError naming the input at fault: a
  /// missing path, an unreadable folder, a glob that matches nothing, a list line that names
  /// no file.
  class Cursor {
   public:
    // Owns a copy of the inputs (a few strings), so it may outlive its dataset.
    explicit Cursor(std::vector<Input> inputs, Listing listing = {})
        : inputs_(std::move(inputs)),
          listing_(std::move(listing)),
          reporter_(std::make_unique<Reporter>(Reporter{listing_.report})) {
      // One folder or glob cannot yield a key twice: only then are keys remembered.
      track_keys_ =
          inputs_.size() > 1 || (!inputs_.empty() && inputs_.front().kind == InputKind::list_file);
    }
    std::optional<FileEntry> next();
    /// The files next() has still to return, once the listing knows (the last input is open,
    /// and a folder or glob has no folder left to look into); at most that many, since job
    /// files among them are skipped. Nothing while unknown.
    std::optional<std::size_t> known_left() const {
      if (input_ >= inputs_.size()) return 0;
      if (input_ + 1 < inputs_.size() || !open_) return std::nullopt;
      switch (inputs_[input_].kind) {
        case InputKind::folder:
        case InputKind::glob:
          return walk_ ? walk_->files_left() : std::nullopt;
        case InputKind::file:
          return single_done_ ? 0 : 1;
        case InputKind::list_file:
          break;
      }
      return std::nullopt;
    }
    /// Folders never to enter, besides the job's own (see Listing).
    void skip_folders(std::vector<std::filesystem::path> folders) { skip_ = std::move(folders); }
    /// Keys are checked for duplicates among at most this many files (16 bytes each).
    static constexpr std::size_t max_tracked_keys = std::size_t{1} << 20;
    /// Checks that input `i` exists, listing nothing.
    void check_input(std::size_t i) {
      input_ = i;
      open_next_input(true);
    }

   private:
    // Checks the current input exists; unless `check_only`, starts listing it.
    bool open_next_input(bool check_only = false);
    // Events go to the report once, whichever cursor of the dataset meets them first. On the
    // heap, so that a walk may point to it while the cursor moves.
    struct Reporter {
      std::shared_ptr<detail::InputReport> report;
      std::uint64_t events = 0;
      std::size_t accounted = 0;  // entries skipped or failed, for "holds no files"
      bool first() { return report && report->first_time(events++); }
      void skipped(const std::filesystem::path& path, const std::string& reason, bool job_file) {
        ++accounted;
        if (first() && report->on_skipped) report->on_skipped(path, reason, job_file);
      }
      // An input that names no file: a failed item when reported, else an InputError.
      void failed(const std::string& key, const std::string& reason) {
        if (!report) throw InputError(reason);
        ++accounted;
        if (first() && report->on_failed) report->on_failed(key, reason);
      }
    };
    std::string job_file_reason(const std::filesystem::path& file);
    void check_duplicate(const std::string& key);
    std::vector<Input> inputs_;
    Listing listing_;
    std::unique_ptr<Reporter> reporter_;
    bool track_keys_ = false;
    // Open addressing: a key's 64-bit hash (0: empty slot) and its input (top bit: warned).
    std::vector<std::uint64_t> key_hashes_;
    std::vector<std::uint32_t> key_inputs_;
    std::size_t keys_ = 0;
    std::size_t accounted_before_input_ = 0;
    bool job_folders_known_ = false;
    detail::FolderId output_id_;
    std::filesystem::path log_path_;
    std::optional<std::filesystem::path> last_parent_;
    detail::FolderId last_parent_id_;
    bool last_parent_in_logs_ = false;
    std::size_t input_ = 0;
    bool open_ = false;
    std::size_t produced_by_input_ = 0;
    std::size_t index_ = 0;
    detail::WalkOptions walk_options(bool match_hidden) {
      detail::WalkOptions o;
      o.match_hidden = match_hidden;
      o.follow_symlinks = listing_.follow_symlinks;
      o.job_files = listing_.job_files;
      o.skip = skip_;
      o.on_skipped = [r = reporter_.get()](const std::filesystem::path& p, const std::string& why,
                                           bool own) { r->skipped(p, why, own); };
      return o;
    }
    static std::string describe_type(std::filesystem::file_type type) {
      switch (type) {
        case std::filesystem::file_type::directory:
          return "a folder";
        case std::filesystem::file_type::fifo:
          return "a FIFO";
        case std::filesystem::file_type::socket:
          return "a socket";
        case std::filesystem::file_type::block:
          return "a block device";
        case std::filesystem::file_type::character:
          return "a character device";
        default:
          return "of another type";
      }
    }
    std::unique_ptr<detail::TreeWalk> walk_;
    std::vector<std::filesystem::path> skip_;
    std::ifstream list_;
    std::filesystem::path list_dir_;
    std::size_t list_line_ = 0;
    bool single_done_ = false;
  };

  Cursor cursor() const { return Cursor(inputs_, listing_); }

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
  Listing listing_;
};

inline bool FileDataset::Cursor::open_next_input(bool check_only) {
  namespace fs = std::filesystem;
  const Input& in = inputs_[input_];
  std::error_code ec;
  produced_by_input_ = 0;
  // From here, what this input skips or fails is its own (an empty input before it has
  // already counted its own failure).
  accounted_before_input_ = reporter_->accounted;
  switch (in.kind) {
    case InputKind::folder:
      if (!fs::is_directory(in.text, ec))
        throw InputError(fmt::format("input folder '{}' does not exist", in.text));
      if (!check_only)
        walk_ = std::make_unique<detail::TreeWalk>(
            fs::path(in.text), std::vector<std::string>{"**", "*"}, walk_options(true));
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
        walk_ = std::make_unique<detail::TreeWalk>(root, std::move(rest), walk_options(false));
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
    case InputKind::file: {
      const auto status = fs::status(in.text, ec);
      if (status.type() == fs::file_type::not_found)
        throw InputError(
            fmt::format("input '{}' does not exist (not a file, folder, glob match "
                        "or @list file)",
                        in.text));
      if (ec)  // a link loop, a folder on the way that cannot be searched
        throw InputError(fmt::format("input '{}' cannot be read: {}", in.text,
                                     detail::unfollowable_reason(ec.value())));
      if (!fs::is_regular_file(status))
        throw InputError(fmt::format("input '{}' is not a regular file ({})", in.text,
                                     describe_type(status.type())));
      single_done_ = false;
      break;
    }
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
          const auto status = fs::status(p, ec);
          if (!fs::is_regular_file(status)) {
            // The line is consumed: listing goes on after this failed item.
            reporter_->failed(
                line,
                fmt::format("list file '{}' line {}: '{}' {}", in.text, list_line_, line,
                            fs::exists(status)
                                ? "is not a regular file (" + describe_type(status.type()) + ")"
                            : status.type() == fs::file_type::not_found || !ec
                                ? std::string("is not a file (it does not exist)")
                                : "cannot be read: " + detail::unfollowable_reason(ec.value())));
            continue;
          }
          if (std::string why = job_file_reason(p); !why.empty()) {
            reporter_->skipped(p, why, true);
            continue;
          }
          found = FileEntry{std::move(p), line, 0};
        }
        break;
      }
      case InputKind::file:
        if (!single_done_) {
          single_done_ = true;
          if (std::string why = job_file_reason(in.text); !why.empty())
            reporter_->skipped(in.text, why, true);
          else
            found = FileEntry{fs::path(in.text), fs::path(in.text).filename().string(), 0};
        }
        break;
    }
    if (found) {
      found->index = index_++;
      ++produced_by_input_;
      if (track_keys_) check_duplicate(found->key);
      return found;
    }
    // Every error leaves the cursor past its cause (a list line is consumed before it is
    // checked), so a caller may go on listing after it.
    const bool produced_nothing =
        produced_by_input_ == 0 && reporter_->accounted == accounted_before_input_;
    open_ = false;
    walk_.reset();
    ++input_;
    if (produced_nothing) {
      switch (in.kind) {
        case InputKind::folder:
          reporter_->failed(in.text, fmt::format("input folder '{}' holds no files", in.text));
          break;
        case InputKind::glob:
          reporter_->failed(in.text, fmt::format("no file matches the glob '{}'", in.text));
          break;
        case InputKind::list_file:
          reporter_->failed(in.text, fmt::format("list file '{}' names no files", in.text));
          break;
        case InputKind::file:
          break;
      }
    }
  }
  return std::nullopt;
}

// A file named by a list line or given alone: the job's own when it lies in the log folder,
// or is the output file or a temporary file in the output folder. Consecutive lines mostly
// share their folder: its identity is looked up once.
inline std::string FileDataset::Cursor::job_file_reason(const std::filesystem::path& file) {
  namespace fs = std::filesystem;
  const detail::JobFiles& job = listing_.job_files;
  if (job.output_dir.empty() && job.log_dir.empty()) return {};
  if (!job_folders_known_) {
    job_folders_known_ = true;
    output_id_ = detail::folder_id(job.output_dir);
    std::error_code ec;
    log_path_ = fs::weakly_canonical(job.log_dir, ec);
  }
  const fs::path parent = file.has_parent_path() ? file.parent_path() : fs::path(".");
  if (!last_parent_ || *last_parent_ != parent) {
    last_parent_ = parent;
    last_parent_id_ = detail::folder_id(parent);
    std::error_code ec;
    const fs::path absolute = fs::weakly_canonical(parent, ec);
    last_parent_in_logs_ =
        !ec && !log_path_.empty() &&
        std::mismatch(log_path_.begin(), log_path_.end(), absolute.begin(), absolute.end()).first ==
            log_path_.end();
  }
  if (last_parent_in_logs_) return "in the job's log folder";
  if (last_parent_id_ == output_id_) return job.output_entry_reason(file.filename().string());
  return {};
}

// Two inputs may yield the same key (two folders with a README each): both files are read
// and written under it, and the user is told once per key. The keys' 64-bit hashes are kept
// in an open-addressing table of at most max_tracked_keys entries.
inline void FileDataset::Cursor::check_duplicate(const std::string& key) {
  if (keys_ >= max_tracked_keys) return;
  if (key_hashes_.empty()) {
    key_hashes_.assign(1024, 0);
    key_inputs_.assign(1024, 0);
  }
  std::uint64_t h = std::hash<std::string>{}(key);
  h = h == 0 ? 1 : h;  // 0 marks an empty slot
  const std::size_t mask = key_hashes_.size() - 1;
  for (std::size_t i = static_cast<std::size_t>(h) & mask;; i = (i + 1) & mask) {
    if (key_hashes_[i] == h) {
      const std::uint32_t first = key_inputs_[i] & 0x7fffffffU;
      const bool warned = (key_inputs_[i] & 0x80000000U) != 0;
      key_inputs_[i] |= 0x80000000U;
      if (reporter_->first() && reporter_->report->on_duplicate)
        reporter_->report->on_duplicate(key, inputs_[first].text, inputs_[input_].text, !warned);
      return;
    }
    if (key_hashes_[i] == 0) {
      key_hashes_[i] = h;
      key_inputs_[i] = static_cast<std::uint32_t>(input_);
      break;
    }
  }
  if (++keys_ == max_tracked_keys) {
    if (reporter_->first() && reporter_->report->on_duplicate_check_ended)
      reporter_->report->on_duplicate_check_ended(keys_);
    return;
  }
  if (keys_ * 2 > key_hashes_.size()) {  // grow: rehash into twice the slots
    std::vector<std::uint64_t> hashes(key_hashes_.size() * 2, 0);
    std::vector<std::uint32_t> inputs(hashes.size(), 0);
    const std::size_t new_mask = hashes.size() - 1;
    for (std::size_t j = 0; j < key_hashes_.size(); ++j) {
      if (key_hashes_[j] == 0) continue;
      std::size_t k = static_cast<std::size_t>(key_hashes_[j]) & new_mask;
      while (hashes[k] != 0)
        k = (k + 1) & new_mask;
      hashes[k] = key_hashes_[j];
      inputs[k] = key_inputs_[j];
    }
    key_hashes_.swap(hashes);
    key_inputs_.swap(inputs);
  }
}

PARALLEL_RUN_END_NAMESPACE
