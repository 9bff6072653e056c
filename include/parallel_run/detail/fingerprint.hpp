// What makes two runs the same run: the fingerprint the journal keeps (detail/journal.hpp).
// It has three kinds of parts, each named so a refusal can say which one changed:
//   - the settings that change results (mini-batch size, output action and format, the
//     scorer's arguments, each side input's identity, table and partition options);
//   - the program (Config::scorer_version when set, else a hash of the executable's bytes);
//   - each mini-batch's inputs, hashed as the mini-batch is cut (input_identity below), so
//     a changed file is found without listing every input up front. With `metadata` (the
//     default) that hash holds only names and byte ranges: a file is the one the run read when
//     its status-change time (ctime) is not after the clock reading of the session that read
//     it (ChangeCheck below). The run then costs no system call per input, and any write,
//     truncation, chmod, rename or copy over a file is seen, even one that restores its size
//     and modification time (ctime cannot be set back).
// Workers, logging and the backend are not part of it: they may differ between a run and its
// resumption. Thresholds, tries and timeouts are, as "verdict.*" parts: they decide which
// attempts fail and whether the run succeeds, not its rows, so a resume may change them and a
// reuse (which returns the earlier verdict) may not.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/config.hpp"
#include "parallel_run/tabular_dataset.hpp"
#include "parallel_run/detail/atomic_file.hpp"

#include <fmt/format.h>
// Header-only use of xxHash (Debian's libxxhash-dev): nothing to link.
#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstdlib>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// xxHash64 of `bytes` continued from `seed` (so that parts can be chained).
inline std::uint64_t hash_bytes(std::string_view bytes, std::uint64_t seed = 0) {
  return XXH64(bytes.data(), bytes.size(), seed);
}

/// xxHash64 of a file's bytes [offset, offset + length) (to its end by default), streamed
/// 64 KiB at a time (a buffer that stays in cache: a larger one cost a fresh process its page
/// faults, docs/benchmarks.md, "Listing with readdir"). Throws InputError when it cannot be
/// read.
inline std::uint64_t hash_file(const std::filesystem::path& path, std::uint64_t offset = 0,
                               std::uint64_t length = UINT64_MAX) {
  // O_NONBLOCK: a FIFO put where an input was opens at once (blocking, it waited for a writer
  // forever, and the job with it), and is refused below.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    throw InputError(
        fmt::format("cannot read '{}' to fingerprint it: {}", path.string(), std::strerror(errno)));
  struct ::stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw InputError(
        fmt::format("cannot fingerprint '{}': not a regular file (a FIFO, a device or a folder)",
                    path.string()));
  }
  std::unique_ptr<XXH64_state_t, decltype(&XXH64_freeState)> state(XXH64_createState(),
                                                                   &XXH64_freeState);
  XXH64_reset(state.get(), 0);
  constexpr std::size_t chunk = 64 << 10;
  auto buffer = std::make_unique_for_overwrite<char[]>(chunk);
  while (length > 0) {
    const ssize_t n =
        ::pread(fd, buffer.get(), static_cast<std::size_t>(std::min<std::uint64_t>(chunk, length)),
                static_cast<off_t>(offset));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      throw InputError(fmt::format("cannot read '{}' to fingerprint it: {}", path.string(),
                                   std::strerror(error)));
    }
    XXH64_update(state.get(), buffer.get(), static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
    length -= static_cast<std::uint64_t>(n);
  }
  ::close(fd);
  return XXH64_digest(state.get());
}

/// A file's identity: "<size> <mtime ns>" or "<size> xxh64:<hex>"; "missing: <reason>" for a
/// file that cannot be read (a run where it could is then a different run).
inline std::string file_identity(const std::filesystem::path& path, FingerprintMode mode) {
  struct ::stat st {};
  if (::stat(path.c_str(), &st) != 0) return fmt::format("missing: {}", std::strerror(errno));
  if (mode == FingerprintMode::content)
    return fmt::format("{} xxh64:{:016x}", static_cast<long long>(st.st_size), hash_file(path));
  const auto ns = static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  return fmt::format("{} {}", static_cast<long long>(st.st_size), ns);
}

/// A string hash that also takes string_views: maps keyed by names are looked up without
/// building a string.
struct NameHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

