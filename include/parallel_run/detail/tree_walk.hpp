// A lazy, deterministic walk of a directory tree that yields the regular files whose
// relative path matches a glob given as components ("**" spans any number of folders).
// Each folder's entries are sorted by name, so files come out in component-wise
// lexicographic order while only one sorted listing per open folder is held in memory.
// Every entry that would match but is not read (a symbolic link to a folder, a dangling link,
// a FIFO, a device, the job's own files) is reported, so that nothing vanishes unaccounted.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/errors.hpp"
#include "parallel_run/detail/input_report.hpp"

#include <fmt/format.h>

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// True when the text holds a glob wildcard.
inline bool has_wildcard(std::string_view s) {
  return s.find_first_of("*?[") != std::string_view::npos;
}

/// Why a path cannot be followed, from the errno of its stat: a loop of symbolic links is
/// named as one (strerror's "Too many levels of symbolic links" does not say it is a loop).
inline std::string unfollowable_reason(int error) {
  if (error == ELOOP) return "a symbolic link loop (too many levels of symbolic links)";
  return std::strerror(error);
}

/// How a walk treats what is not a plain file or folder, and the job's own files.
struct WalkOptions {
  /// '*' matches names starting with '.', as a folder input wants and a shell glob does not.
  bool match_hidden = false;
  /// Enter symbolic links to folders (a link back to a folder on the current path is a loop,
  /// reported and not entered); otherwise they are reported as not read.
  bool follow_symlinks = false;
  /// Never read: the log folder, and the output folder's own files (all of the output folder
  /// when it lies below the walk's root).
  JobFiles job_files;
  /// Folders never entered, besides those.
  std::vector<std::filesystem::path> skip;
  /// Told of every entry that would match but is not read: path, reason, is a job file.
  std::function<void(const std::filesystem::path&, const std::string&, bool)> on_skipped;
};

class TreeWalk {
 public:
  /// Walks `root`; `components` is the pattern relative to it.
  TreeWalk(std::filesystem::path root, std::vector<std::string> components, WalkOptions options)
      : components_(std::move(components)), options_(std::move(options)) {
    output_id_ = folder_id(options_.job_files.output_dir);
    log_id_ = folder_id(options_.job_files.log_dir);
    for (const auto& s : options_.skip)
      if (FolderId id = folder_id(s); id.valid) skip_ids_.push_back(id);
    std::vector<std::size_t> states{0};
    close(states);
    const FolderId id = folder_id(root);
    if (id == log_id_) {
      skipped(root, "the job's log folder", true);
      return;
    }
    open_folder(root, std::string{}, std::move(states), id);
  }

  /// The next matching file as (absolute-or-given path, path relative to root), or nothing.
  std::optional<std::pair<std::filesystem::path, std::string>> next() {
    while (!stack_.empty()) {
      Frame& f = stack_.back();
      if (f.next == f.children.size()) {
        stack_.pop_back();
        continue;
      }
      const Child& child = f.children[f.next++];
      const std::string_view name = f.name(child);
      if (child.kind == Kind::file) {
        // The hot path (every file): no allocation unless it matches.
        if (!child.matched) continue;
        --f.files_left;
        if (f.is_output) {
          if (std::string why = options_.job_files.output_entry_reason(name); !why.empty()) {
            skipped(f.dir / name, why, true);
            continue;
          }
        }
        return std::make_pair(child_path(f.dir, name), relative(f.rel, name));
      }
      if (child.kind == Kind::other) {
        if (file_matches(f.states, name)) skipped(f.dir / name, unread_reason(child), false);
        continue;
      }
      --f.folders_left;
      std::vector<std::size_t> states = advance(f.states, name);
      if (states.empty()) continue;
      // open_folder grows the stack, which would invalidate `f` and `child`.
      std::filesystem::path full = f.dir / name;
      if (f.is_output) {  // the temporary folder, the journal, runs of one mini-batch
        if (std::string why = options_.job_files.output_entry_reason(name); !why.empty()) {
          skipped(full, why, true);
          continue;
        }
      } else if (name == ".parallel_run_journal" || name == ".parallel_run_tmp") {
        // Another job's output folder among the inputs: its journal is never an input.
        skipped(full,
                name == ".parallel_run_journal"
                    ? "the journal of another parallel_run job (its output folder is among the "
                      "inputs)"
                    : "the temporary folder of another parallel_run job",
                false);
        continue;
      }
      if (child.kind == Kind::linked_folder && !options_.follow_symlinks) {
        skipped(full, "a symbolic link to a folder, not followed (--follow-symlinks follows it)",
                false);
        continue;
      }
      const FolderId id = folder_id(full);
      if (id == log_id_) {
        skipped(full, "the job's log folder", true);
        continue;
      }
      if (id == output_id_) {
        skipped(full, "the job's output folder", true);
        continue;
      }
      if (std::find(skip_ids_.begin(), skip_ids_.end(), id) != skip_ids_.end()) {
        skipped(full, "the job's output or log folder", true);
        continue;
      }
      if (auto loop = std::find_if(stack_.begin(), stack_.end(),
                                   [&](const Frame& frame) { return frame.id == id; });
          loop != stack_.end()) {
        skipped(full,
                fmt::format("a symbolic link loop: it leads back to '{}'", loop->dir.string()),
                false);
        continue;
      }
      std::string rel = relative(f.rel, name);
      open_folder(full, std::move(rel), std::move(states), id);
    }
    return std::nullopt;
  }

