// The byte encoding of what crosses a pipe between the coordinator and a worker process:
// integers in native byte order (both ends are the same program), strings length-prefixed.
// A Reader checks every length against what is left, so a torn or corrupt message becomes an
// error, never an out-of-bounds read.
#pragma once
#include "parallel_run/version.hpp"
#include "parallel_run/errors.hpp"

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
