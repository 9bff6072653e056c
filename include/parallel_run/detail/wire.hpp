// The byte encoding of what crosses a pipe between the coordinator and a worker process:
// integers in native byte order (both ends are the same program), strings length-prefixed.
// A Reader checks every length and every element count against what is left before it
// allocates anything, so a torn or corrupt message becomes an error, never an out-of-bounds
// read or an allocation the message cannot back.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/errors.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

PARALLEL_RUN_BEGIN_NAMESPACE
namespace detail {

class WireWriter {
 public:
  explicit WireWriter(std::string& out) : out_(out) {}
  template <class T>
  requires std::is_arithmetic_v<T> || std::is_enum_v<T>
  void put(T v) {
    char bytes[sizeof(T)];
    std::memcpy(bytes, &v, sizeof(T));
    out_.append(bytes, sizeof(T));
  }
  void put(std::string_view s) {
    put<std::uint64_t>(s.size());
    out_.append(s);
  }
  void put(const std::string& s) { put(std::string_view(s)); }
  void put(const char* s) { put(std::string_view(s)); }

 private:
  std::string& out_;
};

class WireReader {
 public:
  explicit WireReader(std::string_view in) : in_(in) {}
  template <class T>
  requires std::is_arithmetic_v<T> || std::is_enum_v<T> T get() {
    if constexpr (std::is_same_v<T, bool>) {
      // Any other byte would be an invalid bool, not merely a wrong one.
      const auto b = get<std::uint8_t>();
      if (b > 1)
        throw Error("parallel_run.internal",
                    fmt::format("a message between the coordinator and a worker process holds "
                                "{} where a bool belongs: it is corrupt",
                                b));
      return b == 1;
    }
    need(sizeof(T));
    T v;
    std::memcpy(&v, in_.data(), sizeof(T));
    in_.remove_prefix(sizeof(T));
    return v;
  }
  std::string_view get_view() {
    const auto n = get<std::uint64_t>();
    need(n);
    std::string_view s = in_.substr(0, n);
    in_.remove_prefix(n);
    return s;
  }
  std::string get_string() { return std::string(get_view()); }

  /// An enum whose values run from 0 to `last`.
  template <class E>
  requires std::is_enum_v<E> E get_enum(E last) {
    const auto v = get<E>();
    using U = std::underlying_type_t<E>;
    if (static_cast<U>(v) < 0 || static_cast<U>(v) > static_cast<U>(last))
      throw Error("parallel_run.internal",
                  fmt::format("a message between the coordinator and a worker process holds an "
                              "unknown setting value {}: it is corrupt",
                              static_cast<long long>(static_cast<U>(v))));
    return v;
  }

  /// An element count, checked against the bytes left: each element takes at least
  /// `min_bytes_each` (> 0) of them. Read it before sizing a container.
  std::size_t get_count(std::size_t min_bytes_each, std::string_view what) {
    const auto n = get<std::uint64_t>();
    if (n > in_.size() / min_bytes_each)
      throw Error("parallel_run.internal",
                  fmt::format("a message between the coordinator and a worker process claims {} "
                              "{}, more than its {} remaining bytes can hold: it is corrupt",
                              n, what, in_.size()));
    return static_cast<std::size_t>(n);
  }

  std::size_t remaining() const noexcept { return in_.size(); }
  bool done() const noexcept { return in_.empty(); }

 private:
  void need(std::uint64_t n) const {
    if (n > in_.size())
      throw Error("parallel_run.internal",
                  "a message between the coordinator and a worker process is truncated");
  }
  std::string_view in_;
};

}  // namespace detail
PARALLEL_RUN_END_NAMESPACE
