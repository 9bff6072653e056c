// "1 item", "3 items", "1 mini-batch", "2 mini-batches", "1 input entry", "2 input entries":
// a count and its noun, for every message that counts something.
#pragma once
#include "parallel_run/version.hpp"

#include <fmt/format.h>

#include <cstddef>
#include <string>
#include <string_view>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

/// `noun` in the plural (English's regular rules; the library's nouns follow them).
inline std::string plural(std::string_view noun) {
  std::string s(noun);
  if (s.ends_with("ch") || s.ends_with("sh") || s.ends_with("s") || s.ends_with("x"))
    return s + "es";
  if (s.size() >= 2 && s.back() == 'y' &&
      std::string_view("aeiou").find(s[s.size() - 2]) == std::string_view::npos) {
    s.pop_back();
    return s + "ies";
  }
  return s + "s";
}

/// A count and its noun, singular for 1.
inline std::string counted(std::size_t n, std::string_view noun) {
  return n == 1 ? fmt::format("1 {}", noun) : fmt::format("{} {}", n, plural(noun));
}

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
