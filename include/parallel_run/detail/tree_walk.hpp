// A lazy, deterministic walk of a directory tree that yields the regular files whose
// relative path matches a glob given as components ("**" spans any number of folders).
// Each folder's entries are sorted by name, so files come out in component-wise
// lexicographic order while only one sorted listing per open folder is held in memory.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/errors.hpp"

#include <fmt/format.h>

#include <fnmatch.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// True when the text holds a glob wildcard.
inline bool has_wildcard(std::string_view s) {
  return s.find_first_of("*?[") != std::string_view::npos;
}

class TreeWalk {
 public:
  /// Walks `root`; `components` is the pattern relative to it. `match_hidden` lets '*' match
  /// names starting with '.', as a folder input wants and a shell glob does not.
  /// Folders in `skip` (the job's output and log folders) are never entered, so a job
  /// whose output lies inside its input does not read its own files.
  TreeWalk(std::filesystem::path root, std::vector<std::string> components, bool match_hidden,
           std::vector<std::filesystem::path> skip = {})
      : components_(std::move(components)), match_hidden_(match_hidden), skip_(std::move(skip)) {
    std::vector<std::size_t> states{0};
    close(states);
    open_folder(root, std::string{}, std::move(states));
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
      if (!child.is_dir) {
        // The hot path (every file): no allocation unless it matches.
        if (!file_matches(f.states, child.name)) continue;
        std::string rel = f.rel.empty() ? child.name : f.rel + "/" + child.name;
        return std::make_pair(f.dir / child.name, std::move(rel));
      }
      std::vector<std::size_t> states = advance(f.states, child.name);
      if (states.empty()) continue;
      // open_folder grows the stack, which would invalidate `f` and `child`.
      std::filesystem::path full = f.dir / child.name;
      if (skipped(full)) continue;
      std::string rel = f.rel.empty() ? child.name : f.rel + "/" + child.name;
      open_folder(full, std::move(rel), std::move(states));
    }
    return std::nullopt;
  }

 private:
  struct Child {
    std::string name;
    bool is_dir;
  };
  struct Frame {
    std::filesystem::path dir;
    std::string rel;
    std::vector<Child> children;
    std::size_t next = 0;
    std::vector<std::size_t> states;
  };

  // Adds the states reachable by letting a "**" match zero folders.
  void close(std::vector<std::size_t>& states) const {
    for (std::size_t i = 0; i < states.size(); ++i) {
      std::size_t s = states[i];
      if (s < components_.size() && components_[s] == "**" &&
          std::find(states.begin(), states.end(), s + 1) == states.end())
        states.push_back(s + 1);
    }
  }

  bool matches(const std::string& pattern, const std::string& name) const {
    if (!match_hidden_ && name.front() == '.' && pattern.front() != '.') return false;
    if (pattern == "*") return true;  // a folder input: every name, no fnmatch call
    return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
  }

  bool skipped(const std::filesystem::path& dir) const {
    for (const auto& s : skip_) {
      std::error_code ec;  // a skipped folder that does not exist yet matches nothing
      if (std::filesystem::equivalent(dir, s, ec)) return true;
    }
    return false;
  }

  // A file ends a match when its name matches the last component ("**" spans folders only).
  bool file_matches(const std::vector<std::size_t>& states, const std::string& name) const {
    for (std::size_t s : states)
      if (s + 1 == components_.size() && components_[s] != "**" && matches(components_[s], name))
        return true;
    return false;
  }

  // The states after descending into folder `name`.
  std::vector<std::size_t> advance(const std::vector<std::size_t>& states,
                                   const std::string& name) const {
    std::vector<std::size_t> out;
    auto add = [&](std::size_t s) {
      if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
    };
    for (std::size_t s : states) {
      if (s >= components_.size()) continue;
      const std::string& c = components_[s];
      if (c == "**") {
        if (match_hidden_ || name.front() != '.') add(s);
      } else if (matches(c, name)) {
        add(s + 1);
      }
    }
    close(out);
    return out;
  }

  void open_folder(const std::filesystem::path& dir, std::string rel,
                   std::vector<std::size_t> states) {
    Frame f{dir, std::move(rel), {}, 0, std::move(states)};
    std::error_code ec;
    std::filesystem::directory_iterator it(dir, ec), end;
    if (ec)
      throw InputError(fmt::format("cannot list folder '{}': {}", dir.string(), ec.message()));
    for (; it != end; it.increment(ec)) {
      if (ec) break;
      const auto& e = *it;
      std::error_code type_ec;
      // Symbolic links to folders are not followed: they could form a cycle.
      bool link = e.is_symlink(type_ec);
      bool is_dir = !link && e.is_directory(type_ec);
      bool is_file = e.is_regular_file(type_ec);
      if (is_dir || is_file) f.children.push_back({e.path().filename().string(), is_dir});
    }
    if (ec)
      throw InputError(fmt::format("cannot list folder '{}': {}", dir.string(), ec.message()));
    std::sort(f.children.begin(), f.children.end(),
              [](const Child& a, const Child& b) { return a.name < b.name; });
    stack_.push_back(std::move(f));
  }

  std::vector<std::string> components_;
  bool match_hidden_;
  std::vector<std::filesystem::path> skip_;
  std::vector<Frame> stack_;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