/// A status-change time (ctime) in nanoseconds since the epoch, as its file system stamped it.
inline std::int64_t ctime_ns(const struct ::stat& st) {
  return static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1000000000LL + st.st_ctim.tv_nsec;
}

/// A ctime to compare with a reading of the clock: one in whole seconds comes from a file
/// system that stamps whole (or even) seconds (FAT, old ext3 inodes, some file servers), where
/// a change up to 2 s after a reading may carry a stamp before it, so it counts as 2 s later.
inline std::int64_t change_time_ns(const struct ::stat& st) {
  return st.st_ctim.tv_nsec == 0 ? ctime_ns(st) + 2000000000LL : ctime_ns(st);
}

/// Whether inputs changed after a session's reading of the file system's clock
/// (JournalWriter::session()): any write, truncation, chmod, rename or link stamps a file's
/// ctime with that clock's now, and nothing sets it back. Also looked at, for what a file's own
/// ctime cannot tell:
///   - a symbolic link pointed elsewhere (the link is looked at, then what it points to);
///   - a folder renamed over another, older one: the folders from the file's up to its
///     input's root (where its key begins) are looked at too (each folder once): a rename,
///     or an entry added, removed or renamed in one, stamps its ctime (then every kept
///     mini-batch in it runs again: never wrong, at worst work done twice).
/// Files are looked up by name in their folder's descriptor, kept from the file before (a
/// fifth cheaper than the whole path). One per thread.
class ChangeCheck {
 public:
  ChangeCheck() = default;
  ChangeCheck(const ChangeCheck&) = delete;
  ChangeCheck& operator=(const ChangeCheck&) = delete;
  ~ChangeCheck() {
    if (folder_fd_ >= 0) ::close(folder_fd_);
  }

  /// Whether the input at `path`, known by `key` (its path from its input's root), changed
  /// after `since_ns`.
  bool changed(const std::filesystem::path& path, std::string_view key, std::int64_t since_ns) {
    const std::string& p = path.native();
    const auto slash = p.rfind('/');
    if (slash == std::string::npos || slash + 1 == p.size())
      return link_changed(AT_FDCWD, p.c_str(), since_ns);
    if (folders_changed(p, key, since_ns)) return true;
    const std::string_view folder(p.data(), slash == 0 ? 1 : slash);
    if (folder != folder_) {
      if (folder_fd_ >= 0) ::close(folder_fd_);
      folder_.assign(folder);
      folder_fd_ = ::open(folder_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    }
    if (folder_fd_ < 0) return link_changed(AT_FDCWD, p.c_str(), since_ns);
    return link_changed(folder_fd_, p.c_str() + slash + 1, since_ns);
  }

 private:
  // The entry `name` in `dir`, and what it points to when it is a symbolic link.
  static bool link_changed(int dir, const char* name, std::int64_t since_ns) {
    struct ::stat st {};
    if (::fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || change_time_ns(st) > since_ns)
      return true;
    if (!S_ISLNK(st.st_mode)) return false;
    return ::fstatat(dir, name, &st, 0) != 0 || change_time_ns(st) > since_ns;
  }

  // The folders of `p` from its own up to where `key` begins (its input's root; its own alone
  // when `p` does not end with `key`), each as what it names: a link to a folder is followed
  // (one pointed elsewhere changes the inputs' real paths, which the mini-batches' hashes
  // hold: CanonicalFolders), so a link made after the run names the same inputs.
  bool folders_changed(const std::string& p, std::string_view key, std::int64_t since_ns) {
    const bool rooted = key.size() < p.size() && std::string_view(p).ends_with(key) &&
                        p[p.size() - key.size() - 1] == '/';
    const std::size_t root_slash = rooted ? p.size() - key.size() - 1 : p.rfind('/');
    if (folder_ctimes_.size() > 4096) folder_ctimes_.clear();  // bounded
    for (auto slash = p.rfind('/'); slash != std::string::npos && slash > 0;
         slash = p.rfind('/', slash - 1)) {
      const std::string_view folder(p.data(), slash);
      auto it = folder_ctimes_.find(folder);  // no string built for a folder seen before
      if (it == folder_ctimes_.end()) {
        std::string name(folder);
        struct ::stat st {};
        const std::int64_t ctime = ::stat(name.c_str(), &st) == 0 ? change_time_ns(st) : INT64_MAX;
        it = folder_ctimes_.emplace(std::move(name), ctime).first;
      }
      if (it->second > since_ns) return true;
      if (slash <= root_slash) break;
    }
    return false;
  }

  std::string folder_;
  int folder_fd_ = -1;
  // INT64_MAX: missing. Looked up by string_view (once per input and folder).
  std::unordered_map<std::string, std::int64_t, NameHash, std::equal_to<>> folder_ctimes_;
};

/// The named parts of a run's fingerprint, in a fixed order.
struct Fingerprint {
  std::vector<std::pair<std::string, std::string>> parts;