  /// The matching files not yet returned, once no folder is left to open (so that the
  /// count is final; job files among them are still skipped); else nothing.
  std::optional<std::size_t> files_left() const {
    std::size_t files = 0;
    for (const Frame& f : stack_) {
      if (f.folders_left > 0) return std::nullopt;
      files += f.files_left;
    }
    return files;
  }

 private:
  enum class Kind : unsigned char { file, folder, linked_folder, other };
  // An entry of a listed folder. Its name is in the folder's `names` (one buffer: with a
  // string of its own per entry, allocated and moved as the 20,000 of a folder were sorted, a
  // reuse hit took 73.9 ms against 69.8, user time 37.6 ms against 30.2; docs/benchmarks.md).
  struct Child {
    std::size_t name_at = 0;  // in Frame::names, followed by a NUL (for fnmatch)
    std::size_t name_size = 0;
    Kind kind;
    // An `other` entry: its type (a link's: its target's; not_found when it cannot be
    // followed, with `link_error` saying why).
    std::filesystem::file_type type = std::filesystem::file_type::none;
    bool link = false;
    bool matched = false;  // a file that ends a match (set as its folder is opened)
    int link_error = 0;    // errno of following a link that cannot be followed
  };
  struct Frame {
    std::filesystem::path dir;
    std::string rel;
    std::vector<Child> children;
    std::string names;  // the children's names, each followed by a NUL
    std::size_t next = 0;
    std::vector<std::size_t> states;
    FolderId id;
    bool is_output = false;  // the output folder itself (a root): its job files are skipped
    // Children after `next`: matching files, and folders (or links to folders) to look into.
    std::size_t files_left = 0, folders_left = 0;

    std::string_view name(const Child& c) const { return {names.data() + c.name_at, c.name_size}; }
  };

  // `dir / name`, built as one string and parsed once: operator/ copies the folder's parsed
  // components and parses again, which was most of the cut of a resume's kept mini-batches
  // (11 ms against 6 ms for 20,000 files; docs/benchmarks.md, "2026-12-03, second session").
  static std::filesystem::path child_path(const std::filesystem::path& dir, std::string_view name) {
    const std::string& d = dir.native();
    std::string full;
    full.reserve(d.size() + 1 + name.size());
    full += d;
    if (!d.empty() && d.back() != '/') full += '/';
    full += name;
    return std::filesystem::path(std::move(full));
  }

  static std::string relative(const std::string& folder, std::string_view name) {
    std::string rel;
    rel.reserve(folder.size() + 1 + name.size());
    if (!folder.empty()) (rel += folder) += '/';
    rel += name;
    return rel;
  }

  void skipped(const std::filesystem::path& path, const std::string& reason, bool job_file) {
    if (options_.on_skipped) options_.on_skipped(path, reason, job_file);
  }

  // Adds the states reachable by letting a "**" match zero folders.
  void close(std::vector<std::size_t>& states) const {
    for (std::size_t i = 0; i < states.size(); ++i) {
      std::size_t s = states[i];
      if (s < components_.size() && components_[s] == "**" &&
          std::find(states.begin(), states.end(), s + 1) == states.end())
        states.push_back(s + 1);
    }
  }

  // `name`: a folder's entry, followed by a NUL in Frame::names.
  bool matches(const std::string& pattern, std::string_view name) const {
    if (!options_.match_hidden && name.front() == '.' && pattern.front() != '.') return false;
    if (pattern == "*") return true;  // a folder input: every name, no fnmatch call
    return fnmatch(pattern.c_str(), name.data(), 0) == 0;
  }

  // A file ends a match when its name matches the last component ("**" spans folders only).
  bool file_matches(const std::vector<std::size_t>& states, std::string_view name) const {
    for (std::size_t s : states)
      if (s + 1 == components_.size() && components_[s] != "**" && matches(components_[s], name))
        return true;
    return false;
  }

  // The states after descending into folder `name`.
  std::vector<std::size_t> advance(const std::vector<std::size_t>& states,
                                   std::string_view name) const {
    std::vector<std::size_t> out;
    auto add = [&](std::size_t s) {
      if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
    };
    for (std::size_t s : states) {
      if (s >= components_.size()) continue;
      const std::string& c = components_[s];
      if (c == "**") {
        if (options_.match_hidden || name.front() != '.') add(s);
      } else if (matches(c, name)) {
        add(s + 1);
      }
    }
    close(out);
    return out;
  }

