// Quoting of table fields, RFC 4180 style ("a ""b"""), for every table the library writes:
// the output rows, their header, failed_items.csv.
#pragma once
#include "parallel_run/version.hpp"

#include <string>
#include <string_view>

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

/// A CSV field: quoted when it holds a comma, a quote or a line break.
inline void append_csv_field(std::string& out, std::string_view field) {
  append_table_text(out, field, ",");
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
