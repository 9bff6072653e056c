// One line of JSON Lines: a JSON object whose top-level members become a row's fields. The
// line is parsed by simdjson's DOM parser, which validates all of it (structure, numbers,
// escapes, UTF-8) and unescapes its strings. A field holds: a string unescaped; a number its
// literal text; true or false; nothing for null (an empty field); a nested array or object
// its JSON text without the whitespace outside strings. A key given twice keeps its last
// value. A line of spaces, tabs and CRs is blank, like an empty line.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/errors.hpp"
#include "parallel_run/detail/table_source.hpp"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// JSON's whitespace, but for '\n', which ends the line.
constexpr bool is_json_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\r';
}

/// A line (without its '\n') that holds no record: empty, or JSON whitespace only. The
/// partitioner's scan (RecordScanner with spaces_blank) draws the same line.
inline bool is_blank_json_line(std::string_view line) noexcept {
  return std::all_of(line.begin(), line.end(), is_json_space);
}

struct JsonMember {
  std::string_view key;
  std::string_view value;
};

/// Where the values of a top-level object lie in its text. The text has been validated by
/// simdjson, so only strings (skipped) and brackets (counted) need looking at; the bounds
/// are checked all the same.
class JsonMemberSpans {
 public:
  explicit JsonMemberSpans(std::string_view object) noexcept
      : s_(object), i_(object.find('{') + 1) {}

  /// The text of the next member's value.
  std::string_view next() noexcept {
    while (i_ < s_.size() && s_[i_] != '"')  // whitespace and the ',' before the key
      ++i_;
    skip_string();
    while (i_ < s_.size() && s_[i_] != ':')
      ++i_;
    ++i_;
    while (i_ < s_.size() && is_json_space(s_[i_]))
      ++i_;
    const std::size_t begin = std::min(i_, s_.size());
    const char c = begin < s_.size() ? s_[begin] : '\0';
    if (c == '"') {
      skip_string();
    } else if (c == '{' || c == '[') {
      std::size_t depth = 0;
      while (i_ < s_.size()) {
        const char d = s_[i_];
        if (d == '"') {
          skip_string();
          continue;
        }
        ++i_;
        if (d == '{' || d == '[') {
          ++depth;
        } else if (d == '}' || d == ']') {
          if (--depth == 0) break;
        }
      }
    } else {  // a number, true, false or null
      while (i_ < s_.size() && !is_json_space(s_[i_]) && s_[i_] != ',' && s_[i_] != '}')
        ++i_;
    }
    i_ = std::min(i_, s_.size());
    return s_.substr(begin, i_ - begin);
  }

 private:
  // Past the string that starts at i_: its closing quote is the first one after an even
  // number of backslashes (memchr finds quote candidates many bytes at a time).
  void skip_string() noexcept {
    ++i_;
    while (i_ < s_.size()) {
      const void* q = std::memchr(s_.data() + i_, '"', s_.size() - i_);
      if (!q) break;
      const auto at = static_cast<std::size_t>(static_cast<const char*>(q) - s_.data());
      std::size_t backslashes = 0;
      while (at - backslashes > i_ && s_[at - backslashes - 1] == '\\')
        ++backslashes;
      i_ = at + 1;
      if (backslashes % 2 == 0) return;
    }
    i_ = s_.size();
  }

  std::string_view s_;
  std::size_t i_;
};

/// Copies the JSON text `value` (validated) to `out` without the whitespace outside its
/// strings; returns the end of what was written. (simdjson::minify may store up to 64 bytes
/// past its output, more room than the batch's unescape buffer is sure to have.)
inline char* minify_json(std::string_view value, char* out) noexcept {
  bool in_string = false;
  for (std::size_t k = 0; k < value.size(); ++k) {
    const char c = value[k];
    if (in_string) {
      *out++ = c;
      if (c == '\\' && k + 1 < value.size())
        *out++ = value[++k];
      else if (c == '"')
        in_string = false;
    } else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
      *out++ = c;
      in_string = c == '"';
    }
  }
  return out;
}

