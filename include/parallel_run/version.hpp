// Version macros and the versioned inline namespace, included first by every header.
#pragma once

// g++ 12 in C++20 mode: boost/asio/awaitable.hpp uses std::exchange without <utility>.
// Including it here, before any Asio header, keeps every user of our headers compiling.
#include <utility>

#define PARALLEL_RUN_VERSION_MAJOR 0
#define PARALLEL_RUN_VERSION_MINOR 1
#define PARALLEL_RUN_VERSION_PATCH 0
#define PARALLEL_RUN_VERSION_STRING "0.1.0"

// Header-only by default. A program that defines PARALLEL_RUN_SEPARATE_COMPILATION (for every
// translation unit) compiles the job machinery (coordinator, backends, command line) once, in
// the one .cpp that includes <parallel_run/src.hpp> (CMake: link parallel_run::compiled), and
// each of its other translation units parses only the scorer's side of the library: Asio's
// model. PARALLEL_RUN_DECL marks the functions defined in that part.
#if defined(PARALLEL_RUN_SEPARATE_COMPILATION)
#define PARALLEL_RUN_HEADER_ONLY 0
#define PARALLEL_RUN_DECL
#else
#define PARALLEL_RUN_HEADER_ONLY 1
#define PARALLEL_RUN_DECL inline
#endif

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