  static std::string unread_reason(const Child& child) {
    if (!child.link) return unread_reason(child.type);
    if (child.type == std::filesystem::file_type::not_found) {
      switch (child.link_error) {
        case ENOENT:
        case ENOTDIR:
          return "a dangling symbolic link (its target does not exist)";
        case ELOOP:
          return unfollowable_reason(ELOOP);
        default:
          return "a symbolic link that cannot be followed: " +
                 unfollowable_reason(child.link_error);
      }
    }
    return "a symbolic link to " + unread_reason(child.type);
  }
  static std::string unread_reason(std::filesystem::file_type type) {
    switch (type) {
      case std::filesystem::file_type::fifo:
        return "a FIFO (named pipe), not a regular file";
      case std::filesystem::file_type::socket:
        return "a socket, not a regular file";
      case std::filesystem::file_type::block:
        return "a block device, not a regular file";
      case std::filesystem::file_type::character:
        return "a character device, not a regular file";
      default:
        return "not a regular file";
    }
  }

  // A file type from a listing's d_type or a stat's st_mode (as DTTOIF gives it).
  static std::filesystem::file_type file_type_of(mode_t mode) {
    using std::filesystem::file_type;
    switch (mode & S_IFMT) {
      case S_IFREG:
        return file_type::regular;
      case S_IFDIR:
        return file_type::directory;
      case S_IFLNK:
        return file_type::symlink;
      case S_IFIFO:
        return file_type::fifo;
      case S_IFSOCK:
        return file_type::socket;
      case S_IFBLK:
        return file_type::block;
      case S_IFCHR:
        return file_type::character;
      default:
        return file_type::unknown;
    }
  }

  // Lists a folder with readdir(3) rather than std::filesystem::directory_iterator, which
  // builds and parses a whole path for every entry, a cost every run pays at its start
  // (docs/benchmarks.md, "Listing with readdir"). A plain file or folder costs no stat (the
  // listing's d_type says what it is).
  void open_folder(const std::filesystem::path& dir, std::string rel,
                   std::vector<std::size_t> states, FolderId id) {
    Frame f{dir, std::move(rel), {}, {}, 0, std::move(states), id, id == output_id_};
    auto cannot_list = [&](int error) {
      return InputError(
          fmt::format("cannot list folder '{}': {}", dir.string(), std::strerror(error)));
    };
    std::unique_ptr<DIR, int (*)(DIR*)> folder(::opendir(dir.c_str()), &::closedir);
    if (!folder) throw cannot_list(errno);
    const int fd = ::dirfd(folder.get());
    auto add = [&](std::string_view name, Kind kind,
                   std::filesystem::file_type type = std::filesystem::file_type::none,
                   bool link = false, int link_error = 0) {
      f.children.push_back(Child{f.names.size(), name.size(), kind, type, link, false, link_error});
      (f.names += name) += '\0';
    };
    for (;;) {
      errno = 0;
      const ::dirent* e = ::readdir(folder.get());
      if (e == nullptr) {
        if (errno != 0) throw cannot_list(errno);
        break;
      }
      const std::string_view name = e->d_name;
      if (name == "." || name == "..") continue;
      mode_t type = DTTOIF(e->d_type);
      struct ::stat st {};
      if (e->d_type == DT_UNKNOWN)  // a file system that does not say: ask
        type = ::fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? st.st_mode : 0;
      if (S_ISREG(type)) {
        add(name, Kind::file);
      } else if (S_ISDIR(type)) {
        add(name, Kind::folder);
      } else if (S_ISLNK(type)) {
        if (::fstatat(fd, e->d_name, &st, 0) != 0)
          add(name, Kind::other, std::filesystem::file_type::not_found, true, errno);
        else if (S_ISREG(st.st_mode))
          add(name, Kind::file);
        else if (S_ISDIR(st.st_mode))
          add(name, Kind::linked_folder);
        else
          add(name, Kind::other, file_type_of(st.st_mode), true);
      } else {
        add(name, Kind::other,
            type == 0 ? std::filesystem::file_type::not_found : file_type_of(type));
      }
    }
    std::sort(f.children.begin(), f.children.end(),
              [&f](const Child& a, const Child& b) { return f.name(a) < f.name(b); });
    for (Child& c : f.children) {
      if (c.kind == Kind::file) {
        c.matched = file_matches(f.states, f.name(c));
        f.files_left += c.matched ? 1 : 0;
      } else if (c.kind != Kind::other) {
        ++f.folders_left;
      }
    }
    stack_.push_back(std::move(f));
  }

  std::vector<std::string> components_;
  WalkOptions options_;
  FolderId output_id_, log_id_;
  std::vector<FolderId> skip_ids_;
  std::vector<Frame> stack_;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
