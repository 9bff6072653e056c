// Version macros and the versioned inline namespace, included first by every header.
#pragma once

// g++ 12 in C++20 mode: boost/asio/awaitable.hpp uses std::exchange without <utility>.
// Including it here, before any Asio header, keeps every user of our headers compiling.
#include <utility>

#define PARALLEL_RUN_VERSION_MAJOR 0
#define PARALLEL_RUN_VERSION_MINOR 1
#define PARALLEL_RUN_VERSION_PATCH 0
#define PARALLEL_RUN_VERSION_STRING "0.1.0"

#define PARALLEL_RUN_BEGIN_NAMESPACE \
  namespace parallel_run {           \
  inline namespace v0 {
#define PARALLEL_RUN_END_NAMESPACE \
  }                                \
  }

PARALLEL_RUN_BEGIN_NAMESPACE
/// The library version, "major.minor.patch".
inline constexpr const char* version_string = PARALLEL_RUN_VERSION_STRING;
PARALLEL_RUN_END_NAMESPACE