/// Reads lines of JSON Lines into members. One per thread (of_this_thread()): simdjson's
/// parser keeps buffers sized to the longest line it has read.
class JsonLineReader {
 public:
  /// Parses `line` (one line, without its line break) into `members`, in the order of the
  /// text, a repeated key each time it appears. Keys, strings and nested values are written
  /// at `scratch`, which must have room for line.size() bytes and is advanced past what was
  /// written; numbers and true/false are views into `line`; null is an empty view. Returns an
  /// empty string, or why the line is not one JSON object ("invalid JSON: ...").
  std::string parse(std::string_view line, char*& scratch, std::vector<JsonMember>& members) {
    members.clear();
    simdjson::dom::element root;
    if (const auto error = parser_.parse(line.data(), line.size()).get(root))
      return why_invalid(error);
    std::string why;
    simdjson::dom::object object;
    if (root.get(object)) {
      why = fmt::format("a JSON {}, not an object (each line must be one JSON object)",
                        type_name(root.type()));
    } else {
      char* out = scratch;
      JsonMemberSpans spans(line);
      for (const simdjson::dom::key_value_pair member : object) {
        const std::string_view text = spans.next();
        JsonMember m;
        m.key = copy(member.key, out);
        switch (member.value.type()) {
          case simdjson::dom::element_type::STRING:
            m.value = copy(member.value.get_string().value_unsafe(), out);
            break;
          case simdjson::dom::element_type::ARRAY:
          case simdjson::dom::element_type::OBJECT: {
            char* const first = out;
            out = minify_json(text, out);
            m.value = std::string_view(first, static_cast<std::size_t>(out - first));
            break;
          }
          case simdjson::dom::element_type::NULL_VALUE:
            break;
          default:  // numbers, true and false: their text
            m.value = text;
        }
        members.push_back(m);
      }
      scratch = out;
    }
    release_if_large();
    return why;
  }

  static JsonLineReader& of_this_thread() {
    thread_local JsonLineReader reader;
    return reader;
  }

 private:
  // simdjson's buffers take about 14 bytes per byte of the longest line read: kept for
  // lines of up to 1 MB, given back after a longer one.
  static constexpr std::size_t kKeptCapacity = std::size_t{1} << 20;

  void release_if_large() {
    if (parser_.capacity() > kKeptCapacity) parser_ = simdjson::dom::parser();
  }

  std::string why_invalid(simdjson::error_code error) {
    release_if_large();
    std::string why = fmt::format("invalid JSON: {}", simdjson::error_message(error));
    if (error == simdjson::NUMBER_ERROR)
      why +=
          " (a number must be valid JSON, an integer must fit in 64 bits and any other "
          "number in a double)";
    return why;
  }

  static std::string_view type_name(simdjson::dom::element_type type) noexcept {
    switch (type) {
      case simdjson::dom::element_type::ARRAY:
        return "array";
      case simdjson::dom::element_type::STRING:
        return "string";
      case simdjson::dom::element_type::BOOL:
        return "boolean";
      case simdjson::dom::element_type::NULL_VALUE:
        return "null";
      default:
        return "number";
    }
  }

  static std::string_view copy(std::string_view text, char*& out) noexcept {
    char* const first = out;
    if (!text.empty()) std::memcpy(out, text.data(), text.size());
    out += text.size();
    return {first, text.size()};
  }

  simdjson::dom::parser parser_;
};

/// The columns of a JSON Lines file: the keys of its first line that is a JSON object, each
/// once, in the order they first appear (none when no line is). Lines before it that are not
/// blank are data, reported as malformed when the slices are parsed. Reads from `offset`;
/// `key` names the file in errors; a line longer than `max_line` before that object is an
/// InputError.
inline std::vector<std::string> first_object_columns(const ReadOnlyFile& file, std::uint64_t offset,
                                                     std::string_view key, std::size_t max_line) {
  JsonLineReader& reader = JsonLineReader::of_this_thread();
  std::vector<JsonMember> members;
  std::string line, scratch;
  std::uint64_t line_number = 1;
  std::vector<char> chunk(std::size_t{64} << 10);
  auto columns_of = [&](std::string_view text, std::vector<std::string>& names) {
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (is_blank_json_line(text)) return false;
    scratch.resize(text.size());
    char* out = scratch.data();
    if (!reader.parse(text, out, members).empty()) return false;
    std::unordered_set<std::string_view> seen;
    for (const JsonMember& m : members)
      if (seen.insert(m.key).second) names.emplace_back(m.key);
    return true;
  };
  std::vector<std::string> names;
  for (std::uint64_t pos = offset;;) {
    const std::size_t got = file.read(chunk.data(), chunk.size(), pos);
    pos += got;
    for (std::size_t at = 0; at < got;) {
      const void* nl = std::memchr(chunk.data() + at, '\n', got - at);
      const std::size_t end =
          nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - chunk.data()) : got;
      line.append(chunk.data() + at, end - at);
      if (line.size() > max_line)
        throw InputError(fmt::format(
            "{}:{}: a line before the file's first JSON object (which names the columns) is "
            "longer than {} bytes",
            key, line_number, max_line));
      if (!nl) break;
      if (columns_of(line, names)) return names;
      line.clear();
      ++line_number;
      at = end + 1;
    }
    if (got < chunk.size()) break;
  }
  columns_of(line, names);  // the last line, without a line break
  return names;
}

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
