// Quoting of table fields, RFC 4180 style ("a ""b"""), for every table the library writes:
// the output rows, their header, failed_items.csv; and of an input's value inside a message.
#pragma once
#include "parallel_run/version.hpp"

#include <fmt/format.h>

#include <string>
#include <string_view>
#include <vector>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// Appends one field of a table row, quoted when it holds the delimiter, a quote or a line
/// break, so that the output is itself a table.
inline void append_table_text(std::string& out, std::string_view text, std::string_view delimiter) {
  const bool quote = text.find_first_of("\"\r\n") != std::string_view::npos ||
                     text.find(delimiter) != std::string_view::npos;
  if (!quote) {
    out.append(text);
    return;
  }
  out.push_back('"');
  for (char c : text) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

/// An input's value as a message quotes it: a NUL byte written "\0" (a message passes
/// through exception texts, which end at the first NUL), and a long value cut at `max` bytes
/// (at a character's start) with its size said, so that one huge field does not make every
/// log line and list that names it as large.
inline std::string message_value(std::string_view value, std::size_t max = 200) {
  std::string_view shown = value;
  if (value.size() > max) {
    std::size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80)
      --cut;  // not inside a UTF-8 character
    shown = value.substr(0, cut);
  }
  std::string out;
  out.reserve(shown.size() + 32);
  for (const char c : shown) {
    if (c == '\0')
      out += "\\0";
    else
      out += c;
  }
  if (shown.size() < value.size()) out += fmt::format("... ({} bytes)", value.size());
  return out;
}

/// A CSV field: quoted when it holds a comma, a quote or a line break.
inline void append_csv_field(std::string& out, std::string_view field) {
  append_table_text(out, field, ",");
}

/// The records of CSV text that append_csv_field wrote (fields quoted when they hold a comma,
/// a quote or a line break), each as its fields; a last record without its line break counts.
inline std::vector<std::vector<std::string>> csv_records(std::string_view text) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c != '"')
        fields.back().push_back(c);
      else if (i + 1 < text.size() && text[i + 1] == '"')
        fields.back().push_back(text[++i]);
      else
        quoted = false;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else if (c == '\n') {
      records.push_back(std::move(fields));
      fields.assign(1, std::string());
    } else if (c != '\r') {
      fields.back().push_back(c);
    }
  }
  if (fields.size() > 1 || !fields[0].empty()) records.push_back(std::move(fields));
  return records;
}

/// A word for a POSIX shell: as it is when it holds only safe characters, else in single
/// quotes (a single quote inside becomes '\'').
inline void append_shell_word(std::string& out, std::string_view word) {
  const bool safe = !word.empty() && word.find_first_not_of(
                                         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789@%+=:,./_-") == std::string_view::npos;
  if (safe) {
    out.append(word);
    return;
  }
  out.push_back('\'');
  for (char c : word) {
    if (c == '\'')
      out.append("'\\''");
    else
      out.push_back(c);
  }
  out.push_back('\'');
}

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