  void add(std::string name, std::string value) {
    parts.emplace_back(std::move(name), std::move(value));
  }

  /// One "name=value" line per part (values escaped: no line break inside), the form kept
  /// in the journal.
  std::string text() const {
    std::string t;
    for (const auto& [name, value] : parts) {
      t += name;
      t += '=';
      for (char c : value) {
        if (c == '\\')
          t += "\\\\";
        else if (c == '\n')
          t += "\\n";
        else
          t += c;
      }
      t += '\n';
    }
    return t;
  }

  static Fingerprint parse(std::string_view text) {
    Fingerprint f;
    while (!text.empty()) {
      const auto eol = text.find('\n');
      std::string_view line = text.substr(0, eol);
      text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
      const auto eq = line.find('=');
      if (eq == std::string_view::npos) continue;
      std::string value;
      for (std::size_t i = eq + 1; i < line.size(); ++i) {
        if (line[i] == '\\' && i + 1 < line.size()) {
          value += line[i + 1] == 'n' ? '\n' : line[i + 1];
          ++i;
        } else {
          value += line[i];
        }
      }
      f.add(std::string(line.substr(0, eq)), std::move(value));
    }
    return f;
  }

  /// The parts whose values differ between `earlier` and this, with both values, one per
  /// line ("mini_batch_size: 10 -> 20"); empty when they are the same run.
  std::vector<std::string> differences(const Fingerprint& earlier) const {
    // An empty value (no arguments, no output header) is named, not left blank; one with a
    // space or a tab at an end (a space delimiter) is quoted, so that it shows.
    auto shown = [](const std::string& v) -> std::string {
      if (v.empty()) return "(none)";
      const auto blank = [](char c) { return c == ' ' || c == '\t'; };
      if (blank(v.front()) || blank(v.back()))
        return fmt::format("'{}'", v == "\t" ? std::string("\\t") : v);
      return v;
    };
    std::vector<std::string> out;
    auto find = [](const Fingerprint& f, const std::string& name) -> const std::string* {
      for (const auto& [n, v] : f.parts)
        if (n == name) return &v;
      return nullptr;
    };
    for (const auto& [name, value] : parts) {
      const std::string* before = find(earlier, name);
      if (before == nullptr)
        out.push_back(fmt::format("{}: (not set) -> {}", name, value));
      else if (*before != value)
        out.push_back(fmt::format("{}: {} -> {}", name, shown(*before), shown(value)));
    }
    for (const auto& [name, value] : earlier.parts)
      if (find(*this, name) == nullptr)
        out.push_back(fmt::format("{}: {} -> (not set)", name, value));
    return out;
  }
};

/// The running executable's xxh64. Hashing a 4 MB program costs a fresh process about 2 ms
/// at its start (docs/benchmarks.md, "2026-12-01, fourth session"), so with `cache` (a file
/// in the journal's folder) the hash is kept beside the file's identity: device, inode, size,
/// and modification and change times in ns. It is reused while that identity holds: a
/// rebuilt, replaced or touched program has another change time (ctime, which no call of a
/// user's sets). The cache is written (complete or absent) only into a folder that exists; a
/// torn or foreign one is ignored.
inline std::uint64_t executable_hash(const std::filesystem::path& cache = {}) {
  const char* const self = "/proc/self/exe";
  struct ::stat st {};
  if (cache.empty() || ::stat(self, &st) != 0) return hash_file(self);
  const std::string key = fmt::format(
      "executable {} {} {} {}.{:09} {}.{:09} xxh64:", static_cast<unsigned long long>(st.st_dev),
      static_cast<unsigned long long>(st.st_ino), static_cast<long long>(st.st_size),
      static_cast<long long>(st.st_mtim.tv_sec), static_cast<long>(st.st_mtim.tv_nsec),
      static_cast<long long>(st.st_ctim.tv_sec), static_cast<long>(st.st_ctim.tv_nsec));
  if (const int fd = ::open(cache.c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
    char text[256];
    const ssize_t n = ::read(fd, text, sizeof text);
    ::close(fd);
    // "<key><16 hex digits>\n", nothing else.
    const std::string_view got(text, n > 0 ? static_cast<std::size_t>(n) : 0);
    if (got.size() == key.size() + 17 && got.starts_with(key) && got.back() == '\n') {
      std::uint64_t h = 0;
      const char* first = got.data() + key.size();
      const auto [end, ec] = std::from_chars(first, first + 16, h, 16);
      if (ec == std::errc() && end == first + 16) return h;
    }
  }
  const std::uint64_t h = hash_file(self);
  std::error_code ec;
  if (std::filesystem::is_directory(cache.parent_path(), ec)) {
    try {
      AtomicFile out(cache);
      out.write(fmt::format("{}{:016x}\n", key, h));
      out.commit(false);  // a cache: lost to a power cut, it is computed again
    } catch (const OutputError&) {
      // A folder that cannot be written: the job says so when it writes there.
    }
  }
  return h;
}

/// The program's identity: Config::scorer_version when the user sets one (a rebuild that
/// does not change results keeps it), else the hash of the running executable's bytes and
/// the scorer's type (one program may run several scorers). `cache`: see executable_hash().
inline std::string program_identity(const std::string& scorer_version,
                                    std::string_view scorer_type = {},
                                    const std::filesystem::path& cache = {}) {
  if (!scorer_version.empty()) return "version " + scorer_version;
  std::string id = fmt::format("executable xxh64:{:016x}", executable_hash(cache));
  if (!scorer_type.empty()) id += fmt::format(" scorer {}", scorer_type);
  return id;
}

/// The settings that change what a run writes, and the program. `table` is null for a job
/// of files.
inline Fingerprint run_fingerprint(const Config& c, const TableOptions* table,
                                   const std::string& program, FingerprintMode mode) {
  Fingerprint f;
  f.add("program", program);
  f.add("inputs", table ? "tables" : "files");
  f.add("mini_batch_size",
        c.mini_batch_size.is_default() ? std::string("default") : c.mini_batch_size.text());
  f.add("output_action", std::string(to_string(c.output_action)));
  f.add("append_row_file_name", c.append_row_file_name);
  f.add("delimiter", c.delimiter);
  f.add("key_column", c.key_column ? "true" : "false");
  f.add("output_header", fmt::format("{}", fmt::join(c.output_header, ",")));
  f.add("limit", std::to_string(c.limit));
  f.add("follow_symlinks", c.follow_symlinks ? "true" : "false");
  std::string args;
  for (const auto& a : c.arguments) {
    if (!args.empty()) args += ' ';
    args += '[' + a + ']';
  }
  f.add("arguments", args);
  for (const auto& [name, path] : c.side_inputs) {
    // Canonical, as inputs are (CanonicalFolders): another spelling of it is the same run.
    std::error_code ec;
    const auto canonical = std::filesystem::weakly_canonical(path, ec);
    f.add("side_input." + name, (ec ? path : canonical).string() + " " + file_identity(path, mode));
  }
  if (table) {
    f.add("table.format", table->format ? std::string(to_string(*table->format)) : "by extension");
    f.add("table.delimiter", table->delimiter == 0 ? "default" : std::string(1, table->delimiter));
    f.add("table.header", table->header ? "true" : "false");
    f.add("table.allow_different_headers", table->allow_different_headers ? "true" : "false");
    f.add("table.partition_keys", fmt::format("{}", fmt::join(table->partition_keys, ",")));
  }
  f.add("fingerprint", mode == FingerprintMode::content ? "content" : "metadata");
  // What decides a run's verdict and which attempts fail, not its rows: a resume may change
  // them, a reuse may not (the earlier result would not be this run's).
  f.add("verdict.error_threshold", std::to_string(c.error_threshold));
  f.add("verdict.mini_batch_error_threshold", std::to_string(c.mini_batch_error_threshold));
  f.add("verdict.allowed_failed_percent", fmt::format("{}", c.allowed_failed_percent));
  f.add("verdict.run_max_try", std::to_string(c.run_max_try));
  f.add("verdict.run_invocation_timeout", fmt::format("{}", c.run_invocation_timeout));
  f.add("verdict.worker_memory_limit", std::to_string(c.worker_memory_limit));
  return f;
}

/// Hashes the identities of a mini-batch's inputs, one (key, path) at a time: a resumed run
/// reuses a finished mini-batch only when the hash of the inputs it cuts now is the same
/// (and, with metadata, ChangeCheck finds none of them changed since the session that ran it).
/// Inputs' folders spelled one way: absolute, with symbolic links, "." and ".." resolved, so
/// that "data/a.csv", "./data/a.csv" and "/work/data/a.csv" name one input whichever way a
/// run was given it (from another working folder, or through a link to the folder). Each
/// folder is resolved once (realpath; up to 4096 folders are remembered); a folder that
/// cannot be resolved keeps its spelling (its files are missing, as ChangeCheck finds). One per
/// thread and job: a resolution is not looked at again while the job runs.
class CanonicalFolders {
 public:
  /// `path` with its folder spelled canonically.
  std::string_view of(const std::string& path) {
    const auto slash = path.rfind('/');
    const std::string_view folder = slash == std::string::npos
                                        ? std::string_view(".")
                                        : std::string_view(path.data(), slash == 0 ? 1 : slash);
    const std::string_view name = slash == std::string::npos
                                      ? std::string_view(path)
                                      : std::string_view(path).substr(slash + 1);
    if (last_ == nullptr || folder != last_->first) {
      auto it = canonical_.find(folder);  // no string built for a folder seen before
      if (it == canonical_.end()) {
        if (canonical_.size() >= 4096) canonical_.clear();  // bounded
        std::string spelling(folder), real;
        if (char* r = ::realpath(spelling.c_str(), nullptr)) {
          real = r;
          std::free(r);
        }
        it = canonical_.emplace(std::move(spelling), std::move(real)).first;
      }
      last_ = &*it;
    }
    if (last_->second.empty()) return path;
    out_.assign(last_->second);
    if (out_.back() != '/') out_ += '/';
    out_ += name;
    return out_;
  }

 private:
  // Spelling -> canonical path (empty: not resolved). Elements stay put: last_ points at one.
  std::unordered_map<std::string, std::string, NameHash, std::equal_to<>> canonical_;
  const std::pair<const std::string, std::string>* last_ = nullptr;
  std::string out_;
};

class InputIdentity {
 public:
  /// `folders`: the calling thread's, to name each input by its canonical path (without
  /// them, by the path as given).
  explicit InputIdentity(FingerprintMode mode, CanonicalFolders* folders = nullptr)
      : mode_(mode), folders_(folders) {}
  /// One input: its key, and the slice of it the mini-batch covers (a table slice's byte
  /// range; 0, 0 for a whole file). With metadata, its name and range (no system call per file);
  /// with content, the xxh64 of its bytes (a slice's own bytes only).
  void add(std::string_view key, const std::filesystem::path& path, std::uint64_t offset = 0,
           std::uint64_t length = 0) {
    if (mode_ == FingerprintMode::metadata) {
      // Names and ranges only: whether the file changed is ChangeCheck's question. The bytes
      // "key\npath\noffset length\n", built in a reused buffer (once per input, on the
      // journal's thread: no format string to parse, no allocation).
      id_.assign(key);
      id_ += '\n';
      id_ += folders_ != nullptr ? folders_->of(path.native()) : std::string_view(path.native());
      id_ += '\n';
      append_number(offset);
      id_ += ' ';
      append_number(length);
      id_ += '\n';
      hash_ = hash_bytes(id_, hash_);
      return;
    }
    std::string id;
    if (length > 0) {
      std::string what;
      try {
        what = fmt::format("xxh64:{:016x}", hash_file(path, offset, length));
      } catch (const InputError& e) {
        what = fmt::format("missing: {}", e.what());
      }
      id = fmt::format("{}\n{}\n{} {}\n", key, what, offset, length);
    } else {
      id = fmt::format("{}\n{}\n{} {}\n", key, file_identity(path, mode_), offset, length);
    }
    hash_ = hash_bytes(id, hash_);
  }
  std::uint64_t value() const noexcept { return hash_; }

 private:
  void append_number(std::uint64_t n) {
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
    id_.append(digits, end);
  }

  FingerprintMode mode_;
  CanonicalFolders* folders_;
  std::uint64_t hash_ = 0;
  std::string id_;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
